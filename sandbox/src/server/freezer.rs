//! Pause and resume, served by the sandbox: it freezes a container's
//! cgroup through the descriptors the frontend opened for it, and, when it
//! lives in that cgroup itself, steps out to a sibling cgroup first so that
//! it still answers while the container is frozen (see docs/decisions.md,
//! "Pause in the sandbox").

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use crate::control::{ErrorKind, FreezerFds, FreezerKind, RemoteError};

use super::Server;

/// How long a freeze or thaw may take before it is reported as failed.
const SETTLE: Duration = Duration::from_secs(5);

impl Server {
    pub(super) fn pause(
        &mut self,
        id: &str,
        kind: FreezerKind,
        fds: FreezerFds<OwnedFd>,
    ) -> Result<(), RemoteError> {
        self.expect_paused(id, false)?;
        self.freeze_parked(id, kind, &fds)?;
        self.registry.get_mut(id)?.paused = true;
        Ok(())
    }

    /// Steps out of container `id`'s cgroup if we live in it, then freezes
    /// it; undone as far as it goes on failure.
    pub(super) fn freeze_parked(
        &self,
        id: &str,
        kind: FreezerKind,
        fds: &FreezerFds<OwnedFd>,
    ) -> Result<(), RemoteError> {
        for park in &fds.park {
            join(park).map_err(|e| fail(format!("leave container {id}'s cgroup: {e}")))?;
        }
        if let Err(e) = set(kind, fds, true) {
            // A half-frozen container must not stay so, and we belong
            // back in its cgroup.
            let _ = set(kind, fds, false);
            for home in &fds.home {
                let _ = join(home);
            }
            return Err(fail(format!("freeze container {id}: {e}")));
        }
        Ok(())
    }

    pub(super) fn resume(
        &mut self,
        id: &str,
        kind: FreezerKind,
        fds: FreezerFds<OwnedFd>,
    ) -> Result<(), RemoteError> {
        self.expect_paused(id, true)?;
        set(kind, &fds, false).map_err(|e| fail(format!("thaw container {id}: {e}")))?;
        self.registry.get_mut(id)?.paused = false;
        for home in &fds.home {
            join(home).map_err(|e| fail(format!("return to container {id}'s cgroup: {e}")))?;
        }
        Ok(())
    }
}

impl Server {
    /// Refuses a container that has exited, or that is not `paused` as
    /// the request expects.
    fn expect_paused(&self, id: &str, paused: bool) -> Result<(), RemoteError> {
        let c = self.registry.get(id)?;
        if c.exited.is_some() {
            return Err(failed(
                ErrorKind::NoSuchProcess,
                "container process is gone",
            ));
        }
        if c.checkpointing {
            return Err(failed(
                ErrorKind::InvalidArgument,
                format!("container {id} is being checkpointed"),
            ));
        }
        let wrong = match (c.paused, paused) {
            (true, false) => "already paused",
            (false, true) => "not paused",
            _ => return Ok(()),
        };
        Err(failed(
            ErrorKind::InvalidArgument,
            format!("container {id} is {wrong}"),
        ))
    }
}

fn failed(kind: ErrorKind, message: impl Into<String>) -> RemoteError {
    RemoteError::new(kind, message)
}

fn fail(message: String) -> RemoteError {
    failed(ErrorKind::Failed, message)
}

/// Moves this (single-threaded) process into the cgroup whose
/// `cgroup.procs` is `procs`.
pub(super) fn join(procs: &OwnedFd) -> std::io::Result<()> {
    crate::cgroup::join_self(std::slice::from_ref(procs))
}

/// Freezes (`frozen`) or thaws the cgroup and waits until the kernel says
/// it is done.
pub(super) fn set(
    kind: FreezerKind,
    fds: &FreezerFds<OwnedFd>,
    frozen: bool,
) -> std::io::Result<()> {
    let (request, done): (&[u8], &str) = match (kind, frozen) {
        (FreezerKind::V1, true) => (b"FROZEN", "FROZEN"),
        (FreezerKind::V1, false) => (b"THAWED", "THAWED"),
        (FreezerKind::V2, true) => (b"1", "frozen 1"),
        (FreezerKind::V2, false) => (b"0", "frozen 0"),
    };
    // v1 reports on the state file itself, v2 in cgroup.events.
    let report = match kind {
        FreezerKind::V1 => &fds.state,
        FreezerKind::V2 => fds.events.first().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no cgroup.events")
        })?,
    };
    let deadline = Instant::now() + SETTLE;
    loop {
        // v1 can stay FREEZING while a task is busy in the kernel: asking
        // again is how it gets another try.
        rustix::io::pwrite(&fds.state, request, 0)?;
        let mut buf = [0u8; 256];
        let n = rustix::io::pread(report, &mut buf, 0)?;
        let text = String::from_utf8_lossy(&buf[..n]);
        if text.lines().any(|l| l.trim() == done) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("still {:?} after {SETTLE:?}", text.trim()),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
