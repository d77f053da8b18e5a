//! The files a container keeps in its store directory, beside meta.json.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::LifecycleError;
use specutils::error::os;

/// The file in a container's directory that the sandbox of an entry made
/// before the exit status moved into the lock file (see
/// [`exit_status_file`]) wrote the status to.
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
/// all of it. The spec is compact JSON, which has no raw newline: the
/// first one ends it, and starts the exit record the sandbox appends
/// ([`exit_status_file`]). An empty spec is an entry made before that,
/// which kept the spec in `spec.json`: one inode and one write per create
/// fewer.
pub fn read_spec(dir: &Path) -> io::Result<(Vec<u8>, PathBuf)> {
    let lock = dir.join(super::store::LOCK_NAME);
    let mut data = std::fs::read(&lock)?;
    let end = spec_end(&data);
    if end > 0 {
        data.truncate(end);
        return Ok((data, lock));
    }
    let kept = dir.join(SPEC_NAME);
    Ok((std::fs::read(&kept)?, kept))
}

/// Where the spec in the lock file's bytes `data` ends.
fn spec_end(data: &[u8]) -> usize {
    data.iter().position(|&b| b == b'\n').unwrap_or(data.len())
}

/// The lock file, opened for the sandbox to append the container's exit
/// status to (`\n<status>\n`), so that `wait` still answers once the
/// sandbox is gone. Kept there rather than in a file of its own: every
/// inode a `run` makes costs (docs/decisions.md, Store).
pub(super) fn exit_status_file(dir: &Path) -> Result<OwnedFd, LifecycleError> {
    let path = dir.join(super::store::LOCK_NAME);
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(os(format!("open {} to append", path.display())))?;
    Ok(f.into())
}

/// The exit status the sandbox of container `dir` recorded, if it did:
/// in its lock file, or in `exit-status` for an entry made before that.
pub(super) fn recorded_exit_status(dir: &Path) -> Option<i32> {
    let lock = std::fs::read(dir.join(super::store::LOCK_NAME)).ok()?;
    if let Some(status) = exit_record(&lock) {
        return Some(status);
    }
    std::fs::read_to_string(dir.join(EXIT_STATUS))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The status appended after the spec in lock file bytes `data`; None
/// until the whole record is there (a reader may catch it midway).
fn exit_record(data: &[u8]) -> Option<i32> {
    let record = data.get(spec_end(data) + 1..)?.strip_suffix(b"\n")?;
    std::str::from_utf8(record).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_record_follows_the_spec_whole_or_not_at_all() {
        let spec = br#"{"ociVersion":"1.2.0","process":{"args":["echo","a\nb"]}}"#;
        assert_eq!(exit_record(spec), None);
        let mut data = spec.to_vec();
        data.extend_from_slice(b"\n13");
        assert_eq!(exit_record(&data), None, "a record still being written");
        data.push(b'\n');
        assert_eq!(exit_record(&data), Some(13));
        assert_eq!(spec_end(&data), spec.len());
        assert_eq!(exit_record(b"\n-1\n"), Some(-1));
    }

    #[test]
    fn read_spec_leaves_the_exit_record_out() {
        let dir = tempfile::tempdir().unwrap();
        let spec = br#"{"ociVersion":"1.2.0"}"#;
        let lock = dir.path().join(super::super::store::LOCK_NAME);
        std::fs::write(&lock, spec).unwrap();
        let f = exit_status_file(dir.path()).unwrap();
        rustix::io::write(&f, b"\n137\n").unwrap();
        let (data, from) = read_spec(dir.path()).unwrap();
        assert_eq!((data.as_slice(), from), (&spec[..], lock));
        assert_eq!(recorded_exit_status(dir.path()), Some(137));
    }
}
