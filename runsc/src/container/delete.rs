//! `delete`: kills what is left of a container and forgets it. Idempotent,
//! and able to remove a container whose metadata is corrupt.

use std::time::Duration;

use std::os::fd::{AsFd, OwnedFd};

use oci_spec::runtime::ContainerState;

use crate::api::Sandbox;

use super::{ContainerStore, LifecycleError, ProcessRef, Status, StoreError};
use specutils::proc::wait_exit;

pub fn delete(store: &ContainerStore, id: &str, force: bool) -> Result<(), LifecycleError> {
    let _lock = store.lock_raw(id)?;
    let container = match store.read_meta(id) {
        Ok(c) => c,
        Err(StoreError::Corrupt { .. } | StoreError::Mismatch { .. }) if force => {
            // Its processes are unknown, but they live in its cgroup, whose
            // path the spec kept beside meta.json tells (or the default).
            remove_cgroup_of_unreadable(store, id);
            store.remove(id)?;
            return Ok(());
        }
        Err(StoreError::Corrupt { path, .. }) => {
            return Err(LifecycleError::Invalid(format!(
                "{} is corrupt: use delete --force to remove container {id}",
                path.display()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let status = container.live_status();
    if matches!(status, Status::Running | Status::Paused) && !force {
        return Err(LifecycleError::Invalid(format!(
            "cannot delete container {id} that is not stopped: it is {status}"
        )));
    }
    let is_sub = container.sandbox_id != container.id;
    if is_sub {
        // The sandbox is the pod's; only this container leaves it. A
        // stopped one leaves it too: the sandbox still holds its entry,
        // descriptors (cgroup files, which pin the removed cgroup) and
        // holder memory until told. Its pod may be gone by then.
        let sandbox = Sandbox::of(store, &container.sandbox_id);
        if let Err(e) = sandbox.destroy(id) {
            if status.has_sandbox() {
                tracing::warn!("container {id}: sandbox {}: {e}", container.sandbox_id);
            } else {
                tracing::debug!("container {id}: sandbox {}: {e}", container.sandbox_id);
            }
        }
    } else {
        // The pod's containers go with its sandbox.
        for sub in subcontainers(store, id) {
            if let Err(e) = delete(store, &sub, true) {
                tracing::warn!("delete container {sub} of sandbox {id}: {e}");
            }
        }
    }
    // None: a rootless container without a cgroup (see below).
    let cgroup = (!container.no_cgroup)
        .then(|| container.cgroup())
        .transpose()?;
    // SIGKILL first; a paused container's processes only die once thawed,
    // which removing the cgroup does.
    let sandbox = if is_sub { None } else { container.sandbox };
    // The init goes explicitly, and with it its pid namespace, whose
    // processes the kernel kills and reaps before the init's exit shows;
    // so does the holder, which lives outside it. Without a cgroup that is
    // all there is to empty; with one, the cgroup is then empty for the
    // first rmdir, with no freeze, kill and thaw round (which still
    // catches whatever else joined it). A later container's init is the
    // sandbox's to end.
    let init = if cgroup.is_none() || !is_sub {
        container.init
    } else {
        None
    };
    let holder = if is_sub { None } else { container.holder };
    let pidfds: Vec<_> = [init, holder, sandbox, container.gofer]
        .into_iter()
        .flatten()
        .filter_map(kill)
        .collect();
    tracing::debug!("delete {id}: processes signalled");
    // Unless frozen (a paused container's processes die only once thawed),
    // let them go first: an empty cgroup is removed without the freeze,
    // kill and thaw round.
    if status != Status::Paused {
        for fd in &pidfds {
            wait_exit(fd.as_fd(), Duration::from_secs(1));
        }
    }
    if let Some(cgroup) = &cgroup {
        cgroup.remove()?;
    }
    tracing::debug!("delete {id}: cgroup removed");
    if let Some(unit) = &container.systemd_unit {
        crate::systemd::Systemd::connect()?.stop_unit(unit)?;
    }
    for fd in pidfds {
        wait_exit(fd.as_fd(), Duration::from_secs(10));
    }
    // A sandbox paused with its container waited outside its cgroup.
    if let (false, Some(cgroup)) = (is_sub, &cgroup) {
        super::freezer::remove_park_of(cgroup);
    }
    tracing::debug!("delete {id}: processes gone");
    super::fault::crash_point("delete:killed");
    // poststop failures are logged, not fatal: the container is gone.
    if let Some(hooks) = container.hooks.as_ref().and_then(|h| h.poststop().as_ref()) {
        let state = super::hook_state(&container, ContainerState::Stopped, 0);
        if let Err(e) = specutils::hooks::run_hooks("poststop", hooks, &state) {
            tracing::warn!("container {id}: {e}");
        }
    }
    store.remove(id)?;
    if is_sub {
        if let Err(e) = super::members::remove(&store.dir(&container.sandbox_id), id) {
            tracing::warn!("container {id}: {e}");
        }
    }
    Ok(())
}

/// Kills and removes the cgroup of a container whose meta.json cannot be
/// read, from the cgroupsPath of its kept spec.
fn remove_cgroup_of_unreadable(store: &ContainerStore, id: &str) {
    let cgroups_path = super::files::read_spec(&store.dir(id))
        .ok()
        .and_then(|(data, spec_path)| specutils::spec::parse_spec(&data, &spec_path).ok())
        .and_then(|spec| spec.linux().as_ref()?.cgroups_path().clone());
    match sandbox::cgroup::Cgroup::open(cgroups_path.as_deref(), id) {
        Ok(cgroup) if cgroup.exists() => {
            if let Err(e) = cgroup.remove() {
                tracing::warn!("container {id}: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("container {id}: {e}"),
    }
    // A scope unit of ours is named after the cgroup it holds.
    let unit = cgroups_path.as_deref().and_then(crate::systemd::scope_of);
    if let (Some((unit, _)), true) = (unit, crate::systemd::booted()) {
        if let Err(e) = crate::systemd::Systemd::connect().and_then(|s| s.stop_unit(&unit)) {
            tracing::warn!("container {id}: {e}");
        }
    }
}

/// The ids of the containers in sandbox `sandbox_id`, itself excluded:
/// those its member list names, or for a sandbox without one, every
/// container's whose metadata says so.
fn subcontainers(store: &ContainerStore, sandbox_id: &str) -> Vec<String> {
    super::members::list(&store.dir(sandbox_id))
        .unwrap_or_else(|| store.ids().unwrap_or_default())
        .into_iter()
        .filter(|other| other != sandbox_id)
        .filter(|other| {
            store
                .read_meta(other)
                .is_ok_and(|c| c.sandbox_id == sandbox_id)
        })
        .collect()
}

/// SIGKILLs `p` if it is still the process we recorded; returns a pidfd
/// to wait on.
fn kill(p: ProcessRef) -> Option<OwnedFd> {
    let pidfd = p.pidfd()?;
    let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
    Some(pidfd)
}
