//! Processes started in a running container (`runsc exec`): forked by the
//! sandbox straight into the container's namespaces, then given the same
//! final steps as the container's init.

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use oci_spec::runtime::{PosixRlimit, Process};
use specutils::channel::{Channel, ChannelError};
use specutils::hooks::HookState;
use specutils::sys::{clone_process, Cloned};

use crate::init::{self, identity, InitError, InitMsg};
use crate::seccomp::Filter;
use specutils::error::os;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("container init {pid} is gone")]
    NoInit { pid: i32 },
    #[error("open namespace {ns} of {pid}: {source}")]
    Namespace {
        ns: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    #[error("fork exec process: {0}")]
    Fork(std::io::Error),
    /// The exec'd process's own report, as it sent it.
    #[error("{0}")]
    Failed(String),
    #[error("exec process sent {0:?}")]
    OutOfTurn(Box<InitMsg>),
    #[error("exec channel: {0}")]
    Channel(#[from] ChannelError),
}

/// A running exec'd process.
pub struct Execed {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// What an exec'd process gets from its container.
pub struct ExecTarget<'a> {
    pub init_pid: i32,
    /// The container's cgroup (`cgroup.procs` per hierarchy), when it is
    /// not the sandbox's.
    pub cgroup_procs: &'a [OwnedFd],
    pub seccomp: Option<&'a Filter>,
    pub baseline: Option<&'a crate::seccomp::Program>,
    /// The container's rlimits, for a process that names none (as runc).
    pub rlimits: &'a [PosixRlimit],
    pub state: HookState,
}

/// Namespaces joined in this order: the user namespace first, so the rest
/// are joined with its privileges; the mount namespace last, since joining
/// it moves our root.
const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Opens `/proc/<pid>/ns/<ns>` when it differs from ours.
fn foreign_ns(pid: i32, ns: &'static str) -> Result<Option<OwnedFd>, ExecError> {
    let theirs = format!("/proc/{pid}/ns/{ns}");
    let differs =
        std::fs::read_link(&theirs).map_err(|source| ExecError::Namespace { ns, pid, source })?
            != std::fs::read_link(format!("/proc/self/ns/{ns}"))
                .map_err(|source| ExecError::Namespace { ns, pid, source })?;
    if !differs {
        return Ok(None);
    }
    let fd = rustix::fs::open(
        theirs.as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| ExecError::Namespace {
        ns,
        pid,
        source: e.into(),
    })?;
    Ok(Some(fd))
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
    let mut joins = Vec::new();
    for (ns, flag) in NAMESPACES {
        if let Some(fd) = foreign_ns(pid, ns)? {
            joins.push((flag, fd));
        }
    }
    let pid_ns = foreign_ns(pid, "pid")?;
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
    let (ours, theirs) = Channel::pair().map_err(ExecError::Fork)?;
    // Our children are born in the container's pid namespace until we
    // switch back right after the fork.
    if let Some(fd) = &pid_ns {
        nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(|e| ExecError::Fork(e.into()))?;
    }
    // SAFETY: the sandbox is single-threaded, so the child may run ordinary
    // code, as after fork().
    let cloned = unsafe { clone_process(0) };
    // Only the sandbox switches back: the child is in the container's pid
    // namespace for good, and setns out of it would fail there (and log).
    if !matches!(cloned, Ok(Cloned::Child)) {
        if let Some(fd) = &own_pid_ns {
            if let Err(e) = nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID) {
                tracing::error!("return to the sandbox's pid namespace: {e}");
            }
        }
    }
    match cloned.map_err(ExecError::Fork)? {
        Cloned::Child => {
            drop(ours);
            let err = match child(target, process, joins, fds) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = theirs.send(
                &InitMsg::Failed {
                    message: err.to_string(),
                },
                &[],
            );
            // SAFETY: _exit is always safe; it skips the sandbox's destructors.
            unsafe { libc::_exit(127) }
        }
        Cloned::Parent { pid, pidfd } => {
            drop(theirs);
            drop(fds);
            match ours.recv::<InitMsg>() {
                // Close-on-exec: EOF means the exec worked.
                Err(ChannelError::Closed) => Ok(Execed { pid, pidfd }),
                Ok((InitMsg::Failed { message }, _)) => {
                    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                    Err(ExecError::Failed(message))
                }
                Ok((m, _)) => Err(ExecError::OutOfTurn(Box::new(m))),
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn child(
    target: &ExecTarget<'_>,
    process: &Process,
    joins: Vec<(CloneFlags, OwnedFd)>,
    fds: Vec<OwnedFd>,
) -> Result<init::Never, InitError> {
    init::reset_signals()?;
    init::join_cgroup(target.cgroup_procs)?;
    for (flag, fd) in &joins {
        nix::sched::setns(fd.as_fd(), *flag).map_err(os(format!("join namespace {flag:?}")))?;
    }
    drop(joins);
    nix::unistd::setsid().map_err(os("setsid"))?;
    let preserved = if process.terminal().unwrap_or(false) {
        let console = fds.first().ok_or_else(|| {
            InitError::Invalid("terminal requested without a console socket".into())
        })?;
        init::console::setup(console.as_fd(), process.console_size().as_ref())?;
        0
    } else {
        if fds.len() < 3 {
            return Err(InitError::Invalid(format!(
                "exec got {} stdio descriptors, not 3",
                fds.len()
            )));
        }
        init::install_stdio(fds)?
    };
    match process.rlimits().as_deref() {
        Some(own) if !own.is_empty() => identity::set_rlimits(own)?,
        _ => identity::set_rlimits(target.rlimits)?,
    }
    let filters = init::Filters {
        baseline: target.baseline,
        spec: target.seccomp,
    };
    init::exec_process(process, filters, None, &target.state, preserved)
}
