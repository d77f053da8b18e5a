//! The control protocol between the frontend and the sandbox: one unix
//! stream connection per call, one request frame and one reply frame, each
//! carrying the protocol version. Descriptors (stdio, ptys) ride on the
//! request as SCM_RIGHTS.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use serde::{Deserialize, Serialize};
use specutils::channel::{Channel, ChannelError};

pub const PROTOCOL_VERSION: u32 = 1;
/// The control socket's name in the sandbox's state directory.
pub const SOCKET_NAME: &str = "control.sock";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "method", content = "params")]
pub enum Request {
    /// Releases a container's init, blocked before execve.
    Start { id: String },
    /// Sets up a subcontainer's init in this sandbox, blocked before
    /// execve. Descriptors, in order: `stdio` of them (stdin, stdout,
    /// stderr; or the console socket), the exit-status file, `cgroups`
    /// `cgroup.procs` files, then the gofer's mount channels.
    CreateSub {
        id: String,
        spec: Box<oci_spec::runtime::Spec>,
        bundle: std::path::PathBuf,
        mount_point: std::path::PathBuf,
        stdio: u32,
        cgroups: u32,
        #[serde(default)]
        options: crate::options::LaunchOptions,
    },
    /// Kills a subcontainer and forgets it.
    Destroy { id: String },
    /// Blocks until the container's init exits.
    Wait { id: String },
    /// Signals the container's init, or every process of it.
    Signal { id: String, signal: i32, all: bool },
    /// Starts a process in a running container. Descriptors: stdin,
    /// stdout, stderr and the preserved ones, or the console socket alone
    /// when `process.terminal` is set.
    Exec {
        id: String,
        process: Box<oci_spec::runtime::Process>,
    },
    /// Blocks until an exec'd process exits.
    WaitPid { pid: i32 },
    /// Signals an exec'd process.
    SignalProcess { pid: i32, signal: i32 },
    /// The host pids of a container's processes.
    Processes { id: String },
}

/// The reply to `CreateSub`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubCreated {
    pub init_pid: i32,
}

/// The reply to `Exec`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecStarted {
    pub pid: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct RequestFrame {
    version: u32,
    #[serde(flatten)]
    request: Request,
}

/// What went wrong, in words the frontend can act on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ErrorKind {
    NoSuchProcess,
    NotFound,
    InvalidArgument,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    pub kind: ErrorKind,
    pub message: String,
}

