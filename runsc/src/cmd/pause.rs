//! `runsc pause <id>` and `runsc resume <id>`.

use anyhow::Result;
use runsc::api::Container;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id (any unique prefix)
    pub id: String,
}

pub fn pause(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    Container::find(&store, &a.id)?.pause()?;
    Ok(0)
}

pub fn resume(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    Container::find(&store, &a.id)?.resume()?;
    Ok(0)
}
