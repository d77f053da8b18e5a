//! A `binary://` log URI: a logging program the shim starts for a
//! process, as containerd's own shims do (`ctr run --log-uri`, nerdctl).
//!
//! containerd's contract: the URI's path names the program and each query
//! key becomes an argument, followed by its first value; the environment
//! holds only CONTAINER_ID and CONTAINER_NAMESPACE. The program reads the
//! process's stdout on fd 3 and its stderr on fd 4, and closes fd 5 once
//! it is ready: the process is created only then. `binary-v2://` also
//! wants a byte on fd 5 before the close, so that a program that died is
//! told from a ready one. Arguments follow the URI's order (containerd's
//! follow Go's map order, which is random).
//!
//! The program sees end-of-file on fds 3 and 4 once the process exited and
//! its output is copied. At delete it gets a moment to finish, then
//! SIGTERM, then SIGKILL; it runs in a process group of its own, so what
//! it started goes with it and nothing stays behind.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How long a logger may take to finish on its own at delete, and then
/// after SIGTERM (containerd allows 12 seconds in all).
const FINISH: Duration = Duration::from_secs(1);
const TERMINATE: Duration = Duration::from_secs(10);

/// Where the program finds the process's stdout, stderr, and the pipe it
/// closes when ready.
const STDOUT_FD: RawFd = 3;
const STDERR_FD: RawFd = 4;
const READY_FD: RawFd = 5;

#[derive(Debug, thiserror::Error)]
pub enum LogBinaryError {
    #[error("log URI {uri}: {why}")]
    Uri { uri: String, why: &'static str },
    #[error("log binary {program}: {what}: {source}")]
    Os {
        program: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("log binary {program} exited before it said it was ready")]
    NotReady { program: PathBuf },
}

/// Whether `uri` asks for a logging program.
pub fn is_binary(uri: &str) -> bool {
    uri.starts_with("binary://") || uri.starts_with("binary-v2://")
}

/// What a log URI asks to run.
#[derive(Debug, PartialEq, Eq)]
struct Invocation {
    program: PathBuf,
    args: Vec<String>,
    /// `binary-v2://`: ready takes a byte, not only the close.
    v2: bool,
}

fn parse(uri: &str) -> Result<Invocation, LogBinaryError> {
    let bad = |why| LogBinaryError::Uri {
        uri: uri.to_string(),
        why,
    };
    let (v2, rest) = match (
        uri.strip_prefix("binary-v2://"),
        uri.strip_prefix("binary://"),
    ) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err(bad("not a binary:// URI")),
    };
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let (hier, query) = rest.split_once('?').unwrap_or((rest, ""));
    // What comes before the path's first slash is the URI's host, which
    // containerd ignores too.
    let path = hier.find('/').map_or("", |i| &hier[i..]);
    let program = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| bad("the program's path is not UTF-8"))?;
    if program.is_empty() {
        return Err(bad("names no program (binary:///absolute/path)"));
    }
    let mut keys: Vec<String> = Vec::new();
    let mut args = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if keys.iter().any(|seen| *seen == k) {
            continue;
        }
        keys.push(k.to_string());
        args.push(k.into_owned());
        args.push(v.into_owned());
    }
    Ok(Invocation {
        program: PathBuf::from(program.into_owned()),
        args,
        v2,
    })
}

/// A running logging program.
pub struct LogBinary {
    child: Child,
    program: PathBuf,
    stopped: bool,
}

/// A started logger and the writing ends of its stdout and stderr pipes.
pub struct Started {
    pub logger: LogBinary,
    pub stdout: File,
    pub stderr: File,
}

