//! The sandbox's descriptors that a container process inherits through
//! the fork: none may survive its execve.

use std::os::fd::BorrowedFd;

use specutils::error::os;

use super::InitError;

/// Marks every descriptor from `first` on close-on-exec. close_range does
/// it in one call; a kernel before 5.11 (5.9 without the flag), or a
/// seccomp filter older than the syscall, refuses it, and then each open
/// descriptor listed in /proc/self/fd is marked in turn, as runc does.
pub fn close_on_exec_from(first: u32) -> Result<(), InitError> {
    let Err(refused) = close_range_cloexec(first) else {
        return Ok(());
    };
    let listing = std::fs::read_dir("/proc/self/fd").map_err(os(format!(
        "list descriptors to close on exec (close_range: {refused})"
    )))?;
    for entry in listing {
        let entry = entry.map_err(os("list descriptors to close on exec"))?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if u32::try_from(fd).is_ok_and(|fd| fd >= first) {
            set_cloexec(fd).map_err(os(format!("mark descriptor {fd} close-on-exec")))?;
        }
    }
    Ok(())
}

/// Clears close-on-exec on `first..first+count`, descriptors handed down
/// for the container's process to keep (`--preserve-fds`).
pub fn keep_across_exec(first: i32, count: u32) -> Result<(), InitError> {
    for fd in first..first + count as i32 {
        // SAFETY: borrowed for one fcntl that changes only its flags.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::empty()).map_err(os(format!(
            "keep preserved descriptor {fd} open across exec"
        )))?;
    }
    Ok(())
}

pub(crate) fn close_range_cloexec(first: u32) -> std::io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// The directory listing's own descriptor, closed by the time its number
/// is read, is the one that may be gone: that is no error.
pub(crate) fn set_cloexec(fd: i32) -> Result<(), rustix::io::Errno> {
    // SAFETY: the descriptor is only borrowed for two fcntl calls that
    // change its flags; a closed number yields EBADF, nothing worse.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = match rustix::io::fcntl_getfd(fd) {
        Ok(flags) => flags,
        Err(rustix::io::Errno::BADF) => return Ok(()),
        Err(e) => return Err(e),
    };
    rustix::io::fcntl_setfd(fd, flags | rustix::io::FdFlags::CLOEXEC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::tests::in_child;

    #[test]
    fn falls_back_when_close_range_is_refused() {
        let profile = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}]});
        let profile = serde_json::from_value(profile).expect("profile");
        let filter = crate::seccomp::compile(&profile).expect("compile");
        let code = in_child(&filter, |_| {
            // SAFETY: plain descriptor calls on stdin and new numbers.
            let (low, high) = unsafe { (libc::dup(0), libc::fcntl(0, libc::F_DUPFD, 200)) };
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let cloexec = |fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC != 0;
            if low < 0 || high < 0 || cloexec(low) || cloexec(high) {
                return 3;
            }
            if close_range_cloexec(low as u32).is_ok() {
                return 4;
            }
            if close_on_exec_from(high as u32).is_err() {
                return 5;
            }
            i32::from(cloexec(low)) + 2 * i32::from(!cloexec(high))
        });
        assert_eq!(code, 0, "1: below `first` marked, 2: above not, 3-5: setup");
    }
}
