//! `exec`: a new process in a running container, started by its sandbox.
//!
//! containerd's shim runs `exec --detach --pid-file P` and reaps the pid it
//! reads from P. That pid is a small waiter we leave behind, which mirrors
//! the exec'd process's exit status, because the exec'd process itself is
//! the sandbox's child, not the shim's.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use oci_spec::runtime::Process;
use sandbox::control::Stdio;
use specutils::error::os;

use crate::api::Sandbox;

use super::signals::Forwarder;
use super::spawn::spawn_self;
use super::terminal::ConsoleSocket;
use super::{ContainerStore, LifecycleError, Status};

#[derive(Debug)]
pub struct ExecOptions {
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Descriptors 3..3+N of ours that the process gets at the same numbers.
    pub preserve_fds: u32,
    /// Global flags for the waiter process.
    pub child_flags: Vec<String>,
}

/// Runs the exec; returns the process's exit status, or 0 when detached.
pub fn exec(
    store: &ContainerStore,
    id: &str,
    mut opts: ExecOptions,
) -> Result<i32, LifecycleError> {
    // Blocked before the request is sent: a signal that arrives while the
    // sandbox starts the process waits in the signalfd and is passed on
    // once its pid is known, instead of killing us and leaving the process
    // unsupervised. If the exec fails, what was queued is dropped with the
    // error: there is no process to pass it to.
    let signals = if opts.detach {
        None
    } else {
        Some(Forwarder::new()?)
    };
    let c = ready_for_exec(store, id, &mut opts.process)?;
    let tty = opts.process.terminal().unwrap_or(false);
    // As runc: a terminal without a console socket is ours to proxy to the
    // caller's own terminal, which needs us to stay.
    let own_console = match (&opts.console_socket, tty) {
        (None, true) if opts.detach => {
            return Err(LifecycleError::Invalid(
                "exec --tty --detach needs --console-socket".into(),
            ))
        }
        (None, true) => Some(ConsoleSocket::bind(store.root())?),
        _ => None,
    };
    // The process runs before its master reaches us: its pty must be
    // made with our size, not 0x0.
    if own_console.is_some() && opts.process.console_size().is_none() {
        if let Some(ws) = super::terminal::our_size() {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(ws.ws_row))
                .width(u64::from(ws.ws_col))
                .build()
                .ok();
            opts.process.set_console_size(size);
        }
    }
    let console_path = opts
        .console_socket
        .as_deref()
        .or(own_console.as_ref().map(|c| c.path()));
    let console = match (console_path, tty) {
        (Some(path), true) => Some(
            UnixStream::connect(path)
                .map_err(os(format!("connect to console socket {}", path.display())))?,
        ),
        _ => None,
    };
    let stdio = match &console {
        Some(c) => Stdio::Console(c.as_fd()),
        None => Stdio::Streams(our_stdio(3 + opts.preserve_fds)?),
    };
    let sandbox = Sandbox::of(store, &c.sandbox_id);
    let pid = sandbox.exec(id, opts.process, stdio)?;
    drop(console);
    super::fault::crash_point("exec:started");
    let Some(signals) = signals else {
        if let Some(path) = &opts.pid_file {
            let mut args = opts.child_flags.clone();
            args.extend([
                "exec-wait".to_string(),
                c.sandbox_id.clone(),
                pid.to_string(),
            ]);
            let waiter = spawn_self(&args, &[], nix::sched::CloneFlags::empty(), true)
                .map_err(os("start exec waiter"))?;
            super::pid_file::write_pid_file(path, waiter.pid)?;
        }
        return Ok(0);
    };
    let master = match &own_console {
        Some(own) => Some(own.receive_master()?),
        None => None,
    };
    wait_forwarding_signals(&sandbox, pid, master.as_ref(), &signals)
}

/// Our descriptors 0..count, borrowed for a request that passes them on.
pub(crate) fn our_stdio(count: u32) -> Result<Vec<BorrowedFd<'static>>, LifecycleError> {
    our_fds(0, count)
}

/// Our descriptors `first..first+count`, checked open.
pub fn our_fds(first: i32, count: u32) -> Result<Vec<BorrowedFd<'static>>, LifecycleError> {
    (first..first + count as i32)
        .map(|n| {
            // SAFETY: stdio and the preserved numbers stay open for the
            // length of the command; fcntl checks they are open at all.
            let fd = unsafe { BorrowedFd::borrow_raw(n) };
            rustix::io::fcntl_getfd(fd)
                .map_err(os(format!("descriptor {n} to pass to the process")))?;
            Ok(fd)
        })
        .collect()
}

/// Container `id`, checked to be running, with `process` given the
/// container's security labels where it names none, and checked.
pub(crate) fn ready_for_exec(
    store: &ContainerStore,
    id: &str,
    process: &mut Process,
) -> Result<super::Container, LifecycleError> {
    let c = store.load(id)?;
    let status = c.live_status();
    if status != Status::Running {
        return Err(LifecycleError::Invalid(format!(
            "cannot exec in container {id}: it is {status}"
        )));
    }
    super::labels::inherit(process, &store.dir(id))?;
    super::labels::check_process(process)?;
    Ok(c)
}

/// Waits for exec'd `pid`, passing the signals `signals` received (since
/// before the exec, too) on to it, and copying between our terminal and
/// `master` if the process has a pty of ours.
fn wait_forwarding_signals(
    sandbox: &Sandbox,
    pid: i32,
    master: Option<&std::os::fd::OwnedFd>,
    signals: &Forwarder,
) -> Result<i32, LifecycleError> {
    let waiting = sandbox.wait_pid(pid)?;
    let forward = |signal: i32| {
        if let Err(e) = sandbox.signal_process(pid, signal) {
            tracing::warn!("forward signal {signal} to {pid}: {e}");
        }
    };
    // The reply to WaitPid arrives when the process exits.
    match master {
        Some(master) => super::terminal::proxy(master, waiting.as_fd(), signals, forward),
        None => signals.wait_for(waiting.as_fd(), forward),
    }
    Ok(waiting.receive()?.status)
}
