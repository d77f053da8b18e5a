//! Mount targets inside the container's rootfs. Every lookup goes through
//! openat2(RESOLVE_IN_ROOT), so neither an absolute symlink nor `..` in the
//! image can lead out of it; what is missing is made one component at a
//! time, each under a directory resolved the same way.
//!
//! Why not `pathrs` (in our tree through libcgroups), whose `Root` does
//! in-root resolution too: its `mkdir_all` refuses a dangling symlink on
//! the way, while runc makes the symlink's target, inside the root, and
//! images rely on that (`/var/run -> /run` before /run exists; the
//! hardening test `a_symlinked_mount_destination_stays_inside_the_rootfs`
//! holds us to it). Its resolution is the same openat2 call we make here,
//! so taking it for lookups only would add a second way to do one thing.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use specutils::error::os;
use specutils::sys;

use super::InitError;

/// Opens `dest` inside `root` as a mount target, creating it (and its
/// parents) as a directory, or as an empty file for a file bind.
pub(crate) fn ensure_target(
    root: BorrowedFd<'_>,
    dest: &Path,
    dir: bool,
) -> Result<OwnedFd, InitError> {
    ensure_target_at(root, &clamp_in_root(dest), dir, 0).map_err(|e| match e {
        InitError::Os(e) => {
            InitError::Os(e.context(format_args!("mount point {}", dest.display())))
        }
        e => e,
    })
}

fn ensure_target_at(
    root: BorrowedFd<'_>,
    rel: &Path,
    dir: bool,
    links: u32,
) -> Result<OwnedFd, InitError> {
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    if let Ok(fd) = sys::open_in_root(root, rel, flags, Mode::empty()) {
        return Ok(fd);
    }
    if dir {
        mkdir_all(root, rel)?;
        return Ok(sys::open_in_root(root, rel, flags, Mode::empty()).map_err(os("open"))?);
    }
    let parent = rel.parent().unwrap_or(Path::new(""));
    mkdir_all(root, parent)?;
    let parent_fd = sys::open_in_root(
        root,
        parent,
        OFlags::DIRECTORY | OFlags::PATH,
        Mode::empty(),
    )
    .map_err(os("open parent"))?;
    let name = rel.file_name().ok_or_else(|| {
        InitError::Invalid(format!("mount destination /{} has no name", rel.display()))
    })?;
    let made = rustix::fs::openat(
        &parent_fd,
        name,
        OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_bits_truncate(0o644),
    );
    match made {
        Ok(_) | Err(rustix::io::Errno::EXIST) => {}
        // A dangling symlink: make the file it names, inside the root.
        Err(rustix::io::Errno::LOOP) if links < MAX_LINKS => {
            let target =
                rustix::fs::readlinkat(&parent_fd, name, Vec::new()).map_err(os("readlink"))?;
            let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
            let resolved = if target.is_absolute() {
                clamp_in_root(&target)
            } else {
                clamp_in_root(&in_root_path(root, parent_fd.as_fd())?.join(target))
            };
            return ensure_target_at(root, &resolved, false, links + 1);
        }
        Err(e) => return Err(os("create")(e).into()),
    }
    Ok(sys::open_in_root(root, rel, flags, Mode::empty()).map_err(os("open"))?)
}

/// Creates every directory of `rel` inside `root`, one component at a
/// time, each resolved within the root. A component that is a dangling
/// symlink gets its target made, inside the root, as the kernel would
/// resolve it there.
fn mkdir_all(root: BorrowedFd<'_>, rel: &Path) -> Result<(), InitError> {
    mkdir_all_at(root, rel, 0)
}

/// Symlinks followed at most, as the kernel's own limit.
const MAX_LINKS: u32 = 40;

fn mkdir_all_at(root: BorrowedFd<'_>, rel: &Path, links: u32) -> Result<(), InitError> {
    let flags = OFlags::DIRECTORY | OFlags::PATH;
    if sys::open_in_root(root, rel, flags, Mode::empty()).is_ok() {
        return Ok(());
    }
    let Some(name) = rel.file_name() else {
        return Ok(());
    };
    let parent = rel.parent().unwrap_or(Path::new(""));
    mkdir_all_at(root, parent, links)?;
    let shown = || Path::new("/").join(rel).display().to_string();
    let parent_fd = sys::open_in_root(root, parent, flags, Mode::empty())
        .map_err(os(format!("open parent of {}", shown())))?;
    match rustix::fs::mkdirat(&parent_fd, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(os(format!("mkdir {}", shown()))(e).into()),
    }
    // It exists: a directory made meanwhile, or a dangling symlink.
    let Ok(target) = rustix::fs::readlinkat(&parent_fd, name, Vec::new()) else {
        return Ok(());
    };
    if links >= MAX_LINKS {
        return Err(InitError::Invalid(format!(
            "too many symlinks under {}",
            shown()
        )));
    }
    let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
    let resolved = if target.is_absolute() {
        clamp_in_root(&target)
    } else {
        clamp_in_root(&in_root_path(root, parent_fd.as_fd())?.join(target))
    };
    mkdir_all_at(root, &resolved, links + 1)
}

