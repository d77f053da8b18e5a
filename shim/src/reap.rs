//! Reaping the sandboxes and gofers the frontend starts, which are our
//! children, and nothing else.
//!
//! The containerd-shim crate's own reaper waits for any child, and so
//! takes the exit status of the programs the frontend runs and waits for
//! itself (CRIU, hooks): those then fail with ECHILD. So the shim turns it
//! off and waits for each of its long-lived children by pid. One thread
//! does it for them all: it polls a pidfd per child, which turns readable
//! when the child exits, and an eventfd that tells it of a new child.

use std::os::fd::OwnedFd;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::OnceLock;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{pidfd_open, Pid, PidfdFlags};

struct Reaper {
    new: Sender<(i32, OwnedFd)>,
    wake: OwnedFd,
}

static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();

/// Reaps child `pid` once it exits.
pub fn adopt(pid: i32) {
    let pidfd = Pid::from_raw(pid)
        .ok_or(Errno::INVAL)
        .and_then(|p| pidfd_open(p, PidfdFlags::empty()));
    let sent = match (pidfd, REAPER.get_or_init(start)) {
        (Ok(pidfd), Some(r)) => r.new.send((pid, pidfd)).is_ok().then_some(r),
        _ => None,
    };
    match sent {
        Some(r) => {
            if let Err(e) = rustix::io::write(&r.wake, &1u64.to_ne_bytes()) {
                log::warn!("wake the reaper for child {pid}: {e}");
            }
        }
        // No pidfd or no reaper thread: a thread for this child alone.
        None => {
            std::thread::spawn(move || waitpid(pid));
        }
    }
}

fn start() -> Option<Reaper> {
    let wake = eventfd(0, EventfdFlags::CLOEXEC)
        .inspect_err(|e| log::warn!("reaper eventfd: {e}"))
        .ok()?;
    let theirs = wake
        .try_clone()
        .inspect_err(|e| log::warn!("reaper eventfd: {e}"))
        .ok()?;
    let (new, children) = channel();
    std::thread::Builder::new()
        .name("reaper-of-children".into())
        .spawn(move || serve(&theirs, &children))
        .inspect_err(|e| log::warn!("reaper thread: {e}"))
        .ok()?;
    Some(Reaper { new, wake })
}

fn serve(wake: &OwnedFd, new: &Receiver<(i32, OwnedFd)>) {
    let mut children: Vec<(i32, OwnedFd)> = Vec::new();
    loop {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = std::iter::once(wake)
                .chain(children.iter().map(|(_, fd)| fd))
                .map(|fd| PollFd::new(fd, PollFlags::IN))
                .collect();
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => return log::warn!("reaper poll: {e}"),
            }
            fds.iter().map(|f| !f.revents().is_empty()).collect()
        };
        let (woken, exited) = ready.split_first().unwrap_or((&false, &[]));
        children = children
            .into_iter()
            .zip(exited)
            .filter_map(|(child, gone)| {
                if *gone {
                    waitpid(child.0);
                    return None;
                }
                Some(child)
            })
            .collect();
        if *woken {
            let mut count = [0u8; 8];
            if let Err(e) = rustix::io::read(wake, &mut count) {
                log::warn!("reaper eventfd read: {e}");
            }
            children.extend(new.try_iter());
        }
    }
}

fn waitpid(pid: i32) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}
