//! `runsc exec-wait` (hidden): the waiter `exec --detach --pid-file` leaves
//! behind; it exits with the exec'd process's status.

use anyhow::Result;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub sandbox_id: String,
    pub pid: i32,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let waiting = runsc::api::Sandbox::of(&store, &a.sandbox_id).wait_pid(a.pid)?;
    let status = waiting.receive()?.status;
    Ok(status.clamp(0, 255) as u8)
}
