//! The container's gofer: `runsc gofer` (hidden), which `create` of a pod's
//! later container starts, and the root container's, which the sandbox
//! forks (see [`fork_from_sandbox`]).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::runtime::Spec;
use runsc::container::child_fds::{ChildFd, InheritedFds};
use specutils::channel::Channel;
use specutils::error::{os, OsError};
use specutils::sys::Cloned;

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
    slave_root()?;
    let spec = super::read_spec_fd(a.fds.one(ChildFd::Spec)?)?;
    let channels = a.fds.many(ChildFd::Mounts)?;
    gofer::serve::serve(spec, &a.bundle, channels).context("gofer")?;
    Ok(0)
}

/// Forks the root container's gofer from the sandbox; it donates the
/// mounts on `ends` (the gofer's ends of the sandbox's channels) and
/// exits. Returns its pid; the sandbox, its parent, reaps it.
///
/// A fork and not a second execution of runsc: the gofer reuses the
/// sandbox's parsed spec and its relocated, read-only pages, and skips an
/// execve, the loader's relocation and a spec parse (BENCHMARKS.md, "The
/// gofer forked by the sandbox"). It runs only runsc's code and ends
/// before the container runs any, so sharing the sandbox's address-space
/// layout gives the container nothing.
pub fn fork_from_sandbox(spec: &Spec, bundle: &Path, ends: Vec<OwnedFd>) -> Result<i32, OsError> {
    let mut keep: Vec<RawFd> = ends.iter().map(|e| e.as_raw_fd()).collect();
    keep.extend(crate::logging::log_fds());
    // SAFETY: the sandbox starts no thread, so its copy of our memory is
    // consistent in the child, as after fork(); the child leaves by _exit.
    // No namespaces of its own: they confined an idle gofer, and this one
    // ends with `create` (docs/decisions.md, "The gofer ends with create").
    let cloned =
        unsafe { specutils::sys::clone_process_into(0, None) }.map_err(os("fork the gofer"))?;
    match cloned {
        Cloned::Parent { pid, .. } => {
            // The sandbox keeps only its own ends: a gofer that dies then
            // hangs them up.
            drop(ends);
            Ok(pid)
        }
        Cloned::Child => {
            let code = match forked_gofer(spec, bundle, ends, &keep) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!("gofer: {e:#}");
                    1
                }
            };
            // SAFETY: _exit runs none of the destructors on the sandbox's
            // copy of the stack, whose descriptors are closed.
            unsafe { libc::_exit(code) }
        }
    }
}

/// The forked gofer's life: only its channels, its log and /dev/null as
/// stdio stay open, then as `runsc gofer`.
fn forked_gofer(spec: &Spec, bundle: &Path, ends: Vec<OwnedFd>, keep: &[RawFd]) -> Result<()> {
    specutils::sys::clear_signal_mask().context("unblock signals")?;
    // Named apart from the sandbox, whose command line it shares.
    let _ = nix::sys::prctl::set_name(c"runsc-gofer");
    specutils::sys::stdio_to_dev_null().context("stdio to /dev/null")?;
    let mut kept = keep.to_vec();
    kept.extend([0, 1, 2]);
    specutils::sys::close_all_except(&kept).context("close the sandbox's descriptors")?;
    let channels: Vec<Channel> = ends.into_iter().map(Channel::from_fd).collect();
    // Then done: the sandbox reaps it before `create` returns. (The
    // init, cloned by the sandbox, holds the other ends until its execve,
    // so no hang-up would come sooner.)
    gofer::serve::donate_all(spec, bundle, &channels).context("gofer")
}

/// Mounts made here must never propagate back to the host.
fn slave_root() -> Result<()> {
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .context("make the gofer's / a slave mount")
}
