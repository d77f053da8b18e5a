//! Every call the shim makes into the runsc frontend, in one place, so
//! that following the frontend's API is a change to this file alone.
//!
//! The frontend runs in process: the shim is its caller, as the `runsc`
//! CLI is. It starts sandboxes and gofers by running the runsc binary
//! (our own executable is the shim), and takes a process's stdio from our
//! descriptors 0, 1 and 2, which [`with_stdio`] points at the process's
//! pipes for the length of one call.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use runsc::container::terminal::ConsoleSocket;
use runsc::container::{self, create, ContainerStore, LifecycleError, Status, StoreError};
use sandbox::control::{ControlClient, ControlError, ExecStarted, Request};

use crate::options::RuntimeOptions;

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Cgroup(#[from] sandbox::cgroup::CgroupError),
    #[error("{what}: {source}")]
    Os {
        what: String,
        source: std::io::Error,
    },
    #[error("no runsc binary beside the shim or on PATH: set `binary` in the runtime options")]
    NoRunsc,
}

impl FrontendError {
    /// Whether the error says the process has already exited.
    pub fn is_not_running(&self) -> bool {
        matches!(self, Self::Lifecycle(LifecycleError::NotRunning { .. }))
    }
}

/// The frontend over one state root.
pub struct Frontend {
    store: ContainerStore,
    child_flags: Vec<String>,
    systemd_cgroup: bool,
}

impl Frontend {
    pub fn open(options: &RuntimeOptions) -> Result<Self, FrontendError> {
        let exe = options.runsc_binary().ok_or(FrontendError::NoRunsc)?;
        // Once per process: the first container's options choose it.
        container::spawn::use_exe(exe);
        Ok(Self {
            store: ContainerStore::open(&options.root)?,
            child_flags: options.child_flags(),
            systemd_cgroup: options.systemd_cgroup,
        })
    }

    /// Creates container `id` from `bundle` (restored from the checkpoint
    /// image `restore_from`), its init's stdio `handover`; returns the init's pid, and the pty master if it has a terminal.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        handover: Handover<'_>,
        restore_from: Option<&Path>,
    ) -> Result<(i32, Option<OwnedFd>), FrontendError> {
        let restore = restore_from.map(|image| create::RestoreRequest {
            image: image.to_path_buf(),
            work: None,
            options: Default::default(),
        });
        let mut opts = create::CreateOptions {
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            pid_file: None,
            console_socket: None,
            network: create::NetworkMode::Sandbox,
            systemd_cgroup: self.systemd_cgroup,
            launch: Default::default(),
            child_flags: self.child_flags.clone(),
            restore,
        };
        let _one = STDIO.lock().unwrap_or_else(|e| e.into_inner());
        let (created, master) = match handover {
            Handover::Pipes(stdio) => (
                with_stdio(stdio, || create::create(&self.store, opts))??,
                None,
            ),
            Handover::Terminal => {
                let console = ConsoleSocket::bind(self.store.root())?;
                opts.console_socket = Some(console.path().to_path_buf());
                let created = create::create(&self.store, opts)?;
                (created, Some(console.receive_master()?))
            }
        };
        // The new sandbox and gofer are our children.
        let children = created.sandbox.iter().map(|s| s.pid);
        for pid in children.chain(created.container.gofer.map(|g| g.pid)) {
            crate::reap::adopt(pid);
        }
        Ok((created.container.init.map(|p| p.pid).unwrap_or(0), master))
    }

    pub fn start(&self, id: &str) -> Result<(), FrontendError> {
        Ok(container::start::start(&self.store, id)?)
    }

    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), FrontendError> {
        Ok(container::kill::kill(&self.store, id, signal, all)?)
    }

    /// Blocks until the init of `id` exits; its status, 128 + signal for
    /// a signal.
    pub fn wait(&self, id: &str) -> Result<i32, FrontendError> {
        Ok(container::kill::wait(&self.store, id)?)
    }

    /// Starts `process` in running container `id` with `handover` as its
    /// stdio; its pid, and the pty master if it has a terminal.
    pub fn exec(
        &self,
        id: &str,
        process: oci_spec::runtime::Process,
        handover: Handover<'_>,
    ) -> Result<(i32, Option<OwnedFd>), FrontendError> {
        let c = self.store.load(id)?;
        let status = c.live_status();
        if status != Status::Running {
            return Err(LifecycleError::Invalid(format!(
                "cannot exec in container {id}: it is {status}"
            ))
            .into());
        }
        let _one = STDIO.lock().unwrap_or_else(|e| e.into_inner());
        let client = ControlClient::connect(&self.store.dir(&c.sandbox_id))?;
        let request = Request::Exec {
            id: id.to_string(),
            process: Box::new(process),
        };
        match handover {
            Handover::Pipes(stdio) => {
                let started: ExecStarted = client.call(request, &stdio)?;
                Ok((started.pid, None))
            }
            Handover::Terminal => {
                // The sandbox sends the master over the socket we pass.
                let console = ConsoleSocket::bind(self.store.root())?;
                let conn = UnixStream::connect(console.path()).map_err(|e| FrontendError::Os {
                    what: format!("connect to console socket {}", console.path().display()),
                    source: e,
                })?;
                let started: ExecStarted = client.call(request, &[conn.as_fd()])?;
                drop(conn);
                Ok((started.pid, Some(console.receive_master()?)))
            }
        }
    }

    /// Blocks until exec'd process `pid` of container `id` exits.
    pub fn wait_exec(&self, id: &str, pid: i32) -> Result<i32, FrontendError> {
        let c = self.store.load(id)?;
        Ok(container::exec::exec_wait(&self.store, &c.sandbox_id, pid)?)
    }

    pub fn kill_exec(&self, id: &str, pid: i32, signal: i32) -> Result<(), FrontendError> {
        let c = self.store.load(id)?;
        ControlClient::connect(&self.store.dir(&c.sandbox_id))?
            .call::<serde_json::Value>(Request::SignalProcess { pid, signal }, &[])?;
        Ok(())
    }

    pub fn pids(&self, id: &str) -> Result<Vec<i32>, FrontendError> {
        let c = self.store.load(id)?;
        Ok(container::processes::pids(&self.store, &c)?)
    }

    pub fn pause(&self, id: &str) -> Result<(), FrontendError> {
        Ok(container::pause::pause(&self.store, id)?)
    }

    pub fn resume(&self, id: &str) -> Result<(), FrontendError> {
        Ok(container::pause::resume(&self.store, id)?)
    }

    /// Checkpoints `id` into `image`; stops it too when `exit`.
    pub fn checkpoint(&self, id: &str, image: &Path, exit: bool) -> Result<(), FrontendError> {
        let opts = container::checkpoint::CheckpointOptions {
            image: image.to_path_buf(),
            work: None,
            dump: sandbox::checkpoint::DumpOptions {
                leave_running: !exit,
                ..Default::default()
            },
        };
        Ok(container::checkpoint::checkpoint(&self.store, id, opts)?)
    }

    /// New cgroup limits for `id`.
    pub fn update(
        &self,
        id: &str,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> Result<(), FrontendError> {
        Ok(container::update::update(&self.store, id, resources)?)
    }

    /// Removes `id` and what is left of it; a container already gone is
    /// not an error.
    pub fn delete(&self, id: &str) -> Result<(), FrontendError> {
        match container::delete::delete(&self.store, id, true) {
            Err(LifecycleError::Store(StoreError::NotExist(_))) => Ok(()),
            other => Ok(other?),
        }
    }

    /// The cgroup statistics of `id`, and how often the OOM killer struck.
    pub fn stats(&self, id: &str) -> Result<(sandbox::cgroup::Stats, u64), FrontendError> {
        let c = self.store.load(id)?;
        let stats = c.cgroup()?.stats()?;
        Ok((stats, container::events::oom_kills(&c)))
    }

    /// The directories of `id`'s cgroup, one per hierarchy.
    pub fn cgroup_dirs(&self, id: &str) -> Result<Vec<PathBuf>, FrontendError> {
        let c = self.store.load(id)?;
        let cgroup = c.cgroup()?;
        Ok(cgroup.dirs().into_iter().map(Path::to_path_buf).collect())
    }
}