/// Where the directory `fd` lies inside `root`, from their /proc paths.
fn in_root_path(root: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Result<PathBuf, InitError> {
    let root_path = std::fs::read_link(sys::fd_path(&root)).map_err(os("locate rootfs"))?;
    let dir_path = std::fs::read_link(sys::fd_path(&fd)).map_err(os("locate directory"))?;
    Ok(dir_path
        .strip_prefix(&root_path)
        .map(Path::to_path_buf)
        .unwrap_or_default())
}

/// `/a/../../b` as `b`, relative to the root descriptor: cleaned
/// lexically, `..` stopping at the root, as runc cleans a mount
/// destination before resolving it (and as RESOLVE_IN_ROOT treats `..`).
fn clamp_in_root(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A rootfs beside a directory that stands for the host: whatever a
    /// symlink in the rootfs names, nothing may appear in `host`.
    struct Fixture {
        _dir: tempfile::TempDir,
        rootfs: PathBuf,
        host: PathBuf,
        root: OwnedFd,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        let host = dir.path().join("host");
        std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir rootfs/etc");
        std::fs::create_dir(&host).expect("mkdir host");
        let root = rustix::fs::open(
            &rootfs,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open rootfs");
        Fixture {
            _dir: dir,
            rootfs,
            host,
            root,
        }
    }

    fn host_is_empty(f: &Fixture) -> bool {
        std::fs::read_dir(&f.host)
            .expect("read host")
            .next()
            .is_none()
    }

    #[test]
    fn a_missing_directory_target_is_made_with_its_parents() {
        let f = fixture();
        ensure_target(f.root.as_fd(), Path::new("/a/b/c"), true).expect("ensure");
        assert!(f.rootfs.join("a/b/c").is_dir());
    }

    #[test]
    fn a_file_target_is_made_as_an_empty_file() {
        let f = fixture();
        ensure_target(f.root.as_fd(), Path::new("/etc/hosts"), false).expect("ensure");
        let meta = std::fs::metadata(f.rootfs.join("etc/hosts")).expect("stat");
        assert!(meta.is_file() && meta.len() == 0);
    }

    #[test]
    fn dotdot_symlinks_cannot_lead_out_of_the_root() {
        let f = fixture();
        // Resolved on the host, each of these names `host`.
        symlink("/../../host", f.rootfs.join("etc/x")).expect("symlink");
        symlink("../../host", f.rootfs.join("etc/y")).expect("symlink");
        symlink("../host", f.rootfs.join("rel")).expect("symlink");
        ensure_target(f.root.as_fd(), Path::new("/etc/x/dir"), true).expect("dir");
        ensure_target(f.root.as_fd(), Path::new("/etc/y/deep/dir"), true).expect("deep");
        ensure_target(f.root.as_fd(), Path::new("/rel/file"), false).expect("file");
        assert!(host_is_empty(&f), "something was made outside the rootfs");
        // The links resolved as the kernel resolves them inside the root.
        assert!(f.rootfs.join("host/dir").is_dir());
        assert!(f.rootfs.join("host/deep/dir").is_dir());
        assert!(f.rootfs.join("host/file").is_file());
    }

    #[test]
    fn an_absolute_symlink_to_the_host_is_taken_inside_the_root() {
        let f = fixture();
        symlink(&f.host, f.rootfs.join("abs")).expect("symlink");
        // A dangling link as the whole target: its target is made inside.
        symlink(f.host.join("target"), f.rootfs.join("etc/leaf")).expect("symlink");
        ensure_target(f.root.as_fd(), Path::new("/abs/x"), true).expect("through");
        ensure_target(f.root.as_fd(), Path::new("/etc/leaf"), false).expect("leaf");
        assert!(host_is_empty(&f), "something was made outside the rootfs");
        let inside = f.rootfs.join(f.host.strip_prefix("/").expect("absolute"));
        assert!(inside.join("x").is_dir());
        assert!(inside.join("target").is_file());
    }

    #[test]
    fn a_symlink_loop_is_an_error_not_a_hang() {
        let f = fixture();
        symlink("/loop-b", f.rootfs.join("loop-a")).expect("symlink");
        symlink("/loop-a", f.rootfs.join("loop-b")).expect("symlink");
        assert!(ensure_target(f.root.as_fd(), Path::new("/loop-a/x"), true).is_err());
        assert!(host_is_empty(&f));
    }

    #[test]
    fn dotdot_in_a_destination_is_cleaned_as_runc_cleans_it() {
        let f = fixture();
        ensure_target(f.root.as_fd(), Path::new("/x/../y"), true).expect("dir");
        ensure_target(f.root.as_fd(), Path::new("/../../etc/./z"), false).expect("file");
        assert!(f.rootfs.join("y").is_dir());
        assert!(!f.rootfs.join("x").exists(), "/x/../y made /x");
        assert!(f.rootfs.join("etc/z").is_file());
        assert!(host_is_empty(&f));
    }

    #[test]
    fn paths_are_clamped_at_the_root() {
        assert_eq!(
            clamp_in_root(Path::new("a/../../../b/./c")),
            Path::new("b/c")
        );
    }
}
