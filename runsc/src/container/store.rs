//! The container store: `<root>/<id>/meta.json` under `<root>/<id>/meta.lock`.
//!
//! A container directory appears atomically, meta.json included: it is built
//! under a temporary name that no id can take and renamed into place with
//! RENAME_NOREPLACE, so concurrent creates of one id have exactly one
//! winner and no reader ever sees a directory without its metadata. Every
//! later write replaces meta.json by rename, so readers see the old or the
//! new file, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{renameat_with, RenameFlags, CWD};
use rustix::io::Errno;
use specutils::error::{os, OsError};
use specutils::{validate_id, IdError};

use super::{id_index, Container};

pub const META_NAME: &str = "meta.json";
pub const LOCK_NAME: &str = "meta.lock";
/// Prefix of temporary names; `~` is not allowed in ids, so a temporary
/// entry can never be mistaken for a container.
const TEMP_PREFIX: &str = "~";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("container does not exist: {0}")]
    NotExist(String),
    #[error("container with id {0} already exists")]
    AlreadyExists(String),
    #[error("container id prefix {prefix:?} is ambiguous: matches {}", .candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("parse {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: holds container {found:?}, not {expected:?}")]
    Mismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

/// The directory of container metadata named by `--root`.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    root: PathBuf,
}

/// A container held under its exclusive lock; the lock is released on drop.
#[derive(Debug)]
pub struct LockedContainer {
    pub container: Container,
    dir: PathBuf,
    _lock: File,
}

impl ContainerStore {
    /// Opens the store, creating the root directory (0700) when missing.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(os(format!("create state root {}", root.display())))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of container `id`; `id` must be valid.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Adds a new container; fails with `AlreadyExists` if the id is taken.
    pub fn create(&self, c: &Container) -> Result<(), StoreError> {
        self.create_with_spec(c, &[])
    }

    /// Adds a new container whose lock file holds `spec`, the encoded spec
    /// it is created with: written before the entry appears and never
    /// again, so every reader sees all of it (see [`super::files::read_spec`]).
    pub fn create_with_spec(&self, c: &Container, spec: &[u8]) -> Result<(), StoreError> {
        validate_id(&c.id)?;
        let temp = self.root.join(format!(
            "{TEMP_PREFIX}create.{}.{}",
            std::process::id(),
            c.id
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&temp)
            .map_err(os(format!("create {}", temp.display())))?;
        let result = (|| {
            create_file(&temp.join(LOCK_NAME), spec)?;
            // Written in place: no reader looks into a temporary entry, and
            // a killed create leaves it to `sweep_stale`.
            create_file(&temp.join(META_NAME), &encode(c))?;
            super::fault::crash_point("create:staged");
            let dest = self.dir(&c.id);
            renameat_with(CWD, &temp, CWD, &dest, RenameFlags::NOREPLACE).map_err(|e| match e {
                Errno::EXIST | Errno::NOTEMPTY => StoreError::AlreadyExists(c.id.clone()),
                e => os(format!("rename into place {}", dest.display()))(e).into(),
            })?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&temp);
        }
        result
    }

    /// Resolves an exact or abbreviated id to the full id.
    pub fn find(&self, prefix: &str) -> Result<String, StoreError> {
        validate_id(prefix)?;
        if self.dir(prefix).join(META_NAME).exists() {
            return Ok(prefix.to_string());
        }
        let ids = id_index::read(&self.root)?;
        let mut candidates: Vec<String> = ids
            .iter()
            .filter(|id| id.starts_with(prefix))
            .map(String::from)
            .collect();
        match candidates.len() {
            0 => Err(StoreError::NotExist(prefix.to_string())),
            1 => Ok(candidates.remove(0)),
            _ => Err(StoreError::Ambiguous {
                prefix: prefix.to_string(),
                candidates,
            }),
        }
    }

    /// Every container id, sorted, from directory names alone (through the
    /// id cache, see `id_index`).
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(id_index::read(&self.root)?.into_vec())
    }

