//! `runsc create <id>`: a created container, its init blocked until start.

use std::path::PathBuf;

use anyhow::Result;
use runsc::container::create::{create, CreateOptions};

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Bundle directory holding config.json
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// File to write the sandbox's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is set
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Container id
    pub id: String,
}

pub fn options(g: &GlobalFlags, a: Args) -> CreateOptions {
    CreateOptions {
        id: a.id,
        bundle: a.bundle,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        network: super::network_mode(g),
        systemd_cgroup: g.systemd_cgroup,
        child_flags: super::child_flags(g),
        restore: None,
    }
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    create(&store, options(g, a))?;
    Ok(0)
}
