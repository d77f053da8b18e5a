//! The sandbox process's life: receive the donated mounts, launch the root
//! container's init, report to the frontend, then serve the control socket
//! and reap until the root container's init exits. The sandbox exits with
//! that init's status, which is what containerd's shim reads when it reaps
//! the pid that `create --pid-file` wrote.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use specutils::channel::{Channel, ChannelError};
use specutils::hooks::HookState;

use specutils::error::{os, OsError};

use crate::capabilities::{CapsError, Retained};
use crate::checkpoint::RestorePlan;
use crate::pod_namespaces::PodNamespaces;
use crate::restore::RestoreError;
use crate::server::{Container, Server};
use crate::spawn::{self, Init, SpawnError};

/// The handshake between the frontend and a booting sandbox.
#[derive(Debug, Serialize, Deserialize)]
pub enum BootMsg {
    /// Frontend → sandbox: go ahead. It carries the `tasks` file of the
    /// container's cgroup in each v1 hierarchy, which the sandbox joins
    /// first (it was born in the cgroup2 one): the frontend makes those
    /// while the sandbox starts.
    Begin,
    /// Frontend → sandbox: as `Begin` (with the same descriptors), but
    /// restore the root container from a checkpoint instead of creating
    /// it; the answer is `Created` (the init already runs) or `Failed`.
    Restore(RestorePlan),
    /// Sandbox → frontend: the init's namespaces exist; run the prestart
    /// and createRuntime hooks, then answer `HooksDone`.
    RunHooks { init_pid: i32 },
    /// Frontend → sandbox: the hooks succeeded.
    HooksDone,
    /// Sandbox → frontend: the init is set up and blocked before execve;
    /// `holder` is the pid to report (see `holder.rs`), if one started.
    Created {
        init_pid: i32,
        #[serde(default)]
        holder: Option<i32>,
    },
    /// Sandbox → frontend: creation failed; `message` is the cause.
    Failed { message: String },
}

/// Forks the root container's gofer from the sandbox, given the spec;
/// returns its pid. Called once the frontend has said `Begin`, when the
/// sandbox is in the container's cgroups in every hierarchy (a scope's
/// too), so that the gofer is born there.
pub type StartGofer = Box<dyn FnOnce(&Spec) -> Result<i32, OsError>>;