/// One handover at a time: our 0, 1 and 2 are process-wide, and so is the
/// console socket's name.
static STDIO: Mutex<()> = Mutex::new(());

/// How a new process gets its stdio.
pub enum Handover<'a> {
    /// These as its stdin, stdout and stderr.
    Pipes([BorrowedFd<'a>; 3]),
    /// A new terminal, whose master comes back to us.
    Terminal,
}

/// Runs `f` with our descriptors 0, 1 and 2 pointing at `stdio`, as the
/// frontend hands its caller's stdio to the processes it starts. The
/// caller holds the STDIO lock.
fn with_stdio<T>(stdio: [BorrowedFd<'_>; 3], f: impl FnOnce() -> T) -> Result<T, FrontendError> {
    let saved = [save_fd(0)?, save_fd(1)?, save_fd(2)?];
    for (n, fd) in stdio.iter().enumerate() {
        move_fd(fd.as_raw_fd(), n as RawFd)?;
    }
    let out = f();
    for (n, fd) in saved.iter().enumerate() {
        move_fd(fd.as_raw_fd(), n as RawFd)?;
    }
    Ok(out)
}

/// A close-on-exec copy of our descriptor `n`.
fn save_fd(n: RawFd) -> Result<OwnedFd, FrontendError> {
    let copy = nix::fcntl::fcntl(n, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(|e| {
        FrontendError::Os {
            what: format!("duplicate descriptor {n}"),
            source: e.into(),
        }
    })?;
    // SAFETY: fcntl just made `copy`, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Puts `from` at descriptor number `to` (0, 1 or 2).
fn move_fd(from: RawFd, to: RawFd) -> Result<(), FrontendError> {
    nix::unistd::dup2(from, to).map_err(|e| FrontendError::Os {
        what: format!("descriptor {from} onto {to}"),
        source: e.into(),
    })?;
    Ok(())
}
