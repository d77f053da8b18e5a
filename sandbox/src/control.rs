//! The control protocol between the frontend and the sandbox: one unix
//! stream connection per call, one request frame and one reply frame, each
//! carrying the protocol version. Descriptors (stdio, ptys, cgroup files,
//! gofer channels) ride on the request as SCM_RIGHTS, in named slots.
//!
//! Each request is a struct implementing [`ControlRequest`], which names
//! its reply type and its descriptors; [`ControlClient::call`] returns that
//! reply type, and the server answers through [`Responder::reply`] with it.

mod messages;
mod slots;

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use serde::{Deserialize, Serialize};
use specutils::channel::{Channel, ChannelError};

pub use messages::{
    Checkpoint, CheckpointHeld, ControlRequest, CreateSub, CreateSubFds, Destroy, Exec,
    ExecStarted, ExitStatus, FreezerFds, FreezerKind, HoldEnd, Pause, Pids, Processes, Reply,
    Request, Resume, Signal, SignalProcess, Start, SubCreated, Wait, WaitPid,
};
pub use slots::{Descriptors, NoFds, Packer, Slot, SlotError, Stdio, Unpacker};

/// 2: requests and replies as tagged structs, descriptors in named slots;
/// Pause and Resume. Checkpoint came later without a bump: a sandbox that
/// lacks it drops the request, and the caller sees the connection close.
pub const PROTOCOL_VERSION: u32 = 2;
/// The control socket's name in the sandbox's state directory.
pub const SOCKET_NAME: &str = "control.sock";

#[derive(Debug, Serialize, Deserialize)]
struct RequestFrame {
    version: u32,
    #[serde(flatten)]
    request: Request,
    #[serde(default)]
    fds: Vec<Slot>,
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
struct ReplyFrame {
    version: u32,
    result: Result<Reply, RemoteError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("connect to sandbox control socket {path}: {}", specutils::error::errno_text(.source))]
    Connect { path: String, source: io::Error },
    #[error("sandbox control: {0}")]
    Channel(#[from] ChannelError),
    #[error("sandbox speaks control protocol {0}, we speak {PROTOCOL_VERSION}")]
    Version(u32),
    #[error("sandbox answered {0:?} out of turn")]
    Unexpected(Box<Reply>),
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

    /// Sends `request` with its descriptors and returns its reply.
    pub fn call<'a, R: ControlRequest>(
        self,
        request: R,
        fds: R::Fds<BorrowedFd<'a>>,
    ) -> Result<R::Reply, ControlError> {
        self.send(request, fds)?.receive()
    }

    /// Sends `request` without waiting for the reply, for callers that
    /// poll the connection (see [`Pending`]).
    pub fn send<'a, R: ControlRequest>(
        self,
        request: R,
        fds: R::Fds<BorrowedFd<'a>>,
    ) -> Result<Pending<R>, ControlError> {
        let (slots, fds) = slots::pack(fds);
        let frame = RequestFrame {
            version: PROTOCOL_VERSION,
            request: request.into(),
            fds: slots,
        };
        self.channel.send(&frame, &fds)?;
        Ok(Pending {
            channel: self.channel,
            request: PhantomData,
        })
    }
}

/// A request answered, whose effect lasts while this connection stays
/// open (a [`Checkpoint`] hold). Dropped without [`Held::end`], the
/// sandbox undoes it as if the caller had died.
pub struct Held {
    channel: Channel,
}

impl Held {
    /// Sends `request` and waits until the sandbox holds what it asks.
    pub fn begin<'a, R: ControlRequest>(
        client: ControlClient,
        request: R,
        fds: R::Fds<BorrowedFd<'a>>,
    ) -> Result<(R::Reply, Self), ControlError> {
        let pending = client.send(request, fds)?;
        let value = read_reply::<R::Reply>(&pending.channel)?;
        Ok((
            value,
            Self {
                channel: pending.channel,
            },
        ))
    }

    /// Ends the hold and waits until the sandbox has undone it.
    pub fn end(self, end: HoldEnd) -> Result<(), ControlError> {
        self.channel.send(&end, &[])?;
        read_reply::<()>(&self.channel)
    }
}

/// A request sent, its reply still to come; the connection turns readable
/// when it does.
pub struct Pending<R> {
    channel: Channel,
    request: PhantomData<R>,
}

impl<R: ControlRequest> Pending<R> {
    /// Reads the reply.
    pub fn receive(self) -> Result<R::Reply, ControlError> {
        read_reply::<R::Reply>(&self.channel)
    }
}

impl<R> AsFd for Pending<R> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.channel.as_fd()
    }
}

