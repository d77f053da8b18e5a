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
pub(crate) fn remove_if_empty<'a>(dirs: impl Iterator<Item = &'a Path>) {
    let Some(_lock) = lock(true) else {
        return;
    };
    for dir in dirs {
        if let Err(e) = std::fs::remove_dir(dir) {
            tracing::debug!("parent cgroup {} stays: {e}", dir.display());
        }
    }
}
