//! `start`: releases the init of a created container into its execve.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use oci_spec::runtime::ContainerState;

use crate::api::Sandbox;

use super::store::LockedContainer;
use super::{ContainerStore, LifecycleError, ProcessRef, Status};

pub fn start(store: &ContainerStore, id: &str) -> Result<(), LifecycleError> {
    let mut locked = store.lock(id)?;
    let status = locked.container.live_status();
    if status != Status::Created {
        return Err(LifecycleError::Invalid(format!(
            "cannot start container {id}: it is {status}, not created"
        )));
    }
    release(store, &mut locked)?;
    poststart(&locked.container);
    Ok(())
}

/// Releases the init of `locked`, a created container, and records it
/// running. The new metadata is written before the init is released, so
/// that a store that cannot take it (ENOSPC) fails start while nothing
/// runs. `create` calls this too when asked to start (`run`).
pub(super) fn release(
    store: &ContainerStore,
    locked: &mut LockedContainer,
) -> Result<(), LifecycleError> {
    let id = locked.container.id.clone();
    let mut next = locked.container.clone();
    next.status = locked.container.status.transition(Status::Running)?;
    let pending = locked.prepare(&next)?;
    let sandbox = Sandbox::of(store, &locked.container.sandbox_id);
    if let Err(e) = sandbox.start(&id) {
        if let Some(holder) = locked.container.holder {
            wait_until_reaped(holder);
        }
        return Err(LifecycleError::Sandbox(format!(
            "start container {id}: {e}"
        )));
    }
    super::fault::crash_point("start:released");
    pending.commit()?;
    locked.container = next;
    Ok(())
}

/// Runs the poststart hooks of `c`, just started. Their failures are
/// logged, not fatal: the process already runs.
pub(super) fn poststart(c: &super::Container) {
    if let Some(hooks) = c.hooks.as_ref().and_then(|h| h.poststart().as_ref()) {
        let pid = c.init.map(|p| p.pid).unwrap_or(0);
        if let Err(e) = specutils::hooks::run_hooks(
            "poststart",
            hooks,
            &super::hook_state(c, ContainerState::Running, pid),
        ) {
            tracing::warn!("container {}: {e}", c.id);
        }
    }
}

/// After a failed start the init is gone, and so, once the sandbox has
/// told it, is the holder: the pid we reported. Its reaper (containerd's
/// runc shim) learns of the failure from that exit, and Docker and CRI
/// delete the task as soon as start fails; a task the shim still sees as
/// created is refused deletion and left behind, shim and all. So the
/// error goes back once that pid is reaped, within bounds; not when we
/// are its parent (`run`), which reaps it later.
fn wait_until_reaped(holder: ProcessRef) {
    let ours = specutils::proc::parent(holder.pid).is_ok_and(|p| p == std::process::id() as i32);
    if ours {
        return;
    }
    if let Some(pidfd) = holder.pidfd() {
        specutils::proc::wait_exit(pidfd.as_fd(), Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_millis(100);
    while !specutils::proc::is_reaped(holder.pid, holder.start_time) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}
