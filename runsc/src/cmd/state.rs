//! `runsc state <id>`: the OCI state JSON.

use anyhow::Result;
use runsc::container::state::OciState;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id (any unique prefix)
    pub id: String,
}

pub fn run(g: &GlobalFlags, args: Args) -> Result<u8> {
    let store = super::store(g)?;
    let id = store.find(&args.id)?;
    let c = store.load(&id)?;
    println!("{}", serde_json::to_string_pretty(&OciState::of(&c))?);
    Ok(0)
}
