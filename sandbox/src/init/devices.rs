//! /dev inside the container: the default character devices, the spec's
//! devices, and the standard links.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceType, Spec};
use rustix::fs::{Mode, OFlags};
use specutils::sys;

use super::in_root::ensure_target;
use specutils::error::os;

use super::InitError;

/// (name, major, minor): what every container gets, as with runc.
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

pub fn populate(root: BorrowedFd<'_>, spec: &Spec) -> Result<(), InitError> {
    for (name, major, minor) in DEFAULT_DEVICES {
        let path = Path::new("/dev").join(name);
        make_device(root, &path, libc::S_IFCHR, major, minor, 0o666, 0, 0)?;
    }
    let devices = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for d in devices.into_iter().flatten() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(InitError::Invalid(format!(
                    "device {}: type 'a' is not a device node",
                    d.path().display()
                )))
            }
        };
        make_device(
            root,
            d.path(),
            kind,
            d.major() as u32,
            d.minor() as u32,
            d.file_mode().unwrap_or(0o666),
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_device(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: u32,
    major: u32,
    minor: u32,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<(), InitError> {
    if !path.starts_with("/dev") {
        return Err(InitError::Invalid(format!(
            "device {} is outside /dev",
            path.display()
        )));
    }
    let parent = path.parent().unwrap_or(Path::new("/dev"));
    let name = path
        .file_name()
        .ok_or_else(|| InitError::Invalid(format!("device {} has no name", path.display())))?;
    // *at() calls take the O_PATH descriptor as their directory.
    let dir = ensure_target(root, parent, true)?;
    let dev = rustix::fs::makedev(major, minor);
    let file_type = rustix::fs::FileType::from_raw_mode(kind);
    match rustix::fs::mknodat(
        &dir,
        name,
        file_type,
        Mode::from_bits_truncate(mode & 0o7777),
        dev,
    ) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        // Without CAP_MKNOD (a user namespace), bind the host's node instead.
        Err(rustix::io::Errno::PERM) if kind == libc::S_IFCHR => {
            return bind_host_device(root, path);
        }
        Err(e) => return Err(os(format!("mknod {}", path.display()))(e).into()),
    }
    rustix::fs::chownat(
        &dir,
        name,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(os(format!("chown {}", path.display())))?;
    // mknod honours the umask; the spec's mode is exact.
    Ok(rustix::fs::chmodat(
        &dir,
        name,
        Mode::from_bits_truncate(mode & 0o7777),
        rustix::fs::AtFlags::empty(),
    )
    .map_err(os(format!("chmod {}", path.display())))?)
}

fn bind_host_device(root: BorrowedFd<'_>, path: &Path) -> Result<(), InitError> {
    let source =
        sys::clone_mount_tree(path, false).map_err(os(format!("bind host {}", path.display())))?;
    let target = ensure_target(root, path, false)?;
    Ok(sys::attach_mount(source.as_fd(), target.as_fd())
        .map_err(os(format!("bind host {}", path.display())))?)
}

/// /dev/fd, stdin, stdout, stderr and ptmx, unless the image has them.
pub fn link_standard(root: BorrowedFd<'_>) -> Result<(), InitError> {
    let Ok(dev) = sys::open_in_root(
        root,
        Path::new("dev"),
        OFlags::DIRECTORY | OFlags::RDONLY,
        Mode::empty(),
    ) else {
        return Ok(());
    };
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    for (name, target) in links {
        match rustix::fs::symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(os(format!("symlink /dev/{name}"))(e).into()),
        }
    }
    let has_pts =
        rustix::fs::statat(&dev, "pts/ptmx", rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok();
    if has_pts {
        // An empty /dev/ptmx would shadow the link; replace it.
        let _ = rustix::fs::unlinkat(&dev, "ptmx", rustix::fs::AtFlags::empty());
        rustix::fs::symlinkat("pts/ptmx", &dev, "ptmx").map_err(os("symlink /dev/ptmx"))?;
    }
    Ok(())
}