impl RemoteError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReplyFrame {
    Result {
        version: u32,
        value: serde_json::Value,
    },
    Error {
        version: u32,
        error: RemoteError,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("connect to sandbox control socket {path}: {source}")]
    Connect { path: String, source: io::Error },
    #[error("sandbox control: {0}")]
    Channel(#[from] ChannelError),
    #[error("sandbox speaks control protocol {0}, we speak {PROTOCOL_VERSION}")]
    Version(u32),
    #[error("decode sandbox reply: {0}")]
    Decode(serde_json::Error),
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

/// The frontend's side: one call per connection.
pub struct ControlClient {
    channel: Channel,
}

impl ControlClient {
    /// Connects to `<dir>/control.sock`. The directory is opened first and
    /// the socket reached through /proc/self/fd, so that state roots longer
    /// than a socket address allows (108 bytes) still work.
    pub fn connect(dir: &Path) -> Result<Self, ControlError> {
        let path = dir.join(SOCKET_NAME);
        let err = |source| ControlError::Connect {
            path: path.display().to_string(),
            source,
        };
        let dirfd = open_path(dir).map_err(err)?;
        let via = format!("/proc/self/fd/{}/{SOCKET_NAME}", dirfd.as_raw_fd());
        let sock = UnixStream::connect(via).map_err(err)?;
        Ok(Self {
            channel: Channel::new(sock),
        })
    }

    /// Sends `request` with `fds` and returns the reply's value.
    pub fn call<R: serde::de::DeserializeOwned>(
        self,
        request: Request,
        fds: &[BorrowedFd<'_>],
    ) -> Result<R, ControlError> {
        self.send(request, fds)?;
        self.receive()
    }

    /// Sends `request` without waiting for the reply, for callers that
    /// poll the connection (see [`ControlClient::receive`]).
    pub fn send(&self, request: Request, fds: &[BorrowedFd<'_>]) -> Result<(), ControlError> {
        let frame = RequestFrame {
            version: PROTOCOL_VERSION,
            request,
        };
        Ok(self.channel.send(&frame, fds)?)
    }

    /// Reads the reply to the request sent.
    pub fn receive<R: serde::de::DeserializeOwned>(self) -> Result<R, ControlError> {
        let (reply, _fds): (ReplyFrame, _) = self.channel.recv()?;
        match reply {
            ReplyFrame::Result { version, .. } | ReplyFrame::Error { version, .. }
                if version != PROTOCOL_VERSION =>
            {
                Err(ControlError::Version(version))
            }
            ReplyFrame::Result { value, .. } => {
                serde_json::from_value(value).map_err(ControlError::Decode)
            }
            ReplyFrame::Error { error, .. } => Err(error.into()),
        }
    }
}

impl std::os::fd::AsFd for ControlClient {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.channel.as_fd()
    }
}

/// Binds the listening control socket at `<dir>/control.sock`, mode 0600,
/// through /proc/self/fd for long paths.
pub fn listen(dir: &Path) -> io::Result<UnixListener> {
    let dirfd = open_path(dir)?;
    let via = format!("/proc/self/fd/{}/{SOCKET_NAME}", dirfd.as_raw_fd());
    let old = rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(&via);
    rustix::process::umask(old);
    bound
}

fn open_path(dir: &Path) -> io::Result<OwnedFd> {
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    Ok(fd)
}

/// A request as the sandbox receives it, to be answered once.
pub struct Incoming {
    channel: Channel,
    pub request: Request,
    pub fds: Vec<OwnedFd>,
}

impl Incoming {
    /// Reads one request from an accepted connection.
    pub fn read(sock: UnixStream) -> Result<Self, RemoteError> {
        let channel = Channel::new(sock);
        match channel.recv::<RequestFrame>() {
            Ok((frame, fds)) if frame.version == PROTOCOL_VERSION => Ok(Self {
                channel,
                request: frame.request,
                fds,
            }),
            Ok((frame, _)) => {
                let e = RemoteError::new(
                    ErrorKind::InvalidArgument,
                    format!("control protocol {} not supported", frame.version),
                );
                let _ = reply_on::<()>(&channel, Err(e.clone()));
                Err(e)
            }
            Err(e) => Err(RemoteError::new(ErrorKind::InvalidArgument, e.to_string())),
        }
    }

    pub fn reply<T: Serialize>(self, result: Result<T, RemoteError>) {
        let _ = reply_on(&self.channel, result);
    }
}

fn reply_on<T: Serialize>(
    channel: &Channel,
    result: Result<T, RemoteError>,
) -> Result<(), ChannelError> {
    let frame = match result.map(|v| serde_json::to_value(v)) {
        Ok(Ok(value)) => ReplyFrame::Result {
            version: PROTOCOL_VERSION,
            value,
        },
        Ok(Err(e)) => ReplyFrame::Error {
            version: PROTOCOL_VERSION,
            error: RemoteError::new(ErrorKind::Failed, format!("encode reply: {e}")),
        },
        Err(error) => ReplyFrame::Error {
            version: PROTOCOL_VERSION,
            error,
        },
    };
    channel.send(&frame, &[])
}

/// Exit status of a wait: the code, or 128 + the signal number.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitStatus {
    pub status: i32,
}

/// Wraps a raw descriptor number inherited from the frontend.
///
/// # Safety
/// `fd` must be open and owned by nobody else in this process.
pub unsafe fn inherited_fd(fd: i32) -> OwnedFd {
    OwnedFd::from_raw_fd(fd)
}
