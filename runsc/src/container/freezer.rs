//! The files through which the sandbox freezes and thaws a container's
//! cgroup, opened here (the sandbox cannot reach the cgroup filesystem by
//! path), and the sibling cgroup where the sandbox waits out a pause of
//! the container whose cgroup it lives in.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use sandbox::cgroup::Cgroup;
use sandbox::control::{FreezerFds, FreezerKind};

use super::LifecycleError;
use specutils::error::os;

pub(super) struct FreezerFiles {
    pub kind: FreezerKind,
    state: OwnedFd,
    events: Option<OwnedFd>,
    park: Option<OwnedFd>,
    home: Option<OwnedFd>,
    park_dir: Option<PathBuf>,
}

impl FreezerFiles {
    /// Opens `cgroup`'s freezer files; with `sandbox_inside` (the sandbox
    /// lives in this cgroup), also makes the sibling it parks in.
    pub fn open(cgroup: &Cgroup, sandbox_inside: bool) -> Result<Self, LifecycleError> {
        let dir = cgroup.freezer_dir().ok_or_else(|| {
            LifecycleError::Invalid(format!("cgroup {} has no freezer", cgroup.path().display()))
        })?;
        let v1 = dir.join("freezer.state");
        let (kind, state) = if v1.exists() {
            (FreezerKind::V1, v1)
        } else {
            (FreezerKind::V2, dir.join("cgroup.freeze"))
        };
        let rw = |path: &Path, write: bool| -> Result<OwnedFd, LifecycleError> {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(write)
                .open(path)
                .map_err(os(format!("open {}", path.display())))?;
            Ok(f.into())
        };
        let state = rw(&state, true)?;
        let events = match kind {
            FreezerKind::V2 => Some(rw(&dir.join("cgroup.events"), false)?),
            FreezerKind::V1 => None,
        };
        let (mut park, mut home, mut park_dir) = (None, None, None);
        if sandbox_inside {
            let sibling = park_dir_of(dir);
            match std::fs::create_dir(&sibling) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(os(format!("create cgroup {}", sibling.display()))(e).into()),
            }
            park = Some(rw(&sibling.join("cgroup.procs"), true)?);
            home = Some(rw(&dir.join("cgroup.procs"), true)?);
            park_dir = Some(sibling);
        }
        Ok(Self {
            kind,
            state,
            events,
            park,
            home,
            park_dir,
        })
    }

    pub fn fds(&self) -> FreezerFds<BorrowedFd<'_>> {
        FreezerFds {
            state: self.state.as_fd(),
            events: self.events.iter().map(|f| f.as_fd()).collect(),
            park: self.park.iter().map(|f| f.as_fd()).collect(),
            home: self.home.iter().map(|f| f.as_fd()).collect(),
        }
    }

    /// Removes the sibling cgroup, once the sandbox has left it.
    pub fn remove_park(&self) {
        if let Some(dir) = &self.park_dir {
            remove(dir);
        }
    }
}

/// The sibling of the freezer cgroup `dir` where the sandbox waits out a
/// pause: `<name>.sandbox` beside it.
fn park_dir_of(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".sandbox");
    dir.with_file_name(name)
}

/// Removes what a pause of `cgroup` may have left: the sibling of a
/// container deleted or checkpointed while paused, once its sandbox is gone.
pub(super) fn remove_park_of(cgroup: &Cgroup) {
    if let Some(dir) = cgroup.freezer_dir() {
        remove(&park_dir_of(dir));
    }
}

fn remove(dir: &Path) {
    match std::fs::remove_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("remove cgroup {}: {e}", dir.display()),
    }
}
