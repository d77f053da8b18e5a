//! Forking a container's init into its namespaces and driving it to Ready.

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use specutils::channel::{Channel, ChannelError};
use specutils::sys::{clone_process, Cloned};

use crate::init::{self, InitCmd, InitMsg, InitPlan};
use specutils::hooks::HookState;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("open namespace {path}: {source}")]
    Namespace {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    MountNamespace(#[from] specutils::namespaces::NamespaceError),
    #[error("fork container init: {0}")]
    Fork(std::io::Error),
    #[error("write {what} of init {pid}: {source}")]
    ProcWrite {
        what: &'static str,
        pid: i32,
        source: std::io::Error,
    },
    #[error("{0}")]
    Init(String),
    #[error("container init exited during setup")]
    InitGone,
    #[error("init channel: {0}")]
    Channel(#[from] ChannelError),
}

/// A container init, forked and set up, blocked before execve.
pub struct Init {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub channel: Channel,
}

/// The clone flag of each namespace type.
fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The namespaces the spec asks for: those to create, and those to join
/// (opened now, while the paths mean what the caller meant).
pub fn plan_namespaces(
    spec: &Spec,
) -> Result<(CloneFlags, Vec<(CloneFlags, OwnedFd)>), LaunchError> {
    // The frontend checked it; the rootfs must never be built in ours.
    specutils::namespaces::check_mount_namespace(spec)?;
    let mut new = CloneFlags::empty();
    let mut join = Vec::new();
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for ns in namespaces.into_iter().flatten() {
        let flag = clone_flag(ns.typ());
        match ns.path() {
            None => new |= flag,
            Some(p) if p.as_os_str().is_empty() => new |= flag,
            Some(p) => {
                let fd = rustix::fs::open(
                    p,
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| LaunchError::Namespace {
                    path: p.display().to_string(),
                    source: e.into(),
                })?;
                join.push((flag, fd));
            }
        }
    }
    Ok((new, join))
}

/// Forks the init with `new` namespaces, runs its setup, and returns once
/// it reports Ready. Once the init's namespaces exist, `namespaced` runs
/// with its pid (for createRuntime hooks); `state` is completed with that
/// pid and handed to the init for its own hooks. The caller must be
/// single-threaded.
pub fn launch(
    plan: InitPlan,
    new: CloneFlags,
    mut state: HookState,
    namespaced: impl FnOnce(i32) -> Result<(), String>,
) -> Result<Init, LaunchError> {
    let (ours, theirs) = Channel::pair().map_err(LaunchError::Fork)?;
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
            let own = rustix::fs::open(
                "/proc/self/ns/pid",
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| LaunchError::Fork(e.into()))?;
            nix::sched::setns(fd.as_fd(), CloneFlags::CLONE_NEWPID)
                .map_err(|e| LaunchError::Fork(e.into()))?;
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
    std::env::set_current_dir(&plan.mount_point).map_err(LaunchError::Fork)?;
    // SAFETY: the sandbox is single-threaded (no async runtime, no threads),
    // so the child may run ordinary code, as after fork().
    let cloned = unsafe { clone_process(at_fork.bits() as u64) };
    let _ = std::env::set_current_dir("/");
    if let Some(own) = &own_pid_ns {
        if let Err(e) = nix::sched::setns(own.as_fd(), CloneFlags::CLONE_NEWPID) {
            tracing::error!("return to the sandbox's pid namespace: {e}");
        }
    }
    let cloned = cloned.map_err(LaunchError::Fork)?;
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
        namespaced(pid).map_err(LaunchError::Init)
    });
    if result.is_err() {
        let _ =
            rustix::process::pidfd_send_signal(init.pidfd.as_fd(), rustix::process::Signal::KILL);
        reap(&init);
    }
    result.map(|()| init)
}

/// Answers the init until it has entered its namespaces, then runs
/// `namespaced` and lets it set up the rest.
fn drive(
    init: &mut Init,
    uid_maps: Option<Vec<LinuxIdMapping>>,
    gid_maps: Option<Vec<LinuxIdMapping>>,
    state: &mut HookState,
    namespaced: impl FnOnce(i32) -> Result<(), LaunchError>,
) -> Result<(), LaunchError> {
    loop {
        match init.channel.recv::<InitMsg>() {
            Ok((InitMsg::UserNamespaced, _)) => {
                write_id_maps(init.pid, uid_maps.as_deref(), gid_maps.as_deref())?;
                init.channel.send(&InitCmd::IdMapped, &[])?;
            }
            Ok((InitMsg::Forked, fds)) => adopt(init, fds)?,
            Ok((InitMsg::Namespaced, _)) => break,
            Ok((InitMsg::Failed { message }, _)) => return Err(LaunchError::Init(message)),
            Ok((m, _)) => {
                return Err(LaunchError::Init(format!(
                    "container init sent {m:?} out of turn"
                )))
            }
            Err(ChannelError::Closed) => return Err(LaunchError::InitGone),
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
    expect_msg(init, |m| matches!(m, InitMsg::Ready))
}

/// Takes over the init that the forked process made in its new pid
/// namespace (our child too, by CLONE_PARENT), and reaps the one that
/// made it, which exits.
fn adopt(init: &mut Init, mut fds: Vec<OwnedFd>) -> Result<(), LaunchError> {
    if fds.len() != 1 {
        return Err(LaunchError::Init(format!(
            "container init handed over {} descriptors, not a pidfd",
            fds.len()
        )));
    }
    let pidfd = fds.remove(0);
    let pid = specutils::proc::pidfd_pid(pidfd.as_fd()).map_err(LaunchError::Fork)?;
    reap(init);
    init.pid = pid;
    init.pidfd = pidfd;
    Ok(())
}

/// Receives the init's next message; anything but `ok` is an error.
fn expect_msg(init: &Init, ok: impl Fn(&InitMsg) -> bool) -> Result<(), LaunchError> {
    match init.channel.recv::<InitMsg>() {
        Ok((m, _)) if ok(&m) => Ok(()),
        Ok((InitMsg::Failed { message }, _)) => Err(LaunchError::Init(message)),
        Ok((m, _)) => Err(LaunchError::Init(format!(
            "container init sent {m:?} out of turn"
        ))),
        Err(ChannelError::Closed) => Err(LaunchError::InitGone),
        Err(e) => Err(e.into()),
    }
}

/// Collects a failed init so no zombie is left.
fn reap(init: &Init) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(init.pid), None);
}

/// Set from here, as host root, like runc does before the user namespace
/// exists: inside one, the init may not write its own (its /proc files
/// belong to an unmapped owner, and lowering needs CAP_SYS_RESOURCE in the
/// initial namespace).
fn set_oom_score_adj(pid: i32, adj: Option<i32>) -> Result<(), LaunchError> {
    let Some(adj) = adj else {
        return Ok(());
    };
    std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string()).map_err(|source| {
        LaunchError::ProcWrite {
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
) -> Result<(), LaunchError> {
    let format = |maps: Option<&[LinuxIdMapping]>| {
        maps.unwrap_or(&[])
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let write = |what: &'static str, data: String| {
        std::fs::write(format!("/proc/{pid}/{what}"), data)
            .map_err(|source| LaunchError::ProcWrite { what, pid, source })
    };
    write("uid_map", format(uid))?;
    write("gid_map", format(gid))
}
