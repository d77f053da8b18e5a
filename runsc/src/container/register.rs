//! A new container's store entry and cgroup, undone together if create
//! fails.

use std::path::Path;

use oci_spec::runtime::Spec;
use sandbox::cgroup::Cgroup;
use specutils::error::os;
use specutils::Cleanup;

use super::spawn::KillOnDrop;
use super::{Container, ContainerStore, LifecycleError, ProcessRef};

/// The store entry of a new container.
pub(super) fn new_entry(id: &str, bundle: &Path, spec: &Spec, sandbox_id: &str) -> Container {
    let rootfs = specutils::spec::rootfs_path(bundle, spec);
    let mut container = Container::new(id, bundle.to_path_buf(), rootfs, sandbox_id);
    container.annotations = spec
        .annotations()
        .as_ref()
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    container.hooks = spec.hooks().clone();
    container.cgroup_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    container
}

/// How much of the cgroup [`register`] makes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum CgroupStep {
    /// All of it, limits included.
    Whole,
    /// Its cgroup2 directory only, for the sandbox to be born in; the
    /// caller finishes it ([`Cgroup::finish`]) while the sandbox starts.
    Unified,
}

/// Adds `container` to the store and makes its cgroup (none for a rootless
/// run where cgroups are not delegated; see [`super::rootless`]), with
/// `spec_data`, the encoded spec, kept in the entry; the returned guard
/// undoes both unless released.
pub(super) fn register(
    store: &ContainerStore,
    container: &mut Container,
    spec: &Spec,
    spec_data: &[u8],
    rootless: bool,
    step: CgroupStep,
) -> Result<(Cleanup, Option<Cgroup>), LifecycleError> {
    store.create_with_spec(container, spec_data)?;
    let mut cleanup = Cleanup::new();
    {
        let store = store.clone();
        let id = container.id.clone();
        cleanup.add(move || {
            let _ = store.remove(&id);
        });
    }
    let cgroup = match step {
        CgroupStep::Whole => super::rootless::create_cgroup(container, spec, rootless)?,
        CgroupStep::Unified => Some(Cgroup::create_unified(
            container.cgroup_path.as_deref(),
            &container.id,
        )?),
    };
    if cgroup.is_none() {
        // Kept, so that every later command knows there is none to use.
        container.no_cgroup = true;
        let mut locked = store.lock(&container.id)?;
        locked.container.no_cgroup = true;
        locked.save()?;
    } else {
        // Opened again only if needed: opening reads the mount table.
        let (path, id) = (container.cgroup_path.clone(), container.id.clone());
        cleanup.add(move || {
            if let Ok(cgroup) = Cgroup::open(path.as_deref(), &id) {
                let _ = cgroup.remove();
            }
        });
    }
    Ok((cleanup, cgroup))
}

/// Saves the just-started sandbox's pid into container `id`'s entry, for a
/// container without a cgroup: there, only pids in meta.json lead `delete`
/// to its processes, and a frontend killed before it saved them would
/// leave the sandbox, its init and holder running for good. Ending the
/// sandbox ends the other two (the init's parent-death signal; the holder
/// exits once it loses the sandbox). With a cgroup, `delete` finds them
/// all there, and this write is spared.
pub(super) fn record_sandbox(
    store: &ContainerStore,
    id: &str,
    sandbox: &KillOnDrop,
) -> Result<(), LifecycleError> {
    let Some(child) = &sandbox.0 else {
        return Ok(());
    };
    let pid = child.pid;
    let mut locked = store.lock(id)?;
    locked.container.sandbox =
        Some(ProcessRef::of(pid).map_err(os(format!("read start time of {pid}")))?);
    locked.save()?;
    Ok(())
}
