//! The container's gofer: `runsc gofer` (hidden), which `create` of a pod's
//! later container starts, and the root container's, which the sandbox
//! forks (see [`fork_from_sandbox`]).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
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
    gofer::serve::serve(spec, &a.bundle, channels, confine).context("gofer")?;
    Ok(0)
}

/// The gofer's namespaces but its pid namespace, which it gets at the
/// fork: it needs no network, ipc, hostname or view of the host's mounts
/// once its own are donated.
const GOFER_UNSHARED: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS);

/// Forks the root container's gofer from the sandbox, in new mount, pid,
/// net, ipc and uts namespaces; it donates the mounts on `ends` (the
/// gofer's ends of the sandbox's channels) and idles as `runsc gofer`
/// does. Returns its pid; the sandbox, its parent, reaps it.
///
/// A fork and not a second execution of runsc: the gofer reuses the
/// sandbox's parsed spec and its relocated, read-only pages, and skips an
/// execve, the loader's relocation and a spec parse (BENCHMARKS.md, "The
/// gofer forked by the sandbox"). It runs only runsc's code, before the
/// container runs any, so sharing the sandbox's address-space layout gives
/// the container nothing it could not learn from the sandbox itself.
pub fn fork_from_sandbox(spec: &Spec, bundle: &Path, ends: Vec<OwnedFd>) -> Result<i32, OsError> {
    let mut keep: Vec<RawFd> = ends.iter().map(|e| e.as_raw_fd()).collect();
    keep.extend(crate::logging::log_fds());
    // SAFETY: the sandbox starts no thread, so its copy of our memory is
    // consistent in the child, as after fork(); the child leaves by _exit.
    // Only the pid namespace at the fork (a process cannot enter a new one
    // later); the child makes the others once it has donated.
    let flags = CloneFlags::CLONE_NEWPID.bits() as u64;
    let cloned =
        unsafe { specutils::sys::clone_process_into(flags, None) }.map_err(os("fork the gofer"))?;
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
    // Donations first: they make only detached mounts and need none of the
    // namespaces below, whose making (a network namespace costs the kernel
    // the most) then overlaps the sandbox's making of the init. Until it
    // confines itself the gofer holds every capability, with which no
    // namespace would hold it anyway.
    gofer::serve::donate_all(spec, bundle, &channels).context("gofer")?;
    // The sandbox, woken by the last donation, was queued on this CPU (a
    // unix socket's wake-up expects the sender to sleep next): let it run
    // now rather than after the namespaces below (about 1 ms of `create`).
    let _ = nix::sched::sched_yield();
    nix::sched::unshare(GOFER_UNSHARED).context("make the gofer's namespaces")?;
    slave_root()?;
    gofer::serve::idle(&channels, confine).context("gofer")?;
    Ok(())
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
