//! Processes started in a running container (`runsc exec`): everything
//! prepared by the sandbox (`plan`), then a vfork'd child (`vfork`) that
//! only makes syscalls (`child`) joins the container's namespaces and
//! takes the same final steps as the container's init, and execs.

mod child;
mod child_pty;
mod failure;
mod joins;
mod plan;
mod refused;
mod vfork;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sched::CloneFlags;
use oci_spec::runtime::{PosixRlimit, Process};
use specutils::hooks::HookState;

use crate::init::InitError;
use crate::seccomp::Filter;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("container init {pid} is gone")]
    NoInit { pid: i32 },
    #[error("open namespace {ns} of {pid}: {}", specutils::error::errno_text(.source))]
    Namespace {
        ns: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    #[error("find the user namespace owning namespace {ns} of {pid}: {}", specutils::error::errno_text(.source))]
    Owner {
        ns: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    #[error("fork exec process: {}", specutils::error::errno_text(.0))]
    Fork(std::io::Error),
    #[error("open the root of container init {pid}: {}", specutils::error::errno_text(.source))]
    Root { pid: i32, source: std::io::Error },
    /// What the exec'd process would fail on, found before the fork.
    #[error(transparent)]
    Invalid(#[from] InitError),
    /// The exec'd process's own report.
    #[error("{0}")]
    Failed(String),
}

/// A running exec'd process.
pub struct Execed {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// What an exec'd process gets from its container.
pub struct ExecTarget<'a> {
    pub init_pid: i32,
    /// The container's cgroup, when it is not the sandbox's: `tasks` per
    /// v1 hierarchy, which the process writes itself into, and the cgroup2
    /// directory, which it is born in.
    pub cgroup_procs: &'a [OwnedFd],
    pub cgroup2: Option<BorrowedFd<'a>>,
    pub seccomp: Option<&'a Filter>,
    pub baseline: Option<&'a crate::seccomp::Program>,
    /// The container's rlimits, for a process that names none (as runc).
    pub rlimits: &'a [PosixRlimit],
    /// The container's oom_score_adj, for every process exec'd into it:
    /// as runc, which reads no process's own.
    pub oom_score_adj: Option<i32>,
    pub state: HookState,
}

/// Starts `process` in the container of `target`. `stdio` holds stdin,
/// stdout and stderr then the preserved descriptors, or, with a terminal,
/// the console socket alone. Returns once the process has exec'd, or with
/// the reason it could not.
pub fn exec(
    target: &ExecTarget<'_>,
    process: &Process,
    fds: Vec<OwnedFd>,
) -> Result<Execed, ExecError> {
    let pid = target.init_pid;
    if specutils::proc::start_time(pid).is_err() {
        return Err(ExecError::NoInit { pid });
    }
    let joins = joins::joins(pid)?;
    let pid_ns = joins::foreign_ns(pid, "pid")?;
    let own_pid_ns = match &pid_ns {
        Some(_) => Some(
            rustix::fs::open(
                "/proc/self/ns/pid",
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| ExecError::Fork(e.into()))?,
        ),
        None => None,
    };
    let root = rustix::fs::open(
        format!("/proc/{pid}/root").as_str(),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| ExecError::Root {
        pid,
        source: e.into(),
    })?;
    let mut plan = plan::Plan::new(
        plan::Inputs {
            process,
            rlimits: target.rlimits,
            oom_score_adj: target.oom_score_adj,
            cgroup_procs: target.cgroup_procs,
            joins: &joins,
            fds: &fds,
            baseline: target.baseline,
            seccomp: target.seccomp,
        },
        root.as_fd(),
    )?;
    // Not the child's to inherit: a cwd of /proc/self/fd/<n> must name
    // none of our directories.
    drop(root);
    // Our children are born in the container's pid namespace until we
    // switch back right after the clone.
    if let Some(fd) = &pid_ns {
        nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(|e| ExecError::Fork(e.into()))?;
    }
    let spawned = vfork::spawn(&mut plan, target.cgroup2);
    if let Some(fd) = &own_pid_ns {
        if let Err(e) = nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID) {
            tracing::error!("return to the sandbox's pid namespace: {e}");
        }
    }
    let (pid, pidfd, report) = spawned.map_err(ExecError::Fork)?;
    let info = failure::Context {
        process,
        joins: &joins,
        plan: &plan,
        rlimits: target.rlimits,
        seccomp: target.seccomp,
    };
    failure::warn_ambient(&report);
    match report.failed {
        None => Ok(Execed { pid, pidfd }),
        Some((step, errno)) => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            Err(ExecError::Failed(info.describe(step, errno, &report)))
        }
    }
}