    /// Removes what a create or delete killed midway left behind: its
    /// `~create.<pid>.<id>` or `~delete.<pid>.<id>` directory, once that
    /// pid is gone. Such entries are never listed or looked up, so this is
    /// tidying, not repair. `only` limits it to one id.
    pub fn sweep_stale(&self, only: Option<&str>) -> Result<(), StoreError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(os(format!("read {}", self.root.display()))(e).into()),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some((pid, id)) = name.to_str().and_then(parse_temp_name) else {
                continue;
            };
            if only.is_some_and(|o| o != id) || specutils::proc::start_time(pid).is_ok() {
                continue;
            }
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(os(format!("remove {}", path.display())))?;
            id_index::tidy(&self.root);
        }
        Ok(())
    }

    /// Reads a container under its shared lock. `id` is a full id.
    pub fn load(&self, id: &str) -> Result<Container, StoreError> {
        validate_id(id)?;
        let lock = self.open_lock(id)?;
        lock.lock_shared().map_err(os(format!(
            "lock {}",
            self.dir(id).join(LOCK_NAME).display()
        )))?;
        self.read_meta(id)
    }

    /// Reads a container without locking: meta.json is only ever replaced
    /// by rename, so the read is consistent. Used by `list`.
    pub fn read_meta(&self, id: &str) -> Result<Container, StoreError> {
        let path = self.dir(id).join(META_NAME);
        let data = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotExist(id.to_string()),
            _ => os(format!("read {}", path.display()))(e).into(),
        })?;
        parse_meta(&data, id, || path, |c: &Container| &c.id)
    }

    /// Takes the exclusive lock of container `id` and reads it.
    pub fn lock(&self, id: &str) -> Result<LockedContainer, StoreError> {
        validate_id(id)?;
        let lock = self.open_lock(id)?;
        lock.lock().map_err(os(format!(
            "lock {}",
            self.dir(id).join(LOCK_NAME).display()
        )))?;
        let container = self.read_meta(id)?;
        Ok(LockedContainer {
            container,
            dir: self.dir(id),
            _lock: lock,
        })
    }

    /// Takes the exclusive lock of container `id` without reading its
    /// metadata, so that a corrupt meta.json can still be removed.
    pub fn lock_raw(&self, id: &str) -> Result<File, StoreError> {
        validate_id(id)?;
        let lock = self.open_lock(id)?;
        lock.lock().map_err(os(format!(
            "lock {}",
            self.dir(id).join(LOCK_NAME).display()
        )))?;
        Ok(lock)
    }

    /// Removes container `id`'s directory. The caller holds its lock.
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        validate_id(id)?;
        let dir = self.dir(id);
        // Rename first so that a concurrent lookup never sees a half-removed
        // directory.
        let doomed = self
            .root
            .join(format!("{TEMP_PREFIX}delete.{}.{id}", std::process::id()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => super::fault::crash_point("delete:renamed"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotExist(id.to_string()))
            }
            Err(e) => return Err(os(format!("remove {}", dir.display()))(e).into()),
        }
        fs::remove_dir_all(&doomed).map_err(os(format!("remove {}", doomed.display())))?;
        id_index::tidy(&self.root);
        Ok(())
    }

    fn open_lock(&self, id: &str) -> Result<File, StoreError> {
        let path = self.dir(id).join(LOCK_NAME);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotExist(id.to_string()),
            _ => os(format!("open {}", path.display()))(e).into(),
        })
    }
}

impl LockedContainer {
    /// Writes the container's metadata back atomically.
    pub fn save(&self) -> Result<(), StoreError> {
        write_meta(&self.dir, &self.container)
    }

    /// Writes `next` as the container's metadata, to be put in place by
    /// [`PendingWrite::commit`]: for a change that must not happen unless
    /// it can be recorded (a full disk fails here, not after).
    pub fn prepare(&self, next: &Container) -> Result<PendingWrite, StoreError> {
        write_temp(&self.dir, META_NAME, &encode(next))
    }
}

/// Container `id`'s metadata from the bytes of its meta.json at `path`.
/// meta.json's bytes as a `T` (a [`Container`], or a view of one), checked
/// by the id `id_of` finds in it to be container `id`'s.
pub(super) fn parse_meta<'a, T: serde::Deserialize<'a>>(
    data: &'a [u8],
    id: &str,
    path: impl FnOnce() -> PathBuf,
    id_of: impl FnOnce(&T) -> &str,
) -> Result<T, StoreError> {
    // The path is made only for an error: `list` parses thousands.
    let c: T = match serde_json::from_slice(data) {
        Ok(c) => c,
        Err(source) => {
            return Err(StoreError::Corrupt {
                path: path(),
                source,
            })
        }
    };
    let found = id_of(&c);
    if found != id {
        return Err(StoreError::Mismatch {
            path: path(),
            expected: id.to_string(),
            found: found.to_string(),
        });
    }
    Ok(c)
}

fn encode(c: &Container) -> Vec<u8> {
    // Serializing plain data with string keys cannot fail.
    serde_json::to_vec_pretty(c).unwrap_or_default()
}

