//! Starting a container's gofer, the process that owns its mounts: a pod's
//! later container's from here; the root container's is forked by its
//! sandbox, from the channels [`channels`] makes.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;
use sandbox::cgroup::JoinHandles;
use specutils::channel::Channel;

use super::child_fds::{ChildFd, ChildFds};
use super::spawn::{spawn_self_into, KillOnDrop};
use super::LifecycleError;
use specutils::error::os;

/// Starts a gofer for `mounts` mounts (the rootfs and each bind) in a
/// mount namespace of its own; returns it and the sandbox's ends of its
/// channels. It lives until `create` ends (docs/decisions.md, "The gofer
/// ends with create"), so it needs no other namespace.
pub(super) fn start_gofer(
    child_flags: &[String],
    bundle: &Path,
    spec_fd: &OwnedFd,
    mounts: usize,
    join: &JoinHandles,
) -> Result<(KillOnDrop, Vec<OwnedFd>), LifecycleError> {
    let (gofer_ends, sandbox_ends) = channels(mounts)?;
    let mut gofer_fds = ChildFds::new();
    gofer_fds
        .one(ChildFd::Spec, spec_fd.as_fd())
        .many(ChildFd::Mounts, gofer_ends.iter().map(|e| e.as_fd()))
        .many(
            ChildFd::CgroupTasks,
            join.v1_tasks.iter().map(|t| t.as_fd()),
        );
    let mut gofer_args = child_flags.to_vec();
    gofer_args.extend([
        "gofer".into(),
        "--fds".into(),
        gofer_fds.arg(),
        "--bundle".into(),
        bundle.display().to_string(),
    ]);
    let gofer_ns = CloneFlags::CLONE_NEWNS;
    let unified = join.unified.as_ref().map(|f| f.as_fd());
    let gofer = spawn_self_into(&gofer_args, gofer_fds.placed(), gofer_ns, true, unified)
        .map_err(os("start gofer"))?;
    Ok((KillOnDrop(Some(gofer)), sandbox_ends))
}

/// One channel per mount (the rootfs and each bind): the gofer's ends,
/// then the sandbox's.
pub(super) fn channels(mounts: usize) -> Result<(Vec<OwnedFd>, Vec<OwnedFd>), LifecycleError> {
    let mut gofer_ends = Vec::with_capacity(mounts);
    let mut sandbox_ends = Vec::with_capacity(mounts);
    for _ in 0..mounts {
        let (a, b) = Channel::pair().map_err(os("socketpair"))?;
        gofer_ends.push(a.into_fd());
        sandbox_ends.push(b.into_fd());
    }
    Ok((gofer_ends, sandbox_ends))
}
