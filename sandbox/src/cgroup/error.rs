//! What goes wrong with a container's cgroup.

use std::io;
use std::path::PathBuf;

use libcgroups::common::{
    AnyManagerError, CreateCgroupSetupError, GetCgroupSetupError, WrappedIoError,
};
use nix::errno::Errno;
use nix::sys::signal::Signal;

/// Errors name the cgroup by its path relative to the hierarchy roots.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("invalid cgroup path {0}: {1}")]
    InvalidPath(PathBuf, &'static str),
    #[error("detect cgroup setup for cgroup {0}: {1}")]
    Setup(PathBuf, #[source] GetCgroupSetupError),
    #[error("list cgroup hierarchies for cgroup {0}: {1}")]
    Hierarchies(PathBuf, #[source] io::Error),
    #[error("open cgroup {0}: {1}")]
    Open(PathBuf, #[source] CreateCgroupSetupError),
    #[error("create cgroup {0}: mkdir {1}: {2}")]
    CreateDir(PathBuf, PathBuf, #[source] io::Error),
    #[error("create cgroup {0}: chmod 0755 {1}: {2}")]
    Chmod(PathBuf, PathBuf, #[source] io::Error),
    #[error("cgroup {0}: {1}: {2}")]
    File(PathBuf, PathBuf, #[source] io::Error),
    #[error("read cgroup {0}: {1}")]
    Read(PathBuf, #[source] WrappedIoError),
    #[error("set resources of cgroup {0}: {1}")]
    Apply(PathBuf, #[source] AnyManagerError),
    #[error("add process {1} to cgroup {0}: {2}")]
    AddProcess(PathBuf, i32, #[source] AnyManagerError),
    #[error("freeze cgroup {0}: {1}")]
    Freeze(PathBuf, #[source] AnyManagerError),
    #[error("thaw cgroup {0}: {1}")]
    Thaw(PathBuf, #[source] AnyManagerError),
    #[error("send {2} to process {1} of cgroup {0}: {3}")]
    Signal(PathBuf, i32, Signal, #[source] Errno),
    #[error("cgroup {0} still holds processes {1:?} after SIGKILL")]
    Busy(PathBuf, Vec<i32>),
    #[error(
        "container {0} has no cgroup: it runs rootless, and cgroups are not delegated to its user"
    )]
    NotDelegated(String),
    #[error(
        "cgroup {0}: its realtime runtime does not fit in the parent's: write {2} to {1}: {3}"
    )]
    NoRealtimeRoom(PathBuf, PathBuf, u64, #[source] io::Error),
    #[error("remove cgroup {0}: rmdir {1}: {2}")]
    Remove(PathBuf, PathBuf, #[source] io::Error),
}

impl CgroupError {
    /// Whether the cgroup could not be made for lack of permission: what a
    /// rootless caller sees where cgroups are not delegated to it.
    pub fn is_permission_denied(&self) -> bool {
        let io = match self {
            CgroupError::CreateDir(_, _, e)
            | CgroupError::Chmod(_, _, e)
            | CgroupError::File(_, _, e) => e,
            _ => return false,
        };
        matches!(
            io.raw_os_error(),
            Some(libc::EACCES | libc::EPERM | libc::EROFS)
        )
    }
}
