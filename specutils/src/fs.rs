//! Writing files that readers must see whole or not at all.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
    prepare_atomic(&temp, path, data, mode)?.commit()
}

/// The first half of [`write_atomic`], with the temporary file named by
/// the caller (beside `path`, on its filesystem): `data` is written whole
/// to `temp`, and nothing replaces `path` until [`PendingWrite::commit`].
/// For a change that must not happen unless it can be recorded (a full
/// disk fails here, not after). Dropped uncommitted, `temp` is removed.
pub fn prepare_atomic(
    temp: &Path,
    path: &Path,
    data: &[u8],
    mode: u32,
) -> io::Result<PendingWrite> {
    let pending = PendingWrite {
        temp: temp.to_path_buf(),
        dest: path.to_path_buf(),
        committed: false,
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(temp)
        .and_then(|mut f| f.write_all(data))?;
    Ok(pending)
}

/// A fully written temporary file, not yet in place; see [`prepare_atomic`].
#[derive(Debug)]
pub struct PendingWrite {
    temp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl PendingWrite {
    /// Renames the temporary file over the destination.
    pub fn commit(mut self) -> io::Result<()> {
        std::fs::rename(&self.temp, &self.dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
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

    #[test]
    fn a_prepared_write_replaces_nothing_until_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("meta.json");
        let temp = dir.path().join("~meta.json");
        std::fs::write(&path, "old").expect("seed");
        drop(prepare_atomic(&temp, &path, b"never", 0o600).expect("prepare"));
        assert!(!temp.exists(), "a dropped write leaves its temporary");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        let pending = prepare_atomic(&temp, &path, b"new", 0o600).expect("prepare");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        pending.commit().expect("commit");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
