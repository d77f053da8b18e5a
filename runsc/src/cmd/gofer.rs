//! `runsc gofer` (hidden): the container's gofer, started by `create`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use runsc::container::child_fds::{ChildFd, InheritedFds};

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub bundle: PathBuf,
    /// The inherited descriptors, by name (see `container::child_fds`).
    #[arg(long)]
    pub fds: InheritedFds,
}

pub fn run(_g: &GlobalFlags, mut a: Args) -> Result<u8> {
    super::join_cgroup(a.fds.many(ChildFd::CgroupTasks)?)?;
    // Mounts made here must never propagate back to the host.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .context("make the gofer's / a slave mount")?;
    let spec = super::read_spec_fd(a.fds.one(ChildFd::Spec)?)?;
    let channels = a.fds.many(ChildFd::Mounts)?;
    gofer::serve::serve(spec, &a.bundle, channels, confine).context("gofer")?;
    Ok(0)
}

/// Once its mounts are donated the gofer only waits on its channels: it
/// drops every capability and loads its seccomp allow-list.
fn confine() -> Result<(), String> {
    // The bounding set first: dropping from it needs CAP_SETPCAP.
    for cap in caps::all() {
        // Capabilities this kernel does not know cannot be dropped.
        let _ = caps::drop(None, caps::CapSet::Bounding, cap);
    }
    for set in [
        caps::CapSet::Ambient,
        caps::CapSet::Inheritable,
        caps::CapSet::Effective,
        caps::CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("drop capabilities: {e}"))?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("set no_new_privs: {e}"))?;
    sandbox::self_filter::load_gofer().map_err(|e| format!("gofer seccomp: {e}"))
}
