//! `runsc pause <id>` and `runsc resume <id>`.

use anyhow::Result;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id (any unique prefix)
    pub id: String,
}

pub fn pause(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let id = store.find(&a.id)?;
    runsc::container::pause::pause(&store, &id)?;
    Ok(0)
}

pub fn resume(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let id = store.find(&a.id)?;
    runsc::container::pause::resume(&store, &id)?;
    Ok(0)
}
