//! `runsc create <id>`: a created container, its init blocked until start.

use std::path::PathBuf;

use anyhow::Result;
use runsc::api::Container;
use runsc::container::options::CreateOptions;

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
    /// Accepted for runc compatibility: the init always pivots, inside a
    /// mount namespace of its own (a host whose root is a ramdisk is not
    /// supported)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of a new one
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many descriptors from 3 up to the container's process,
    /// at the same numbers
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id
    pub id: String,
}

pub fn options(g: &GlobalFlags, a: Args) -> CreateOptions {
    if a.no_pivot {
        tracing::warn!("--no-pivot is accepted, but the init always uses pivot_root");
    }
    CreateOptions {
        id: a.id,
        bundle: a.bundle,
        pid_file: a.pid_file,
        console_socket: a.console_socket,
        network: super::network_mode(g),
        systemd_cgroup: g.systemd_cgroup,
        rootless: g.rootless,
        launch: sandbox::options::LaunchOptions {
            no_new_keyring: a.no_new_keyring,
            no_baseline_seccomp: g.baseline_seccomp == crate::cli::Switch::Off,
            preserve_fds: a.preserve_fds,
        },
        child_flags: super::child_flags(g),
        restore: None,
        stdio: None,
        spec: None,
        start: false,
    }
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    Container::create(&store, options(g, a))?;
    Ok(0)
}
