//! Checkpoint holds: the sandbox freezes a container for the frontend's
//! CRIU dump and keeps it frozen while the frontend's connection stays
//! open. Meanwhile it refuses exec, pause and resume of that container.
//! When the frontend ends the hold, or dies mid-dump, the sandbox puts the
//! freezer back as it was, so a crashed checkpoint cannot leave a running
//! container frozen (see docs/decisions.md, "Checkpoint and restore").
//!
//! CRIU itself runs in the frontend: forked from here it would inherit the
//! sandbox's seccomp filter, which allows neither ptrace nor netlink.

use std::os::fd::OwnedFd;

use crate::control::{
    CheckpointHeld, ErrorKind, FreezerFds, FreezerKind, HeldConnection, RemoteError,
};

use super::freezer::{join, set};
use super::Server;

/// One checkpoint in progress.
pub(super) struct Hold {
    pub id: String,
    pub connection: HeldConnection,
    kind: FreezerKind,
    fds: FreezerFds<OwnedFd>,
    /// Paused before the checkpoint: it stays paused after, unless killed.
    was_paused: bool,
}

impl Server {
    /// Freezes container `id` (unless paused already) and reports its
    /// running exec'd processes.
    pub(super) fn hold_for_checkpoint(
        &mut self,
        id: &str,
        kind: FreezerKind,
        fds: FreezerFds<OwnedFd>,
    ) -> Result<(CheckpointHeld, HoldParts), RemoteError> {
        let c = self.registry.get(id)?;
        if c.exited.is_some() {
            return Err(refused(
                ErrorKind::NoSuchProcess,
                "container process is gone",
            ));
        }
        if c.release.is_some() {
            return Err(refused(
                ErrorKind::InvalidArgument,
                format!("container {id} has not started"),
            ));
        }
        if c.checkpointing {
            return Err(refused(
                ErrorKind::InvalidArgument,
                format!("container {id} is already being checkpointed"),
            ));
        }
        let was_paused = c.paused;
        if !was_paused {
            self.freeze_parked(id, kind, &fds)?;
        }
        self.registry.get_mut(id)?.checkpointing = true;
        let execs = self
            .registry
            .execs
            .iter()
            .filter(|(_, e)| e.container == id && e.status.is_none())
            .map(|(pid, _)| *pid)
            .collect();
        Ok((
            CheckpointHeld { execs },
            HoldParts {
                kind,
                fds,
                was_paused,
            },
        ))
    }

    /// Keeps a granted hold until its connection ends it.
    pub(super) fn keep_hold(&mut self, id: &str, connection: HeldConnection, parts: HoldParts) {
        self.holds.push(Hold {
            id: id.to_string(),
            connection,
            kind: parts.kind,
            fds: parts.fds,
            was_paused: parts.was_paused,
        });
    }

    /// Ends hold number `index`, whose connection turned readable: an end
    /// message, or the frontend gone.
    pub(super) fn end_hold(&mut self, index: usize) {
        let hold = self.holds.swap_remove(index);
        let end = hold.connection.read_end();
        let killed = end.is_some_and(|e| e.killed);
        let result = self.release(&hold, killed);
        if let Err(e) = &result {
            tracing::error!("checkpoint of {}: {e}", hold.id);
        }
        if end.is_none() {
            tracing::warn!(
                "checkpoint of {}: the frontend went away mid-checkpoint; freezer put back",
                hold.id
            );
        }
        hold.connection.answer(result);
    }

    fn release(&mut self, hold: &Hold, killed: bool) -> Result<(), RemoteError> {
        if let Ok(c) = self.registry.get_mut(&hold.id) {
            c.checkpointing = false;
        }
        if hold.was_paused && !killed {
            return Ok(());
        }
        set(hold.kind, &hold.fds, false).map_err(|e| {
            refused(
                ErrorKind::Failed,
                format!("thaw container {} after checkpoint: {e}", hold.id),
            )
        })?;
        if let Ok(c) = self.registry.get_mut(&hold.id) {
            c.paused = false;
        }
        for home in &hold.fds.home {
            join(home).map_err(|e| {
                refused(
                    ErrorKind::Failed,
                    format!("return to container {}'s cgroup: {e}", hold.id),
                )
            })?;
        }
        Ok(())
    }
}

/// What a granted hold keeps, until its connection is known.
pub(super) struct HoldParts {
    kind: FreezerKind,
    fds: FreezerFds<OwnedFd>,
    was_paused: bool,
}

fn refused(kind: ErrorKind, message: impl Into<String>) -> RemoteError {
    RemoteError::new(kind, message)
}
