//! The sandbox's serving loop: one thread, polling the control socket and
//! a signalfd for SIGCHLD. Requests are answered in turn; `Wait` and
//! `WaitPid` are parked until the process they name exits. The sandbox
//! exits, with the root container's status, once the root container's init
//! has exited.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, PosixRlimit, Process, Spec};
use specutils::channel::{Channel, ChannelError};
use specutils::hooks::HookState;

use crate::capabilities::Retained;
use crate::control::{
    ErrorKind, ExecStarted, ExitStatus, Incoming, RemoteError, Request, SubCreated,
};
use crate::init::{InitCmd, InitMsg};
use crate::seccomp::Filter;
use crate::spawn::Init;

/// One container in this sandbox, as the sandbox tracks it.
pub struct Container {
    init_pid: i32,
    /// Keeps the init's pid from being reused while we track it.
    _init_pidfd: OwnedFd,
    /// The channel that releases the init into execve; None once started.
    release: Option<Channel>,
    own_pid_ns: bool,
    exited: Option<i32>,
    waiters: Vec<Incoming>,
    /// The container's filter, for processes exec'd into it.
    seccomp: Option<Filter>,
    /// The baseline under it (`crate::baseline`), for them too.
    baseline: Option<crate::seccomp::Program>,
    /// The container's rlimits, for processes exec'd without their own.
    rlimits: Vec<PosixRlimit>,
    state: HookState,
    /// Where the exit status is recorded for `wait` after the sandbox.
    exit_file: Option<OwnedFd>,
    /// A subcontainer's own cgroup, which its exec'd processes join.
    cgroup_procs: Vec<OwnedFd>,
    /// Channels to the container's gofer, held open so it stays alive; a
    /// hang-up means the gofer died.
    gofer: Vec<Channel>,
}

impl Container {
    /// A container whose init is set up and waits for `start`.
    pub fn new(
        spec: &Spec,
        init: Init,
        state: HookState,
        exit_file: Option<OwnedFd>,
        mounts: Vec<Channel>,
        options: &crate::options::LaunchOptions,
    ) -> Self {
        let mut c = Self::running(spec, init.pid, init.pidfd, state, exit_file, options);
        c.release = Some(init.channel);
        c.gofer = mounts;
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
            waiters: Vec::new(),
            seccomp,
            baseline,
            rlimits: spec
                .process()
                .as_ref()
                .and_then(|p| p.rlimits().clone())
                .unwrap_or_default(),
            state,
            exit_file,
            cgroup_procs: Vec::new(),
            gofer: Vec::new(),
        }
    }
}

struct SubRequest<'a> {
    id: &'a str,
    spec: &'a Spec,
    bundle: &'a std::path::Path,
    mount_point: &'a std::path::Path,
    stdio: usize,
    cgroups: usize,
    options: crate::options::LaunchOptions,
}

/// A process exec'd into a container, until someone collects its status.
struct Exec {
    container: String,
    status: Option<i32>,
    waiters: Vec<Incoming>,
}

pub struct Server {
    root_id: String,
    /// The capabilities this sandbox kept, and so can still grant.
    retained: Retained,
    containers: HashMap<String, Container>,
    execs: HashMap<i32, Exec>,
}

fn remote(kind: ErrorKind, message: impl Into<String>) -> RemoteError {
    RemoteError::new(kind, message)
}

impl Server {
    pub fn new(root_id: String, root: Container, retained: Retained) -> Self {
        let mut containers = HashMap::new();
        containers.insert(root_id.clone(), root);
        Self {
            root_id,
            retained,
            containers,
            execs: HashMap::new(),
        }
    }

    /// Serves until the root container's init exits; returns its status.
    pub fn serve(&mut self, listener: &UnixListener, signals: &SignalFd) -> i32 {
        loop {
            if let Some(status) = self.containers.get(&self.root_id).and_then(|c| c.exited) {
                self.finish_root();
                return status;
            }
            let mut fds = vec![
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            // No events asked: poll still reports a hang-up.
            let watched: Vec<&String> = self
                .containers
                .iter()
                .filter(|(_, c)| c.exited.is_none())
                .filter_map(|(id, c)| {
                    let channel = c.gofer.first()?;
                    fds.push(PollFd::new(channel.as_fd(), PollFlags::empty()));
                    Some(id)
                })
                .collect();
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue;
            }
            let readable = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let lost: Vec<String> = watched
                .iter()
                .zip(&fds[2..])
                .filter(|(_, f)| readable(f))
                .map(|(id, _)| (*id).clone())
                .collect();
            let (listener_ready, signals_ready) = (readable(&fds[0]), readable(&fds[1]));
            drop(fds);
            for id in lost {
                self.gofer_died(&id);
            }
            if signals_ready {
                while let Ok(Some(_)) = signals.read_signal() {}
                self.reap();
            }
            if listener_ready {
                if let Ok((sock, _)) = listener.accept() {
                    match Incoming::read(sock) {
                        Ok(incoming) => self.handle(incoming),
                        Err(e) => {
                            tracing::warn!("sandbox {}: bad control request: {e}", self.root_id)
                        }
                    }
                }
            }
        }
    }

