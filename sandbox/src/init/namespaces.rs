//! Entering the container's namespaces, in runc's order: join the spec's
//! paths (the user namespace between the others, so that those joinable
//! only with the host's privileges come before and those needing the
//! joined namespace's after), then make the new ones, the user namespace
//! first so that it owns the rest, and the pid (and time) namespace last
//! through one more fork, since only children enter those.
//!
//! With nothing to join, the sandbox forks the init straight into every
//! new namespace (clone makes the user namespace first), and none of the
//! steps below but the id maps has anything left to do.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use specutils::channel::Channel;
use specutils::sys::{clone_sibling, Cloned};

use specutils::error::os;

use super::{expect, identity, InitCmd, InitError, InitMsg, InitPlan};

/// Namespaces that only a child enters: they need the extra fork.
const FOR_CHILDREN: CloneFlags =
    CloneFlags::CLONE_NEWPID.union(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));

/// Joins, then creates, every namespace of the plan. The process that
/// returns may be a new one (after the pid namespace's fork); the one that
/// forked it has told the sandbox and exited.
pub(super) fn enter(plan: &mut InitPlan, channel: &Channel) -> Result<(), InitError> {
    join(std::mem::take(&mut plan.join))?;
    if plan.new_user_ns {
        if plan.unshare.contains(CloneFlags::CLONE_NEWUSER) {
            nix::sched::unshare(CloneFlags::CLONE_NEWUSER)
                .map_err(os("make the user namespace"))?;
        }
        // Only a process of the parent namespace may write the id maps.
        channel.send(&InitMsg::UserNamespaced, &[])?;
        expect(channel, "IdMapped", |c| matches!(c, InitCmd::IdMapped))?;
        identity::become_root_in_user_ns()?;
    }
    let rest = plan.unshare - CloneFlags::CLONE_NEWUSER - FOR_CHILDREN;
    if !rest.is_empty() {
        nix::sched::unshare(rest).map_err(os(format!("make namespaces {rest:?}")))?;
    }
    if plan.late_cgroup_ns {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(os("make the cgroup namespace"))?;
    }
    let for_children = plan.unshare & FOR_CHILDREN;
    if !for_children.is_empty() {
        nix::sched::unshare(for_children)
            .map_err(os(format!("make namespaces {for_children:?}")))?;
        fork_into_them(channel)?;
    }
    if plan.new_net_ns {
        // A new network namespace starts with loopback down; containers
        // of a pod talk over it.
        specutils::sys::loopback_up().map_err(os("bring up loopback"))?;
    }
    Ok(())
}

/// Joins the namespaces the spec names by path: first every one but the
/// user namespace that the host's privileges allow, then the user
/// namespace (becoming its root), then the rest with its privileges.
fn join(mut pending: Vec<(CloneFlags, OwnedFd)>) -> Result<(), InitError> {
    let user = |f: &CloneFlags| f.contains(CloneFlags::CLONE_NEWUSER);
    for pass in [Pass::OthersFirst, Pass::User, Pass::OthersLast] {
        let mut left = Vec::new();
        for (flag, fd) in pending {
            let now = match pass {
                Pass::User => user(&flag),
                Pass::OthersFirst | Pass::OthersLast => !user(&flag),
            };
            if !now {
                left.push((flag, fd));
                continue;
            }
            match nix::sched::setns(fd.as_fd(), flag) {
                Ok(()) if user(&flag) => identity::become_root_in_user_ns()?,
                Ok(()) => {}
                // Perhaps allowed once inside the user namespace.
                Err(Errno::EPERM) if pass == Pass::OthersFirst => left.push((flag, fd)),
                Err(e) => return Err(os(format!("join {} namespace", name(flag)))(e).into()),
            }
        }
        pending = left;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    OthersFirst,
    User,
    OthersLast,
}

/// The namespace's name as in /proc/<pid>/ns, for errors.
fn name(flag: CloneFlags) -> &'static str {
    [
        (CloneFlags::CLONE_NEWUSER, "user"),
        (CloneFlags::CLONE_NEWNS, "mnt"),
        (CloneFlags::CLONE_NEWNET, "net"),
        (CloneFlags::CLONE_NEWIPC, "ipc"),
        (CloneFlags::CLONE_NEWUTS, "uts"),
        (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
        (CloneFlags::CLONE_NEWPID, "pid"),
    ]
    .into_iter()
    .find(|(f, _)| flag.contains(*f))
    .map_or("time", |(_, n)| n)
}

/// Forks the init proper into the namespaces just made for children. The
/// child is the sandbox's (CLONE_PARENT), so the sandbox reaps it as any
/// init; this process hands it over with its pidfd and exits. The child
/// waits for that exit, so its own messages come after the hand-over.
fn fork_into_them(channel: &Channel) -> Result<(), InitError> {
    let (handed_over, hand_over) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(os("make hand-over pipe"))?;
    // SAFETY: the init is single-threaded (forked from the single-threaded
    // sandbox), so the child may run ordinary code, as after fork().
    match unsafe { clone_sibling() }.map_err(os("fork the init into its pid namespace"))? {
        Cloned::Child => {
            drop(hand_over);
            // The parent-death signal is not inherited; our parent is now
            // the sandbox.
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(os("set parent death signal"))?;
            let mut byte = [0u8; 1];
            while let Err(rustix::io::Errno::INTR) = rustix::io::read(&handed_over, &mut byte) {}
            Ok(())
        }
        Cloned::Parent { pidfd, .. } => {
            let sent = channel.send(&InitMsg::Forked, &[pidfd.as_fd()]);
            if let Err(e) = sent {
                let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
                return Err(e.into());
            }
            drop(hand_over);
            // SAFETY: _exit is always safe; the child carries on.
            unsafe { libc::_exit(0) }
        }
    }
}
