//! The host pids of a container's processes, for `ps` and `kill --all`.

use crate::api::Sandbox;

use super::{Container, ContainerStore, LifecycleError, Status};

/// Asks the sandbox; a paused sandbox cannot answer, so then the
/// container's cgroup is read, less the sandbox and the gofer.
pub fn pids(store: &ContainerStore, c: &Container) -> Result<Vec<i32>, LifecycleError> {
    let status = c.live_status();
    if !status.has_sandbox() {
        return Ok(Vec::new());
    }
    if status != Status::Paused {
        return Ok(Sandbox::of(store, &c.sandbox_id).processes(&c.id)?);
    }
    let ours: Vec<i32> = [c.sandbox, c.gofer]
        .into_iter()
        .flatten()
        .map(|p| p.pid)
        .collect();
    let mut pids = c.cgroup()?.pids()?;
    pids.retain(|p| !ours.contains(p));
    Ok(pids)
}
