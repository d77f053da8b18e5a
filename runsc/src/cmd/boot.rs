//! `runsc boot` (hidden): the sandbox process, started by `create`.

use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sandbox::boot::{boot, BootConfig};
use specutils::channel::Channel;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub bundle: PathBuf,
    #[arg(long = "spec-fd")]
    pub spec_fd: i32,
    #[arg(long = "control-fd")]
    pub control_fd: i32,
    #[arg(long = "ready-fd")]
    pub ready_fd: i32,
    #[arg(long = "console-fd")]
    pub console_fd: Option<i32>,
    #[arg(long = "exit-fd")]
    pub exit_fd: i32,
    #[arg(long = "mount-point")]
    pub mount_point: PathBuf,
    #[arg(long = "io-fds", value_delimiter = ',')]
    pub io_fds: Vec<i32>,
    /// v1 `tasks` files of the container's cgroup, joined first thing.
    #[arg(long = "cgroup-fds", value_delimiter = ',')]
    pub cgroup_fds: Vec<i32>,
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    #[arg(long = "no-baseline-seccomp")]
    pub no_baseline_seccomp: bool,
}

pub fn run(_g: &GlobalFlags, a: Args) -> Result<u8> {
    super::join_cgroup_fds(&a.cgroup_fds)?;
    // A session of its own: a terminal's ^C reaches the frontend, which
    // decides what the container gets.
    let _ = nix::unistd::setsid();
    let spec = super::read_spec_fd(super::take_fd(a.spec_fd)?)?;
    let config = BootConfig {
        id: a.id,
        bundle: a.bundle,
        spec,
        mount_point: a.mount_point,
        control: UnixListener::from(super::take_fd(a.control_fd)?),
        mounts: a
            .io_fds
            .iter()
            .map(|fd| super::take_fd(*fd).map(Channel::from_fd))
            .collect::<Result<_>>()?,
        ready: Channel::from_fd(super::take_fd(a.ready_fd)?),
        console: a.console_fd.map(super::take_fd).transpose()?,
        exit_status: super::take_fd(a.exit_fd)?,
        options: sandbox::options::LaunchOptions {
            no_new_keyring: a.no_new_keyring,
            no_baseline_seccomp: a.no_baseline_seccomp,
        },
    };
    let status = boot(config).context("sandbox")?;
    Ok(status.clamp(0, 255) as u8)
}
