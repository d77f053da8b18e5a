//! Collecting exits: of containers' inits, of exec'd processes, and of the
//! root container, which ends the pod.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::control::{ErrorKind, ExitStatus, RemoteError, Responder, Wait, WaitPid};

use super::Server;

impl Server {
    /// Reaps every child that has exited, and answers who waits for it.
    pub(super) fn reap(&mut self) {
        loop {
            let (pid, status) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            if let Some(id) = self.registry.by_init(pid) {
                self.init_exited(&id, status);
            } else if let Some(exec) = self.registry.execs.get_mut(&pid) {
                exec.status = Some(status);
                let waiters: Vec<Responder> = exec.waiters.drain(..).collect();
                if !waiters.is_empty() {
                    self.registry.execs.remove(&pid);
                }
                for w in waiters {
                    w.reply::<WaitPid>(Ok(ExitStatus { status }));
                }
            }
        }
    }

    fn init_exited(&mut self, id: &str, status: i32) {
        // Without its own pid namespace, the container's other processes
        // outlive its init unless we end them.
        if self
            .registry
            .containers
            .get(id)
            .is_some_and(|c| !c.own_pid_ns)
        {
            self.registry.kill_all(id);
        }
        let Some(c) = self.registry.containers.get_mut(id) else {
            return;
        };
        c.exited = Some(status);
        // Recorded before anyone hears of the exit, so a later `wait` finds
        // it: appended, in one write, to the container's lock file after
        // its spec (runsc's `files::exit_status_file`).
        if let Some(f) = &c.exit_file {
            if let Err(e) = rustix::io::write(f, format!("\n{status}\n").as_bytes()) {
                tracing::warn!("container {id}: record exit status: {e}");
            }
        }
        if let Some(holder) = c.holder_exit.take() {
            let code = u8::try_from(status).unwrap_or(u8::MAX);
            if let Err(e) = rustix::io::write(&holder, &[code]) {
                tracing::warn!("container {id}: release its holder: {e}");
            }
        }
        for w in c.waiters.drain(..) {
            w.reply::<Wait>(Ok(ExitStatus { status }));
        }
    }

    /// The root container is gone: everything else goes with it.
    pub(super) fn finish_root(&mut self) {
        for (id, c) in &self.registry.containers {
            if c.exited.is_none() {
                self.registry.kill_all(id);
            }
        }
        for exec in self.registry.execs.values_mut() {
            for w in exec.waiters.drain(..) {
                w.reply::<WaitPid>(Err(RemoteError::new(
                    ErrorKind::NoSuchProcess,
                    "sandbox is exiting",
                )));
            }
        }
    }
}
