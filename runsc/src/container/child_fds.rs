//! The descriptors a child of ours (`runsc boot`, `runsc gofer`) inherits,
//! by name, in one place: the parent places each at a number from 3 up and
//! passes the table as one `--fds` argument (`spec=3,mounts=4+5,...`); the
//! child takes each back by the same [`ChildFd`] name.

use std::collections::HashMap;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

/// Every descriptor a child may inherit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildFd {
    /// The spec, as a memfd (`spec.json` parsed once by the frontend).
    Spec,
    /// The sandbox's listening control socket.
    Control,
    /// The sandbox's channel for the create handshake.
    Ready,
    /// The console socket of a container with a terminal.
    Console,
    /// Where the sandbox records the root container's exit status.
    ExitStatus,
    /// Gofer channels: the root filesystem's, then one per donated mount.
    Mounts,
    /// v1 `tasks` files of the container's cgroup, joined first thing.
    CgroupTasks,
    /// The gofer's ends of the channels in `Mounts`, for the sandbox to
    /// fork the root container's gofer with.
    GoferMounts,
    /// `--preserve-fds`: the caller's descriptors for the container's
    /// process, placed first (3, 4, ...).
    Preserved,
}

impl ChildFd {
    const ALL: [ChildFd; 9] = [
        ChildFd::Spec,
        ChildFd::Control,
        ChildFd::Ready,
        ChildFd::Console,
        ChildFd::ExitStatus,
        ChildFd::Mounts,
        ChildFd::CgroupTasks,
        ChildFd::GoferMounts,
        ChildFd::Preserved,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChildFd::Spec => "spec",
            ChildFd::Control => "control",
            ChildFd::Ready => "ready",
            ChildFd::Console => "console",
            ChildFd::ExitStatus => "exit-status",
            ChildFd::Mounts => "mounts",
            ChildFd::CgroupTasks => "cgroup-tasks",
            ChildFd::GoferMounts => "gofer-mounts",
            ChildFd::Preserved => "preserved",
        }
    }

    fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChildFdError {
    #[error("descriptor table {0:?}: not name=fd[+fd...]")]
    Syntax(String),
    #[error("descriptor table: no descriptor {0}")]
    Missing(&'static str),
    #[error("descriptor table: {0} holds more than one descriptor")]
    NotOne(&'static str),
    #[error("inherited descriptor {fd} ({name}): {source}")]
    Closed {
        name: &'static str,
        fd: RawFd,
        source: std::io::Error,
    },
}

/// The parent's side: descriptors to place in a child, and the table.
pub struct ChildFds<'a> {
    placed: Vec<(BorrowedFd<'a>, RawFd)>,
    table: Vec<(ChildFd, Vec<RawFd>)>,
}

impl<'a> ChildFds<'a> {
    pub fn new() -> Self {
        Self {
            placed: Vec::new(),
            table: Vec::new(),
        }
    }

    pub fn one(&mut self, name: ChildFd, fd: BorrowedFd<'a>) -> &mut Self {
        self.many(name, [fd])
    }

    pub fn many(
        &mut self,
        name: ChildFd,
        fds: impl IntoIterator<Item = BorrowedFd<'a>>,
    ) -> &mut Self {
        let mut numbers = Vec::new();
        for fd in fds {
            let n = 3 + self.placed.len() as RawFd;
            self.placed.push((fd, n));
            numbers.push(n);
        }
        self.table.push((name, numbers));
        self
    }

    /// Each descriptor and the number it gets in the child.
    pub fn placed(&self) -> &[(BorrowedFd<'a>, RawFd)] {
        &self.placed
    }

    /// The `--fds` argument that tells the child the table.
    pub fn arg(&self) -> String {
        self.table
            .iter()
            .map(|(name, fds)| {
                let fds: Vec<String> = fds.iter().map(|n| n.to_string()).collect();
                format!("{}={}", name.name(), fds.join("+"))
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Default for ChildFds<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// The child's side: the table its parent passed, taken once by name.
#[derive(Debug, Clone, Default)]
pub struct InheritedFds {
    table: HashMap<ChildFd, Vec<RawFd>>,
}

impl std::str::FromStr for InheritedFds {
    type Err = ChildFdError;

    fn from_str(arg: &str) -> Result<Self, ChildFdError> {
        let mut table = HashMap::new();
        for entry in arg.split(',').filter(|e| !e.is_empty()) {
            let bad = || ChildFdError::Syntax(entry.to_string());
            let (name, fds) = entry.split_once('=').ok_or_else(bad)?;
            let name = ChildFd::named(name).ok_or_else(bad)?;
            let fds = fds
                .split('+')
                .filter(|f| !f.is_empty())
                .map(|f| f.parse::<RawFd>().ok().filter(|n| *n >= 3).ok_or_else(bad))
                .collect::<Result<Vec<_>, _>>()?;
            table.insert(name, fds);
        }
        Ok(Self { table })
    }
}

impl InheritedFds {
    /// All the descriptors under `name`; none if the table has no entry.
    pub fn many(&mut self, name: ChildFd) -> Result<Vec<OwnedFd>, ChildFdError> {
        let fds = self.table.remove(&name).unwrap_or_default();
        fds.into_iter().map(|fd| take(name, fd)).collect()
    }

    /// The one descriptor under `name`, if the table has it.
    pub fn optional(&mut self, name: ChildFd) -> Result<Option<OwnedFd>, ChildFdError> {
        let mut fds = self.many(name)?;
        match fds.len() {
            0 | 1 => Ok(fds.pop()),
            _ => Err(ChildFdError::NotOne(name.name())),
        }
    }

    /// The one descriptor under `name`.
    pub fn one(&mut self, name: ChildFd) -> Result<OwnedFd, ChildFdError> {
        self.optional(name)?
            .ok_or(ChildFdError::Missing(name.name()))
    }
}

/// Takes ownership of descriptor `fd` our parent handed us, marking it
/// close-on-exec so that it goes no further.
fn take(name: ChildFd, fd: RawFd) -> Result<OwnedFd, ChildFdError> {
    let closed = |e: rustix::io::Errno| ChildFdError::Closed {
        name: name.name(),
        fd,
        source: e.into(),
    };
    // SAFETY: the number is checked open by fcntl before anything else;
    // the parent placed it for us under this name and the table hands each
    // number out once, so nothing else in this process owns it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_setfd(borrowed, rustix::io::FdFlags::CLOEXEC).map_err(closed)?;
    // SAFETY: as above; the descriptor is open (fcntl succeeded).
    Ok(unsafe { sandbox::control::inherited_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn table_round_trip() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut fds = ChildFds::new();
        fds.one(ChildFd::Spec, a.as_fd())
            .many(ChildFd::Mounts, [a.as_fd(), b.as_fd()])
            .many(ChildFd::CgroupTasks, []);
        assert_eq!(fds.arg(), "spec=3,mounts=4+5,cgroup-tasks=");
        let numbers: Vec<RawFd> = fds.placed().iter().map(|(_, n)| *n).collect();
        assert_eq!(numbers, vec![3, 4, 5]);
        let parsed: InheritedFds = fds.arg().parse().unwrap();
        assert_eq!(parsed.table[&ChildFd::Mounts], vec![4, 5]);
        assert!(parsed.table[&ChildFd::CgroupTasks].is_empty());
        assert!("spec=2".parse::<InheritedFds>().is_err());
        assert!("nope=3".parse::<InheritedFds>().is_err());
    }
}
