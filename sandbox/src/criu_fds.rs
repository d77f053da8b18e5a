//! The container's stdio wherever the frozen tree holds it: any descriptor
//! of any process (the init's fds 0-2, a shell's `exec 10>&1`, busybox ash
//! parking its stdout on fd 10 around `echo $i >> log`) that names one of
//! the files, pipes or sockets the container was given as stdio. CRIU must
//! be told of each host file among them, or it fails ("Can't lookup
//! mount=N for fd=10"), and the restore hands each back from its own stdio
//! of the same number. The init's fds 0-2 count only if they are such:
//! pointed at a file of the container, they are CRIU's to dump.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, BorrowedFd};

use specutils::error::{os, OsError};

use crate::criu_stdio::{describe_fd, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum TreeFdsError {
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("process {pid} of the container holds descriptor {fd} on {link}, a host file that is not the container's stdio; a restore could not give it back")]
    Foreign { pid: i32, fd: i32, link: String },
}

/// CRIU's names for the stdio a container is given (its create's or its
/// restore's), by number; None where one cannot be read. Kept with the
/// container, since the init may move its own and the sandbox keeps none.
pub fn given_stdio(stdio: [BorrowedFd<'_>; 3]) -> Vec<Option<String>> {
    let me = std::process::id() as i32;
    stdio
        .iter()
        .map(|fd| own_criu_id(*fd).or_else(|| describe_fd(me, fd.as_raw_fd()).map(|d| d.criu_id)))
        .collect()
}

/// CRIU's name for one of our own descriptors, as [`describe_fd`] gives
/// it, from one statx where that is enough (every `create` pays for this,
/// and /proc costs a readlink, an fdinfo read and a stat per descriptor).
/// A FIFO is a pipe only if /proc says so (a named one is a file there).
/// None (no mount id from statx) sends the caller to /proc.
fn own_criu_id(fd: BorrowedFd<'_>) -> Option<String> {
    use rustix::fs::{statx, AtFlags, FileType, StatxFlags};
    let wanted = StatxFlags::TYPE | StatxFlags::INO | StatxFlags::MNT_ID;
    let st = statx(fd, "", AtFlags::EMPTY_PATH, wanted).ok()?;
    let ino = st.stx_ino;
    match FileType::from_raw_mode(st.stx_mode.into()) {
        FileType::Socket => Some(format!("socket:[{ino}]")),
        _ if st.stx_mask & StatxFlags::MNT_ID.bits() == 0 => None,
        FileType::Fifo => {
            let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
            let link = link.to_str()?;
            Some(match link.starts_with("pipe:[") {
                true => link.to_string(),
                false => format!("file[{:x}:{ino:x}]", st.stx_mnt_id),
            })
        }
        _ => Some(format!("file[{:x}:{ino:x}]", st.stx_mnt_id)),
    }
}

/// The container's stdio as the frozen `tree` (the init first) holds it:
/// an entry for each number (0-2) whose CRIU name, as [`given_stdio`]
/// recorded it, the tree holds; the restore's stdio of that number stands
/// in for it.
/// A host file outside the container's mounts that is none of them is
/// refused: nothing could stand in for it at restore.
pub(crate) fn tree_stdio(
    init: i32,
    tree: &[i32],
    given: &[Option<String>],
) -> Result<Vec<Stdio>, TreeFdsError> {
    if given.iter().all(Option::is_none) {
        // A container a runsc that kept no record started: its init's
        // fds 0-2 as they are now.
        return Ok((0..3).filter_map(|fd| describe_fd(init, fd)).collect());
    }
    let container = mount_ids_of(&format!("/proc/{init}/mountinfo"))?;
    let host = mount_ids_of("/proc/self/mountinfo")?;
    let mut found: Vec<Stdio> = Vec::new();
    for &pid in tree {
        for fd in open_fds(pid)? {
            let Some(d) = describe_fd(pid, fd) else {
                continue;
            };
            if found.iter().any(|f| f.criu_id == d.criu_id) {
                continue;
            }
            // One entry per number it was given as (stdin, stdout and
            // stderr all /dev/null): the restore's must each stand in.
            let numbers: Vec<i32> = (0..)
                .zip(given)
                .filter(|(_, g)| g.as_ref() == Some(&d.criu_id))
                .map(|(n, _)| n)
                .collect();
            if !numbers.is_empty() {
                found.extend(numbers.into_iter().map(|n| Stdio { fd: n, ..d.clone() }));
                continue;
            }
            // A file on one of the container's mounts is CRIU's to dump;
            // anonymous inodes and memfds are on kernel-internal mounts, in
            // no mount table, and CRIU dumps those too.
            if d.mount
                .is_some_and(|m| host.contains(&m) && !container.contains(&m))
            {
                return Err(TreeFdsError::Foreign {
                    pid,
                    fd,
                    link: d.link,
                });
            }
        }
    }
    found.sort_by_key(|s| s.fd);
    Ok(found)
}

/// The descriptor numbers `pid` has open; none if it is gone.
fn open_fds(pid: i32) -> Result<Vec<i32>, TreeFdsError> {
    let dir = format!("/proc/{pid}/fd");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(os(format!("read {dir}"))(e).into()),
    };
    let mut fds = Vec::new();
    for entry in entries {
        let entry = entry.map_err(os(format!("read {dir}")))?;
        if let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            fds.push(fd);
        }
    }
    fds.sort_unstable();
    Ok(fds)
}

/// The mount ids (first field) of a mountinfo file.
fn mount_ids_of(path: &str) -> Result<HashSet<u64>, TreeFdsError> {
    let text = std::fs::read_to_string(path).map_err(os(format!("read {path}")))?;
    Ok(parse_mount_ids(&text))
}

fn parse_mount_ids(mountinfo: &str) -> HashSet<u64> {
    mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_ids_are_the_first_field() {
        let info = "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    301 27 0:5 / /dev rw - devtmpfs udev rw\n\
                    garbage\n";
        assert_eq!(parse_mount_ids(info), HashSet::from([27, 301]));
    }

    /// statx names our descriptors as /proc does: a pipe, a socket, a
    /// regular file, a character device and a named FIFO (a file to CRIU).
    #[test]
    fn own_descriptors_are_named_as_proc_names_them() {
        use std::os::fd::{AsFd, OwnedFd};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
        let (sock, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let file = std::fs::File::create(dir.path().join("out")).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let named: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .unwrap()
            .into();
        let me = std::process::id() as i32;
        let fds = [
            pipe_r.as_fd(),
            sock.as_fd(),
            file.as_fd(),
            null.as_fd(),
            named.as_fd(),
        ];
        for fd in fds {
            let fast = own_criu_id(fd).expect("statx answers on this kernel");
            let proc = describe_fd(me, fd.as_raw_fd()).unwrap().criu_id;
            assert_eq!(fast, proc, "fd {}", fd.as_raw_fd());
        }
        assert!(own_criu_id(pipe_r.as_fd()).unwrap().starts_with("pipe:["));
        assert!(own_criu_id(named.as_fd()).unwrap().starts_with("file["));
    }
}