pub struct BootConfig {
    pub id: String,
    pub bundle: PathBuf,
    pub spec: Spec,
    /// An empty directory where the init attaches the rootfs before the
    /// pivot.
    pub mount_point: PathBuf,
    pub control: UnixListener,
    /// Gofer channels: the rootfs first, then each bind mount.
    pub mounts: Vec<Channel>,
    pub ready: Channel,
    pub console: Option<OwnedFd>,
    /// Where the root container's exit status is written before exiting.
    pub exit_status: OwnedFd,
    pub options: crate::options::LaunchOptions,
    /// Set when the gofer is ours to start; the frontend started it
    /// otherwise.
    pub gofer: Option<StartGofer>,
    /// `--preserve-fds`: held at 3, 4, ... until the root container's init
    /// has forked with them (`options.preserve_fds` of them).
    pub preserved: Vec<OwnedFd>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("frontend sent {0:?}, expected {1}")]
    Unexpected(Box<BootMsg>, &'static str),
    #[error("ask frontend to run hooks: {0}")]
    AskHooks(ChannelError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error(transparent)]
    Capabilities(#[from] CapsError),
    #[error("confine the sandbox with seccomp: {0}")]
    Confine(std::io::Error),
    #[error("frontend channel: {0}")]
    Frontend(#[from] ChannelError),
    #[error("join the container's cgroup: {0}")]
    JoinCgroup(std::io::Error),
}

/// Runs the sandbox; returns the exit status for the process.
pub fn boot(mut cfg: BootConfig) -> Result<i32, BootError> {
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    sigchld.thread_block().map_err(os("block SIGCHLD"))?;
    let signals = SignalFd::with_flags(&sigchld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(os("signalfd"))?;

    tracing::debug!("sandbox {}: begins", cfg.id);
    let (restore, tasks) = match cfg.ready.recv::<BootMsg>()? {
        (BootMsg::Begin, tasks) => (None, tasks),
        (BootMsg::Restore(plan), tasks) => (Some(plan), tasks),
        (other, _) => return Err(BootError::Unexpected(Box::new(other), "Begin or Restore")),
    };
    // Before anything is forked, so that every child is born in the
    // container's cgroups.
    let joined = crate::cgroup::join_self(&tasks).map_err(BootError::JoinCgroup);
    drop(tasks);
    // First, so that the gofer donates while the sandbox prepares the init.
    let gofer = joined.and_then(|()| match (&restore, cfg.gofer.take()) {
        (None, Some(start)) => start(&cfg.spec).map(Some).map_err(BootError::from),
        _ => Ok(None),
    });
    let gofer_pid = gofer.as_ref().ok().copied().flatten();
    let begun = gofer.and_then(|_| match &restore {
        None => create_root(&cfg).map(|(init, state)| Begun::Created(init, state)),
        Some(plan) => crate::restore::restore(plan)
            .map_err(BootError::from)
            .map(|r| {
                let mut state = spawn::initial_state(&cfg.id, &cfg.spec, &cfg.bundle);
                state.status = oci_spec::runtime::ContainerState::Running;
                state.pid = r.pid;
                Begun::Restored(r, state)
            }),
    });
    // The init got the donated mounts and the preserved descriptors at its
    // fork; the gofer exits once it has donated. None is of more use here.
    cfg.mounts.clear();
    cfg.preserved.clear();
    // Done while a new init builds its rootfs (its namespaces are final):
    // on two CPUs this time is hidden. Everything forked from here on gets
    // at most what the sandbox keeps, under its filter. A sandbox that
    // cannot confine itself does not serve.
    let started = begun.and_then(|begun| {
        // The pid we report leads tools into the pod's namespaces.
        let pod_namespaces = PodNamespaces::join(begun.pid());
        if let Err(e) = crate::holder::prepare() {
            tracing::warn!("sandbox {}: {e}", cfg.id);
        }
        let retained = Retained::for_root(&cfg.spec).and_then(|r| r.apply().map(|()| r))?;
        confine_self(&cfg.spec).map_err(BootError::Confine)?;
        tracing::debug!("sandbox {}: capabilities dropped, seccomp loaded", cfg.id);
        let root = begun.ready()?;
        tracing::debug!("sandbox {}: root container set up", cfg.id);
        // Once the init has pivoted: a holder that entered its mount
        // namespace between the init's pivot_root and its unmount of the
        // old root would keep the host's tree as its root.
        let holder = start_holder(root.pid());
        Ok((root, retained, pod_namespaces, holder))
    });
    let (root, retained, pod_namespaces, holder) = match started {
        Ok(started) => started,
        Err(e) => {
            let message = e.to_string();
            cfg.ready.send(&BootMsg::Failed { message }, &[])?;
            return Err(e);
        }
    };
    // Reaped before `create` returns, so that no gofer is seen after it.
    // It had every mount attached and the channels hung up: it is exiting.
    if let Some(pid) = gofer_pid {
        reap_gofer(pid);
    }
    let init_pid = root.pid();
    cfg.ready
        .send(&BootMsg::Created { init_pid, holder }, &[])?;
    drop(cfg.ready);
    drop(cfg.console);
    // The init has its own copy of our stdio (or a pty instead). Callers
    // such as containerd's shim read `create`'s output until it closes, so
    // the sandbox must not keep it open.
    if let Err(e) = specutils::sys::stdio_to_dev_null() {
        tracing::warn!("sandbox {}: detach stdio: {e}", cfg.id);
    }
    let root = match root {
        Root::Created(init, state) => {
            let exit = Some(cfg.exit_status);
            Container::new(&cfg.spec, init, state, exit, &cfg.options)
        }
        Root::Restored(r, state) => {
            let exit = Some(cfg.exit_status);
            Container::running(&cfg.spec, r.pid, r.pidfd, state, exit, &cfg.options)
        }
    };
    specutils::sys::release_free_memory();
    let mut server = Server::new(cfg.id, root, retained, pod_namespaces);
    Ok(server.serve(&cfg.control, &signals))
}

/// Waits for the forked gofer's exit; SIGCHLD is blocked, so nothing
/// interrupts the wait.
fn reap_gofer(pid: i32) {
    if let Err(e) = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
        tracing::warn!("sandbox: reap the gofer {pid}: {e}");
    }
}

/// The holder for the root container `init`; None (we report the
/// sandbox's pid then) if it could not start.
fn start_holder(init: i32) -> Option<i32> {
    match crate::holder::start(init) {
        Ok(h) => {
            if !h.entered {
                tracing::warn!(
                    "sandbox: holder {} could not enter the container's mount, cgroup or pid \
                     namespace",
                    h.pid
                );
            }
            Some(h.pid)
        }
        Err(e) => {
            tracing::warn!("sandbox: start the holder: {e}");
            None
        }
    }
}

/// Loads the sandbox's own allow-list. Processes it forks later (exec, a
/// pod's later containers) inherit the filter on top of their
/// container's, so it also lets through what containers use and the
/// sandbox does not, tracing tools included, and the families the root
/// container's annotations give back to its workloads.
fn confine_self(spec: &oci_spec::runtime::Spec) -> std::io::Result<()> {
    crate::self_filter::load_sandbox(&crate::baseline::given_back_syscalls(spec))
}

/// The root container's init: building its rootfs, or restored and
/// running.
enum Begun {
    Created(spawn::Starting, HookState),
    Restored(crate::restore::Restored, HookState),
}

impl Begun {
    fn pid(&self) -> i32 {
        match self {
            Begun::Created(starting, _) => starting.pid(),
            Begun::Restored(r, _) => r.pid,
        }
    }

    /// Waits for a new init to be set up.
    fn ready(self) -> Result<Root, BootError> {
        Ok(match self {
            Begun::Created(starting, state) => Root::Created(starting.ready()?, state),
            Begun::Restored(r, state) => Root::Restored(r, state),
        })
    }
}

/// The root container's init: set up and waiting, or restored and running.
enum Root {
    Created(Init, HookState),
    Restored(crate::restore::Restored, HookState),
}

impl Root {
    fn pid(&self) -> i32 {
        match self {
            Root::Created(init, _) => init.pid,
            Root::Restored(r, _) => r.pid,
        }
    }
}

/// Receives the donated mounts and launches the root container's init;
/// the frontend runs the prestart and createRuntime hooks when asked.
fn create_root(cfg: &BootConfig) -> Result<(spawn::Starting, HookState), BootError> {
    let runtime_hooks = spawn::has_runtime_hooks(&cfg.spec);
    // The frontend runs prestart and createRuntime hooks in the runtime's
    // namespaces; only then may the init go on.
    let namespaced = |init_pid: i32, _state: &HookState| -> Result<(), BootError> {
        if !runtime_hooks {
            return Ok(());
        }
        cfg.ready
            .send(&BootMsg::RunHooks { init_pid }, &[])
            .map_err(BootError::AskHooks)?;
        match cfg.ready.recv::<BootMsg>()? {
            (BootMsg::HooksDone, _) => Ok(()),
            (other, _) => Err(BootError::Unexpected(Box::new(other), "HooksDone")),
        }
    };
    let console = match &cfg.console {
        Some(fd) => Some(fd.try_clone().map_err(os("console socket"))?),
        None => None,
    };
    let (new, join) = spawn::plan_namespaces(&cfg.spec)?;
    let created = spawn::create(
        spawn::ContainerSetup {
            id: &cfg.id,
            spec: &cfg.spec,
            bundle: &cfg.bundle,
            mount_point: &cfg.mount_point,
            mounts: &cfg.mounts,
            console,
            stdio: Vec::new(),
            cgroup_procs: Vec::new(),
            cgroup2: None,
            new,
            join,
            options: cfg.options,
        },
        namespaced,
    )?;
    Ok(created)
}
