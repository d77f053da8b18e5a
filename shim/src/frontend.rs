//! Every call the shim makes into the runsc frontend, in one place, so
//! that following the frontend's API is a change to this file alone.
//!
//! The frontend runs in process through `runsc::api`: the shim is its
//! caller, as the `runsc` CLI is. It starts sandboxes and gofers by running
//! the runsc binary (our own executable is the shim). A process's stdio is
//! handed to the frontend with the call (`CreateOptions::stdio`, and the
//! stdio of [`Container::exec_process`]), so our own descriptors 0–2 stay
//! as they are and nothing else the frontend starts inherits a process's
//! pipes.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use runsc::api::Container;
use runsc::container::options::{CreateOptions, RestoreRequest};
use runsc::container::terminal::ConsoleSocket;
use runsc::container::{self, ContainerStore, LifecycleError, StoreError};
use sandbox::control::Stdio;

use crate::options::RuntimeOptions;

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Store(#[from] StoreError),
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
    criu: Option<PathBuf>,
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
            criu: options.criu.clone(),
        })
    }

    fn container(&self, id: &str) -> Container {
        Container::open(&self.store, id)
    }

    /// Creates container `id` from `bundle` (restored from the checkpoint
    /// image `restore_from`), its init's stdio `handover`; returns the
    /// init's pid, and the pty master if it has a terminal.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        handover: Handover<'_>,
        restore_from: Option<&Path>,
    ) -> Result<(i32, Option<OwnedFd>), FrontendError> {
        let mut opts = CreateOptions::new(id, bundle.to_path_buf());
        opts.systemd_cgroup = self.systemd_cgroup;
        opts.child_flags = self.child_flags.clone();
        let restore = restore_from.map(|image| RestoreRequest {
            image: image.to_path_buf(),
            work: None,
            options: Default::default(),
            criu: self.criu.clone(),
        });
        let create = |opts| match restore {
            Some(r) => Container::restore(&self.store, opts, r),
            None => Container::create(&self.store, opts),
        };
        let (created, master) = match handover {
            Handover::Pipes(stdio) => {
                opts.stdio = Some(owned(stdio)?);
                (create(opts)?.1, None)
            }
            Handover::Terminal => {
                let _one = CONSOLE.lock().unwrap_or_else(|e| e.into_inner());
                let console = ConsoleSocket::bind(self.store.root())?;
                opts.console_socket = Some(console.path().to_path_buf());
                let (_, created) = create(opts)?;
                (created, Some(console.receive_master()?))
            }
        };
        // The new sandbox (and a later container's holder) are our children.
        let children = created.sandbox.iter().map(|s| s.pid);
        let others = [created.container.holder];
        for pid in children.chain(others.into_iter().flatten().map(|p| p.pid)) {
            crate::reap::adopt(pid);
        }
        Ok((created.container.init.map(|p| p.pid).unwrap_or(0), master))
    }

    pub fn start(&self, id: &str) -> Result<(), FrontendError> {
        Ok(self.container(id).start()?)
    }

    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), FrontendError> {
        Ok(self.container(id).signal(signal, all)?)
    }

    /// Blocks until the init of `id` exits; its status, 128 + signal for
    /// a signal.
    pub fn wait(&self, id: &str) -> Result<i32, FrontendError> {
        Ok(self.container(id).wait()?)
    }

    /// Starts `process` in running container `id` with `handover` as its
    /// stdio; its pid, and the pty master if it has a terminal. The
    /// process gets its container's AppArmor profile and SELinux label
    /// where it names none, as `runsc exec` does.
    pub fn exec(
        &self,
        id: &str,
        process: oci_spec::runtime::Process,
        handover: Handover<'_>,
    ) -> Result<(i32, Option<OwnedFd>), FrontendError> {
        let c = self.container(id);
        match handover {
            Handover::Pipes(stdio) => {
                let pid = c.exec_process(process, Stdio::Streams(stdio.to_vec()))?;
                Ok((pid, None))
            }
            Handover::Terminal => {
                // The sandbox sends the master over the socket we pass.
                let _one = CONSOLE.lock().unwrap_or_else(|e| e.into_inner());
                let console = ConsoleSocket::bind(self.store.root())?;
                let conn = UnixStream::connect(console.path()).map_err(|e| FrontendError::Os {
                    what: format!("connect to console socket {}", console.path().display()),
                    source: e,
                })?;
                let pid = c.exec_process(process, Stdio::Console(conn.as_fd()))?;
                drop(conn);
                Ok((pid, Some(console.receive_master()?)))
            }
        }
    }

    /// Blocks until exec'd process `pid` of container `id` exits.
    pub fn wait_exec(&self, id: &str, pid: i32) -> Result<i32, FrontendError> {
        Ok(self.container(id).wait_exec(pid)?)
    }

    pub fn kill_exec(&self, id: &str, pid: i32, signal: i32) -> Result<(), FrontendError> {
        Ok(self.container(id).signal_exec(pid, signal)?)
    }

    pub fn pids(&self, id: &str) -> Result<Vec<i32>, FrontendError> {
        Ok(self.container(id).processes()?)
    }

    pub fn pause(&self, id: &str) -> Result<(), FrontendError> {
        Ok(self.container(id).pause()?)
    }

    pub fn resume(&self, id: &str) -> Result<(), FrontendError> {
        Ok(self.container(id).resume()?)
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
            criu: self.criu.clone(),
        };
        Ok(self.container(id).checkpoint(opts)?)
    }

    /// New cgroup limits for `id`.
    pub fn update(
        &self,
        id: &str,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> Result<(), FrontendError> {
        Ok(self.container(id).update(resources)?)
    }

    /// Removes `id` and what is left of it; a container already gone is
    /// not an error.
    pub fn delete(&self, id: &str) -> Result<(), FrontendError> {
        match self.container(id).delete(true) {
            Err(LifecycleError::Store(StoreError::NotExist(_))) => Ok(()),
            other => Ok(other?),
        }
    }

    /// The cgroup statistics of `id`, and how often the OOM killer struck.
    pub fn stats(&self, id: &str) -> Result<(sandbox::cgroup::Stats, u64), FrontendError> {
        let c = self.container(id);
        let stats = c.cgroup()?.stats()?;
        Ok((stats, c.oom_kills()?))
    }

    /// The directories of `id`'s cgroup, one per hierarchy.
    pub fn cgroup_dirs(&self, id: &str) -> Result<Vec<PathBuf>, FrontendError> {
        let cgroup = self.container(id).cgroup()?;
        Ok(cgroup.dirs().into_iter().map(Path::to_path_buf).collect())
    }
}

/// One console socket at a time: its name is per process.
static CONSOLE: Mutex<()> = Mutex::new(());

/// How a new process gets its stdio.
pub enum Handover<'a> {
    /// These as its stdin, stdout and stderr.
    Pipes([BorrowedFd<'a>; 3]),
    /// A new terminal, whose master comes back to us.
    Terminal,
}

/// Copies of `stdio` that the frontend owns (and closes once the init has
/// them).
fn owned(stdio: [BorrowedFd<'_>; 3]) -> Result<[OwnedFd; 3], FrontendError> {
    let copy = |fd: BorrowedFd<'_>| {
        fd.try_clone_to_owned().map_err(|e| FrontendError::Os {
            what: "duplicate a stdio descriptor".into(),
            source: e,
        })
    };
    Ok([copy(stdio[0])?, copy(stdio[1])?, copy(stdio[2])?])
}
