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
/// so that the kept spec and meta.json, and every later command with
/// or without `--systemd-cgroup`, find the same cgroup. A user's manager
/// (rootless) puts its units under its own cgroup, and has no
/// system.slice: its default slice is user.slice, as in runc's rootless
/// driver (Podman names it too).
pub(super) fn use_systemd_cgroup_path(
    spec: &mut Spec,
    id: &str,
    systemd: Option<&crate::systemd::Systemd>,
) -> Result<(), LifecycleError> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let manager = systemd.map(|s| s.manager_cgroup()).transpose()?.flatten();
    let given = match (&manager, given) {
        (Some(_), None) => Some(format!("user.slice:runsc:{id}")),
        (Some(_), Some(g)) if g.is_empty() => Some(format!("user.slice:runsc:{id}")),
        (Some(_), Some(g)) if g.starts_with(':') => Some(format!("user.slice{g}")),
        (_, g) => g,
    };
    let mut path = sandbox::cgroup::systemd_path(given.as_deref(), id)?;
    if let Some(manager) = manager {
        let below = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
        path = std::path::Path::new(&manager).join(below);
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some(path));
    }
    Ok(())
}
