//! A rootless container's cgroup: made where delegated, else skipped as
//! runc skips it.

use oci_spec::runtime::{LinuxResources, Spec};
use sandbox::cgroup::{Cgroup, CgroupError};

use super::super::{Container, LifecycleError};

/// The container's cgroup, or None where a rootless run may not make it and
/// the spec does not need one.
pub(in crate::container) fn create_cgroup(
    container: &Container,
    spec: &Spec,
    rootless: bool,
) -> Result<Option<Cgroup>, LifecycleError> {
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let path = container.cgroup_path.as_deref();
    match Cgroup::create(path, &container.id, resources) {
        Ok(cgroup) => Ok(Some(cgroup)),
        Err(e) if rootless && e.is_permission_denied() => {
            skip_cgroup(e, path.is_some(), resources)?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// runc's rule: without permission, a rootless container runs without a
/// cgroup only if it names none and asks for no limits.
fn skip_cgroup(
    e: CgroupError,
    named: bool,
    resources: Option<&LinuxResources>,
) -> Result<(), LifecycleError> {
    if named {
        return Err(LifecycleError::Invalid(format!(
            "rootless: linux.cgroupsPath names a cgroup this user cannot make ({e})"
        )));
    }
    if resources.is_some_and(asks_for_limits) {
        return Err(LifecycleError::Invalid(format!(
            "rootless: linux.resources sets limits, but cgroups are not delegated to this user ({e})"
        )));
    }
    tracing::warn!(
        "rootless: cgroups are not delegated to this user, so the container runs without one: \
         no limits, pause, stats or kill --all through it ({e})"
    );
    Ok(())
}

/// Whether `resources` sets anything but device rules, which need a cgroup
/// that only root can give on v1 and runc ignores when rootless.
fn asks_for_limits(resources: &LinuxResources) -> bool {
    let mut limits = resources.clone();
    limits.set_devices(None);
    serde_json::to_value(&limits).is_ok_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxPidsBuilder, LinuxResources};

    #[test]
    fn only_limits_other_than_devices_count() {
        let mut r = LinuxResources::default();
        assert!(!super::asks_for_limits(&r));
        r.set_devices(Some(vec![LinuxDeviceCgroup::default()]));
        assert!(!super::asks_for_limits(&r));
        let pids = LinuxPidsBuilder::default().limit(10).build().unwrap();
        r.set_pids(Some(pids));
        assert!(super::asks_for_limits(&r));
    }
}
