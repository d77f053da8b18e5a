//! The store's ids, and a cache of them in `<root>/~index/ids`, so that an
//! abbreviated id among thousands is resolved, and `list` finds its ids,
//! without reading the whole root directory (~3 ms for 10,000 on ext4).
//!
//! The cache is never a record, which is what keeps it crash-safe: create
//! and delete never write it, and a reader trusts it only while the root
//! directory is exactly as it was when the cache was built (device, inode,
//! link count, ctime and mtime). Every step of create or delete that adds,
//! renames or removes a root entry changes the root's ctime, so a frontend
//! killed between any two steps leaves at worst a stale cache, which the
//! next reader sees and rebuilds (see docs/decisions.md).

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{Dir, FileType, Mode, OFlags};
use specutils::error::{os, OsError};
use specutils::validate_id;

/// The cache's directory in the root: `~` keeps it from being taken for a
/// container. A directory, so that replacing the file inside it leaves the
/// root, and so the cache's own validity, untouched.
pub const INDEX_DIR: &str = "~index";
const INDEX_FILE: &str = "ids";
const MAGIC: &str = "runsc-ids 1";
/// Below this many containers a scan is cheap (~0.1 ms), so no cache is
/// kept and small stores hold nothing but their containers.
pub const MIN_CACHED: usize = 256;
/// A root changed less than this long ago is not cached: kernel timestamps
/// come from a clock that advances once a tick (at most 10 ms), so a later
/// change in the same tick could carry the very timestamp recorded. Once
/// the recorded change is older than a tick, any later one differs.
const RACY: Duration = Duration::from_millis(20);
/// The same for a filesystem that keeps whole seconds only (both
/// timestamps without nanoseconds).
const RACY_SECONDS: Duration = Duration::from_secs(2);

/// What identifies one state of the root directory's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    nlink: u64,
    ctime: (i64, i64),
    mtime: (i64, i64),
}

impl Stamp {
    fn of(fd: impl AsFd) -> rustix::io::Result<Self> {
        let st = rustix::fs::fstat(fd)?;
        Ok(Self {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            nlink: st.st_nlink as u64,
            ctime: (st.st_ctime as i64, st.st_ctime_nsec as i64),
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
        })
    }

    fn header(&self, count: usize) -> String {
        let Stamp {
            dev,
            ino,
            nlink,
            ctime: (cs, cn),
            mtime: (ms, mn),
        } = self;
        format!("{MAGIC} {dev} {ino} {nlink} {cs} {cn} {ms} {mn} {count}\n")
    }

    fn racy_window(&self) -> Duration {
        if self.ctime.1 == 0 && self.mtime.1 == 0 {
            RACY_SECONDS
        } else {
            RACY
        }
    }

    /// Whether the last change is older than `t` (the clock may have been
    /// set back, in which case it is not).
    fn changed_before(&self, t: SystemTime) -> bool {
        let Ok(t) = t.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let t = (t.as_secs() as i64, i64::from(t.subsec_nanos()));
        self.ctime < t && self.mtime < t
    }
}

/// The ids of a store, sorted.
#[derive(Debug)]
pub enum Ids {
    /// From the cache: its lines after the header.
    Cached(String),
    Scanned(Vec<String>),
}

impl Ids {
    pub fn iter(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            Ids::Cached(text) => Box::new(text.lines()),
            Ids::Scanned(ids) => Box::new(ids.iter().map(String::as_str)),
        }
    }

    pub fn into_vec(self) -> Vec<String> {
        match self {
            Ids::Cached(text) => text.lines().map(String::from).collect(),
            Ids::Scanned(ids) => ids,
        }
    }
}

