//! The containers and exec'd processes this sandbox tracks, and which
//! processes belong to each.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use oci_spec::runtime::{LinuxNamespaceType, PosixRlimit, Spec};
use specutils::channel::Channel;
use specutils::hooks::HookState;

use crate::control::{ErrorKind, RemoteError, Responder};
use crate::seccomp::Filter;
use crate::spawn::Init;

/// One container in this sandbox, as the sandbox tracks it.
pub struct Container {
    pub(super) init_pid: i32,
    /// Keeps the init's pid from being reused while we track it.
    _init_pidfd: OwnedFd,
    /// The channel that releases the init into execve; None once started.
    pub(super) release: Option<Channel>,
    pub(super) own_pid_ns: bool,
    pub(super) exited: Option<i32>,
    /// Frozen by `Pause`: exec is refused until `Resume`.
    pub(super) paused: bool,
    /// Held frozen for a checkpoint (`super::checkpoint`).
    pub(super) checkpointing: bool,
    /// `Wait` calls parked until the init exits.
    pub(super) waiters: Vec<Responder>,
    /// The container's filter, for processes exec'd into it.
    pub(super) seccomp: Option<Filter>,
    /// The baseline under it (`crate::baseline`), for them too.
    pub(super) baseline: Option<crate::seccomp::Program>,
    /// The container's rlimits, for processes exec'd without their own.
    pub(super) rlimits: Vec<PosixRlimit>,
    pub(super) oom_score_adj: Option<i32>,
    pub(super) state: HookState,
    /// Where the exit status is appended for `wait` after the sandbox
    /// (opened for appending by the frontend).
    pub(super) exit_file: Option<OwnedFd>,
    /// A subcontainer's own cgroup, which its exec'd processes join:
    /// `tasks` per v1 hierarchy, and its cgroup2 directory.
    pub(super) cgroup_procs: Vec<OwnedFd>,
    pub(super) cgroup2: Option<OwnedFd>,
    /// A later container's holder (`crate::holder`) exits with the status
    /// written here, or as a lost sandbox once it closes.
    pub(super) holder_exit: Option<OwnedFd>,
    /// That holder's stack and arguments, freed once it has exited.
    pub(super) holder_memory: Option<crate::holder::Memory>,
}

impl Container {
    /// A container whose init is set up and waits for `start`.
    pub fn new(
        spec: &Spec,
        init: Init,
        state: HookState,
        exit_file: Option<OwnedFd>,
        options: &crate::options::LaunchOptions,
    ) -> Self {
        let mut c = Self::running(spec, init.pid, init.pidfd, state, exit_file, options);
        c.release = Some(init.channel);
        c
    }

    /// A container whose init already runs (a restored one).
    pub fn running(
        spec: &Spec,
        init_pid: i32,
        init_pidfd: OwnedFd,
        state: HookState,
        exit_file: Option<OwnedFd>,
        options: &crate::options::LaunchOptions,
    ) -> Self {
        // The create that set this container up checked the same spec; a
        // failure here would be a bug, and exec then runs without it.
        let baseline = crate::baseline::for_container(&state.id, spec, options)
            .inspect_err(|e| tracing::error!("container {}: baseline for exec: {e}", state.id))
            .unwrap_or(None);
        let profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        let seccomp = profile.and_then(|p| match crate::seccomp::compile(p) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!("container {}: seccomp for exec: {e}", state.id);
                None
            }
        });
        Self {
            own_pid_ns: crate::init::has_namespace(spec, LinuxNamespaceType::Pid),
            init_pid,
            _init_pidfd: init_pidfd,
            release: None,
            exited: None,
            paused: false,
            checkpointing: false,
            waiters: Vec::new(),
            seccomp,
            baseline,
            rlimits: spec
                .process()
                .as_ref()
                .and_then(|p| p.rlimits().clone())
                .unwrap_or_default(),
            oom_score_adj: spec.process().as_ref().and_then(|p| p.oom_score_adj()),
            state,
            exit_file,
            cgroup_procs: Vec::new(),
            cgroup2: None,
            holder_exit: None,
            holder_memory: None,
        }
    }
}

/// A process exec'd into a container, until someone collects its status.
pub(super) struct Exec {
    pub container: String,
    pub status: Option<i32>,
    /// `WaitPid` calls parked until it exits.
    pub waiters: Vec<Responder>,
}

/// Every container of the pod and every exec'd process not yet waited for.
pub(super) struct Registry {
    pub containers: HashMap<String, Container>,
    pub execs: HashMap<i32, Exec>,
}

impl Registry {
    pub fn new(root_id: String, root: Container) -> Self {
        Self {
            containers: HashMap::from([(root_id, root)]),
            execs: HashMap::new(),
        }
    }

    pub fn get(&self, id: &str) -> Result<&Container, RemoteError> {
        self.containers.get(id).ok_or_else(|| no_container(id))
    }

    pub fn get_mut(&mut self, id: &str) -> Result<&mut Container, RemoteError> {
        self.containers.get_mut(id).ok_or_else(|| no_container(id))
    }

    /// The container whose init is `pid`.
    pub fn by_init(&self, pid: i32) -> Option<String> {
        self.containers
            .iter()
            .find(|(_, c)| c.init_pid == pid)
            .map(|(id, _)| id.clone())
    }

    /// A container's processes: every process in its init's pid namespace,
    /// or, when it shares ours, its init's descendants and its exec'd
    /// processes with theirs.
    pub fn container_pids(&self, id: &str) -> Vec<i32> {
        let Some(c) = self.containers.get(id) else {
            return Vec::new();
        };
        if c.exited.is_some() {
            return Vec::new();
        }
        let ns_of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
        let Some(init_ns) = ns_of(c.init_pid) else {
            return Vec::new();
        };
        let all = proc_pids();
        if c.own_pid_ns {
            return all
                .into_iter()
                .filter(|p| ns_of(*p).as_ref() == Some(&init_ns))
                .collect();
        }
        let mut roots = vec![c.init_pid];
        roots.extend(
            self.execs
                .iter()
                .filter(|(_, e)| e.container == id && e.status.is_none())
                .map(|(pid, _)| *pid),
        );
        specutils::proc::descendants(&roots, &all)
    }

    /// SIGKILLs every process of container `id`.
    pub fn kill_all(&self, id: &str) {
        for pid in self.container_pids(id) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

pub(super) fn no_container(id: &str) -> RemoteError {
    RemoteError::new(
        ErrorKind::NotFound,
        format!("container {id} is not in this sandbox"),
    )
}

fn proc_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
