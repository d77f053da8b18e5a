//! `runsc kill <id> [SIGNAL]`: signals by name (TERM, SIGTERM) or number.

use anyhow::{bail, Result};
use nix::sys::signal::Signal;
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

/// Parses `9`, `KILL`, `SIGKILL` or `sigkill`.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if Signal::try_from(n).is_ok() || (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal {s:?}");
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    match name.parse::<Signal>() {
        Ok(sig) => Ok(sig as i32),
        Err(_) => bail!("invalid signal {s:?}"),
    }
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let signal = parse_signal(&a.signal)?;
    let store = super::store(g)?;
    Container::find(&store, &a.id)?.signal(signal, a.all)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_forms() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("hup").unwrap(), 1);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0x").is_err());
        assert!(parse_signal("999").is_err());
    }
}
