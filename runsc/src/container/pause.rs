//! `pause` and `resume`: asked of the sandbox, which freezes and thaws the
//! container's cgroup. The sandbox of a pod's first container lives in that
//! container's cgroup: it steps out to a sibling cgroup for the pause, so
//! that it still answers `kill`, `ps` and the pod's other containers, and
//! refuses exec into the paused one (see docs/decisions.md).

use super::freezer::FreezerFiles;
use super::{ContainerStore, LifecycleError, Status};
use crate::api::Sandbox;

pub fn pause(store: &ContainerStore, id: &str) -> Result<(), LifecycleError> {
    let mut locked = store.lock(id)?;
    let status = locked.container.live_status();
    if status != Status::Running {
        return Err(LifecycleError::Invalid(format!(
            "cannot pause container {id}: it is {status}"
        )));
    }
    let c = &locked.container;
    let files = FreezerFiles::open(&c.cgroup()?, c.sandbox_id == c.id)?;
    let paused = Sandbox::of(store, &c.sandbox_id).pause(id, files.kind, files.fds());
    if let Err(e) = paused {
        // The sandbox went back on failure; its sibling goes.
        files.remove_park();
        return Err(LifecycleError::Sandbox(format!(
            "pause container {id}: {e}"
        )));
    }
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
    let c = &locked.container;
    let files = FreezerFiles::open(&c.cgroup()?, c.sandbox_id == c.id)?;
    Sandbox::of(store, &c.sandbox_id)
        .resume(id, files.kind, files.fds())
        .map_err(|e| LifecycleError::Sandbox(format!("resume container {id}: {e}")))?;
    files.remove_park();
    locked.container.status = status.transition(Status::Running)?;
    locked.save()?;
    Ok(())
}
