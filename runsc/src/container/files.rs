//! The files a container keeps in its store directory, beside meta.json.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use oci_spec::runtime::Spec;

use super::LifecycleError;
use specutils::error::os;

/// Name of the empty directory the init attaches the rootfs on.
pub const MOUNT_POINT: &str = "rootfs";
/// The file the sandbox writes the root container's exit status to, so
/// that `wait` still answers once the sandbox is gone.
pub const EXIT_STATUS: &str = "exit-status";
/// The spec the container was created with.
pub const SPEC_NAME: &str = "spec.json";
/// Where CRIU writes a restored init's pid, in the container's directory.
pub const RESTORED_PID: &str = "restored.pid";

/// The spec, parsed once here, handed to the children as a memfd and kept
/// in the store as `spec.json` for later commands (exec, update), so they
/// see what the container was created with even if the bundle changes.
pub(super) fn spec_memfd(spec: &Spec, dir: &Path) -> Result<OwnedFd, LifecycleError> {
    let data = serde_json::to_vec(spec)
        .map_err(|e| LifecycleError::Invalid(format!("encode spec: {e}")))?;
    let kept = dir.join(SPEC_NAME);
    std::fs::write(&kept, &data).map_err(os(format!("write {}", kept.display())))?;
    let fd = rustix::fs::memfd_create("runsc-spec", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(os("memfd_create"))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(&data).map_err(os("write spec memfd"))?;
    Ok(OwnedFd::from(f))
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