    /// A container cannot go on without the gofer that owns its mounts:
    /// say so and stop it, as gVisor does. Its init's exit then takes the
    /// usual path (status 137, and for the root container, the sandbox).
    fn gofer_died(&mut self, id: &str) {
        tracing::error!("container {id}: its gofer exited; stopping the container");
        if let Some(c) = self.containers.get_mut(id) {
            c.gofer.clear();
        }
        for pid in self.container_pids(id) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// The root container is gone: everything else goes with it.
    fn finish_root(&mut self) {
        let ids: Vec<String> = self.containers.keys().cloned().collect();
        for id in ids {
            if let Some(c) = self.containers.get(&id) {
                if c.exited.is_none() {
                    for pid in self.container_pids(&id) {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
            }
        }
        for exec in self.execs.values_mut() {
            for w in exec.waiters.drain(..) {
                w.reply::<ExitStatus>(Err(remote(ErrorKind::NoSuchProcess, "sandbox is exiting")));
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let (pid, status) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let id = self
                .containers
                .iter()
                .find(|(_, c)| c.init_pid == pid)
                .map(|(id, _)| id.clone());
            if let Some(id) = id {
                self.init_exited(&id, status);
            } else if let Some(exec) = self.execs.get_mut(&pid) {
                exec.status = Some(status);
                let waiters: Vec<Incoming> = exec.waiters.drain(..).collect();
                if !waiters.is_empty() {
                    self.execs.remove(&pid);
                }
                for w in waiters {
                    w.reply(Ok(ExitStatus { status }));
                }
            }
        }
    }

    fn init_exited(&mut self, id: &str, status: i32) {
        // Without its own pid namespace, the container's other processes
        // outlive its init unless we end them.
        let leftovers = match self.containers.get(id) {
            Some(c) if !c.own_pid_ns => self.container_pids(id),
            _ => Vec::new(),
        };
        for pid in leftovers {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        c.exited = Some(status);
        // Recorded before anyone hears of the exit, so a later `wait` finds it.
        if let Some(f) = &c.exit_file {
            if let Err(e) = rustix::io::pwrite(f, status.to_string().as_bytes(), 0) {
                tracing::warn!("container {id}: record exit status: {e}");
            }
        }
        for w in c.waiters.drain(..) {
            w.reply(Ok(ExitStatus { status }));
        }
    }

    fn handle(&mut self, incoming: Incoming) {
        let request = incoming.request.clone();
        match request {
            Request::Start { id } => {
                let result = self.start(&id);
                incoming.reply(result.map(|()| serde_json::Value::Null));
            }
            Request::CreateSub {
                id,
                spec,
                bundle,
                mount_point,
                stdio,
                cgroups,
                options,
            } => {
                let Incoming { fds, .. } = &incoming;
                let fds: Vec<OwnedFd> = fds.iter().filter_map(|f| f.try_clone().ok()).collect();
                let sub = SubRequest {
                    id: &id,
                    spec: &spec,
                    bundle: &bundle,
                    mount_point: &mount_point,
                    stdio: stdio as usize,
                    cgroups: cgroups as usize,
                    options,
                };
                let result = self.create_sub(sub, fds);
                incoming.reply(result);
            }
            Request::Destroy { id } => {
                let result = self.destroy(&id);
                incoming.reply(result.map(|()| serde_json::Value::Null));
            }
            Request::Wait { id } => match self.containers.get_mut(&id) {
                Some(c) => match c.exited {
                    Some(status) => incoming.reply(Ok(ExitStatus { status })),
                    None => c.waiters.push(incoming),
                },
                None => incoming.reply::<()>(Err(no_container(&id))),
            },
            Request::Signal { id, signal, all } => {
                let result = self.signal(&id, signal, all);
                incoming.reply(result.map(|()| serde_json::Value::Null));
            }
            Request::Exec { id, process } => {
                let Incoming { fds, .. } = &incoming;
                let fds: Vec<OwnedFd> = fds.iter().filter_map(|f| f.try_clone().ok()).collect();
                let result = self.exec(&id, &process, fds);
                incoming.reply(result);
            }
            Request::WaitPid { pid } => match self.execs.get_mut(&pid) {
                Some(exec) => match exec.status {
                    Some(status) => {
                        self.execs.remove(&pid);
                        incoming.reply(Ok(ExitStatus { status }));
                    }
                    None => exec.waiters.push(incoming),
                },
                None => incoming.reply::<()>(Err(remote(
                    ErrorKind::NoSuchProcess,
                    format!("no exec'd process {pid}"),
                ))),
            },
            Request::SignalProcess { pid, signal } => {
                let result = self.signal_exec(pid, signal);
                incoming.reply(result.map(|()| serde_json::Value::Null));
            }
            Request::Processes { id } => {
                let result = if self.containers.contains_key(&id) {
                    Ok(self.container_pids(&id))
                } else {
                    Err(no_container(&id))
                };
                incoming.reply(result);
            }
        }
    }

    fn create_sub(
        &mut self,
        req: SubRequest<'_>,
        mut fds: Vec<OwnedFd>,
    ) -> Result<SubCreated, RemoteError> {
        let invalid = |m: String| remote(ErrorKind::InvalidArgument, m);
        if self.containers.contains_key(req.id) {
            return Err(invalid(format!(
                "container {} is already in this sandbox",
                req.id
            )));
        }
        if let Some(process) = req.spec.process() {
            self.retained
                .check(process, &self.root_id)
                .map_err(|e| invalid(e.to_string()))?;
        }
        let root = self
            .containers
            .get(&self.root_id)
            .filter(|c| c.exited.is_none())
            .ok_or_else(|| remote(ErrorKind::Failed, "the pod's root container has exited"))?;
        let mounts = specutils::mounts::donated_mounts(req.spec).len() + 1;
        if fds.len() != req.stdio + 1 + req.cgroups + mounts {
            return Err(invalid(format!(
                "CreateSub carried {} descriptors",
                fds.len()
            )));
        }
        let channels: Vec<Channel> = fds
            .split_off(req.stdio + 1 + req.cgroups)
            .into_iter()
            .map(Channel::from_fd)
            .collect();
        let cgroup_procs = fds.split_off(req.stdio + 1);
        let exit_file = fds.pop();
        let terminal = req
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        let (console, stdio) = if terminal {
            (fds.pop(), Vec::new())
        } else {
            (None, fds)
        };
        let (new, join) = crate::spawn::pod_namespaces(req.spec, root.init_pid)
            .map_err(|m| remote(ErrorKind::Failed, m.to_string()))?;
        let procs: Vec<OwnedFd> = cgroup_procs
            .iter()
            .filter_map(|f| f.try_clone().ok())
            .collect();
        let setup = crate::spawn::ContainerSetup {
            id: req.id,
            spec: req.spec,
            bundle: req.bundle,
            mount_point: req.mount_point,
            mounts: &channels,
            console,
            stdio,
            cgroup_procs: procs,
            new,
            join,
            options: req.options,
        };
        // The sandbox is in the runtime's namespaces: it runs the
        // subcontainer's prestart and createRuntime hooks itself.
        let hooks = req.spec.hooks().clone().unwrap_or_default();
        let namespaced = |_pid: i32, state: &HookState| -> Result<(), String> {
            use specutils::hooks::run_hooks;
            run_hooks(
                "prestart",
                hooks.prestart().as_deref().unwrap_or(&[]),
                state,
            )
            .and_then(|()| {
                run_hooks(
                    "createRuntime",
                    hooks.create_runtime().as_deref().unwrap_or(&[]),
                    state,
                )
            })
            .map_err(|e| e.to_string())
        };
        let (init, state) = crate::spawn::create(setup, namespaced)
            .map_err(|m| remote(ErrorKind::Failed, m.to_string()))?;
        let init_pid = init.pid;
        let mut container =
            Container::new(req.spec, init, state, exit_file, channels, &req.options);
        container.cgroup_procs = cgroup_procs;
        self.containers.insert(req.id.to_string(), container);
        Ok(SubCreated { init_pid })
    }

    fn destroy(&mut self, id: &str) -> Result<(), RemoteError> {
        if id == self.root_id {
            return Err(remote(
                ErrorKind::InvalidArgument,
                "the root container ends with its sandbox",
            ));
        }
        if !self.containers.contains_key(id) {
            return Err(no_container(id));
        }
        for pid in self.container_pids(id) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Some(mut c) = self.containers.remove(id) {
            for w in c.waiters.drain(..) {
                w.reply::<ExitStatus>(Err(remote(ErrorKind::NoSuchProcess, "container destroyed")));
            }
        }
        self.execs.retain(|_, e| e.container != id);
        Ok(())
    }

    fn start(&mut self, id: &str) -> Result<(), RemoteError> {
        let c = self
            .containers
            .get_mut(id)
            .ok_or_else(|| no_container(id))?;
        let Some(channel) = c.release.take() else {
            return Err(remote(
                ErrorKind::InvalidArgument,
                "container already started",
            ));
        };
        let failed = |m: String| remote(ErrorKind::Failed, m);
        channel
            .send(&InitCmd::Start, &[])
            .map_err(|e| failed(format!("release container init: {e}")))?;
        match channel.recv::<InitMsg>() {
            // The channel is close-on-exec: closed means the exec worked.
            Err(ChannelError::Closed) => Ok(()),
            Ok((InitMsg::Failed { message }, _)) => Err(failed(message)),
            Ok((m, _)) => Err(failed(format!("container init sent {m:?} out of turn"))),
            Err(e) => Err(failed(format!("container init: {e}"))),
        }
    }

    fn exec(
        &mut self,
        id: &str,
        process: &Process,
        fds: Vec<OwnedFd>,
    ) -> Result<ExecStarted, RemoteError> {
        let c = self.containers.get(id).ok_or_else(|| no_container(id))?;
        if c.exited.is_some() || c.release.is_some() {
            return Err(remote(
                ErrorKind::InvalidArgument,
                format!("container {id} is not running"),
            ));
        }
        self.retained
            .check(process, &self.root_id)
            .map_err(|e| remote(ErrorKind::InvalidArgument, e.to_string()))?;
        let target = crate::exec::ExecTarget {
            init_pid: c.init_pid,
            cgroup_procs: &c.cgroup_procs,
            seccomp: c.seccomp.as_ref(),
            baseline: c.baseline.as_ref(),
            rlimits: &c.rlimits,
            state: c.state.clone(),
        };
        let started = crate::exec::exec(&target, process, fds)
            .map_err(|e| remote(ErrorKind::Failed, e.to_string()))?;
        self.execs.insert(
            started.pid,
            Exec {
                container: id.to_string(),
                status: None,
                waiters: Vec::new(),
            },
        );
        Ok(ExecStarted { pid: started.pid })
    }

    fn signal(&self, id: &str, signal: i32, all: bool) -> Result<(), RemoteError> {
        let c = self.containers.get(id).ok_or_else(|| no_container(id))?;
        let sig = parse_signal(signal)?;
        let gone = || remote(ErrorKind::NoSuchProcess, "container process is gone");
        if c.exited.is_some() {
            return Err(gone());
        }
        if !all {
            return match nix::sys::signal::kill(Pid::from_raw(c.init_pid), sig) {
                Ok(()) => Ok(()),
                Err(nix::errno::Errno::ESRCH) => Err(gone()),
                Err(e) => Err(remote(
                    ErrorKind::Failed,
                    format!("signal {}: {e}", c.init_pid),
                )),
            };
        }
        for pid in self.container_pids(id) {
            match nix::sys::signal::kill(Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(remote(ErrorKind::Failed, format!("signal {pid}: {e}"))),
            }
        }
        Ok(())
    }

    fn signal_exec(&self, pid: i32, signal: i32) -> Result<(), RemoteError> {
        let sig = parse_signal(signal)?;
        match self.execs.get(&pid) {
            Some(e) if e.status.is_none() => nix::sys::signal::kill(Pid::from_raw(pid), sig)
                .map_err(|e| remote(ErrorKind::Failed, format!("signal {pid}: {e}"))),
            _ => Err(remote(
                ErrorKind::NoSuchProcess,
                format!("no running exec'd process {pid}"),
            )),
        }
    }

    /// A container's processes: every process in its init's pid namespace,
    /// or, when it shares ours, its init's descendants and its exec'd
    /// processes with theirs.
    fn container_pids(&self, id: &str) -> Vec<i32> {
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
}

fn no_container(id: &str) -> RemoteError {
    remote(
        ErrorKind::NotFound,
        format!("container {id} is not in this sandbox"),
    )
}

fn parse_signal(signal: i32) -> Result<Signal, RemoteError> {
    Signal::try_from(signal).map_err(|_| {
        remote(
            ErrorKind::InvalidArgument,
            format!("invalid signal {signal}"),
        )
    })
}

fn proc_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
