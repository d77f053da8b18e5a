//! A pod's later containers, named by empty files in its sandbox
//! container's store directory, so that deleting the sandbox reads its own
//! members instead of the metadata of every container under --root (which
//! made `delete` grow with the number of containers running).
//!
//! The directory is made before the sandbox process starts, and a later
//! container cannot join a pod without one, so where it exists it names
//! every member. A sandbox made before it was kept, or whose create died
//! before making it, has none: its delete falls back to the full scan. A
//! name may outlive its container (a crash between the two removals); the
//! reader checks each one's metadata, so it is never taken on trust.

use std::fs;
use std::io;
use std::path::Path;

use specutils::error::{os, OsError};

const DIR: &str = "members";

/// Starts the list of sandbox `pod_dir`: from now on it names every member.
pub fn start(pod_dir: &Path) -> Result<(), OsError> {
    let dir = pod_dir.join(DIR);
    fs::create_dir(&dir).map_err(os(format!("make {}", dir.display())))
}

/// Names `id` in the list of the pod at `pod_dir`, before its store entry
/// exists. Nothing to do for a pod that keeps no list.
pub fn add(pod_dir: &Path, id: &str) -> Result<(), OsError> {
    let dir = pod_dir.join(DIR);
    if !dir.is_dir() {
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
    let entries = fs::read_dir(pod_dir.join(DIR)).ok()?;
    Some(
        entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
    )
}
