//! AppArmor profiles and SELinux labels, as runc treats them: a spec or
//! exec that asks for one on a host whose kernel does not enforce that LSM
//! is refused (runc fails writing the profile, or in its config check),
//! since running it unconfined would quietly weaken it; an exec'd process
//! without one of its own gets its container's. The container's init and
//! exec'd processes apply them (sandbox/src/init/lsm.rs).

use std::path::Path;

use oci_spec::runtime::{Process, Spec};

use super::LifecycleError;

/// Refuses the spec's profile and labels that this host cannot apply.
pub(super) fn check(spec: &Spec) -> Result<(), LifecycleError> {
    if let Some(process) = spec.process() {
        check_process(process)?;
    }
    let mount_label = spec
        .linux()
        .as_ref()
        .and_then(|l| non_empty(l.mount_label()));
    if let Some(label) = mount_label {
        if !selinux_enabled() {
            return Err(LifecycleError::Invalid(format!(
                "linux.mountLabel {label:?}: SELinux is not enabled on this host"
            )));
        }
    }
    Ok(())
}

/// Refuses a process's profile or label that this host cannot apply.
pub(super) fn check_process(process: &Process) -> Result<(), LifecycleError> {
    if let Some(profile) = non_empty(process.apparmor_profile()) {
        if !apparmor_enabled() {
            return Err(LifecycleError::Invalid(format!(
                "process.apparmorProfile {profile:?}: AppArmor is not enabled on this host"
            )));
        }
    }
    if let Some(label) = non_empty(process.selinux_label()) {
        if !selinux_enabled() {
            return Err(LifecycleError::Invalid(format!(
                "process.selinuxLabel {label:?}: SELinux is not enabled on this host"
            )));
        }
    }
    Ok(())
}

/// Gives an exec'd `process` its container's profile and label where it
/// names none, as runc does. The container's spec (kept in `dir`) is read
/// only on a host with an LSM: elsewhere `create` refused any label.
pub(super) fn inherit(process: &mut Process, dir: &Path) -> Result<(), LifecycleError> {
    let want_profile = non_empty(process.apparmor_profile()).is_none() && apparmor_enabled();
    let want_label = non_empty(process.selinux_label()).is_none() && selinux_enabled();
    if !want_profile && !want_label {
        return Ok(());
    }
    let (data, path) = super::files::read_spec(dir).map_err(specutils::error::os(format!(
        "read the spec of {}",
        dir.display()
    )))?;
    let spec: Spec = serde_json::from_slice(&data)
        .map_err(|e| LifecycleError::Invalid(format!("parse {}: {e}", path.display())))?;
    let Some(theirs) = spec.process() else {
        return Ok(());
    };
    if want_profile {
        process.set_apparmor_profile(theirs.apparmor_profile().clone());
    }
    if want_label {
        process.set_selinux_label(theirs.selinux_label().clone());
    }
    Ok(())
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// AppArmor is built in and active (the LSM framework clears the flag of
/// a module it did not start).
fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'))
}

/// SELinux is active, as runc's go-selinux decides it: its filesystem is
/// mounted and a policy is loaded (without one, every task is "kernel" and
/// no label can be set).
fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
        && std::fs::read_to_string("/proc/thread-self/attr/current")
            .is_ok_and(|l| l.trim_end_matches(['\n', '\0']) != "kernel")
}
