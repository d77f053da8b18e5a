//! `runsc run <id>`: create, start, wait and delete, exiting with the
//! container's status; `--detach` stops after start.

use anyhow::Result;
use runsc::api::Container;
use runsc::container::signals::{forward_to_container, Forwarder};

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: super::create::Args,
    /// Leave the container running and return
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility: the sandbox, not `run`, reaps the
    /// container's processes
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

pub fn run(g: &GlobalFlags, a: RunArgs) -> Result<u8> {
    let store = super::store(g)?;
    let detach = a.detach;
    // Read once, here and for `create`, which reads it again (and says
    // why) where this fails.
    let spec = specutils::load_spec(&a.create.bundle).ok();
    // As runc: a spec that wants a terminal, and no console socket, gets
    // ours, and we copy between it and our own terminal.
    let wants_tty = a.create.console_socket.is_none()
        && spec
            .as_ref()
            .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
            .unwrap_or(false);
    if wants_tty && detach {
        anyhow::bail!("run --detach of a spec with process.terminal needs --console-socket");
    }
    let console = if wants_tty {
        Some(runsc::container::terminal::ConsoleSocket::bind(
            store.root(),
        )?)
    } else {
        None
    };
    let mut options = super::create::options(g, a.create);
    options.spec = spec;
    // Started by create itself, but for a terminal, whose size we lend
    // before the init runs.
    options.start = console.is_none();
    if let Some(c) = &console {
        options.console_socket = Some(c.path().to_path_buf());
    }
    // Signals that arrive from here on wait in the signalfd and reach the
    // container once it runs, as runc queues them.
    let signals = if detach {
        None
    } else {
        Some(Forwarder::new()?)
    };
    let (container, created) = Container::create(&store, options)?;
    let id = container.id().to_string();
    let master = match &console {
        Some(c) => match c.receive_master() {
            Ok(m) => {
                runsc::container::terminal::lend_size(&m);
                Some(m)
            }
            Err(e) => {
                let _ = container.delete(true);
                return Err(e.into());
            }
        },
        None => None,
    };
    // Still created where create does not start (see `CreateOptions::start`).
    if created.container.status == runsc::container::Status::Created {
        if let Err(e) = container.start() {
            let _ = container.delete(true);
            return Err(e.into());
        }
    }
    let Some(signals) = signals else {
        return Ok(0);
    };
    if let (Some(master), Some(sandbox)) = (&master, &created.sandbox) {
        use std::os::fd::AsFd;
        let forward = |signal| forward_to_container(&store, &id, signal);
        runsc::container::terminal::proxy(master, sandbox.pidfd.as_fd(), &signals, forward);
    }
    finish(&container, &created, &signals, a.keep)
}

/// Waits for a container `run` or `restore` made, deletes it, and returns
/// its exit status.
pub fn finish(
    container: &Container,
    created: &runsc::container::options::Created,
    signals: &Forwarder,
    keep: bool,
) -> Result<u8> {
    use std::os::fd::AsFd;
    let id = container.id();
    let forward = |signal| forward_to_container(container.store(), id, signal);
    // A new sandbox is our child and exits with the container's status; a
    // subcontainer's status comes from its sandbox.
    let code = match &created.sandbox {
        Some(sandbox) => {
            signals.wait_for(sandbox.pidfd.as_fd(), forward);
            let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(sandbox.pid), None);
            match status {
                Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c,
                Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
                other => {
                    let _ = container.delete(true);
                    anyhow::bail!("wait for sandbox of {id}: {other:?}");
                }
            }
        }
        None => {
            let waiting = container.wait_request()?;
            if let Some(fd) = waiting.fd() {
                signals.wait_for(fd, forward);
            }
            waiting.status()?
        }
    };
    if !keep {
        container.delete(true)?;
    }
    Ok(code.clamp(0, 255) as u8)
}
