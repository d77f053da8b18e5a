//! The container's root filesystem, built only from donated mounts and
//! fresh kernel filesystems. Every destination is resolved inside the
//! rootfs with openat2(RESOLVE_IN_ROOT), so a symlink in the image can never
//! place a mount outside it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags};
use specutils::mounts::{is_bind, parse_options};
use specutils::sys::{self, MountAttr};

use super::{devices, os, InitError, InitPlan};

/// Builds the rootfs and pivots into it; `before_pivot` runs once every
/// mount is in place.
pub fn build(
    plan: &InitPlan,
    before_pivot: impl FnOnce() -> Result<(), InitError>,
) -> Result<(), InitError> {
    // Nothing we mount may propagate back to the host.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(os("make / a slave mount"))?;
    // The sandbox forked us with its working directory on the empty mount
    // point, so no path (and no search permission on the state directory,
    // which a user namespace lacks) is needed to reach it.
    sys::attach_mount_on_cwd(plan.rootfs.as_fd()).map_err(os("attach rootfs"))?;
    // The descriptor now names the attached rootfs.
    let root = plan.rootfs.as_fd();

    let mounts = plan.spec.mounts().as_deref().unwrap_or(&[]);
    let mut dev_is_tmpfs = false;
    for (index, m) in mounts.iter().enumerate() {
        let dest = m.destination();
        if !dest.is_absolute() {
            return Err(InitError::Invalid(format!(
                "mount destination {} is not absolute",
                dest.display()
            )));
        }
        if is_bind(m) {
            let fd = plan
                .binds
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, fd)| fd)
                .ok_or_else(|| {
                    InitError::Invalid(format!("no donated mount for {}", dest.display()))
                })?;
            let is_dir = rustix::fs::fstat(fd)
                .map_err(os("stat donated mount"))?
                .st_mode
                & libc::S_IFMT
                == libc::S_IFDIR;
            let target = ensure_target(root, dest, is_dir)?;
            sys::attach_mount(fd.as_fd(), target.as_fd())
                .map_err(os(format!("bind mount on {}", dest.display())))?;
        } else {
            mount_filesystem(root, m)?;
            if dest == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs") {
                dev_is_tmpfs = true;
            }
        }
    }
    if dev_is_tmpfs {
        devices::populate(root, &plan.spec)?;
    }
    devices::link_standard(root)?;
    before_pivot()?;

    sys::pivot_into(root).map_err(os("pivot_root into rootfs"))?;
    Ok(())
}

/// Masked and read-only paths, and the rootfs propagation; after the
/// pivot, inside the new root.
pub fn protect_paths(spec: &oci_spec::runtime::Spec) -> Result<(), InitError> {
    if let Some(linux) = spec.linux() {
        for p in linux.masked_paths().as_deref().unwrap_or(&[]) {
            mask(Path::new(p))?;
        }
        for p in linux.readonly_paths().as_deref().unwrap_or(&[]) {
            make_readonly(Path::new(p))?;
        }
        if let Some(prop) = linux.rootfs_propagation().as_deref() {
            set_root_propagation(prop)?;
        }
    }
    Ok(())
}

/// Opens `dest` inside `root` as a mount target, creating it (and its
/// parents) as a directory, or as an empty file for a file bind.
pub(super) fn ensure_target(
    root: BorrowedFd<'_>,
    dest: &Path,
    dir: bool,
) -> Result<OwnedFd, InitError> {
    let rel = relative(dest);
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    if let Ok(fd) = sys::open_in_root(root, &rel, flags, Mode::empty()) {
        return Ok(fd);
    }
    let parent = rel.parent().unwrap_or(Path::new(""));
    mkdir_all(root, parent)?;
    let parent_fd = sys::open_in_root(
        root,
        parent,
        OFlags::DIRECTORY | OFlags::PATH,
        Mode::empty(),
    )
    .map_err(os(format!("open parent of {}", dest.display())))?;
    let name = rel.file_name().ok_or_else(|| {
        InitError::Invalid(format!("mount destination {} has no name", dest.display()))
    })?;
    let made = if dir {
        rustix::fs::mkdirat(&parent_fd, name, Mode::from_bits_truncate(0o755)).map(drop)
    } else {
        rustix::fs::openat(
            &parent_fd,
            name,
            OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop)
    };
    match made {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(os(format!("create mount point {}", dest.display()))(e)),
    }
    sys::open_in_root(root, &rel, flags, Mode::empty())
        .map_err(os(format!("open mount point {}", dest.display())))
}