impl LogBinary {
    /// Starts what `uri` names for process `id` of `namespace`, and waits
    /// until it is ready.
    pub fn start(uri: &str, id: &str, namespace: &str) -> Result<Started, LogBinaryError> {
        let run = parse(uri)?;
        let os = |what| {
            let program = run.program.clone();
            move |source| LogBinaryError::Os {
                program,
                what,
                source,
            }
        };
        let (out_r, out_w) = pipe().map_err(os("stdout pipe"))?;
        let (err_r, err_w) = pipe().map_err(os("stderr pipe"))?;
        let (ready_r, ready_w) = pipe().map_err(os("ready pipe"))?;
        let moves = vec![
            (out_r.as_raw_fd(), STDOUT_FD),
            (err_r.as_raw_fd(), STDERR_FD),
            (ready_w.as_raw_fd(), READY_FD),
        ];
        let mut parked = vec![-1; moves.len()];
        let mut cmd = Command::new(&run.program);
        cmd.args(&run.args)
            .env_clear()
            .env("CONTAINER_ID", id)
            .env("CONTAINER_NAMESPACE", namespace)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec, where
        // fds 3 to 5 are ours to fill; place_fds only calls fcntl, dup2 and
        // close (async-signal-safe), and `moves` and `parked` were
        // allocated before the fork.
        unsafe {
            cmd.pre_exec(move || specutils::sys::place_fds(&moves, &mut parked, READY_FD + 1));
        }
        let child = cmd.spawn().map_err(os("start"))?;
        let mut logger = LogBinary {
            child,
            program: run.program.clone(),
            stopped: false,
        };
        // Only the program holds these ends now: its exit closes them.
        drop((out_r, err_r, ready_w));
        let mut ready = File::from(ready_r);
        let mut byte = [0u8; 1];
        let n = loop {
            match ready.read(&mut byte) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(os("wait until ready")(e)),
            }
        };
        if run.v2 && n == 0 {
            logger.stop();
            return Err(LogBinaryError::NotReady {
                program: run.program,
            });
        }
        Ok(Started {
            logger,
            stdout: File::from(out_w),
            stderr: File::from(err_w),
        })
    }

    /// Lets the program finish (its pipes are closed once the process
    /// exited), then SIGTERM, then SIGKILL for it and its process group;
    /// reaps it.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        if !self.exited_within(FINISH) {
            self.signal_group(Signal::SIGTERM);
            if !self.exited_within(TERMINATE) {
                log::warn!(
                    "log binary {} ignored SIGTERM; killing it",
                    self.program.display()
                );
            }
        }
        self.kill_and_reap();
    }

    /// Whether the program exited within `limit`; it stays unreaped, so
    /// its pid, and so its group's id, is not reused meanwhile.
    fn exited_within(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let pid = Pid::from_raw(self.child.id() as i32);
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        loop {
            match waitid(Id::Pid(pid), flags) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
                _ => return true,
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal_group(&self, signal: Signal) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), signal);
    }

    /// SIGKILL to whatever is left of the group, then the reap; the
    /// program is still unreaped here, so the group is still its own.
    fn kill_and_reap(&mut self) {
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.wait();
        self.stopped = true;
    }
}

impl Drop for LogBinary {
    /// A logger whose process went without a delete: no grace.
    fn drop(&mut self) {
        if !self.stopped {
            self.kill_and_reap();
        }
    }
}

/// A close-on-exec pipe: (read, write).
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_become_arguments_in_order() {
        let run =
            parse("binary:///usr/bin/my%20logger?dir=%2Ftmp%2Fx&flag&dir=again&b=1+2").unwrap();
        assert_eq!(run.program, PathBuf::from("/usr/bin/my logger"));
        assert_eq!(run.args, ["dir", "/tmp/x", "flag", "", "b", "1 2"]);
        assert!(!run.v2);
        let run = parse("binary-v2://host/opt/log#frag").unwrap();
        assert_eq!((run.program, run.v2), (PathBuf::from("/opt/log"), true));
        assert!(run.args.is_empty());
    }

    #[test]
    fn a_uri_without_a_program_is_refused() {
        for uri in ["binary://", "binary://relative", "file:///x"] {
            assert!(parse(uri).is_err(), "{uri}");
        }
    }
}
