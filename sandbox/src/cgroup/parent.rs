//! The default parent cgroup, `/runsc`, is made by the first container that
//! needs it and removed with the last one, so that a host is left as it was.
//! A lock file orders that removal against a `create` walking down to its
//! own cgroup: once the child exists, the parent cannot go.

use std::fs::File;
use std::path::Path;

use rustix::fs::FlockOperation;

const LOCK: &str = "/run/runsc-cgroup-parent.lock";

/// The lock, held until dropped.
pub(crate) struct ParentLock(#[allow(dead_code)] File);

/// Takes the lock: shared to make a child, exclusive to remove the parent.
/// None where it cannot be had (the parent then stays).
pub(crate) fn lock(exclusive: bool) -> Option<ParentLock> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .ok()?;
    let op = if exclusive {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::LockShared
    };
    rustix::fs::flock(&file, op).ok()?;
    Some(ParentLock(file))
}

/// Removes `dir`, a parent, in each hierarchy where nothing else is in it
/// (rmdir refuses one that is not empty).
///
/// While other containers run, the parent holds their cgroups: a look at
/// the first hierarchy's directory then says so, without the exclusive
/// lock (which waits for, and stalls, every `create` walking down) and
/// without a refused rmdir per hierarchy (each takes the kernel's global
/// cgroup mutex). Every container has its cgroup in each hierarchy and
/// removes it before coming here, so the last one to leave sees none.
pub(crate) fn remove_if_empty<'a>(dirs: impl Iterator<Item = &'a Path>) {
    let mut dirs = dirs.peekable();
    if dirs.peek().is_some_and(|first| has_child(first)) {
        return;
    }
    let Some(_lock) = lock(true) else {
        return;
    };
    for dir in dirs {
        if let Err(e) = std::fs::remove_dir(dir) {
            tracing::debug!("parent cgroup {} stays: {e}", dir.display());
        }
    }
}

/// Whether cgroup directory `dir` has a child cgroup (a subdirectory).
/// Reading it takes no cgroup lock; an unreadable one counts as empty, so
/// that the rmdirs decide.
fn has_child(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .flatten()
        .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
}