/// Creates every directory of `rel` inside `root`, one component at a
/// time, each resolved within the root.
fn mkdir_all(root: BorrowedFd<'_>, rel: &Path) -> Result<(), InitError> {
    let mut sofar = PathBuf::new();
    for c in rel.components() {
        let Component::Normal(name) = c else { continue };
        let parent = sys::open_in_root(
            root,
            &sofar,
            OFlags::DIRECTORY | OFlags::PATH,
            Mode::empty(),
        )
        .map_err(os(format!(
            "open {}",
            Path::new("/").join(&sofar).display()
        )))?;
        match rustix::fs::mkdirat(&parent, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => {
                return Err(os(format!(
                    "mkdir {}",
                    Path::new("/").join(&sofar).join(name).display()
                ))(e))
            }
        }
        sofar.push(name);
    }
    Ok(())
}

/// `/a/b` as `a/b`, for resolution relative to the root descriptor.
fn relative(dest: &Path) -> PathBuf {
    dest.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

fn mount_filesystem(root: BorrowedFd<'_>, m: &Mount) -> Result<(), InitError> {
    let dest = m.destination();
    let options = parse_options(m.options().as_deref().unwrap_or(&[]));
    let fstype = m.typ().as_deref().unwrap_or("");
    let fstype = match fstype {
        // The unified hierarchy works on v1, v2 and hybrid hosts alike;
        // v1 controllers are not exposed inside the container.
        "cgroup" | "cgroup2" => "cgroup2",
        "" => {
            return Err(InitError::Invalid(format!(
                "mount on {} has no type",
                dest.display()
            )))
        }
        t => t,
    };
    let source = m
        .source()
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_default();
    let fs = sys::new_filesystem(fstype, &source, &options.data)
        .map_err(os(format!("mount {fstype} on {}", dest.display())))?;
    if options.attr != MountAttr::default() {
        sys::mount_setattr(fs.as_fd(), true, options.attr)
            .map_err(os(format!("set flags of {fstype} on {}", dest.display())))?;
    }
    let target = ensure_target(root, dest, true)?;
    sys::attach_mount(fs.as_fd(), target.as_fd())
        .map_err(os(format!("attach {fstype} on {}", dest.display())))
}

/// Hides `path` (already inside the new root): /dev/null over a file, an
/// empty read-only tmpfs over a directory. Missing paths are fine.
fn mask(path: &Path) -> Result<(), InitError> {
    let target = match rustix::fs::open(
        path,
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(os(format!("open masked path {}", path.display()))(e)),
    };
    let is_dir = rustix::fs::fstat(&target)
        .map_err(os("stat masked path"))?
        .st_mode
        & libc::S_IFMT
        == libc::S_IFDIR;
    let cover = if is_dir {
        let fs = sys::new_filesystem("tmpfs", "tmpfs", &["size=0".to_string()])
            .map_err(os(format!("mask {}", path.display())))?;
        sys::mount_setattr(
            fs.as_fd(),
            false,
            MountAttr {
                set: sys::MOUNT_ATTR_RDONLY,
                ..Default::default()
            },
        )
        .map_err(os(format!("mask {}", path.display())))?;
        fs
    } else {
        sys::clone_mount_tree(Path::new("/dev/null"), false)
            .map_err(os(format!("mask {}", path.display())))?
    };
    sys::attach_mount(cover.as_fd(), target.as_fd()).map_err(os(format!("mask {}", path.display())))
}

/// Makes `path` a read-only bind of itself. Missing paths are fine.
fn make_readonly(path: &Path) -> Result<(), InitError> {
    let tree = match sys::clone_mount_tree(path, true) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(os(format!("read-only path {}", path.display()))(e)),
    };
    sys::mount_setattr(
        tree.as_fd(),
        true,
        MountAttr {
            set: sys::MOUNT_ATTR_RDONLY,
            ..Default::default()
        },
    )
    .map_err(os(format!("read-only path {}", path.display())))?;
    let target = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(os(format!("open read-only path {}", path.display())))?;
    sys::attach_mount(tree.as_fd(), target.as_fd())
        .map_err(os(format!("read-only path {}", path.display())))
}

fn set_root_propagation(prop: &str) -> Result<(), InitError> {
    let flag = match prop {
        "shared" | "rshared" => MsFlags::MS_SHARED,
        "slave" | "rslave" => MsFlags::MS_SLAVE,
        "private" | "rprivate" => MsFlags::MS_PRIVATE,
        "unbindable" | "runbindable" => MsFlags::MS_UNBINDABLE,
        other => {
            return Err(InitError::Invalid(format!(
                "invalid rootfsPropagation {other:?}"
            )))
        }
    };
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        flag | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(os(format!("set rootfs propagation {prop}")))
}