/// The pid and id in a temporary entry's name (`~create.<pid>.<id>`,
/// `~delete.<pid>.<id>`).
fn parse_temp_name(name: &str) -> Option<(i32, &str)> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let rest = rest
        .strip_prefix("create.")
        .or_else(|| rest.strip_prefix("delete."))?;
    let (pid, id) = rest.split_once('.')?;
    Some((pid.parse().ok()?, id))
}

/// A new file of a temporary entry, holding `content`: the lock file (the
/// spec, or nothing), or the first meta.json.
fn create_file(path: &Path, content: &[u8]) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(content))
        .map_err(|e| os(format!("create {}", path.display()))(e).into())
}

/// New metadata written beside meta.json, not yet in place; removed if
/// dropped uncommitted.
#[derive(Debug)]
pub struct PendingWrite {
    pending: specutils::fs::PendingWrite,
    dest: PathBuf,
}

/// Writes `data` to a temporary file in `dir`; nothing is replaced until
/// [`PendingWrite::commit`]. No fsync: the store describes processes that
/// do not outlive a reboot, and the rename alone keeps every reader's view
/// whole when a process dies midway (see docs/decisions.md).
pub fn write_temp(dir: &Path, name: &str, data: &[u8]) -> Result<PendingWrite, StoreError> {
    let temp = dir.join(format!("{TEMP_PREFIX}{name}.{}", std::process::id()));
    let dest = dir.join(name);
    let pending = specutils::fs::prepare_atomic(&temp, &dest, data, 0o600)
        .map_err(os(format!("write {}", temp.display())))?;
    Ok(PendingWrite { pending, dest })
}

impl PendingWrite {
    /// Renames the temporary file over the destination.
    pub fn commit(self) -> Result<(), StoreError> {
        let dest = self.dest;
        self.pending
            .commit()
            .map_err(|e| os(format!("rename {}", dest.display()))(e).into())
    }
}

/// Replaces `dir`'s metadata with `c`'s, whole or not at all.
fn write_meta(dir: &Path, c: &Container) -> Result<(), StoreError> {
    write_temp(dir, META_NAME, &encode(c))?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContainerStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ContainerStore::open(&dir.path().join("root")).expect("open");
        (dir, store)
    }

    fn add(store: &ContainerStore, id: &str) {
        let c = Container::new(id, "/b".into(), "/b/rootfs".into(), id);
        store.create(&c).expect("create");
    }

    #[test]
    fn create_then_load_and_duplicate() {
        let (_d, s) = store();
        add(&s, "abc");
        assert_eq!(s.load("abc").expect("load").id, "abc");
        let c = Container::new("abc", "/b".into(), "/b/rootfs".into(), "abc");
        assert!(matches!(s.create(&c), Err(StoreError::AlreadyExists(_))));
        let names: Vec<_> = fs::read_dir(s.root()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary entry is left behind");
    }

    #[test]
    fn abbreviated_ambiguous_missing() {
        let (_d, s) = store();
        add(&s, "abc1");
        add(&s, "abc2");
        add(&s, "xyz");
        assert_eq!(s.find("x").unwrap(), "xyz");
        assert_eq!(s.find("abc1").unwrap(), "abc1");
        let err = s.find("abc").unwrap_err().to_string();
        assert!(err.contains("abc1") && err.contains("abc2"), "{err}");
        let err = s.find("q").unwrap_err().to_string();
        assert!(err.contains("container does not exist"), "{err}");
    }

    #[test]
    fn exact_id_wins_over_prefix() {
        let (_d, s) = store();
        add(&s, "ab");
        add(&s, "abc");
        assert_eq!(s.find("ab").unwrap(), "ab");
    }

    #[test]
    fn corrupt_and_empty_meta_name_the_file() {
        let (_d, s) = store();
        add(&s, "c1");
        for content in ["", "{\"id\": "] {
            fs::write(s.dir("c1").join(META_NAME), content).unwrap();
            let err = s.load("c1").unwrap_err().to_string();
            assert!(err.contains("c1/meta.json"), "{err}");
        }
        let _lock = s.lock_raw("c1").expect("lock corrupt container");
        s.remove("c1").expect("remove corrupt container");
        assert!(matches!(s.find("c1"), Err(StoreError::NotExist(_))));
    }

    #[test]
    fn save_replaces_atomically() {
        let (_d, s) = store();
        add(&s, "c");
        let mut locked = s.lock("c").unwrap();
        locked.container.status = crate::container::Status::Created;
        locked.save().unwrap();
        drop(locked);
        assert_eq!(
            s.load("c").unwrap().status,
            crate::container::Status::Created
        );
    }
}
