//! Which of the container's namespaces an exec'd process joins, and in
//! which order. After setns into a user namespace, a process holds
//! privileges only over namespaces that namespace (or one below it) owns;
//! the sandbox's own are out of reach from then on. A restored container's
//! cgroup namespace is such a one: the sandbox made it before CRIU made
//! the container's user namespace, so the sandbox's user namespace owns it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sched::CloneFlags;

use super::ExecError;

/// Namespaces in the order joined within each group; the mount namespace
/// last, since joining it moves our root.
const NAMESPACES: [(&str, CloneFlags); 5] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// The namespaces of `pid` that differ from ours, in the order to join
/// them: those its user namespace does not own, while the sandbox's
/// privileges still reach them; then the user namespace; then those it
/// owns, with its privileges (every one, unless the container was
/// restored). Without a user namespace to join, the order is as listed.
pub(super) fn joins(pid: i32) -> Result<Vec<(CloneFlags, OwnedFd)>, ExecError> {
    let user = foreign_ns(pid, "user")?;
    let theirs = match &user {
        Some(fd) => Some(identity(fd.as_fd(), pid, "user")?),
        None => None,
    };
    let mut before = Vec::new();
    let mut after = Vec::new();
    for (ns, flag) in NAMESPACES {
        let Some(fd) = foreign_ns(pid, ns)? else {
            continue;
        };
        let owned = match theirs {
            Some(user) => identity(owner_of(fd.as_fd(), pid, ns)?.as_fd(), pid, ns)? == user,
            None => false,
        };
        if owned { &mut after } else { &mut before }.push((flag, fd));
    }
    before.extend(user.map(|fd| (CloneFlags::CLONE_NEWUSER, fd)));
    before.append(&mut after);
    Ok(before)
}

/// Opens `/proc/<pid>/ns/<ns>` when it differs from ours.
pub(super) fn foreign_ns(pid: i32, ns: &'static str) -> Result<Option<OwnedFd>, ExecError> {
    let theirs = format!("/proc/{pid}/ns/{ns}");
    let differs =
        std::fs::read_link(&theirs).map_err(|source| ExecError::Namespace { ns, pid, source })?
            != std::fs::read_link(format!("/proc/self/ns/{ns}"))
                .map_err(|source| ExecError::Namespace { ns, pid, source })?;
    if !differs {
        return Ok(None);
    }
    let fd = rustix::fs::open(
        theirs.as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| ExecError::Namespace {
        ns,
        pid,
        source: e.into(),
    })?;
    Ok(Some(fd))
}

/// A namespace's identity: the device and inode of its nsfs file.
fn identity(fd: BorrowedFd<'_>, pid: i32, ns: &'static str) -> Result<(u64, u64), ExecError> {
    let st = rustix::fs::fstat(fd).map_err(|e| ExecError::Namespace {
        ns,
        pid,
        source: e.into(),
    })?;
    Ok((st.st_dev, st.st_ino))
}

/// The user namespace that owns the namespace `fd`.
fn owner_of(fd: BorrowedFd<'_>, pid: i32, ns: &'static str) -> Result<OwnedFd, ExecError> {
    specutils::sys::owning_user_ns(fd).map_err(|source| ExecError::Owner { ns, pid, source })
}
