//! A process's stdio: pipes (or a pty master) between it and containerd's
//! fifos, copied by a thread each.
//!
//! The process never gets the fifos themselves: the sandbox may hold its
//! stdio too, and containerd waits for end-of-file on each fifo before it
//! deletes a task. So the shim writes the fifos and closes them once the
//! process has exited and its pipes are drained. A `binary://` log URI
//! puts a logging program where the fifos would be (log_binary.rs).

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::log_binary::{self, LogBinary, LogBinaryError};

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error(transparent)]
    LogBinary(#[from] LogBinaryError),
    #[error("{what}: {source}")]
    Os {
        what: String,
        source: std::io::Error,
    },
}

fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StdioError {
    let what = what.into();
    move |source| StdioError::Os { what, source }
}

/// containerd's fifo paths for one process; empty means none.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
}

/// Whose stdio it is, for a logging program's environment: the container,
/// or the exec, and containerd's namespace.
pub struct Owner<'a> {
    pub id: &'a str,
    pub namespace: &'a str,
}

/// Where a process's output goes.
enum Sink {
    /// containerd's fifo, or a `file://` log URI's file.
    Path(PathBuf),
    /// A logging program's pipe.
    Pipe(File),
}

impl Sink {
    fn open(self) -> std::io::Result<File> {
        let fifo = match self {
            Sink::Pipe(f) => return Ok(f),
            Sink::Path(fifo) => fifo,
        };
        // A fifo's open blocks until containerd reads, as it has since
        // before the create; a `file://` log URI names a file to append to.
        let mut open = std::fs::OpenOptions::new();
        open.write(true);
        let file = fifo.to_str().and_then(|f| f.strip_prefix("file://"));
        if file.is_some() {
            open.create(true).append(true);
        }
        open.open(file.map(std::path::Path::new).unwrap_or(&fifo))
    }

    fn name(&self) -> String {
        match self {
            Sink::Path(p) => p.display().to_string(),
            Sink::Pipe(_) => "log binary pipe".into(),
        }
    }
}

/// Where stdout and stderr go (None: nowhere), and the logging program
/// if the URI names one.
struct Sinks {
    stdout: Option<Sink>,
    stderr: Option<Sink>,
    logger: Option<LogBinary>,
}

impl Sinks {
    fn open(paths: &Paths, owner: &Owner<'_>) -> Result<Self, StdioError> {
        if log_binary::is_binary(&paths.stdout) {
            let started = LogBinary::start(&paths.stdout, owner.id, owner.namespace)?;
            return Ok(Self {
                stdout: Some(Sink::Pipe(started.stdout)),
                stderr: Some(Sink::Pipe(started.stderr)),
                logger: Some(started.logger),
            });
        }
        let path = |p: &str| Some(Sink::Path(PathBuf::from(p))).filter(|_| !p.is_empty());
        Ok(Self {
            stdout: path(&paths.stdout),
            stderr: path(&paths.stderr),
            logger: None,
        })
    }
}

/// The plumbing of one process.
pub struct Stdio {
    /// What the process gets as 0, 1 and 2; dropped once it has them.
    child: Option<[OwnedFd; 3]>,
    /// The stdin pipe's writing end, while stdin is open.
    stdin: Arc<Mutex<Option<File>>>,
    /// Dropped when the process has exited: the copiers drain and stop.
    stop: Option<OwnedFd>,
    done: mpsc::Receiver<()>,
    copiers: usize,
    /// The pty master, when the process has a terminal.
    master: Option<OwnedFd>,
    /// The logging program of a `binary://` log URI.
    logger: Option<LogBinary>,
}

