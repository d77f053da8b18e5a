//! Facts about host processes read from /proc.

use std::io;

/// A process's start time in clock ticks since boot (field 22 of
/// /proc/<pid>/stat). A pid plus its start time names one process for good,
/// even after the pid is reused.
pub fn start_time(pid: i32) -> io::Result<u64> {
    let stat = read_stat(pid)?;
    parse_start_time(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed /proc/{pid}/stat"),
        )
    })
}

/// `/proc/<pid>/stat`, in one read and the one that sees its end.
/// `fs::read_to_string` asks the file's size and position (0 for /proc
/// files), then reads 32 bytes, then twice as much at a time: 9 syscalls
/// instead of 4, in every liveness check of every command. Lossy: see
/// below.
fn read_stat(pid: i32) -> io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat"))?;
    let mut buf = vec![0u8; 1024];
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
    }
    // The comm field is whatever bytes the process named itself (a
    // container's process may pick any): only the numbers after it count.
    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// The comm field may hold spaces and parentheses, so fields are counted
/// from the last ')'.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the comm: state is field 3, so starttime (22) is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The pid, in our /proc's pid namespace, of the process a pidfd names
/// (the `Pid:` line of its fdinfo).
pub fn pidfd_pid(pidfd: std::os::fd::BorrowedFd<'_>) -> io::Result<i32> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let info = std::fs::read_to_string(&path)?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
        .filter(|p: &i32| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no live pid in {path}")))
}

/// A process's parent pid (field 4 of /proc/<pid>/stat).
pub fn parent(pid: i32) -> io::Result<i32> {
    let stat = read_stat(pid)?;
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("malformed /proc/{pid}/stat"),
            )
        })
}

/// `roots` and every process among `among` that descends from one of them
/// (by parent links read from /proc), each once, roots first.
pub fn descendants(roots: &[i32], among: &[i32]) -> Vec<i32> {
    let mut children: std::collections::HashMap<i32, Vec<i32>> = std::collections::HashMap::new();
    for &pid in among {
        if let Ok(ppid) = parent(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out: Vec<i32> = Vec::new();
    for &r in roots {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    let mut seen: std::collections::HashSet<i32> = out.iter().copied().collect();
    let mut i = 0;
    while i < out.len() {
        for &c in children.get(&out[i]).into_iter().flatten() {
            if seen.insert(c) {
                out.push(c);
            }
        }
        i += 1;
    }
    out
}

/// Whether `pid` is alive and is still the process that started at
/// `start_time`. A zombie counts as gone.
pub fn is_same_process_alive(pid: i32, start_time: u64) -> bool {
    let Ok(stat) = read_stat(pid) else {
        return false;
    };
    let zombie = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X");
    !zombie && parse_start_time(&stat) == Some(start_time)
}

/// Whether the process that started at `start_time` is gone for good:
/// exited and reaped, its pid free or another process's.
pub fn is_reaped(pid: i32, start_time: u64) -> bool {
    read_stat(pid).map_or(true, |stat| parse_start_time(&stat) != Some(start_time))
}

/// Whether the process behind `pidfd` exits within `limit` (reaped or
/// not; it is not reaped here).
pub fn wait_exit(pidfd: std::os::fd::BorrowedFd<'_>, limit: std::time::Duration) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec::try_from(limit).ok();
    matches!(rustix::event::poll(&mut fds, timeout.as_ref()), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_exit_sees_the_exit_and_only_it() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
            .expect("pidfd_open");
        let short = std::time::Duration::from_millis(50);
        assert!(!wait_exit(std::os::fd::AsFd::as_fd(&pidfd), short));
        child.kill().expect("kill");
        let long = std::time::Duration::from_secs(5);
        assert!(wait_exit(std::os::fd::AsFd::as_fd(&pidfd), long));
        child.wait().expect("reap");
    }

    #[test]
    fn parses_odd_comm() {
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
    }

    #[test]
    fn own_process_is_alive() {
        let pid = std::process::id() as i32;
        let t = start_time(pid).expect("read own stat");
        assert!(is_same_process_alive(pid, t));
        assert!(!is_same_process_alive(pid, t + 1));
        assert_eq!(
            parent(pid).ok(),
            Some(std::os::unix::process::parent_id() as i32)
        );
    }

    #[test]
    fn descendants_follow_parent_links() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .expect("spawn sleep");
        let kid = child.id() as i32;
        let parent_pid = std::os::unix::process::parent_id() as i32;
        let found = descendants(&[me], &[kid, parent_pid]);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, vec![me, kid]);
    }
}
