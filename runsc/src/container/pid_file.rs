//! The pid file `create --pid-file` and `exec --pid-file` write.

use std::path::Path;

use specutils::error::os;

use super::LifecycleError;

/// Writes the pid file atomically, as runc does (mode 0666 less the umask,
/// as runc's).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), LifecycleError> {
    specutils::fs::write_atomic(path, pid.to_string().as_bytes(), 0o666)
        .map_err(os(format!("write pid file {}", path.display())))?;
    Ok(())
}
