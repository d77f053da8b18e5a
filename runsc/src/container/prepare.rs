//! The spec as `create` checks and adjusts it before anything is made:
//! security labels the host cannot apply, `--network`, `--systemd-cgroup`.

use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType, Spec};

use super::options::NetworkMode;
use super::LifecycleError;

/// Refuses AppArmor profiles and SELinux labels the host cannot apply, and
/// Intel RDT, which is not supported.
pub(super) fn check_security_labels(spec: &Spec) -> Result<(), LifecycleError> {
    super::labels::check(spec)?;
    if spec
        .linux()
        .as_ref()
        .and_then(|l| l.intel_rdt().as_ref())
        .is_some()
    {
        return Err(LifecycleError::Invalid(
            "linux.intelRdt is not supported".into(),
        ));
    }
    Ok(())
}

/// `--network host` drops the spec's network namespace; `none` insists on
/// a fresh one.
pub(super) fn apply_network_mode(spec: &mut Spec, mode: NetworkMode) {
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    namespaces.retain(|n| mode == NetworkMode::Sandbox || n.typ() != LinuxNamespaceType::Network);
    if mode == NetworkMode::None {
        if let Ok(ns) = LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Network)
            .build()
        {
            namespaces.push(ns);
        }
    }
    linux.set_namespaces(Some(namespaces));
}

/// Replaces a systemd-style cgroupsPath with the cgroupfs path it names,
/// so that the kept spec.json and meta.json, and every later command with
/// or without `--systemd-cgroup`, find the same cgroup.
pub(super) fn use_systemd_cgroup_path(spec: &mut Spec, id: &str) -> Result<(), LifecycleError> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let path = sandbox::cgroup::systemd_path(given.as_deref(), id)?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some(path));
    }
    Ok(())
}
