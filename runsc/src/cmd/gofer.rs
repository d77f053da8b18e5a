//! `runsc gofer` (hidden): the container's gofer, started by `create`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub bundle: PathBuf,
    #[arg(long = "spec-fd")]
    pub spec_fd: i32,
    #[arg(long = "io-fds", value_delimiter = ',')]
    pub io_fds: Vec<i32>,
    /// v1 `tasks` files of the container's cgroup, joined first thing.
    #[arg(long = "cgroup-fds", value_delimiter = ',')]
    pub cgroup_fds: Vec<i32>,
}

pub fn run(_g: &GlobalFlags, a: Args) -> Result<u8> {
    super::join_cgroup_fds(&a.cgroup_fds)?;
    // Mounts made here must never propagate back to the host.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .context("make the gofer's / a slave mount")?;
    let spec = super::read_spec_fd(super::take_fd(a.spec_fd)?)?;
    let channels = a
        .io_fds
        .iter()
        .map(|fd| super::take_fd(*fd))
        .collect::<Result<Vec<_>>>()?;
    gofer::serve::serve(&spec, &a.bundle, channels, confine).context("gofer")?;
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
