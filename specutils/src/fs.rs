//! Writing files that readers must see whole or not at all.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Replaces `path` with `data`: a temporary file beside it, then rename,
/// so a reader sees the old content or the new, never part of it, even
/// when we die midway. The temporary file is removed on failure. No
/// fsync: what we write this way describes processes, which do not
/// outlive a reboot (see docs/decisions.md, Store).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let temp = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut f| f.write_all(data))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pid");
        std::fs::write(&path, "old, and longer").expect("seed");
        write_atomic(&path, b"42", 0o600).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "42");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["pid"]);
        // A new file gets `mode` (less the umask), never more.
        write_atomic(&dir.path().join("new"), b"x", 0o600).expect("write new");
        let meta = std::fs::metadata(dir.path().join("new")).expect("stat");
        assert_eq!(meta.permissions().mode() & 0o077, 0);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("taken");
        // rename cannot put a file over a directory.
        std::fs::create_dir(&path).expect("mkdir");
        assert!(write_atomic(&path, b"x", 0o600).is_err());
        assert!(path.is_dir());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
