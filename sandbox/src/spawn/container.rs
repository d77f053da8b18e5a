//! One container's init from its spec and donated mounts, prepared in the
//! sandbox before the fork: the root container at boot, a subcontainer on
//! request.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;
use oci_spec::runtime::Spec;
use specutils::channel::Channel;
use specutils::hooks::HookState;

use super::{SpawnError, Starting};
use crate::init::InitPlan;
use crate::options::LaunchOptions;

pub struct ContainerSetup<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub mount_point: &'a Path,
    /// Gofer channels: the rootfs first, then each bind mount.
    pub mounts: &'a [Channel],
    pub console: Option<OwnedFd>,
    /// stdin, stdout, stderr for the init; empty: the sandbox's own.
    pub stdio: Vec<OwnedFd>,
    /// `tasks` of the container's cgroup in each v1 hierarchy, which the
    /// init writes itself into; empty: the sandbox's cgroup.
    pub cgroup_procs: Vec<OwnedFd>,
    /// The container's cgroup2 directory, which the init is born in
    /// (CLONE_INTO_CGROUP: no move, which would wait for the kernel's
    /// threadgroup lock); None: the sandbox's.
    pub cgroup2: Option<OwnedFd>,
    pub new: CloneFlags,
    pub join: Vec<(CloneFlags, OwnedFd)>,
    pub options: LaunchOptions,
}

pub fn has_runtime_hooks(spec: &Spec) -> bool {
    spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    })
}

/// The state hooks read, before the init's pid is known.
pub fn initial_state(id: &str, spec: &Spec, bundle: &Path) -> HookState {
    HookState {
        oci_version: specutils::spec::OCI_VERSION.to_string(),
        id: id.to_string(),
        status: oci_spec::runtime::ContainerState::Creating,
        pid: 0,
        bundle: bundle.to_path_buf(),
        annotations: spec
            .annotations()
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }
}

/// Receives the donated mounts and spawns the init; `namespaced` runs
/// once the init's namespaces exist (the createRuntime hooks' moment).
/// The init is left building its root filesystem: see [`Starting`].
pub fn create<E>(
    setup: ContainerSetup<'_>,
    namespaced: impl FnOnce(i32, &HookState) -> Result<(), E>,
) -> Result<(Starting, HookState), SpawnError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let spec = setup.spec;
    let donated = specutils::mounts::donated_mounts(spec);
    if setup.mounts.len() != donated.len() + 1 {
        return Err(SpawnError::MountChannels {
            got: setup.mounts.len(),
            wanted: donated.len() + 1,
        });
    }
    // The filters first: the gofer donates meanwhile.
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => Some(crate::seccomp::compile(profile)?),
        None => None,
    };
    let baseline = crate::baseline::for_container(setup.id, spec, &setup.options)?;
    let rootfs = gofer::donation::receive(&setup.mounts[0], 0)?;
    let mut binds = Vec::new();
    for (n, (index, _)) in donated.iter().enumerate() {
        let fd = gofer::donation::receive(&setup.mounts[n + 1], n + 1)?;
        binds.push((*index, fd));
    }
    let listener_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_path().clone());
    let seccomp_listener = match listener_path {
        Some(path) => Some(
            std::os::unix::net::UnixStream::connect(&path)
                .map(OwnedFd::from)
                .map_err(|source| SpawnError::SeccompListener {
                    path: path.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    let state = initial_state(setup.id, spec, setup.bundle);
    // A cgroup namespace is rooted where its creator is. An init that
    // moves to a cgroup of its own (a subcontainer's) makes its namespace
    // once there, not at the fork, which happens in the sandbox's cgroup.
    let mut new = setup.new;
    let own_cgroup = !setup.cgroup_procs.is_empty() || setup.cgroup2.is_some();
    let late_cgroup_ns = own_cgroup && new.contains(CloneFlags::CLONE_NEWCGROUP);
    if late_cgroup_ns {
        new.remove(CloneFlags::CLONE_NEWCGROUP);
    }
    let plan = InitPlan {
        id: setup.id.to_string(),
        spec: spec.clone(),
        mount_point: setup.mount_point.to_path_buf(),
        rootfs,
        binds,
        join: setup.join,
        unshare: CloneFlags::empty(),
        new_user_ns: setup.new.contains(CloneFlags::CLONE_NEWUSER),
        new_net_ns: setup.new.contains(CloneFlags::CLONE_NEWNET),
        seccomp,
        baseline,
        seccomp_listener,
        console: setup.console,
        stdio: setup.stdio,
        cgroup_procs: setup.cgroup_procs,
        late_cgroup_ns,
        options: setup.options,
    };
    let hook_state = state.clone();
    let cgroup2 = setup.cgroup2.as_ref().map(|d| d.as_fd());
    let starting = super::spawn(plan, new, cgroup2, state.clone(), |pid| {
        namespaced(pid, &HookState { pid, ..hook_state }).map_err(|e| SpawnError::Hooks(e.into()))
    })?;
    let state = HookState {
        pid: starting.pid(),
        ..state
    };
    Ok((starting, state))
}
