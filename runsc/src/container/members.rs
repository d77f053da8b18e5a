//! A pod's later containers, named by empty files in its sandbox
//! container's store directory, so that deleting the sandbox reads its own
//! members instead of the metadata of every container under --root (which
//! made `delete` grow with the number of containers running).
//!
//! The directory is made by the first member's create, before that
//! member's store entry exists, so a pod whose entry keeps its spec in its
//! lock file (every one this runsc-rs makes, see `files::read_spec`) has a
//! list that names every member, and none while it has no member: most
//! sandboxes never get one, which saves a directory per `run`. A sandbox
//! made before the spec moved into the lock file has a list only if its
//! create made one up front (older runsc-rs did), and one with neither
//! falls back, at delete, to the full scan. A name may outlive its
//! container (a crash between the two removals); the reader checks each
//! one's metadata, so it is never taken on trust.

use std::fs;
use std::io;
use std::path::Path;

use specutils::error::{os, OsError};

const DIR: &str = "members";

/// Whether the pod at `pod_dir` keeps its list from its first member on:
/// its lock file holds its spec (see the module's comment).
fn listed_from_first_member(pod_dir: &Path) -> bool {
    fs::metadata(pod_dir.join(super::store::LOCK_NAME)).is_ok_and(|m| m.len() > 0)
}

/// Names `id` in the list of the pod at `pod_dir`, before its store entry
/// exists. Nothing to do for an older pod that keeps no list.
pub fn add(pod_dir: &Path, id: &str) -> Result<(), OsError> {
    let dir = pod_dir.join(DIR);
    if listed_from_first_member(pod_dir) {
        match fs::create_dir(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(os(format!("make {}", dir.display()))(e))
            }
            _ => {}
        }
    } else if !dir.is_dir() {
        return Ok(());
    }
    let path = dir.join(id);
    fs::File::create(&path)
        .map(drop)
        .map_err(os(format!("create {}", path.display())))
}

/// Drops `id` from the list of the pod at `pod_dir`, if it is there.
pub fn remove(pod_dir: &Path, id: &str) -> Result<(), OsError> {
    let path = pod_dir.join(DIR).join(id);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(os(format!("remove {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

/// The names in the list of the pod at `pod_dir`, or None when it keeps none.
pub fn list(pod_dir: &Path) -> Option<Vec<String>> {
    let entries = match fs::read_dir(pod_dir.join(DIR)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound && listed_from_first_member(pod_dir) => {
            return Some(Vec::new())
        }
        Err(_) => return None,
    };
    Some(
        entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
    )
}
