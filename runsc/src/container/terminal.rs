//! A terminal for `run` and `exec` when the process asks for one and the
//! caller gave no console socket, as runc provides: we receive the pty
//! master ourselves and copy between it and our own terminal until the
//! process exits.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use specutils::error::os;
use specutils::scm_rights::recv_with_fds;

use super::signals::Forwarder;
use super::LifecycleError;

/// A console socket of our own, removed when dropped.
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn bind(dir: &Path) -> Result<Self, LifecycleError> {
        let path = dir.join(format!("~console.{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(os("bind console socket"))?;
        Ok(Self { path, listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the container's init sent.
    pub fn receive_master(&self) -> Result<OwnedFd, LifecycleError> {
        let (conn, _) = self
            .listener
            .accept()
            .map_err(os("accept on console socket"))?;
        let mut buf = [0u8; 4096];
        let mut fds = Vec::new();
        recv_with_fds(conn.as_fd(), &mut buf, &mut fds).map_err(os("receive pty master"))?;
        // Anything sent beyond the first descriptor is closed here.
        fds.into_iter()
            .next()
            .ok_or_else(|| LifecycleError::Invalid("console socket: no pty master received".into()))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Our terminal in raw mode until dropped, when it is one.
struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = nix::sys::termios::tcgetattr(&stdin) else {
            return Self { saved: None };
        };
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        Self { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

/// Copies our stdin to `master` and `master` to our stdout until `exited`
/// (a pidfd, or a socket that the exit makes readable) is readable and the
/// pty is drained; signals `signals` receives meanwhile go to `forward`.
pub fn proxy(
    master: &OwnedFd,
    exited: BorrowedFd<'_>,
    signals: &Forwarder,
    mut forward: impl FnMut(i32),
) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // Our window size is the process's, now and whenever ours changes (the
    // kernel then signals the process's foreground group itself).
    let copy_size = || lend_size(master);
    copy_size();
    let resized = window_changes();
    let _raw = RawMode::enter();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(exited, PollFlags::POLLIN),
        ];
        fds.push(PollFd::new(signals.as_fd(), PollFlags::POLLIN));
        if let Some(r) = &resized {
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
        let stdin_at = fds.len();
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let (master_ready, exited) = (ready(&fds[0]), ready(&fds[1]));
        let stdin_ready = stdin_open && ready(&fds[stdin_at]);
        if ready(&fds[2]) {
            for signal in signals.received() {
                forward(signal);
            }
        }
        if let Some(r) = resized.as_ref().filter(|_| ready(&fds[3])) {
            while let Ok(Some(_)) = r.read_signal() {}
            copy_size();
        }
        if master_ready {
            match rustix::io::read(master, &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = write_all(stdout.as_fd(), &buf[..n]);
                    continue;
                }
                // EIO: every slave end is closed.
                _ => return,
            }
        }
        if stdin_ready {
            match rustix::io::read(&stdin, &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = write_all(master.as_fd(), &buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
        if exited && !master_ready {
            return;
        }
    }
}

/// The size of the caller's terminal, if stdin is one.
pub fn our_size() -> Option<rustix::termios::Winsize> {
    rustix::termios::tcgetwinsize(std::io::stdin()).ok()
}

/// Gives the pty of `master` our terminal's size. Done as soon as the
/// master arrives, before the process runs, so it never sees 0x0.
pub fn lend_size(master: &OwnedFd) {
    if let Some(ws) = our_size() {
        let _ = rustix::termios::tcsetwinsize(master, ws);
    }
}

/// SIGWINCH as a descriptor, or None if it cannot be had (then the size
/// is only copied once).
fn window_changes() -> Option<nix::sys::signalfd::SignalFd> {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut set = SigSet::empty();
    set.add(Signal::SIGWINCH);
    set.thread_block().ok()?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok()
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> rustix::io::Result<()> {
    while !data.is_empty() {
        let n = rustix::io::write(fd, data)?;
        data = &data[n..];
    }
    Ok(())
}
