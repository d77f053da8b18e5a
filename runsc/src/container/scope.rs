//! The container's side of the systemd cgroup driver: which scope unit a
//! container gets, and starting it around the sandbox and gofer.

use oci_spec::runtime::Spec;
use sandbox::cgroup::Cgroup;
use specutils::Cleanup;

use super::options::CreateOptions;
use super::{Container, LifecycleError};
use crate::systemd::{scope_of, Systemd};

/// With `--systemd-cgroup` on a host systemd runs: a connection to the
/// systemd that is to hold the container's scope (PID 1, or the user's own
/// manager when rootless).
pub(super) fn connect(opts: &CreateOptions) -> Result<Option<Systemd>, LifecycleError> {
    if !opts.systemd_cgroup || !crate::systemd::booted() {
        return Ok(None);
    }
    Ok(Some(Systemd::connect()?))
}

/// The scope unit that is to hold the container's cgroup, if its path
/// names one.
pub(super) fn unit_of(container: &Container) -> Option<String> {
    let path = container.cgroup_path.clone().unwrap_or_default();
    scope_of(&path).map(|(unit, _)| unit)
}

/// Registers the container's cgroup as scope `unit` around `pids`, then
/// writes the spec's limits again: systemd sets those it has properties
/// for when the unit starts, and resets the others to their defaults.
pub(super) fn start_scope(
    systemd: &Systemd,
    unit: &str,
    container: &Container,
    spec: &Spec,
    pids: &[u32],
    cgroup: &Cgroup,
    cleanup: &mut Cleanup,
) -> Result<(), LifecycleError> {
    let path = container.cgroup_path.clone().unwrap_or_default();
    let slice = scope_of(&path).map_or_else(|| "-.slice".into(), |(_, s)| s);
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let description = format!("runsc container {}", container.id);
    {
        let unit = unit.to_owned();
        cleanup.add(move || {
            if let Err(e) = Systemd::connect().and_then(|s| s.stop_unit(&unit)) {
                tracing::warn!("{e}");
            }
        });
    }
    systemd.start_scope(unit, &slice, &description, pids, resources)?;
    if let Some(r) = resources {
        cgroup.update(r)?;
    }
    Ok(())
}
