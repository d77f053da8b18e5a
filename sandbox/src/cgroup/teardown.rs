//! Ending a container's cgroup: kill what is left, wait, and remove its
//! directories, nested cgroups included.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{Cgroup, CgroupError};

/// How long [`Cgroup::remove`] waits for SIGKILLed processes to go.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(5);

impl Cgroup {
    /// SIGKILLs every process left in the cgroup, waits at most
    /// [`REMOVE_TIMEOUT`] for them to go, and removes the cgroup, nested
    /// cgroups included, from every hierarchy. Removing a cgroup that does not
    /// exist succeeds.
    pub fn remove(&self) -> Result<(), CgroupError> {
        if !self.exists() {
            return Ok(());
        }
        let realtime = self.parent_holds_realtime();
        let remove_dirs = || {
            if realtime {
                self.give_up_realtime();
            }
            self.remove_dirs()
        };
        // The usual case after a container ended: nothing left, so one
        // rmdir round, with no scan for processes and no freeze, kill and
        // thaw round (~3 ms in 11 hierarchies). The kernel refuses to
        // remove a cgroup that holds a process (EBUSY), so any left, or
        // joined meanwhile, sends us on to the kill below; the directories
        // removed first were empty.
        if remove_dirs().is_ok() {
            self.remove_parents(realtime);
            return Ok(());
        }
        if !self.pids()?.is_empty() {
            // Frozen, nothing in the cgroup can fork a child the kill loop
            // misses.
            let frozen = self.freeze();
            if let Err(e) = self.kill_all(Signal::SIGKILL) {
                tracing::warn!("{e}");
            }
            // A SIGKILLed task in a frozen v1 cgroup dies only once thawed.
            // Thaw even if freezing failed: the container may have been
            // paused.
            if let (Err(e), Ok(())) = (self.thaw(), frozen) {
                tracing::warn!("{e}");
            }
        }

        // Exponential, from 2 ms to 100 ms between tries, for at most
        // REMOVE_TIMEOUT: the kernel may still be tearing down the last exit.
        let policy = backoff::ExponentialBackoff {
            initial_interval: Duration::from_millis(2),
            randomization_factor: 0.0,
            multiplier: 2.0,
            max_interval: Duration::from_millis(100),
            max_elapsed_time: Some(REMOVE_TIMEOUT),
            ..Default::default()
        };
        // Boxed: CgroupError is large, and backoff wraps it once more.
        let attempt = || {
            let pids = self
                .pids()
                .map_err(|e| backoff::Error::permanent(Box::new(e)))?;
            if !pids.is_empty() {
                if let Err(e) = self.kill_all(Signal::SIGKILL) {
                    tracing::debug!("{e}");
                }
                let busy = CgroupError::Busy(self.path.clone(), pids);
                return Err(backoff::Error::transient(Box::new(busy)));
            }
            remove_dirs().map_err(|e| backoff::Error::transient(Box::new(e)))
        };
        backoff::retry(policy, attempt).map_err(|e| match e {
            backoff::Error::Permanent(e) | backoff::Error::Transient { err: e, .. } => *e,
        })?;
        self.remove_parents(realtime);
        Ok(())
    }

    /// Removes `/runsc` where this was its last cgroup, else (`realtime`)
    /// lowers the realtime runtime it held for this one.
    fn remove_parents(&self, realtime: bool) {
        if self.in_default_parent() {
            let parents = self.hierarchies.iter().filter_map(|h| h.dir.parent());
            super::parent::remove_if_empty(parents);
            if realtime {
                self.release_realtime();
            }
        }
    }
}
