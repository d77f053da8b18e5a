//! The sandbox process's life: receive the donated mounts, launch the root
//! container's init, report to the frontend, then serve the control socket
//! and reap until the root container's init exits. The sandbox exits with
//! that init's status, which is what containerd's shim reads when it reaps
//! the pid that `create --pid-file` wrote.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};
use specutils::channel::{Channel, ChannelError};
use specutils::hooks::HookState;

use crate::control::{ErrorKind, ExitStatus, Incoming, RemoteError, Request};
use crate::init::{InitCmd, InitMsg, InitPlan};
use crate::launch::{self, Init};

/// The handshake between the frontend and a booting sandbox.
#[derive(Debug, Serialize, Deserialize)]
pub enum BootMsg {
    /// Frontend → sandbox: the sandbox is in its cgroup; go ahead.
    Begin,
    /// Sandbox → frontend: the init's namespaces exist; run the prestart
    /// and createRuntime hooks, then answer `HooksDone`.
    RunHooks { init_pid: i32 },
    /// Frontend → sandbox: the hooks succeeded.
    HooksDone,
    /// Sandbox → frontend: the init is set up and blocked before execve.
    Created { init_pid: i32 },
    /// Sandbox → frontend: creation failed; `message` is the cause.
    Failed { message: String },
}

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
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("{0}")]
    Setup(String),
    #[error("frontend channel: {0}")]
    Frontend(#[from] ChannelError),
}

/// Runs the sandbox; returns the exit status for the process.
pub fn boot(cfg: BootConfig) -> Result<i32, BootError> {
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    sigchld
        .thread_block()
        .map_err(|e| BootError::Setup(format!("block SIGCHLD: {e}")))?;
    let signals = SignalFd::with_flags(&sigchld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| BootError::Setup(format!("signalfd: {e}")))?;

    match cfg.ready.recv::<BootMsg>()? {
        (BootMsg::Begin, _) => {}
        (other, _) => {
            return Err(BootError::Setup(format!(
                "frontend sent {other:?}, expected Begin"
            )))
        }
    }
    let init = match create_root(&cfg) {
        Ok(init) => init,
        Err(message) => {
            cfg.ready.send(
                &BootMsg::Failed {
                    message: message.clone(),
                },
                &[],
            )?;
            return Err(BootError::Setup(message));
        }
    };
    cfg.ready
        .send(&BootMsg::Created { init_pid: init.pid }, &[])?;
    drop(cfg.ready);
    drop(cfg.console);
    if let Err(e) = crate::seccomp::self_allow_list(&[]).and_then(|f| f.load().map(drop)) {
        tracing::warn!("sandbox {}: confine self with seccomp: {e}", cfg.id);
    }
    let mut sandbox = Sandbox {
        id: cfg.id,
        own_pid_ns: crate::init::has_namespace(&cfg.spec, LinuxNamespaceType::Pid),
        init,
        started: false,
        waiters: Vec::new(),
        exited: None,
        exit_file: cfg.exit_status,
        _mounts: cfg.mounts,
    };
    Ok(sandbox.serve(&cfg.control, &signals))
}

