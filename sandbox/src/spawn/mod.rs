//! The parent side of the fork: the sandbox prepares a container's init
//! (`container`, `namespaces`), forks it, and drives it over its channel
//! until it reports Ready. What runs in the child is `crate::init`.

mod container;
mod namespaces;

pub use container::{create, has_runtime_hooks, initial_state, ContainerSetup};
pub use namespaces::{plan_namespaces, pod_namespaces, Namespaces};

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxIdMapping;
use specutils::channel::{Channel, ChannelError};
use specutils::sys::{clone_process_into, Cloned};

use crate::init::{self, InitCmd, InitMsg, InitPlan};
use specutils::hooks::HookState;

/// Why a container's init could not be made; its text is what the user
/// reads, so each names the input.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("open namespace {path}: {}", specutils::error::errno_text(.source))]
    Namespace {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    MountNamespace(#[from] specutils::namespaces::NamespaceError),
    #[error("fork container init: {}", specutils::error::errno_text(.0))]
    Fork(std::io::Error),
    #[error("write {what} of init {pid}: {}", specutils::error::errno_text(.source))]
    ProcWrite {
        what: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    /// The init's own report, as it sent it.
    #[error("{0}")]
    Init(String),
    #[error("container init sent {0:?} out of turn")]
    OutOfTurn(Box<InitMsg>),
    #[error("container init handed over {0} descriptors, not a pidfd")]
    NoPidfd(usize),
    #[error("container init exited during setup")]
    InitGone,
    #[error("init channel: {0}")]
    Channel(#[from] ChannelError),
    #[error("sandbox got {got} mount channels for {wanted} mounts")]
    MountChannels { got: usize, wanted: usize },
    #[error(transparent)]
    Donation(#[from] gofer::GoferError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Baseline(#[from] crate::baseline::BaselineError),
    #[error("connect to seccomp listenerPath {path}: {}", specutils::error::errno_text(.source))]
    SeccompListener {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The hooks that run once the init's namespaces exist (prestart,
    /// createRuntime), run by whoever the caller is.
    #[error("{0}")]
    Hooks(Box<dyn std::error::Error + Send + Sync>),
}

/// A container init, forked and set up, blocked before execve.
pub struct Init {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub channel: Channel,
}

/// An init that has entered its namespaces and been told to proceed: it
/// builds its root filesystem while its caller goes on. Dropped before
/// [`Starting::ready`] succeeds, it is killed and reaped.
pub struct Starting {
    pid: i32,
    init: Option<Init>,
}

impl Starting {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits until the init reports Ready: set up, blocked before execve.
    pub fn ready(mut self) -> Result<Init, SpawnError> {
        let Some(init) = self.init.take() else {
            return Err(SpawnError::InitGone);
        };
        match expect_msg(&init, |m| matches!(m, InitMsg::Ready)) {
            Ok(()) => Ok(init),
            Err(e) => {
                kill(&init);
                Err(e)
            }
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(init) = self.init.take() {
            kill(&init);
        }
    }
}

/// Forks the init with `new` namespaces and returns once it has entered
/// them and been told to proceed. Before that, `namespaced` runs with its
/// pid (for createRuntime hooks); `state` is completed with that pid and
/// handed to the init for its own hooks. The caller must be
/// single-threaded.
pub fn spawn(
    plan: InitPlan,
    new: CloneFlags,
    cgroup2: Option<BorrowedFd<'_>>,
    mut state: HookState,
    namespaced: impl FnOnce(i32) -> Result<(), SpawnError>,
) -> Result<Starting, SpawnError> {
    let (ours, theirs) = Channel::pair().map_err(SpawnError::Fork)?;
    let uid_maps = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.uid_mappings().clone());
    let gid_maps = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.gid_mappings().clone());
    let oom_score_adj = plan.spec.process().as_ref().and_then(|p| p.oom_score_adj());
    // A pid namespace is entered only by children: switch ours for the
    // one fork, and back.
    let mut plan = plan;
    let pid_join = plan
        .join
        .iter()
        .position(|(f, _)| f.contains(CloneFlags::CLONE_NEWPID))
        .map(|i| plan.join.remove(i).1);
    let own_pid_ns = match &pid_join {
        Some(fd) => {
            let own = namespaces::open_ns("/proc/self/ns/pid".as_ref())?;
            nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID)
                .map_err(|e| SpawnError::Fork(e.into()))?;
            Some(own)
        }
        None => None,
    };
    // runc's order: the spec's paths are joined before any new namespace
    // is made, so the init makes them itself (init::namespaces). With
    // nothing to join, the fork makes them all.
    let at_fork = if plan.join.is_empty() {
        new
    } else {
        CloneFlags::empty()
    };
    plan.unshare = new - at_fork;
    // The child inherits this working directory, translated into its new
    // mount namespace: that is where it attaches the rootfs.
    std::env::set_current_dir(&plan.mount_point).map_err(SpawnError::Fork)?;
    // SAFETY: the sandbox is single-threaded (no async runtime, no threads),
    // so the child may run ordinary code, as after fork().
    let cloned = unsafe { clone_process_into(at_fork.bits() as u64, cgroup2) };
    let _ = std::env::set_current_dir("/");
    // The parent's to undo: the child is in that pid namespace, from which
    // the sandbox's, its ancestor, cannot be entered (EINVAL).
    let in_parent = !matches!(cloned, Ok(Cloned::Child));
    if let (Some(own), true) = (&own_pid_ns, in_parent) {
        if let Err(e) = nix::sched::setns(own.as_fd(), CloneFlags::CLONE_NEWPID) {
            tracing::error!("return to the sandbox's pid namespace: {e}");
        }
    }
    let cloned = cloned.map_err(SpawnError::Fork)?;
    let (pid, pidfd) = match cloned {
        Cloned::Child => {
            drop(ours);
            init::run(plan, theirs)
        }
        Cloned::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(theirs);
    drop(plan);
    let mut init = Init {
        pid,
        pidfd,
        channel: ours,
    };
    let result = drive(&mut init, uid_maps, gid_maps, &mut state, |pid| {
        set_oom_score_adj(pid, oom_score_adj)?;
        namespaced(pid)
    });
    if result.is_err() {
        kill(&init);
    }
    result.map(|()| Starting {
        pid: init.pid,
        init: Some(init),
    })
}

/// Answers the init until it has entered its namespaces, then runs
/// `namespaced` and lets it set up the rest.
fn drive(
    init: &mut Init,
    uid_maps: Option<Vec<LinuxIdMapping>>,
    gid_maps: Option<Vec<LinuxIdMapping>>,
    state: &mut HookState,
    namespaced: impl FnOnce(i32) -> Result<(), SpawnError>,
) -> Result<(), SpawnError> {
    loop {
        match init.channel.recv::<InitMsg>() {
            Ok((InitMsg::UserNamespaced, _)) => {
                write_id_maps(init.pid, uid_maps.as_deref(), gid_maps.as_deref())?;
                init.channel.send(&InitCmd::IdMapped, &[])?;
            }
            Ok((InitMsg::Forked, fds)) => adopt(init, fds)?,
            Ok((InitMsg::Namespaced, _)) => break,
            Ok((InitMsg::Failed { message }, _)) => return Err(SpawnError::Init(message)),
            Ok((m, _)) => return Err(SpawnError::OutOfTurn(Box::new(m))),
            Err(ChannelError::Closed) => return Err(SpawnError::InitGone),
            Err(e) => return Err(e.into()),
        }
    }
    namespaced(init.pid)?;
    state.pid = init.pid;
    init.channel.send(
        &InitCmd::Proceed {
            state: state.clone(),
        },
        &[],
    )?;
    Ok(())
}

/// Takes over the init that the forked process made in its new pid
/// namespace (our child too, by CLONE_PARENT), and reaps the one that
/// made it, which exits.
fn adopt(init: &mut Init, mut fds: Vec<OwnedFd>) -> Result<(), SpawnError> {
    if fds.len() != 1 {
        return Err(SpawnError::NoPidfd(fds.len()));
    }
    let pidfd = fds.remove(0);
    let pid = specutils::proc::pidfd_pid(pidfd.as_fd()).map_err(SpawnError::Fork)?;
    reap(init);
    init.pid = pid;
    init.pidfd = pidfd;
    Ok(())
}

/// Receives the init's next message; anything but `ok` is an error.
fn expect_msg(init: &Init, ok: impl Fn(&InitMsg) -> bool) -> Result<(), SpawnError> {
    match init.channel.recv::<InitMsg>() {
        Ok((m, _)) if ok(&m) => Ok(()),
        Ok((InitMsg::Failed { message }, _)) => Err(SpawnError::Init(message)),
        Ok((m, _)) => Err(SpawnError::OutOfTurn(Box::new(m))),
        Err(ChannelError::Closed) => Err(SpawnError::InitGone),
        Err(e) => Err(e.into()),
    }
}

/// Ends a failed init and collects it, so no zombie is left.
fn kill(init: &Init) {
    let _ = rustix::process::pidfd_send_signal(init.pidfd.as_fd(), rustix::process::Signal::KILL);
    reap(init);
}

/// Collects a failed init so no zombie is left.
fn reap(init: &Init) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(init.pid), None);
}

/// Set from here, as host root, like runc does before the user namespace
/// exists: inside one, the init may not write its own (its /proc files
/// belong to an unmapped owner, and lowering needs CAP_SYS_RESOURCE in the
/// initial namespace).
fn set_oom_score_adj(pid: i32, adj: Option<i32>) -> Result<(), SpawnError> {
    let Some(adj) = adj else {
        return Ok(());
    };
    std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string()).map_err(|source| {
        SpawnError::ProcWrite {
            what: "oom_score_adj",
            pid,
            source,
        }
    })
}

fn write_id_maps(
    pid: i32,
    uid: Option<&[LinuxIdMapping]>,
    gid: Option<&[LinuxIdMapping]>,
) -> Result<(), SpawnError> {
    let format = |maps: Option<&[LinuxIdMapping]>| {
        maps.unwrap_or(&[])
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let write = |what: &'static str, data: String| {
        std::fs::write(format!("/proc/{pid}/{what}"), data)
            .map_err(|source| SpawnError::ProcWrite { what, pid, source })
    };
    write("uid_map", format(uid))?;
    write("gid_map", format(gid))
}