/// The ids in `root`, from the cache while it matches the root, else from
/// a scan that then refreshes the cache (a failure to write it is only
/// logged: the cache is an optimisation).
pub fn read(root: &Path) -> Result<Ids, OsError> {
    let fd = match rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(Ids::Scanned(Vec::new())),
        Err(e) => return Err(os(format!("open {}", root.display()))(e)),
    };
    let started = SystemTime::now();
    let stat_err = || os(format!("stat {}", root.display()));
    let before = Stamp::of(&fd).map_err(stat_err())?;
    if let Some(text) = load(root, &before) {
        return Ok(Ids::Cached(text));
    }
    let (mut ids, has_cache_dir) = scan(&fd, root)?;
    ids.sort_unstable();
    let after = Stamp::of(&fd).map_err(stat_err())?;
    let refreshed = if ids.len() < MIN_CACHED {
        if has_cache_dir {
            discard(root);
        }
        Ok(())
    } else if !has_cache_dir {
        // Making it changes the root: the next reader builds the cache.
        fs::DirBuilder::new()
            .mode(0o700)
            .create(root.join(INDEX_DIR))
            .map_err(os("create the id cache's directory"))
    } else if before == after
        && started
            .checked_sub(before.racy_window())
            .is_some_and(|t| before.changed_before(t))
    {
        save(root, &before, &ids)
    } else {
        Ok(())
    };
    if let Err(e) = refreshed {
        tracing::debug!("id cache of {}: {e}", root.display());
    }
    Ok(Ids::Scanned(ids))
}

/// The cache's ids if it was built from the root as `now` describes it.
fn load(root: &Path, now: &Stamp) -> Option<String> {
    let mut text = fs::read_to_string(root.join(INDEX_DIR).join(INDEX_FILE)).ok()?;
    let (header, body) = text.split_once('\n')?;
    let (stamp, count) = header.rsplit_once(' ')?;
    let expected = now.header(0);
    let expected = expected.trim_end().strip_suffix(" 0")?;
    // A torn file cannot be renamed into place, but a crash of the whole
    // machine on a disk-backed root could leave one: its count disagrees.
    if stamp != expected || count.parse::<usize>().ok()? != body.lines().count() {
        return None;
    }
    let start = header.len() + 1;
    text.drain(..start);
    Some(text)
}

/// The names of the root's directories that are valid ids, and whether the
/// cache's directory is there.
fn scan(fd: &OwnedFd, root: &Path) -> Result<(Vec<String>, bool), OsError> {
    let read_err = || os(format!("read {}", root.display()));
    let dir = Dir::read_from(fd).map_err(read_err())?;
    let mut ids = Vec::new();
    let mut has_cache_dir = false;
    for entry in dir {
        let entry = entry.map_err(read_err())?;
        let Ok(name) = std::str::from_utf8(entry.file_name().to_bytes()) else {
            continue;
        };
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => root.join(name).is_dir(),
            _ => false,
        };
        if !is_dir {
            continue;
        }
        if name == INDEX_DIR {
            has_cache_dir = true;
        } else if validate_id(name).is_ok() {
            ids.push(name.to_string());
        }
    }
    Ok((ids, has_cache_dir))
}

/// Writes the cache for the root as `stamp` describes it, by rename, after
/// removing what rebuilders killed midway left.
fn save(root: &Path, stamp: &Stamp, ids: &[String]) -> Result<(), OsError> {
    let dir = root.join(INDEX_DIR);
    sweep(&dir);
    let mut text = stamp.header(ids.len());
    text.reserve(ids.iter().map(|id| id.len() + 1).sum());
    for id in ids {
        text.push_str(id);
        text.push('\n');
    }
    let temp = dir.join(format!("{INDEX_FILE}.{}", std::process::id()));
    let pending =
        specutils::fs::prepare_atomic(&temp, &dir.join(INDEX_FILE), text.as_bytes(), 0o600)
            .map_err(os(format!("write {}", temp.display())))?;
    super::fault::crash_point("index:written");
    pending
        .commit()
        .map_err(os(format!("rename {}", temp.display())))
}

/// Removes `ids.<pid>` files whose writer is gone.
fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(INDEX_FILE)?.strip_prefix('.')?.parse().ok());
        if pid.is_some_and(|pid: i32| specutils::proc::start_time(pid).is_err()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes the cache; always safe, as nothing but readers' speed needs it.
pub fn discard(root: &Path) {
    let _ = fs::remove_dir_all(root.join(INDEX_DIR));
}

/// After a delete: removes the cache once the root holds no other
/// directory (link count 3: itself, its parent's entry and the cache's),
/// so that an emptied store is empty. Filesystems that do not count
/// subdirectories leave it to the next reader, who discards a cache of a
/// small store.
pub fn tidy(root: &Path) {
    if fs::metadata(root).is_ok_and(|m| std::os::unix::fs::MetadataExt::nlink(&m) == 3) {
        discard(root);
    }
}
