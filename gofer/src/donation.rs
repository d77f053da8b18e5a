//! The gofer protocol: one message per mount channel, with the mount's
//! descriptor attached on success.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use specutils::channel::{Channel, ChannelError};
use specutils::mounts::{parse_options, MountOptions};
use specutils::sys::{self, MountAttr};

pub const PROTOCOL_VERSION: u32 = 1;

/// What the gofer sends on a mount channel.
#[derive(Debug, Serialize, Deserialize)]
pub enum Donation {
    /// The mount's descriptor rides on this frame.
    Mount { version: u32, source: PathBuf },
    /// The mount could not be made; `message` is the cause for the user.
    Error { version: u32, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum GoferError {
    #[error("mount source {path}: {}", specutils::error::errno_text(.source))]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("set mount flags on {path}: {}", specutils::error::errno_text(.source))]
    Flags {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bind mount {dest} has no source")]
    NoSource { dest: PathBuf },
    /// The gofer's own report, as it sent it.
    #[error("{0}")]
    Failed(String),
    #[error("gofer got {got} channels for {wanted} mounts")]
    Channels { got: usize, wanted: usize },
    #[error("gofer channel: {0}")]
    Channel(#[from] ChannelError),
    #[error("gofer exited before donating mount {index}")]
    Gone { index: usize },
    #[error("gofer channel {index}: expected a mount descriptor")]
    NoDescriptor { index: usize },
    #[error(
        "gofer channel {index}: protocol version {found}, this sandbox speaks {PROTOCOL_VERSION}"
    )]
    Version { index: usize, found: u32 },
}

/// Clones the host tree at `source` with the flags of `options`. Its
/// propagation is left to the sandbox, which sets it once the mount is
/// attached, as runc does after its bind (an unbindable mount could not be
/// attached under a shared one).
pub fn make_mount(source: &Path, options: &MountOptions) -> Result<OwnedFd, GoferError> {
    let fd = sys::clone_mount_tree(source, options.recursive).map_err(|e| GoferError::Source {
        path: source.to_path_buf(),
        source: e,
    })?;
    if options.attr != MountAttr::default() {
        sys::mount_setattr(fd.as_fd(), true, options.attr).map_err(|e| GoferError::Flags {
            path: source.to_path_buf(),
            source: e,
        })?;
    }
    Ok(fd)
}

/// The rootfs: the whole tree under it. `root.readonly` is left to the
/// init, which must first make the mount points the spec's mounts need,
/// as runc does.
pub fn make_rootfs(path: &Path) -> Result<OwnedFd, GoferError> {
    let mut options = parse_options(&[]);
    options.recursive = true;
    make_mount(path, &options)
}

/// Sends the outcome of one mount on its channel.
pub fn donate(
    channel: &Channel,
    source: &Path,
    mount: Result<OwnedFd, GoferError>,
) -> Result<(), ChannelError> {
    match mount {
        Ok(fd) => channel.send(
            &Donation::Mount {
                version: PROTOCOL_VERSION,
                source: source.to_path_buf(),
            },
            &[fd.as_fd()],
        ),
        Err(e) => channel.send(
            &Donation::Error {
                version: PROTOCOL_VERSION,
                message: e.to_string(),
            },
            &[],
        ),
    }
}

/// The sandbox side: receives mount `index`'s descriptor, or the gofer's
/// reason why there is none.
pub fn receive(channel: &Channel, index: usize) -> Result<OwnedFd, GoferError> {
    let (donation, mut fds) = match channel.recv::<Donation>() {
        Ok(received) => received,
        Err(ChannelError::Closed) => return Err(GoferError::Gone { index }),
        Err(e) => return Err(e.into()),
    };
    // A gofer from another build could mean something else by its frame;
    // refuse it before trusting the descriptor or the message.
    let found = match &donation {
        Donation::Mount { version, .. } | Donation::Error { version, .. } => *version,
    };
    if found != PROTOCOL_VERSION {
        return Err(GoferError::Version { index, found });
    }
    match donation {
        Donation::Mount { .. } if fds.len() == 1 => Ok(fds.remove(0)),
        Donation::Mount { .. } => Err(GoferError::NoDescriptor { index }),
        Donation::Error { message, .. } => Err(GoferError::Failed(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn donated(
        donation: &Donation,
        fds: &[std::os::fd::BorrowedFd<'_>],
    ) -> Result<OwnedFd, GoferError> {
        let (gofer, sandbox) = Channel::pair().expect("socketpair");
        gofer.send(donation, fds).expect("send");
        receive(&sandbox, 3)
    }

    #[test]
    fn a_mount_of_this_version_is_received_with_its_descriptor() {
        let file = std::fs::File::open("/dev/null").expect("open /dev/null");
        let m = Donation::Mount {
            version: PROTOCOL_VERSION,
            source: "/src".into(),
        };
        assert!(donated(&m, &[file.as_fd()]).is_ok());
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let file = std::fs::File::open("/dev/null").expect("open /dev/null");
        let m = Donation::Mount {
            version: PROTOCOL_VERSION + 1,
            source: "/src".into(),
        };
        let err = donated(&m, &[file.as_fd()]).expect_err("a foreign version");
        assert!(
            matches!(err, GoferError::Version { index: 3, found } if found == PROTOCOL_VERSION + 1)
        );
        assert!(err.to_string().contains("protocol version"), "{err}");
        let e = Donation::Error {
            version: 0,
            message: "no such file".into(),
        };
        assert!(matches!(
            donated(&e, &[]),
            Err(GoferError::Version { found: 0, .. })
        ));
    }

    #[test]
    fn the_gofer_s_reason_is_passed_on() {
        let e = Donation::Error {
            version: PROTOCOL_VERSION,
            message: "mount source /x: denied".into(),
        };
        let err = donated(&e, &[]).expect_err("an error donation");
        assert_eq!(err.to_string(), "mount source /x: denied");
    }

    #[test]
    fn a_mount_without_its_descriptor_is_refused() {
        let m = Donation::Mount {
            version: PROTOCOL_VERSION,
            source: "/src".into(),
        };
        assert!(matches!(
            donated(&m, &[]),
            Err(GoferError::NoDescriptor { index: 3 })
        ));
    }
}
