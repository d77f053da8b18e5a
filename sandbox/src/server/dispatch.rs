//! Answering each control request.

use std::os::fd::AsFd;

use oci_spec::runtime::Process;
use specutils::channel::ChannelError;

use crate::control::{
    self, ControlRequest, ErrorKind, ExecStarted, ExitStatus, Pids, RemoteError, Request,
    Responder, Stdio,
};
use crate::init::{InitCmd, InitMsg};

use super::registry::Exec;
use super::Server;

pub(super) fn remote(kind: ErrorKind, message: impl Into<String>) -> RemoteError {
    RemoteError::new(kind, message)
}

/// Answers `R` with what `f` makes of its descriptors.
fn answer<R: ControlRequest>(
    mut responder: Responder,
    f: impl FnOnce(R::Fds<std::os::fd::OwnedFd>) -> Result<R::Reply, RemoteError>,
) {
    let result = responder.fds::<R>().and_then(f);
    responder.reply::<R>(result);
}

impl Server {
    pub(super) fn handle(&mut self, request: Request, responder: Responder) {
        match request {
            Request::Start(r) => answer::<control::Start>(responder, |_| self.start(&r.id)),
            Request::CreateSub(r) => {
                answer::<control::CreateSub>(responder, |fds| self.create_sub(&r, fds))
            }
            Request::Destroy(r) => answer::<control::Destroy>(responder, |_| self.destroy(&r.id)),
            Request::Wait(r) => match self.registry.get_mut(&r.id) {
                Ok(c) => match c.exited {
                    Some(status) => responder.reply::<control::Wait>(Ok(ExitStatus { status })),
                    None => c.waiters.push(responder),
                },
                Err(e) => responder.reply::<control::Wait>(Err(e)),
            },
            Request::Signal(r) => {
                answer::<control::Signal>(responder, |_| self.signal(&r.id, r.signal, r.all))
            }
            Request::Exec(r) => {
                answer::<control::Exec>(responder, |stdio| self.exec(&r.id, &r.process, stdio))
            }
            Request::WaitPid(r) => match self.registry.execs.get_mut(&r.pid) {
                Some(exec) => match exec.status {
                    Some(status) => {
                        self.registry.execs.remove(&r.pid);
                        responder.reply::<control::WaitPid>(Ok(ExitStatus { status }));
                    }
                    None => exec.waiters.push(responder),
                },
                None => responder.reply::<control::WaitPid>(Err(remote(
                    ErrorKind::NoSuchProcess,
                    format!("no exec'd process {}", r.pid),
                ))),
            },
            Request::SignalProcess(r) => {
                answer::<control::SignalProcess>(responder, |_| self.signal_exec(r.pid, r.signal))
            }
            Request::Pause(r) => {
                answer::<control::Pause>(responder, |fds| self.pause(&r.id, r.freezer, fds))
            }
            Request::Resume(r) => {
                answer::<control::Resume>(responder, |fds| self.resume(&r.id, r.freezer, fds))
            }
            Request::Checkpoint(r) => self.checkpoint(r, responder),
            Request::Processes(r) => answer::<control::Processes>(responder, |_| {
                self.registry.get(&r.id)?;
                Ok(Pids(self.registry.container_pids(&r.id)))
            }),
        }
    }

    fn checkpoint(&mut self, r: control::Checkpoint, mut responder: Responder) {
        let held = responder
            .fds::<control::Checkpoint>()
            .and_then(|fds| self.hold_for_checkpoint(&r.id, r.freezer, fds));
        match held {
            Ok((reply, parts)) => {
                let connection = responder.reply_held::<control::Checkpoint>(reply);
                self.keep_hold(&r.id, connection, parts);
            }
            Err(e) => responder.reply::<control::Checkpoint>(Err(e)),
        }
    }

    fn start(&mut self, id: &str) -> Result<(), RemoteError> {
        let c = self.registry.get_mut(id)?;
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
        stdio: Stdio<std::os::fd::OwnedFd>,
    ) -> Result<ExecStarted, RemoteError> {
        let c = self.registry.get(id)?;
        if c.exited.is_some() || c.release.is_some() {
            return Err(remote(
                ErrorKind::InvalidArgument,
                format!("container {id} is not running"),
            ));
        }
        if c.paused {
            return Err(remote(
                ErrorKind::InvalidArgument,
                format!("cannot exec in container {id}: it is paused"),
            ));
        }
        if c.checkpointing {
            return Err(remote(
                ErrorKind::InvalidArgument,
                format!("cannot exec in container {id}: it is being checkpointed"),
            ));
        }
        self.retained
            .check(process, &self.root_id)
            .map_err(|e| remote(ErrorKind::InvalidArgument, e.to_string()))?;
        let target = crate::exec::ExecTarget {
            init_pid: c.init_pid,
            cgroup_procs: &c.cgroup_procs,
            cgroup2: c.cgroup2.as_ref().map(|d| d.as_fd()),
            seccomp: c.seccomp.as_ref(),
            baseline: c.baseline.as_ref(),
            rlimits: &c.rlimits,
            oom_score_adj: c.oom_score_adj,
            state: c.state.clone(),
        };
        // A console socket alone, or the streams: the exec side tells
        // them apart by `process.terminal`.
        let fds = match stdio {
            Stdio::Console(fd) => vec![fd],
            Stdio::Streams(fds) => fds,
        };
        let started = crate::exec::exec(&target, process, fds)
            .map_err(|e| remote(ErrorKind::Failed, e.to_string()))?;
        self.registry.execs.insert(
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
        let c = self.registry.get(id)?;
        check_signal(signal)?;
        let gone = || remote(ErrorKind::NoSuchProcess, "container process is gone");
        if c.exited.is_some() {
            return Err(gone());
        }
        if !all {
            return match specutils::signal::send(c.init_pid, signal) {
                Ok(()) => Ok(()),
                Err(nix::errno::Errno::ESRCH) => Err(gone()),
                Err(e) => Err(remote(
                    ErrorKind::Failed,
                    format!("signal {}: {e}", c.init_pid),
                )),
            };
        }
        for pid in self.registry.container_pids(id) {
            match specutils::signal::send(pid, signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(remote(ErrorKind::Failed, format!("signal {pid}: {e}"))),
            }
        }
        Ok(())
    }

    fn signal_exec(&self, pid: i32, signal: i32) -> Result<(), RemoteError> {
        check_signal(signal)?;
        match self.registry.execs.get(&pid) {
            Some(e) if e.status.is_none() => specutils::signal::send(pid, signal)
                .map_err(|e| remote(ErrorKind::Failed, format!("signal {pid}: {e}"))),
            _ => Err(remote(
                ErrorKind::NoSuchProcess,
                format!("no running exec'd process {pid}"),
            )),
        }
    }
}

fn check_signal(signal: i32) -> Result<(), RemoteError> {
    if specutils::signal::is_valid(signal) {
        return Ok(());
    }
    Err(remote(
        ErrorKind::InvalidArgument,
        format!("invalid signal {signal}"),
    ))
}
