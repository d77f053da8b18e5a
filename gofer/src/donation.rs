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
    #[error("mount source {path}: {source}")]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("set mount flags on {path}: {source}")]
    Flags {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bind mount {dest} has no source")]
    NoSource { dest: PathBuf },
    #[error("{0}")]
    Failed(String),
    #[error("gofer channel: {0}")]
    Channel(#[from] ChannelError),
    #[error("gofer exited before donating mount {index}")]
    Gone { index: usize },
    #[error("gofer channel {index}: expected a mount descriptor")]
    NoDescriptor { index: usize },
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
    match channel.recv::<Donation>() {
        Ok((Donation::Mount { .. }, mut fds)) if fds.len() == 1 => Ok(fds.remove(0)),
        Ok((Donation::Mount { .. }, _)) => Err(GoferError::NoDescriptor { index }),
        Ok((Donation::Error { message, .. }, _)) => Err(GoferError::Failed(message)),
        Err(ChannelError::Closed) => Err(GoferError::Gone { index }),
        Err(e) => Err(e.into()),
    }
}
