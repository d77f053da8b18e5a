//! Reads many containers' metadata for `list`, with as few syscalls and
//! allocations as a read can take: each `meta.json` is opened relative to
//! the root's descriptor and read once into a buffer kept across
//! containers (the general path costs a statx, a second read and a path
//! walk from `/` more, per container), and its state is borrowed from that
//! buffer rather than copied out of it.

use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use specutils::error::os;

use super::state::OciState;
use super::store::{parse_meta, META_NAME};
use super::{ContainerStore, MetaView, StoreError};

/// A file larger than this is read by the general path.
const BUF_LEN: usize = 64 * 1024;

#[derive(Debug)]
pub struct MetaReader {
    store: ContainerStore,
    root: OwnedFd,
    buf: Vec<u8>,
    rel: String,
}

impl MetaReader {
    pub fn open(store: &ContainerStore) -> Result<Self, StoreError> {
        let root = rustix::fs::open(
            store.root(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(os(format!("open {}", store.root().display())))?;
        Ok(Self {
            store: store.clone(),
            root,
            buf: vec![0; BUF_LEN],
            rel: String::new(),
        })
    }

    /// Calls `f` with container `id`'s state, read unlocked as
    /// `ContainerStore::read_meta` reads it (meta.json is only ever
    /// replaced by rename). The state borrows this reader's buffer, so it
    /// lives only for the call.
    pub fn with_state<R>(
        &mut self,
        id: &str,
        f: impl FnOnce(OciState<'_>) -> R,
    ) -> Result<R, StoreError> {
        self.rel.clear();
        self.rel.extend([id, "/", META_NAME]);
        let rel = self.rel.as_str();
        let path = || self.store.root().join(rel);
        let file = match rustix::fs::openat(
            &self.root,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(f) => f,
            Err(rustix::io::Errno::NOENT) => return Err(StoreError::NotExist(id.to_string())),
            Err(e) => return Err(os(format!("open {}", path().display()))(e).into()),
        };
        let n = read_once(&file, &mut self.buf)
            .map_err(|e| os(format!("read {}", path().display()))(e))?;
        if n == self.buf.len() {
            // Too big for one read: the general path reads it whole.
            let c = self.store.read_meta(id)?;
            return Ok(f(OciState::of(c)));
        }
        let view = parse_meta(&self.buf[..n], id, path, |v: &MetaView| &v.id)?;
        Ok(f(OciState::from_view(view)))
    }
}

/// One read of a regular file. A regular file's read stops short only at
/// its end, and meta.json is never written in place (every write replaces
/// it by rename), so a read that does not fill `buf` has the whole file.
fn read_once(file: &OwnedFd, buf: &mut [u8]) -> rustix::io::Result<usize> {
    loop {
        match rustix::io::read(file, &mut *buf) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r,
        }
    }
}