/// Reads one reply frame and checks it is a `T`.
fn read_reply<T: TryFrom<Reply, Error = Reply>>(channel: &Channel) -> Result<T, ControlError> {
    let (frame, _fds): (ReplyFrame, Vec<OwnedFd>) = channel.recv()?;
    if frame.version != PROTOCOL_VERSION {
        return Err(ControlError::Version(frame.version));
    }
    T::try_from(frame.result?).map_err(|r| ControlError::Unexpected(Box::new(r)))
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

/// The sandbox's end of one call: the descriptors that came with the
/// request, and the connection to answer on, once.
pub struct Responder {
    channel: Channel,
    slots: Vec<Slot>,
    fds: Vec<OwnedFd>,
}

impl Responder {
    /// Reads one request from an accepted connection. A request in another
    /// protocol version is answered with an error here.
    pub fn read(sock: UnixStream) -> Result<(Request, Self), RemoteError> {
        let channel = Channel::new(sock);
        match channel.recv::<RequestFrame>() {
            Ok((frame, fds)) if frame.version == PROTOCOL_VERSION => Ok((
                frame.request,
                Self {
                    channel,
                    slots: frame.fds,
                    fds,
                },
            )),
            Ok((frame, _)) => {
                let e = RemoteError::new(
                    ErrorKind::InvalidArgument,
                    format!("control protocol {} not supported", frame.version),
                );
                send_reply(&channel, Err(e.clone()));
                Err(e)
            }
            Err(e) => Err(RemoteError::new(ErrorKind::InvalidArgument, e.to_string())),
        }
    }

    /// Takes the request's descriptors, by the slots `R` names.
    pub fn fds<R: ControlRequest>(&mut self) -> Result<R::Fds<OwnedFd>, RemoteError> {
        let slots = std::mem::take(&mut self.slots);
        let fds = std::mem::take(&mut self.fds);
        slots::unpack(slots, fds)
            .map_err(|e| RemoteError::new(ErrorKind::InvalidArgument, e.to_string()))
    }

    /// Answers request `R`.
    pub fn reply<R: ControlRequest>(self, result: Result<R::Reply, RemoteError>) {
        send_reply(&self.channel, result.map(Into::into));
    }

    /// Answers request `R` with success and keeps the connection, for a
    /// request whose effect lasts until the caller ends it ([`Held`]).
    pub fn reply_held<R: ControlRequest>(self, reply: R::Reply) -> HeldConnection {
        send_reply(&self.channel, Ok(reply.into()));
        HeldConnection {
            channel: self.channel,
        }
    }
}

/// The sandbox's end of a [`Held`] call.
pub struct HeldConnection {
    channel: Channel,
}

impl HeldConnection {
    /// Reads how the caller ends the hold; None if it went away (or sent
    /// something else, which counts the same).
    pub fn read_end(&self) -> Option<HoldEnd> {
        self.channel.recv::<HoldEnd>().ok().map(|(end, _)| end)
    }

    /// Tells the caller the hold is undone, or why not.
    pub fn answer(self, result: Result<(), RemoteError>) {
        send_reply(&self.channel, result.map(Into::into));
    }
}

impl AsFd for HeldConnection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.channel.as_fd()
    }
}

fn send_reply(channel: &Channel, result: Result<Reply, RemoteError>) {
    let frame = ReplyFrame {
        version: PROTOCOL_VERSION,
        result,
    };
    // The caller may have gone; nobody else to tell.
    let _ = channel.send(&frame, &[]);
}

/// Wraps a raw descriptor number inherited from the frontend.
///
/// # Safety
/// `fd` must be open and owned by nobody else in this process.
pub unsafe fn inherited_fd(fd: i32) -> OwnedFd {
    OwnedFd::from_raw_fd(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request and its typed reply over a real socket pair, with its
    /// descriptors back in their named slots.
    #[test]
    fn call_round_trip() {
        let (client, server) = UnixStream::pair().unwrap();
        let (extra, _keep) = UnixStream::pair().unwrap();
        let serving = std::thread::spawn(move || {
            let (request, mut responder) = Responder::read(server).unwrap();
            let Request::Exec(exec) = request else {
                panic!("got {request:?}");
            };
            let Stdio::Streams(fds) = responder.fds::<Exec>().unwrap() else {
                panic!("console");
            };
            assert_eq!(exec.id, "c");
            assert_eq!(fds.len(), 1);
            responder.reply::<Exec>(Ok(ExecStarted { pid: 7 }));
        });
        let client = ControlClient {
            channel: Channel::new(client),
        };
        let request = Exec {
            id: "c".into(),
            process: Box::default(),
        };
        let started = client
            .call(request, Stdio::Streams(vec![extra.as_fd()]))
            .unwrap();
        assert_eq!(started, ExecStarted { pid: 7 });
        serving.join().unwrap();
    }

    #[test]
    fn wrong_reply_is_an_error() {
        let (client, server) = UnixStream::pair().unwrap();
        let serving = std::thread::spawn(move || {
            let (_, responder) = Responder::read(server).unwrap();
            // Answered as if it were another request.
            responder.reply::<Processes>(Ok(Pids(vec![1])));
        });
        let client = ControlClient {
            channel: Channel::new(client),
        };
        let got = client.call(Start { id: "c".into() }, NoFds);
        assert!(matches!(got, Err(ControlError::Unexpected(_))), "{got:?}");
        serving.join().unwrap();
    }
}
