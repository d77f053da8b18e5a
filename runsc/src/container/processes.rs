//! The host pids of a container's processes, for `ps` and `kill --all`.

use super::{Container, ContainerStore, LifecycleError};
use crate::api::Sandbox;

/// Asks the sandbox, which answers for a paused container too: it waits
/// out the pause outside the frozen cgroup.
pub fn pids(store: &ContainerStore, c: &Container) -> Result<Vec<i32>, LifecycleError> {
    if !c.live_status().has_sandbox() {
        return Ok(Vec::new());
    }
    Ok(Sandbox::of(store, &c.sandbox_id).processes(&c.id)?)
}
