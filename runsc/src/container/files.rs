//! The files a container keeps in its store directory, beside meta.json.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::LifecycleError;
use specutils::error::os;

/// The file in a container's directory (a pod's later container's too)
/// that its sandbox writes its exit status to, so that `wait` still
/// answers once the sandbox is gone.
pub const EXIT_STATUS: &str = "exit-status";
/// The spec the container was created with, in entries made before the
/// spec moved into the lock file (see [`read_spec`]).
pub const SPEC_NAME: &str = "spec.json";
/// Where CRIU writes a restored init's pid, in the container's directory.
pub const RESTORED_PID: &str = "restored.pid";

/// The spec, parsed once at create and encoded here, for the store's lock
/// file (`ContainerStore::create_with_spec`) and the children's memfd.
pub(super) fn encode_spec(spec: &Spec) -> Result<Vec<u8>, LifecycleError> {
    serde_json::to_vec(spec).map_err(|e| LifecycleError::Invalid(format!("encode spec: {e}")))
}

/// The encoded spec, handed to the gofer and sandbox as a memfd.
pub(super) fn spec_memfd(data: &[u8]) -> Result<OwnedFd, LifecycleError> {
    let fd = rustix::fs::memfd_create("runsc-spec", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(os("memfd_create"))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(data).map_err(os("write spec memfd"))?;
    Ok(OwnedFd::from(f))
}

/// The bytes of the spec container `dir` was created with, and the file
/// they came from, for later commands (exec, update, delete, checkpoint),
/// which must see what the container was created with even if the bundle
/// changed. The lock file holds it: written whole before the entry was
/// renamed into place, never rewritten, so any entry a reader finds has
/// all of it. An empty lock file is an entry made before that, which kept
/// the spec in `spec.json`: one inode and one write per create fewer.
pub fn read_spec(dir: &Path) -> io::Result<(Vec<u8>, PathBuf)> {
    let lock = dir.join(super::store::LOCK_NAME);
    let data = std::fs::read(&lock)?;
    if !data.is_empty() {
        return Ok((data, lock));
    }
    let kept = dir.join(SPEC_NAME);
    Ok((std::fs::read(&kept)?, kept))
}

/// Creates the (new, empty) file the sandbox records an exit status in.
pub(super) fn exit_status_file(dir: &Path) -> Result<OwnedFd, LifecycleError> {
    let path = dir.join(EXIT_STATUS);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(os(format!("create {}", path.display())))?;
    Ok(f.into())
}
