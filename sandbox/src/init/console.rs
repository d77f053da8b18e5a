//! The container's terminal: a pty made inside the container's devpts,
//! whose master goes to the caller's console socket, as runc does.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use oci_spec::runtime::Box as ConsoleSize;
use rustix::fs::{Mode, OFlags};

use specutils::error::os;
use specutils::scm_rights::send_with_fds;

use super::InitError;

pub fn setup(console_socket: BorrowedFd<'_>, size: Option<&ConsoleSize>) -> Result<(), InitError> {
    let master = rustix::pty::openpt(
        rustix::pty::OpenptFlags::RDWR
            | rustix::pty::OpenptFlags::NOCTTY
            | rustix::pty::OpenptFlags::CLOEXEC,
    )
    .map_err(os("open /dev/ptmx"))?;
    rustix::pty::unlockpt(&master).map_err(os("unlock pty"))?;
    let name = rustix::pty::ptsname(&master, Vec::new()).map_err(os("pty name"))?;
    let name_str = name.to_string_lossy().into_owned();
    let slave: OwnedFd = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY,
        Mode::empty(),
    )
    .map_err(os(format!("open {name_str}")))?;
    if let Some(size) = size {
        let ws = rustix::termios::Winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&slave, ws).map_err(os("set terminal size"))?;
    }
    let iov = [IoSlice::new(name_str.as_bytes())];
    send_with_fds(console_socket, &iov, &[master.as_fd()])
        .map_err(os("send pty master to console socket"))?;
    drop(master);
    rustix::process::ioctl_tiocsctty(&slave)
        .map_err(os("make the pty the controlling terminal"))?;
    for target in 0..=2 {
        nix::unistd::dup2(slave.as_fd().as_raw_fd(), target).map_err(os("pty as stdio"))?;
    }
    Ok(())
}
