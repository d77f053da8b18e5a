//! The init's stdio in a checkpoint: how CRIU names each descriptor, and
//! whether the restore command's own stdio can stand in for it.

use std::os::fd::{AsRawFd, BorrowedFd};

use serde::{Deserialize, Serialize};
use specutils::error::{os, OsError};

/// Why this process's stdio cannot stand in for the dumped container's.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("{name} of the restore is {found}, but the checkpointed container's was {wanted} ({link}); CRIU cannot put one in place of the other")]
    Mismatch {
        name: &'static str,
        found: &'static str,
        wanted: &'static str,
        link: String,
    },
    #[error("{name} of the restore is a file of {found} bytes, but CRIU checks it against the checkpointed container's {name} ({link}), which had {wanted}: restore with that file, or with {name} opened for appending")]
    Size {
        name: &'static str,
        found: u64,
        wanted: u64,
        link: String,
    },
}

/// One of the container's stdio descriptors, as CRIU will look for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stdio {
    pub fd: i32,
    /// What /proc/<pid>/fd/<fd> showed, for people reading the file.
    pub link: String,
    /// CRIU's name for it: `pipe:[ino]`, `socket:[ino]` or `file[mnt:ino]`.
    pub criu_id: String,
    /// How a dump declares it external, if it must.
    pub external: Option<String>,
    /// A regular file's size, when CRIU will insist that the file standing
    /// in for it at restore has that size (all but write-only appends).
    #[serde(default)]
    pub checked_size: Option<u64>,
    /// The mount a file is on (fdinfo's mnt_id); only the dump needs it.
    #[serde(skip)]
    pub mount: Option<u64>,
}

/// What CRIU needs of a descriptor that stands in for a dumped one.
fn stdio_kind(link: &str) -> &'static str {
    if link.starts_with("pipe:[") {
        "a pipe"
    } else if link.starts_with("socket:[") {
        "a socket"
    } else {
        "a file"
    }
}

/// Checks that `stdio` (the restored init's stdin, stdout and stderr: the
/// restore command's own, or those its caller gave) can stand in for the
/// dumped container's: CRIU restores a file's offset (so a stand-in for a
/// file must be seekable) and takes pipes and sockets as they are.
pub fn check_stdio(dumped: &[Stdio], stdio: [BorrowedFd<'_>; 3]) -> Result<(), StdioError> {
    const NAMES: [&str; 3] = ["stdin", "stdout", "stderr"];
    for s in dumped {
        let Some(i) = usize::try_from(s.fd).ok().filter(|i| *i < NAMES.len()) else {
            continue;
        };
        let (name, fd) = (NAMES[i], stdio[i]);
        let proc_fd = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let ours = std::fs::read_link(&proc_fd)
            .map(|l| l.display().to_string())
            .map_err(os(format!("{name} of the restore")))?;
        let wanted = stdio_kind(&s.link);
        let mut found = stdio_kind(&ours);
        if found == "a file" && !seekable(fd) {
            found = "not seekable (a terminal?)";
        }
        if found != wanted {
            return Err(StdioError::Mismatch {
                name,
                found,
                wanted,
                link: s.link.clone(),
            });
        }
        if let Some(size) = s.checked_size {
            let ours = std::fs::metadata(&proc_fd)
                .map(|m| m.len())
                .map_err(os(format!("{name} of the restore")))?;
            if ours != size {
                return Err(StdioError::Size {
                    name,
                    found: ours,
                    wanted: size,
                    link: s.link.clone(),
                });
            }
        }
    }
    Ok(())
}

fn seekable(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::seek(fd, rustix::fs::SeekFrom::Current(0)).is_ok()
}

/// How CRIU will name `pid`'s descriptor `fd`; None if it is not open.
pub(crate) fn describe_fd(pid: i32, fd: i32) -> Option<Stdio> {
    use std::os::unix::fs::MetadataExt;
    let proc_fd = format!("/proc/{pid}/fd/{fd}");
    let link = std::fs::read_link(&proc_fd).ok()?.display().to_string();
    let inode = |prefix: &str| {
        link.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
    };
    if link.starts_with("pipe:[") {
        return Some(Stdio {
            fd,
            criu_id: link.clone(),
            link,
            external: None,
            checked_size: None,
            mount: None,
        });
    }
    if let Some(ino) = inode("socket:[") {
        return Some(Stdio {
            fd,
            criu_id: link.clone(),
            link,
            external: Some(format!("unix[{ino}]")),
            checked_size: None,
            mount: None,
        });
    }
    // A file on a host mount the container cannot see: CRIU names it by
    // mount id and inode, in hex.
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let mnt_id: u64 = field("mnt_id:")?.parse().ok()?;
    let flags = field("flags:").and_then(|f| u64::from_str_radix(&f, 8).ok())?;
    let meta = std::fs::metadata(&proc_fd).ok()?;
    let append_only = flags & libc::O_ACCMODE as u64 == libc::O_WRONLY as u64
        && flags & libc::O_APPEND as u64 != 0;
    let id = format!("file[{mnt_id:x}:{:x}]", meta.ino());
    Some(Stdio {
        fd,
        link,
        criu_id: id.clone(),
        external: Some(id),
        checked_size: (meta.is_file() && !append_only).then_some(meta.len()),
        mount: Some(mnt_id),
    })
}
