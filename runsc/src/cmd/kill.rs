//! `runsc kill <id> [SIGNAL]`: signals by name (TERM, SIGTERM) or number.

use anyhow::{bail, Result};
use runsc::api::Container;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Signal every process of the container, not only its init
    #[arg(short, long)]
    pub all: bool,
    /// Container id (any unique prefix)
    pub id: String,
    /// Signal name or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// Parses `9`, `KILL`, `SIGKILL`, `sigkill`, `RTMIN+3`, or 0 (runc takes it
/// too: a check that the init still runs).
pub fn parse_signal(s: &str) -> Result<i32> {
    match specutils::signal::parse(s) {
        Some(n) => Ok(n),
        None => bail!("invalid signal {s:?}"),
    }
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let signal = parse_signal(&a.signal)?;
    let store = super::store(g)?;
    Container::find(&store, &a.id)?.signal(signal, a.all)?;
    Ok(0)
}
