//! `pause` and `resume`: freeze and thaw the container's cgroup.
//!
//! The sandbox lives in that cgroup too, as gVisor's does, so the frontend
//! freezes and thaws it directly rather than asking the sandbox (which
//! would freeze before it could answer). While paused, commands that need
//! the sandbox (exec) refuse, and `kill` signals the processes directly.

use super::{ContainerStore, LifecycleError, Status};

pub fn pause(store: &ContainerStore, id: &str) -> Result<(), LifecycleError> {
    let mut locked = store.lock(id)?;
    let status = locked.container.live_status();
    if status != Status::Running {
        return Err(LifecycleError::Invalid(format!(
            "cannot pause container {id}: it is {status}"
        )));
    }
    locked.container.cgroup()?.freeze()?;
    locked.container.status = status.transition(Status::Paused)?;
    locked.save()?;
    Ok(())
}

pub fn resume(store: &ContainerStore, id: &str) -> Result<(), LifecycleError> {
    let mut locked = store.lock(id)?;
    let status = locked.container.live_status();
    if status != Status::Paused {
        return Err(LifecycleError::Invalid(format!(
            "cannot resume container {id}: it is {status}, not paused"
        )));
    }
    locked.container.cgroup()?.thaw()?;
    locked.container.status = status.transition(Status::Running)?;
    locked.save()?;
    Ok(())
}
