//! A framed message channel over a unix stream socket, carrying file
//! descriptors as SCM_RIGHTS. Both the control protocol and the gofer
//! protocol are instances of it.
//!
//! A frame is a 4-byte big-endian length, then that many bytes of JSON. The
//! frame's descriptors travel with its first byte.

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest frame accepted; a spec with a large seccomp profile is well
/// below it.
pub const MAX_FRAME: usize = 16 << 20;
pub use crate::scm_rights::MAX_FDS;
use crate::scm_rights::{recv_with_fds, send_with_fds};

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("peer closed the channel")]
    Closed,
    #[error("channel i/o: {0}")]
    Io(#[from] io::Error),
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("decode message: {0}")]
    Decode(serde_json::Error),
    #[error("encode message: {0}")]
    Encode(serde_json::Error),
}

#[derive(Debug)]
pub struct Channel {
    sock: UnixStream,
}

impl Channel {
    pub fn new(sock: UnixStream) -> Self {
        Self { sock }
    }

    /// Takes ownership of a connected stream socket descriptor.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self {
            sock: UnixStream::from(fd),
        }
    }

    /// A connected pair, both ends close-on-exec.
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel::new(a), Channel::new(b)))
    }

    pub fn into_fd(self) -> OwnedFd {
        self.sock.into()
    }

    pub fn stream(&self) -> &UnixStream {
        &self.sock
    }

    /// Sends one message with `fds` attached.
    pub fn send<T: Serialize>(&self, msg: &T, fds: &[BorrowedFd<'_>]) -> Result<(), ChannelError> {
        let body = serde_json::to_vec(msg).map_err(ChannelError::Encode)?;
        if body.len() > MAX_FRAME {
            return Err(ChannelError::TooLarge(body.len()));
        }
        let len = (body.len() as u32).to_be_bytes();
        let iov = [IoSlice::new(&len), IoSlice::new(&body)];
        let sent = send_with_fds(self.sock.as_fd(), &iov, fds)?;
        let frame: Vec<u8> = len.iter().chain(body.iter()).copied().collect();
        if sent < frame.len() {
            (&self.sock).write_all(&frame[sent..])?;
        }
        Ok(())
    }

    /// Receives one message and the descriptors that came with it.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<(T, Vec<OwnedFd>), ChannelError> {
        let mut len = [0u8; 4];
        let mut fds = Vec::new();
        let mut got = 0;
        while got < len.len() {
            let n = self.recv_with_fds(&mut len[got..], &mut fds)?;
            if n == 0 {
                return Err(if got == 0 {
                    ChannelError::Closed
                } else {
                    ChannelError::Io(io::ErrorKind::UnexpectedEof.into())
                });
            }
            got += n;
        }
        let size = u32::from_be_bytes(len) as usize;
        if size > MAX_FRAME {
            return Err(ChannelError::TooLarge(size));
        }
        let mut body = vec![0u8; size];
        (&self.sock).read_exact(&mut body)?;
        let msg = serde_json::from_slice(&body).map_err(ChannelError::Decode)?;
        Ok((msg, fds))
    }

    /// Sends a request and waits for its reply.
    pub fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        msg: &Q,
        fds: &[BorrowedFd<'_>],
    ) -> Result<(R, Vec<OwnedFd>), ChannelError> {
        self.send(msg, fds)?;
        self.recv()
    }

    fn recv_with_fds(&self, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> Result<usize, ChannelError> {
        Ok(recv_with_fds(self.sock.as_fd(), buf, fds)?)
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Msg {
        name: String,
        n: u32,
    }

    #[test]
    fn round_trip_with_fds() {
        let (a, b) = Channel::pair().unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        let msg = Msg {
            name: "x".into(),
            n: 7,
        };
        a.send(&msg, &[r.as_fd(), w.as_fd()]).unwrap();
        a.send(&msg, &[]).unwrap();
        let (got, fds): (Msg, _) = b.recv().unwrap();
        assert_eq!(got, msg);
        assert_eq!(fds.len(), 2);
        rustix::io::write(&fds[1], b"hi").unwrap();
        let mut buf = [0u8; 2];
        rustix::io::read(&r, &mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        let (_, fds): (Msg, _) = b.recv().unwrap();
        assert!(fds.is_empty());
        drop(a);
        assert!(matches!(b.recv::<Msg>(), Err(ChannelError::Closed)));
    }

    #[test]
    fn rejects_oversized_and_garbage_frames() {
        let (a, b) = Channel::pair().unwrap();
        (&a.sock).write_all(&u32::MAX.to_be_bytes()).unwrap();
        assert!(matches!(b.recv::<Msg>(), Err(ChannelError::TooLarge(_))));
        let (a, b) = Channel::pair().unwrap();
        (&a.sock).write_all(&3u32.to_be_bytes()).unwrap();
        (&a.sock).write_all(b"{x}").unwrap();
        assert!(matches!(b.recv::<Msg>(), Err(ChannelError::Decode(_))));
    }
}
