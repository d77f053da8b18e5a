//! `runsc wait <id>`: waits for the container's init and prints its status.

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
    let status = runsc::container::kill::wait(&store, &id)?;
    println!("{}", serde_json::json!({ "id": id, "exitStatus": status }));
    Ok(status.clamp(0, 255) as u8)
}
