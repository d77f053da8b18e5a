//! The sandbox's serving loop: one thread, polling the control socket and
//! a signalfd for SIGCHLD. Requests are answered in turn; `Wait` and
//! `WaitPid` are parked until the process they name exits. The sandbox
//! exits, with the root container's status, once the root container's init
//! has exited.
//!
//! [`registry`] holds what the sandbox tracks, [`dispatch`] answers each
//! request, [`subcontainer`] adds and removes a pod's later containers
//! (running their hooks through [`hooks`]), [`freezer`] pauses and resumes
//! them, [`checkpoint`] holds one frozen for a dump, and [`reaping`]
//! collects exits.

mod checkpoint;
mod dispatch;
mod freezer;
mod hooks;
mod reaping;
mod registry;
mod subcontainer;

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;

use crate::capabilities::Retained;
use crate::control::Responder;
use crate::pod_namespaces::PodNamespaces;

pub use registry::Container;
use registry::Registry;

pub struct Server {
    root_id: String,
    /// The capabilities this sandbox kept, and so can still grant.
    retained: Retained,
    registry: Registry,
    /// Checkpoints in progress, each until its connection ends it.
    holds: Vec<checkpoint::Hold>,
    /// The runtime's namespaces, for the hooks of later containers.
    pod_namespaces: PodNamespaces,
    /// Whether our code is unmapped since the last request.
    code_dropped: bool,
    /// Destroyed containers' holders whose memory is not yet freed.
    retired_holders: Vec<crate::holder::Memory>,
}

/// How long the sandbox waits with nothing to do before it unmaps the
/// code it ran: past a `run`'s create and start, short beside a
/// container's life.
const IDLE_AFTER_MS: u16 = 250;

impl Server {
    pub fn new(
        root_id: String,
        root: Container,
        retained: Retained,
        pod_namespaces: PodNamespaces,
    ) -> Self {
        Self {
            registry: Registry::new(root_id.clone(), root),
            root_id,
            retained,
            holds: Vec::new(),
            code_dropped: false,
            retired_holders: Vec::new(),
            pod_namespaces,
        }
    }

    /// Serves until the root container's init exits; returns its status.
    pub fn serve(&mut self, listener: &UnixListener, signals: &SignalFd) -> i32 {
        loop {
            let root = self.registry.containers.get(&self.root_id);
            if let Some(status) = root.and_then(|c| c.exited) {
                self.finish_root();
                return status;
            }
            let mut fds = vec![
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            let held = fds.len();
            for hold in &self.holds {
                fds.push(PollFd::new(hold.connection.as_fd(), PollFlags::POLLIN));
            }
            // Once nothing has come for a moment, the code the last
            // requests ran is unmapped (specutils::idle_code), the stack
            // they dirtied given back (specutils::idle_stack), and then
            // the heap they freed, /proc buffers of those two included.
            // Holders not yet gone at their container's delete are looked
            // at again at each idle moment until they are.
            let timeout = match self.code_dropped && self.retired_holders.is_empty() {
                true => PollTimeout::NONE,
                false => PollTimeout::from(IDLE_AFTER_MS),
            };
            match poll(&mut fds, timeout) {
                Err(_) => continue,
                Ok(0) => {
                    self.free_holders(None);
                    if self.code_dropped {
                        continue;
                    }
                    specutils::idle_code::drop_idle_code();
                    specutils::idle_stack::drop_idle_stack();
                    specutils::sys::release_free_memory();
                    self.code_dropped = true;
                    continue;
                }
                Ok(_) => self.code_dropped = false,
            }
            let readable = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let ended: Vec<usize> = (held..fds.len())
                .filter(|i| readable(&fds[*i]))
                .map(|i| i - held)
                .collect();
            let (listener_ready, signals_ready) = (readable(&fds[0]), readable(&fds[1]));
            drop(fds);
            // Highest first: ending one moves the last into its place.
            for index in ended.into_iter().rev() {
                self.end_hold(index);
            }
            if signals_ready {
                while let Ok(Some(_)) = signals.read_signal() {}
                self.reap();
            }
            if listener_ready {
                if let Ok((sock, _)) = listener.accept() {
                    match Responder::read(sock) {
                        Ok((request, responder)) => self.handle(request, responder),
                        Err(e) => {
                            tracing::warn!("sandbox {}: bad control request: {e}", self.root_id)
                        }
                    }
                }
            }
        }
    }
}
