//! Signals sent to a foreground `run`, `restore` or `exec`, passed on to
//! the container's process, as runc passes them: a `kill -TERM` of the
//! command a user (or a supervisor) started reaches the container instead
//! of killing the command and leaving the container behind.

use std::os::fd::{AsFd, BorrowedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::{ContainerStore, LifecycleError};

/// Signals that stay ours: those that cannot be caught, SIGCHLD (our
/// children), SIGWINCH (the terminal proxy's), and faults of our own.
const KEPT: [Signal; 10] = [
    Signal::SIGKILL,
    Signal::SIGSTOP,
    Signal::SIGCHLD,
    Signal::SIGWINCH,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGILL,
    Signal::SIGFPE,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

/// The signals to pass on, blocked in this thread and read from a
/// signalfd. Processes started after it exists inherit the blocked mask,
/// so it is made once the sandbox runs.
pub struct Forwarder {
    fd: SignalFd,
}

impl Forwarder {
    pub fn new() -> Result<Self, LifecycleError> {
        let mut set = SigSet::empty();
        for signal in Signal::iterator().filter(|s| !KEPT.contains(s)) {
            set.add(signal);
        }
        let fd = set
            .thread_block()
            .and_then(|()| {
                SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            })
            .map_err(specutils::error::os("set up signal forwarding"))?;
        Ok(Self { fd })
    }

    /// The signals received since the last call.
    pub fn received(&self) -> Vec<i32> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            out.push(info.ssi_signo as i32);
        }
        out
    }

    /// Waits until `done` is readable, passing every signal received
    /// meanwhile to `forward`.
    pub fn wait_for(&self, done: BorrowedFd<'_>, mut forward: impl FnMut(i32)) {
        loop {
            let mut fds = [
                PollFd::new(done, PollFlags::POLLIN),
                PollFd::new(self.fd.as_fd(), PollFlags::POLLIN),
            ];
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            if ready(&fds[1]) {
                for signal in self.received() {
                    forward(signal);
                }
            }
            if ready(&fds[0]) {
                return;
            }
        }
    }
}

/// Passes `signal` on to the init of container `id`; a failure (the init
/// has just exited) is logged.
pub fn forward_to_container(store: &ContainerStore, id: &str, signal: i32) {
    if let Err(e) = super::kill::kill(store, id, signal, false) {
        tracing::warn!("forward signal {signal} to container {id}: {e}");
    }
}

impl AsFd for Forwarder {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
