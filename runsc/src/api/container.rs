//! [`Container`]: the frontend's handle on one container, one method per
//! lifecycle operation.

use std::os::fd::{AsFd, BorrowedFd};

use oci_spec::runtime::{LinuxResources, Process};
use sandbox::control::{Pending, Stdio, Wait};

use super::Sandbox;
use crate::container::checkpoint::CheckpointOptions;
use crate::container::events::Event;
use crate::container::exec::ExecOptions;
use crate::container::options::{CreateOptions, Created, RestoreRequest};
use crate::container::state::OciState;
use crate::container::{self as lifecycle, ContainerStore, LifecycleError};

/// A container in a store, by id. Cheap to make: each method reads the
/// store (under the container's lock where it changes it) and, when it
/// needs the sandbox, calls it.
#[derive(Debug, Clone)]
pub struct Container {
    store: ContainerStore,
    id: String,
}

impl Container {
    /// The container `id` (exact) in `store`, whether or not it exists.
    pub fn open(store: &ContainerStore, id: &str) -> Self {
        Self {
            store: store.clone(),
            id: id.to_string(),
        }
    }

    /// The one container whose id starts with `prefix`.
    pub fn find(store: &ContainerStore, prefix: &str) -> Result<Self, LifecycleError> {
        let id = store.find(prefix)?;
        Ok(Self::open(store, &id))
    }

    /// Creates a container from `opts` (a new sandbox, or a subcontainer in
    /// its pod's), set up and waiting for [`Container::start`].
    pub fn create(
        store: &ContainerStore,
        opts: CreateOptions,
    ) -> Result<(Self, Created), LifecycleError> {
        let created = lifecycle::create::create(store, opts)?;
        Ok((Self::open(store, &created.container.id), created))
    }

    /// Creates a container from a checkpoint image: it runs once this
    /// returns, with no start.
    pub fn restore(
        store: &ContainerStore,
        mut opts: CreateOptions,
        restore: RestoreRequest,
    ) -> Result<(Self, Created), LifecycleError> {
        opts.restore = Some(restore);
        Self::create(store, opts)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn store(&self) -> &ContainerStore {
        &self.store
    }

    /// What the store records of it.
    pub fn load(&self) -> Result<lifecycle::Container, LifecycleError> {
        Ok(self.store.load(&self.id)?)
    }

    /// Its OCI state, as `runsc state` prints it.
    pub fn state(&self) -> Result<OciState<'static>, LifecycleError> {
        Ok(OciState::of(self.load()?))
    }

    /// The sandbox it runs in (its pod's, for a subcontainer).
    pub fn sandbox(&self) -> Result<Sandbox, LifecycleError> {
        Ok(Sandbox::of(&self.store, &self.load()?.sandbox_id))
    }

    /// Releases its init into the container's process.
    pub fn start(&self) -> Result<(), LifecycleError> {
        lifecycle::start::start(&self.store, &self.id)
    }

    /// Sends `signal` to its init, or to all its processes.
    pub fn signal(&self, signal: i32, all: bool) -> Result<(), LifecycleError> {
        lifecycle::kill::kill(&self.store, &self.id, signal, all)
    }

    /// Blocks until its init exits; returns the status (128 + the signal
    /// number for a signal).
    pub fn wait(&self) -> Result<i32, LifecycleError> {
        self.wait_request()?.status()
    }

    /// Asks to hear of its exit without blocking: poll the returned
    /// [`Waiting`] (while, say, forwarding signals), then read its status.
    pub fn wait_request(&self) -> Result<Waiting, LifecycleError> {
        Ok(Waiting {
            container: self.clone(),
            pending: lifecycle::kill::wait_request(&self.store, &self.id)?,
        })
    }

    /// Runs a process in it; returns its exit status, or 0 when detached.
    pub fn exec(&self, opts: ExecOptions) -> Result<i32, LifecycleError> {
        lifecycle::exec::exec(&self.store, &self.id, opts)
    }

    /// Starts `process` in it with `stdio` (a console socket, or the
    /// process's stdin, stdout and stderr), and returns its host pid
    /// without waiting: for callers that keep their own processes' stdio,
    /// as the shim does. See [`Container::wait_exec`].
    pub fn exec_process(
        &self,
        mut process: Process,
        stdio: Stdio<BorrowedFd<'_>>,
    ) -> Result<i32, LifecycleError> {
        let c = lifecycle::exec::ready_for_exec(&self.store, &self.id, &mut process)?;
        Ok(Sandbox::of(&self.store, &c.sandbox_id).exec(&self.id, process, stdio)?)
    }

    /// Blocks until the process [`Container::exec_process`] started exits;
    /// returns its status.
    pub fn wait_exec(&self, pid: i32) -> Result<i32, LifecycleError> {
        Ok(self.sandbox()?.wait_pid(pid)?.receive()?.status)
    }

    /// Signals a process [`Container::exec_process`] started.
    pub fn signal_exec(&self, pid: i32, signal: i32) -> Result<(), LifecycleError> {
        Ok(self.sandbox()?.signal_process(pid, signal)?)
    }

    /// The host pids of its processes.
    pub fn processes(&self) -> Result<Vec<i32>, LifecycleError> {
        lifecycle::processes::pids(&self.store, &self.load()?)
    }

    /// Freezes its processes.
    pub fn pause(&self) -> Result<(), LifecycleError> {
        lifecycle::pause::pause(&self.store, &self.id)
    }

    /// Thaws what [`Container::pause`] froze.
    pub fn resume(&self) -> Result<(), LifecycleError> {
        lifecycle::pause::resume(&self.store, &self.id)
    }

    /// Sets new cgroup limits.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), LifecycleError> {
        lifecycle::update::update(&self.store, &self.id, resources)
    }

    /// One stats sample of its cgroup.
    pub fn stats(&self) -> Result<Event, LifecycleError> {
        lifecycle::events::stats(&self.load()?)
    }

    /// Its cgroup, for callers that read the typed statistics or watch
    /// its files themselves (the shim's Stats and OOM events).
    pub fn cgroup(&self) -> Result<sandbox::cgroup::Cgroup, LifecycleError> {
        Ok(self.load()?.cgroup()?)
    }

    /// How many OOM kills its cgroup has recorded.
    pub fn oom_kills(&self) -> Result<u64, LifecycleError> {
        Ok(lifecycle::events::oom_kills(&self.load()?))
    }

    /// Dumps it with CRIU into `opts.image`.
    pub fn checkpoint(&self, opts: CheckpointOptions) -> Result<(), LifecycleError> {
        lifecycle::checkpoint::checkpoint(&self.store, &self.id, opts)
    }

    /// Kills what is left of it and forgets it; `force` also for a
    /// running container, or one whose record is corrupt.
    pub fn delete(&self, force: bool) -> Result<(), LifecycleError> {
        lifecycle::delete::delete(&self.store, &self.id, force)
    }
}

/// A wait asked of the sandbox, its answer still to come.
pub struct Waiting {
    container: Container,
    /// None when the sandbox is gone and the recorded status is all there is.
    pending: Option<Pending<Wait>>,
}

impl Waiting {
    /// Readable once the status is there; None if it is there already.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.pending.as_ref().map(|p| p.as_fd())
    }

    /// The exit status.
    pub fn status(self) -> Result<i32, LifecycleError> {
        let c = &self.container;
        lifecycle::kill::wait_reply(&c.store, &c.id, self.pending)
    }
}
