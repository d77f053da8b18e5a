//! `runsc start <id>`: runs the created container's process.

use anyhow::Result;
use runsc::api::Container;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id (any unique prefix)
    pub id: String,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    Container::find(&store, &a.id)?.start()?;
    Ok(0)
}
