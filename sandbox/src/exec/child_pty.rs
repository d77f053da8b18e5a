//! The exec'd child's terminal (see `super::child` for what it may do):
//! a pty made in the container's devpts, whose master goes to the
//! caller's console socket, as `init::console` does for an init.

use std::os::fd::RawFd;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::child::{at, fd, last_errno, Done, PtyOp, Report, Step};

/// A pty made in the container's devpts; its master goes to the console
/// socket with the slave's name, as runc sends it.
pub(super) fn pty(
    console: RawFd,
    size: Option<rustix::termios::Winsize>,
    report: &mut Report,
) -> Done {
    use rustix::pty::OpenptFlags;
    let op = |op| at(Step::Pty(op));
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(op(PtyOp::Open))?;
    rustix::pty::unlockpt(&master).map_err(op(PtyOp::Unlock))?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into `number`.
    if unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            libc::TIOCGPTN,
            &mut number,
        )
    } != 0
    {
        return Err((Step::Pty(PtyOp::Name), last_errno()));
    }
    report.pty = number;
    let mut name = [0u8; 32];
    let len = pts_name(number, &mut name);
    let path = std::ffi::CStr::from_bytes_with_nul(name.get(..=len).unwrap_or(&[0]))
        .map_err(|_| (Step::Pty(PtyOp::Name), libc::EINVAL))?;
    let slave = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(op(PtyOp::OpenPeer))?;
    if let Some(ws) = size {
        rustix::termios::tcsetwinsize(&slave, ws).map_err(op(PtyOp::Size))?;
    }
    send_master(console, name.get(..len).unwrap_or(&[]), &master).map_err(op(PtyOp::Send))?;
    drop(master);
    rustix::process::ioctl_tiocsctty(&slave).map_err(op(PtyOp::Ctty))?;
    for target in 0..=2 {
        // SAFETY: dup2 onto our own stdio numbers.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&slave), target) } < 0 {
            return Err((Step::Pty(PtyOp::Dup), last_errno()));
        }
    }
    Ok(())
}

/// "/dev/pts/<number>" into `buf`, NUL-terminated; returns its length.
fn pts_name(mut number: u32, buf: &mut [u8; 32]) -> usize {
    const PREFIX: &[u8] = b"/dev/pts/";
    let mut digits = [0u8; 10];
    let mut n = 0;
    loop {
        digits[n % 10] = b'0' + (number % 10) as u8;
        n += 1;
        number /= 10;
        if number == 0 || n == 10 {
            break;
        }
    }
    let mut len = 0;
    for &b in PREFIX.iter().chain(digits[..n].iter().rev()) {
        buf[len] = b;
        len += 1;
    }
    buf[len] = 0;
    len
}

/// One sendmsg: `name` as the data, `master` as SCM_RIGHTS.
fn send_master(console: RawFd, name: &[u8], master: &rustix::fd::OwnedFd) -> Result<(), Errno> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let fds = [std::os::fd::AsFd::as_fd(master)];
    let mut space = [std::mem::MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !cmsg.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(Errno::NOBUFS);
    }
    let iov = [std::io::IoSlice::new(name)];
    loop {
        match rustix::net::sendmsg(fd(console), &iov, &mut cmsg, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => continue,
            other => return other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pts_names() {
        let mut buf = [0u8; 32];
        for (n, want) in [
            (0, "/dev/pts/0"),
            (7, "/dev/pts/7"),
            (4096, "/dev/pts/4096"),
        ] {
            let len = pts_name(n, &mut buf);
            assert_eq!(&buf[..len], want.as_bytes());
            assert_eq!(buf[len], 0);
        }
    }
}
