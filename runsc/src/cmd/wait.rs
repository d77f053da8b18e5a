//! `runsc wait <id>`: waits for the container's init and prints its status.

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
    let c = Container::find(&store, &a.id)?;
    let status = c.wait()?;
    println!(
        "{}",
        serde_json::json!({ "id": c.id(), "exitStatus": status })
    );
    Ok(status.clamp(0, 255) as u8)
}
