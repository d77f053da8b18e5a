//! `runsc boot` (hidden): the sandbox process, started by `create`; it
//! forks the root container's gofer when given the gofer's channel ends.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::{Context, Result};
use runsc::container::child_fds::{ChildFd, InheritedFds};
use sandbox::boot::{boot, BootConfig, StartGofer};
use specutils::channel::Channel;

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub bundle: PathBuf,
    /// The inherited descriptors, by name (see `container::child_fds`).
    #[arg(long)]
    pub fds: InheritedFds,
    #[arg(long = "mount-point")]
    pub mount_point: PathBuf,
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    #[arg(long = "no-baseline-seccomp")]
    pub no_baseline_seccomp: bool,
}

pub fn run(_g: &GlobalFlags, mut a: Args) -> Result<u8> {
    // A session of its own: a terminal's ^C reaches the frontend, which
    // decides what the container gets.
    let _ = nix::unistd::setsid();
    let fds = &mut a.fds;
    let preserved = fds.many(ChildFd::Preserved)?;
    // The init inherits them at the numbers they have here.
    for (n, fd) in preserved.iter().enumerate() {
        anyhow::ensure!(
            fd.as_raw_fd() == 3 + n as i32,
            "preserved descriptor {n} is at {}, not {}",
            fd.as_raw_fd(),
            3 + n
        );
    }
    let spec = super::read_spec_fd(fds.one(ChildFd::Spec)?)?;
    let gofer_ends = fds.many(ChildFd::GoferMounts)?;
    let gofer: Option<StartGofer> = if gofer_ends.is_empty() {
        None
    } else {
        let bundle = a.bundle.clone();
        Some(Box::new(move |spec: &oci_spec::runtime::Spec| {
            super::gofer::fork_from_sandbox(spec, &bundle, gofer_ends)
        }))
    };
    let config = BootConfig {
        id: a.id,
        bundle: a.bundle,
        spec,
        mount_point: a.mount_point,
        control: UnixListener::from(fds.one(ChildFd::Control)?),
        mounts: fds
            .many(ChildFd::Mounts)?
            .into_iter()
            .map(Channel::from_fd)
            .collect(),
        ready: Channel::from_fd(fds.one(ChildFd::Ready)?),
        console: fds.optional(ChildFd::Console)?,
        exit_status: fds.one(ChildFd::ExitStatus)?,
        options: sandbox::options::LaunchOptions {
            no_new_keyring: a.no_new_keyring,
            no_baseline_seccomp: a.no_baseline_seccomp,
            preserve_fds: preserved.len() as u32,
        },
        preserved,
        gofer,
    };
    let result = boot(config);
    // The holder exits with our status; an error exits 1 (see main).
    let code = result.as_ref().map_or(1, |s| (*s).clamp(0, 255) as u8);
    sandbox::holder::release(code);
    let status = result.context("sandbox")?;
    Ok(status.clamp(0, 255) as u8)
}