impl Stdio {
    pub fn open(paths: &Paths, owner: &Owner<'_>) -> Result<Self, StdioError> {
        let null = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(os("open /dev/null"))
        };
        // Before stdin's copier starts: it would wait on its fifo forever
        // were the create to fail here.
        let Sinks {
            stdout: out_sink,
            stderr: err_sink,
            logger,
        } = Sinks::open(paths, owner)?;
        let (stop_r, stop_w) = pipe()?;
        let stop_r = Arc::new(stop_r);
        let (done_tx, done) = mpsc::channel();
        let stdin = Arc::new(Mutex::new(None));
        let mut copiers = 0;
        let child_in = if paths.stdin.is_empty() {
            null()?
        } else {
            let (r, w) = pipe()?;
            *stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(File::from(w));
            let (fifo, stdin) = (PathBuf::from(&paths.stdin), stdin.clone());
            std::thread::spawn(move || copy_stdin(&fifo, &stdin));
            r
        };
        let mut output = |sink: Option<Sink>| -> Result<OwnedFd, StdioError> {
            let Some(sink) = sink else {
                return null();
            };
            let (r, w) = pipe()?;
            set_nonblocking(r.as_fd())?;
            let (stop, done) = (stop_r.clone(), done_tx.clone());
            std::thread::spawn(move || {
                copy_output(File::from(r), sink, stop.as_fd());
                let _ = done.send(());
            });
            copiers += 1;
            Ok(w)
        };
        let child_out = output(out_sink)?;
        // One fifo or file for both: one pipe, so that writes stay in order.
        let child_err =
            if logger.is_none() && !paths.stderr.is_empty() && paths.stderr == paths.stdout {
                child_out.try_clone().map_err(os("duplicate stdout pipe"))?
            } else {
                output(err_sink)?
            };
        Ok(Self {
            child: Some([child_in, child_out, child_err]),
            stdin,
            stop: Some(stop_w),
            done,
            copiers,
            master: None,
            logger,
        })
    }

    /// A process with a terminal: containerd's stdin fifo into `master`,
    /// `master` into its stdout fifo.
    pub fn terminal(paths: &Paths, owner: &Owner<'_>, master: OwnedFd) -> Result<Self, StdioError> {
        let (stop_r, stop_w) = pipe()?;
        let (done_tx, done) = mpsc::channel();
        let stdin = Arc::new(Mutex::new(None));
        let dup = |what: &str| {
            master
                .try_clone()
                .map_err(os(format!("duplicate pty master for {what}")))
        };
        if !paths.stdin.is_empty() {
            *stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(File::from(dup("stdin")?));
            let (fifo, stdin) = (PathBuf::from(&paths.stdin), stdin.clone());
            std::thread::spawn(move || copy_stdin(&fifo, &stdin));
        }
        let mut copiers = 0;
        // A terminal has no stderr of its own: a logger's fd 4 is closed.
        let Sinks {
            stdout: out_sink,
            logger,
            ..
        } = Sinks::open(paths, owner)?;
        if let Some(sink) = out_sink {
            let from = File::from(dup("stdout")?);
            set_nonblocking(from.as_fd())?;
            std::thread::spawn(move || {
                copy_output(from, sink, stop_r.as_fd());
                let _ = done_tx.send(());
            });
            copiers = 1;
        }
        Ok(Self {
            child: None,
            stdin,
            stop: Some(stop_w),
            done,
            copiers,
            master: Some(master),
            logger,
        })
    }

    /// ResizePty: the terminal's new size, which the process sees as
    /// SIGWINCH.
    pub fn resize(&self, width: u16, height: u16) -> Result<(), StdioError> {
        let Some(master) = &self.master else {
            return Ok(());
        };
        let size = rustix::termios::Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(master, size).map_err(|e| StdioError::Os {
            what: "resize terminal".into(),
            source: e.into(),
        })
    }

    /// The process's ends, to hand over.
    pub fn child(&self) -> Option<[BorrowedFd<'_>; 3]> {
        self.child
            .as_ref()
            .map(|[a, b, c]| [a.as_fd(), b.as_fd(), c.as_fd()])
    }

    /// Drops our copies of the process's ends once it has them.
    pub fn handed_over(&mut self) {
        self.child = None;
    }

    /// CloseIO: the process sees end-of-file on stdin.
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// After the process exited: copies what is left in its pipes and
    /// closes the fifos, waiting a little for the copiers.
    pub fn finish(&mut self) {
        self.child = None;
        self.master = None;
        self.close_stdin();
        if self.stop.take().is_none() {
            return;
        }
        for _ in 0..self.copiers {
            if self.done.recv_timeout(Duration::from_secs(2)).is_err() {
                log::warn!("stdio copier did not finish");
                break;
            }
        }
    }

    /// At delete: [`finish`](Self::finish), then the logging program
    /// stopped and reaped.
    pub fn close(&mut self) {
        self.finish();
        if let Some(mut logger) = self.logger.take() {
            logger.stop();
        }
    }
}

/// containerd's stdin fifo into the process's stdin pipe, until either
/// closes.
fn copy_stdin(fifo: &std::path::Path, stdin: &Mutex<Option<File>>) {
    let Ok(mut from) = File::open(fifo) else {
        log::warn!("open stdin fifo {}", fifo.display());
        return;
    };
    let mut buf = [0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut to = stdin.lock().unwrap_or_else(|e| e.into_inner());
        let written = to.as_mut().map(|w| w.write_all(&buf[..n]).is_ok());
        if written != Some(true) {
            break;
        }
    }
    stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// The process's output pipe `from` into `sink`, until `stop` says the
/// process exited; then what is left, then end-of-file.
fn copy_output(mut from: File, sink: Sink, stop: BorrowedFd<'_>) {
    let name = sink.name();
    let mut to = match sink.open() {
        Ok(f) => f,
        Err(e) => {
            log::warn!("open output {name}: {e}");
            return;
        }
    };
    let mut buf = [0u8; 32 * 1024];
    let mut stopping = false;
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
                continue;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if stopping {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        let mut fds = [
            PollFd::new(from.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop, PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        // The stop pipe's writer is gone: drain without waiting.
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            stopping = true;
        }
    }
}

/// A close-on-exec pipe: (read, write).
fn pipe() -> Result<(OwnedFd, OwnedFd), StdioError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| StdioError::Os {
        what: "pipe".into(),
        source: e.into(),
    })
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), StdioError> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    let err = |e: nix::Error| StdioError::Os {
        what: "set pipe non-blocking".into(),
        source: e.into(),
    };
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(err)?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(err)?;
    Ok(())
}
