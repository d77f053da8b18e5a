//! `runsc state <id>`: the OCI state JSON.

use anyhow::Result;
use runsc::api::Container;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id (any unique prefix)
    pub id: String,
}

pub fn run(g: &GlobalFlags, args: Args) -> Result<u8> {
    let store = super::store(g)?;
    let state = Container::find(&store, &args.id)?.state()?;
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(0)
}