/// Receives the donated mounts and launches the root container's init.
fn create_root(cfg: &BootConfig) -> Result<Init, String> {
    let donated = specutils::mounts::donated_mounts(&cfg.spec);
    if cfg.mounts.len() != donated.len() + 1 {
        return Err(format!(
            "sandbox got {} mount channels for {} mounts",
            cfg.mounts.len(),
            donated.len() + 1
        ));
    }
    let rootfs = gofer::donation::receive(&cfg.mounts[0], 0).map_err(|e| e.to_string())?;
    let mut binds = Vec::new();
    for (n, (index, _)) in donated.iter().enumerate() {
        let fd = gofer::donation::receive(&cfg.mounts[n + 1], n + 1).map_err(|e| e.to_string())?;
        binds.push((*index, fd));
    }
    let (new, join) = launch::plan_namespaces(&cfg.spec).map_err(|e| e.to_string())?;
    let seccomp = match cfg.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => {
            Some(crate::seccomp::compile(profile).map_err(|e| format!("seccomp: {e}"))?)
        }
        None => None,
    };
    let listener_path = cfg
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_path().clone());
    let seccomp_listener = match listener_path {
        Some(path) => Some(
            std::os::unix::net::UnixStream::connect(&path)
                .map(OwnedFd::from)
                .map_err(|e| format!("connect to seccomp listenerPath {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let console = match &cfg.console {
        Some(fd) => Some(fd.try_clone().map_err(|e| format!("console socket: {e}"))?),
        None => None,
    };
    let hooks = cfg.spec.hooks().as_ref();
    let runtime_hooks = hooks.is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    let state = HookState {
        oci_version: cfg.spec.version().clone(),
        id: cfg.id.clone(),
        status: "creating".into(),
        pid: 0,
        bundle: cfg.bundle.clone(),
        annotations: cfg
            .spec
            .annotations()
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    };
    // The frontend runs prestart and createRuntime hooks in the runtime's
    // namespaces; only then may the init go on.
    let namespaced = |init_pid: i32| -> Result<(), String> {
        if !runtime_hooks {
            return Ok(());
        }
        cfg.ready
            .send(&BootMsg::RunHooks { init_pid }, &[])
            .map_err(|e| format!("ask frontend to run hooks: {e}"))?;
        match cfg.ready.recv::<BootMsg>() {
            Ok((BootMsg::HooksDone, _)) => Ok(()),
            Ok((other, _)) => Err(format!("frontend sent {other:?}, expected HooksDone")),
            Err(e) => Err(format!("frontend: {e}")),
        }
    };
    let plan = InitPlan {
        id: cfg.id.clone(),
        spec: cfg.spec.clone(),
        mount_point: cfg.mount_point.clone(),
        rootfs,
        binds,
        join,
        new_user_ns: new.contains(nix::sched::CloneFlags::CLONE_NEWUSER),
        seccomp,
        seccomp_listener,
        console,
    };
    launch::launch(plan, new, state, namespaced).map_err(|e| e.to_string())
}

struct Sandbox {
    id: String,
    own_pid_ns: bool,
    init: Init,
    started: bool,
    waiters: Vec<Incoming>,
    exited: Option<i32>,
    exit_file: OwnedFd,
    /// Held open so the gofer stays alive while we run.
    _mounts: Vec<Channel>,
}

impl Sandbox {
    fn serve(&mut self, listener: &UnixListener, signals: &SignalFd) -> i32 {
        loop {
            if let Some(status) = self.exited {
                // Recorded before anyone hears of the exit, so a later
                // `wait` finds it.
                if let Err(e) =
                    rustix::io::pwrite(&self.exit_file, status.to_string().as_bytes(), 0)
                {
                    tracing::warn!("sandbox {}: record exit status: {e}", self.id);
                }
                for w in self.waiters.drain(..) {
                    w.reply(Ok(ExitStatus { status }));
                }
                return status;
            }
            let mut fds = [
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue;
            }
            let readable = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            if readable(&fds[1]) {
                while let Ok(Some(_)) = signals.read_signal() {}
                self.reap();
            }
            if readable(&fds[0]) {
                if let Ok((sock, _)) = listener.accept() {
                    match Incoming::read(sock) {
                        Ok(incoming) => self.handle(incoming),
                        Err(e) => tracing::warn!("sandbox {}: bad control request: {e}", self.id),
                    }
                }
            }
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == self.init.pid => {
                    self.root_exited(code)
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid.as_raw() == self.init.pid => {
                    self.root_exited(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    }

    fn root_exited(&mut self, status: i32) {
        // With its own pid namespace the kernel has killed the rest already.
        if !self.own_pid_ns {
            for pid in self.container_pids() {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        self.exited = Some(status);
    }

    fn handle(&mut self, incoming: Incoming) {
        let request = incoming.request.clone();
        match request {
            Request::StartRoot => {
                let result = self.start_root();
                incoming.reply(result.map(|()| serde_json::Value::Null));
            }
            Request::Wait { .. } => self.waiters.push(incoming),
            Request::Signal { signal, all, .. } => {
                let result = self.signal(signal, all);
                incoming.reply(result.map(|()| serde_json::Value::Null));
            }
        }
    }

    fn start_root(&mut self) -> Result<(), RemoteError> {
        if self.started {
            return Err(RemoteError::new(
                ErrorKind::InvalidArgument,
                "container already started",
            ));
        }
        self.started = true;
        let failed = |m: String| RemoteError::new(ErrorKind::Failed, m);
        self.init
            .channel
            .send(&InitCmd::Start, &[])
            .map_err(|e| failed(format!("release container init: {e}")))?;
        match self.init.channel.recv::<InitMsg>() {
            // The channel is close-on-exec: closed means the exec worked.
            Err(ChannelError::Closed) => Ok(()),
            Ok((InitMsg::Failed { message }, _)) => Err(failed(message)),
            Ok((m @ (InitMsg::Ready | InitMsg::Namespaced), _)) => {
                Err(failed(format!("container init sent {m:?} out of turn")))
            }
            Err(e) => Err(failed(format!("container init: {e}"))),
        }
    }

    fn signal(&self, signal: i32, all: bool) -> Result<(), RemoteError> {
        let sig = Signal::try_from(signal).map_err(|_| {
            RemoteError::new(
                ErrorKind::InvalidArgument,
                format!("invalid signal {signal}"),
            )
        })?;
        let targets = if all {
            self.container_pids()
        } else {
            vec![self.init.pid]
        };
        if self.exited.is_some() || targets.is_empty() {
            return Err(RemoteError::new(
                ErrorKind::NoSuchProcess,
                "container process is gone",
            ));
        }
        for pid in targets {
            match nix::sys::signal::kill(Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) if all => {}
                Ok(()) => {}
                Err(nix::errno::Errno::ESRCH) => {
                    return Err(RemoteError::new(
                        ErrorKind::NoSuchProcess,
                        "container process is gone",
                    ))
                }
                Err(e) => {
                    return Err(RemoteError::new(
                        ErrorKind::Failed,
                        format!("signal {pid}: {e}"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// The container's processes: every process in the init's pid
    /// namespace, or, when it shares ours, the init's descendants.
    fn container_pids(&self) -> Vec<i32> {
        let ns_of = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
        let Some(init_ns) = ns_of(self.init.pid) else {
            return Vec::new();
        };
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        let mut in_ns = Vec::new();
        for pid in proc_pids() {
            if self.own_pid_ns {
                if ns_of(pid).as_ref() == Some(&init_ns) {
                    in_ns.push(pid);
                }
            } else if let Some(ppid) = parent_of(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
        if self.own_pid_ns {
            return in_ns;
        }
        let mut out = vec![self.init.pid];
        let mut i = 0;
        while i < out.len() {
            if let Some(c) = children.get(&out[i]) {
                out.extend(c);
            }
            i += 1;
        }
        out
    }
}

fn proc_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
