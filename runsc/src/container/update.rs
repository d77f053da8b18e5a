//! `update`: new cgroup limits for a running container.

use oci_spec::runtime::LinuxResources;

use super::{ContainerStore, LifecycleError};

pub fn update(
    store: &ContainerStore,
    id: &str,
    resources: &LinuxResources,
) -> Result<(), LifecycleError> {
    let locked = store.lock(id)?;
    let status = locked.container.live_status();
    if !status.has_sandbox() {
        return Err(LifecycleError::NotRunning {
            id: id.to_string(),
            status,
        });
    }
    if let Some(unit) = &locked.container.systemd_unit {
        crate::systemd::Systemd::connect()?.set_limits(unit, resources)?;
    }
    locked.container.cgroup()?.update(resources)?;
    Ok(())
}
