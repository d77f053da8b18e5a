//! The pid file `create --pid-file` and `exec --pid-file` write.

use std::path::{Path, PathBuf};

use super::LifecycleError;

/// Writes the pid file atomically, as runc does.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), LifecycleError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        LifecycleError::Invalid(format!("pid file {} has no name", path.display()))
    })?;
    let temp = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&temp, pid.to_string())
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            LifecycleError::Os {
                what: format!("write pid file {}", path.display()),
                source: e,
            }
        })
}
