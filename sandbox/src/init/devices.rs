//! /dev inside the container: the default character devices, the spec's
//! devices, and the standard links.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

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

/// One device node to make under /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    path: PathBuf,
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    kind: u32,
    major: u32,
    minor: u32,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// Makes the default devices and the spec's in the rootfs's /dev.
pub fn populate(root: BorrowedFd<'_>, spec: &Spec) -> Result<(), InitError> {
    for node in nodes(spec)? {
        make_device(root, &node)?;
    }
    Ok(())
}

/// The nodes /dev gets, defaults first, each checked before any is made:
/// the decision, apart from the syscalls that carry it out.
fn nodes(spec: &Spec) -> Result<Vec<Node>, InitError> {
    let mut nodes: Vec<Node> = DEFAULT_DEVICES
        .iter()
        .map(|&(name, major, minor)| Node {
            path: Path::new("/dev").join(name),
            kind: libc::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
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
        let path = d.path();
        if !path.starts_with("/dev") {
            return Err(InitError::Invalid(format!(
                "device {} is outside /dev",
                path.display()
            )));
        }
        if path.file_name().is_none() {
            return Err(InitError::Invalid(format!(
                "device {} has no name",
                path.display()
            )));
        }
        nodes.push(Node {
            path: path.clone(),
            kind,
            major: d.major() as u32,
            minor: d.minor() as u32,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(nodes)
}

fn make_device(root: BorrowedFd<'_>, node: &Node) -> Result<(), InitError> {
    let path = node.path.as_path();
    let parent = path.parent().unwrap_or(Path::new("/dev"));
    let name = path
        .file_name()
        .ok_or_else(|| InitError::Invalid(format!("device {} has no name", path.display())))?;
    // *at() calls take the O_PATH descriptor as their directory.
    let dir = ensure_target(root, parent, true)?;
    let dev = rustix::fs::makedev(node.major, node.minor);
    let file_type = rustix::fs::FileType::from_raw_mode(node.kind);
    let mode = Mode::from_bits_truncate(node.mode & 0o7777);
    match rustix::fs::mknodat(&dir, name, file_type, mode, dev) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        // Without CAP_MKNOD (a user namespace), bind the host's node instead.
        Err(rustix::io::Errno::PERM) if node.kind == libc::S_IFCHR => {
            return bind_host_device(root, path);
        }
        Err(e) => return Err(os(format!("mknod {}", path.display()))(e).into()),
    }
    rustix::fs::chownat(
        &dir,
        name,
        Some(rustix::fs::Uid::from_raw(node.uid)),
        Some(rustix::fs::Gid::from_raw(node.gid)),
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(os(format!("chown {}", path.display())))?;
    // mknod honours the umask; the spec's mode is exact.
    rustix::fs::chmodat(&dir, name, mode, rustix::fs::AtFlags::empty())
        .map_err(os(format!("chmod {}", path.display())))?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxDeviceBuilder, SpecBuilder};

    fn spec_with(devices: Vec<oci_spec::runtime::LinuxDevice>) -> Spec {
        let linux = LinuxBuilder::default()
            .devices(devices)
            .build()
            .expect("linux");
        SpecBuilder::default().linux(linux).build().expect("spec")
    }

    fn device(path: &str, typ: LinuxDeviceType) -> oci_spec::runtime::LinuxDevice {
        LinuxDeviceBuilder::default()
            .path(path)
            .typ(typ)
            .major(10)
            .minor(200)
            .file_mode(0o620u32)
            .uid(5u32)
            .build()
            .expect("device")
    }

    #[test]
    fn defaults_come_first_then_the_spec_s_own() {
        let spec = spec_with(vec![device("/dev/net/tun", LinuxDeviceType::C)]);
        let nodes = nodes(&spec).expect("nodes");
        let paths: Vec<_> = nodes.iter().map(|n| n.path.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/dev/net/tun"
            ]
        );
        assert!(nodes[..6].iter().all(|n| n.mode == 0o666 && n.uid == 0));
        let tun = &nodes[6];
        assert_eq!((tun.kind, tun.major, tun.minor), (libc::S_IFCHR, 10, 200));
        assert_eq!((tun.mode, tun.uid, tun.gid), (0o620, 5, 0));
    }

    #[test]
    fn nodes_outside_dev_or_of_type_a_are_refused() {
        for (path, typ, says) in [
            ("/etc/evil", LinuxDeviceType::C, "outside /dev"),
            ("/devices/x", LinuxDeviceType::B, "outside /dev"),
            ("/dev/all", LinuxDeviceType::A, "type 'a'"),
        ] {
            let err = nodes(&spec_with(vec![device(path, typ)])).expect_err(path);
            assert!(err.to_string().contains(says), "{path}: {err}");
        }
    }

    #[test]
    fn block_and_fifo_nodes_keep_their_kind() {
        let spec = spec_with(vec![
            device("/dev/sda", LinuxDeviceType::B),
            device("/dev/pipe", LinuxDeviceType::P),
        ]);
        let kinds: Vec<u32> = nodes(&spec).expect("nodes")[6..]
            .iter()
            .map(|n| n.kind)
            .collect();
        assert_eq!(kinds, [libc::S_IFBLK, libc::S_IFIFO]);
    }
}
