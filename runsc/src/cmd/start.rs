//! `runsc start <id>`: runs the created container's process.

use anyhow::Result;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id (any unique prefix)
    pub id: String,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let id = store.find(&a.id)?;
    runsc::container::start::start(&store, &id)?;
    Ok(0)
}
