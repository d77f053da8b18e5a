//! `runsc delete [--force] <id>`: kills what is left and forgets it.

use anyhow::Result;
use runsc::api::Container;
use runsc::container::{LifecycleError, StoreError};

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete even a running container, or one with corrupt metadata
    #[arg(short, long)]
    pub force: bool,
    /// Container id (any unique prefix)
    pub id: String,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let c = match Container::find(&store, &a.id) {
        Ok(c) => c,
        // As runc: deleting what is not there is no error under --force,
        // which also tidies what a killed create or delete of it left.
        Err(LifecycleError::Store(StoreError::NotExist(_))) if a.force => {
            store.sweep_stale(Some(&a.id))?;
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    match c.delete(a.force) {
        Err(LifecycleError::Store(StoreError::NotExist(_))) if a.force => Ok(0),
        r => r.map(|()| 0).map_err(Into::into),
    }
}
