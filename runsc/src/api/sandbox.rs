//! [`Sandbox`]: the frontend's handle on a running sandbox's control
//! socket, one typed method per control request.

use std::os::fd::BorrowedFd;
use std::path::PathBuf;

use oci_spec::runtime::Process;
use sandbox::control::{
    self, ControlClient, ControlError, ControlRequest, CreateSubFds, Pending, Stdio, SubCreated,
};

use crate::container::ContainerStore;

/// A pod's sandbox, as seen from the frontend.
///
/// The protocol is one connection per call, so each method connects anew;
/// there is no retry, because the frontend binds the listening socket
/// before it starts the sandbox: from the moment `create` returns, a
/// connection is queued until the sandbox accepts it, and a refused one
/// means the sandbox is gone, which a retry would only hide.
#[derive(Debug, Clone)]
pub struct Sandbox {
    id: String,
    dir: PathBuf,
}

impl Sandbox {
    /// The sandbox whose state directory in `store` is `sandbox_id`'s.
    pub fn of(store: &ContainerStore, sandbox_id: &str) -> Self {
        Self {
            id: sandbox_id.to_string(),
            dir: store.dir(sandbox_id),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sends any request and returns its typed reply.
    pub fn call<'a, R: ControlRequest>(
        &self,
        request: R,
        fds: R::Fds<BorrowedFd<'a>>,
    ) -> Result<R::Reply, ControlError> {
        ControlClient::connect(&self.dir)?.call(request, fds)
    }

    /// Sends a request whose reply comes later (a wait): the returned
    /// [`Pending`] turns readable then.
    pub fn send<'a, R: ControlRequest>(
        &self,
        request: R,
        fds: R::Fds<BorrowedFd<'a>>,
    ) -> Result<Pending<R>, ControlError> {
        ControlClient::connect(&self.dir)?.send(request, fds)
    }

    /// Releases container `id`'s init into its execve.
    pub fn start(&self, id: &str) -> Result<(), ControlError> {
        self.call(control::Start { id: id.into() }, control::NoFds)
    }

    /// Sets up a subcontainer's init in this sandbox.
    pub fn create_sub(
        &self,
        request: control::CreateSub,
        fds: CreateSubFds<BorrowedFd<'_>>,
    ) -> Result<SubCreated, ControlError> {
        self.call(request, fds)
    }

    /// Kills subcontainer `id` and forgets it.
    pub fn destroy(&self, id: &str) -> Result<(), ControlError> {
        self.call(control::Destroy { id: id.into() }, control::NoFds)
    }

    /// Signals container `id`'s init, or all its processes.
    pub fn signal(&self, id: &str, signal: i32, all: bool) -> Result<(), ControlError> {
        let request = control::Signal {
            id: id.into(),
            signal,
            all,
        };
        self.call(request, control::NoFds)
    }

    /// Asks to hear when container `id`'s init exits.
    pub fn wait(&self, id: &str) -> Result<Pending<control::Wait>, ControlError> {
        self.send(control::Wait { id: id.into() }, control::NoFds)
    }

    /// Starts `process` in container `id`; returns its host pid.
    pub fn exec(
        &self,
        id: &str,
        process: Process,
        stdio: Stdio<BorrowedFd<'_>>,
    ) -> Result<i32, ControlError> {
        let request = control::Exec {
            id: id.into(),
            process: Box::new(process),
        };
        Ok(self.call(request, stdio)?.pid)
    }

    /// Asks to hear when exec'd process `pid` exits.
    pub fn wait_pid(&self, pid: i32) -> Result<Pending<control::WaitPid>, ControlError> {
        self.send(control::WaitPid { pid }, control::NoFds)
    }

    /// Signals exec'd process `pid`.
    pub fn signal_process(&self, pid: i32, signal: i32) -> Result<(), ControlError> {
        self.call(control::SignalProcess { pid, signal }, control::NoFds)
    }

    /// Freezes container `id`'s processes through its cgroup's `freezer`
    /// files.
    pub fn pause(
        &self,
        id: &str,
        freezer: control::FreezerKind,
        fds: control::FreezerFds<BorrowedFd<'_>>,
    ) -> Result<(), ControlError> {
        let id = id.into();
        self.call(control::Pause { id, freezer }, fds)
    }

    /// Thaws what [`Sandbox::pause`] froze.
    pub fn resume(
        &self,
        id: &str,
        freezer: control::FreezerKind,
        fds: control::FreezerFds<BorrowedFd<'_>>,
    ) -> Result<(), ControlError> {
        let id = id.into();
        self.call(control::Resume { id, freezer }, fds)
    }

    /// Freezes container `id` for a checkpoint, held so until the returned
    /// [`control::Held`] ends it or is dropped (then the sandbox puts the
    /// freezer back as it was). Also returns the exec'd processes that
    /// still run in it.
    pub fn hold_for_checkpoint(
        &self,
        id: &str,
        freezer: control::FreezerKind,
        fds: control::FreezerFds<BorrowedFd<'_>>,
    ) -> Result<(control::CheckpointHeld, control::Held), ControlError> {
        let id = id.into();
        control::Held::begin(
            ControlClient::connect(&self.dir)?,
            control::Checkpoint { id, freezer },
            fds,
        )
    }

    /// The host pids of container `id`'s processes.
    pub fn processes(&self, id: &str) -> Result<Vec<i32>, ControlError> {
        Ok(self
            .call(control::Processes { id: id.into() }, control::NoFds)?
            .0)
    }
}
