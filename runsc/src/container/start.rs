//! `start`: releases the init of a created container into its execve.

use oci_spec::runtime::ContainerState;

use crate::api::Sandbox;

use super::{ContainerStore, LifecycleError, Status};

pub fn start(store: &ContainerStore, id: &str) -> Result<(), LifecycleError> {
    let mut locked = store.lock(id)?;
    let status = locked.container.live_status();
    if status != Status::Created {
        return Err(LifecycleError::Invalid(format!(
            "cannot start container {id}: it is {status}, not created"
        )));
    }
    // The new metadata is written before the init is released, so that a
    // store that cannot take it (ENOSPC) fails start while nothing runs.
    let mut next = locked.container.clone();
    next.status = status.transition(Status::Running)?;
    let pending = locked.prepare(&next)?;
    let sandbox = Sandbox::of(store, &locked.container.sandbox_id);
    if let Err(e) = sandbox.start(id) {
        return Err(LifecycleError::Sandbox(format!(
            "start container {id}: {e}"
        )));
    }
    super::fault::crash_point("start:released");
    pending.commit()?;
    locked.container = next;
    // poststart failures are logged, not fatal: the process already runs.
    let c = &locked.container;
    if let Some(hooks) = c.hooks.as_ref().and_then(|h| h.poststart().as_ref()) {
        let pid = c.init.map(|p| p.pid).unwrap_or(0);
        if let Err(e) = specutils::hooks::run_hooks(
            "poststart",
            hooks,
            &super::hook_state(c, ContainerState::Running, pid),
        ) {
            tracing::warn!("container {id}: {e}");
        }
    }
    Ok(())
}
