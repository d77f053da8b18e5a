//! The container's root filesystem, built only from donated mounts and
//! fresh kernel filesystems. Every destination is resolved inside the
//! rootfs with openat2(RESOLVE_IN_ROOT), so a symlink in the image can never
//! place a mount outside it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags};
use specutils::mounts::{apply_propagation, is_bind, parse_options, Propagation};
use specutils::sys::{self, MountAttr};

use specutils::error::os;

use super::in_root::ensure_target;
use super::{cgroup_mount, devices, lsm, InitError, InitPlan};

/// Builds the rootfs and pivots into it; `before_pivot` runs once every
/// mount is in place.
pub fn build(
    plan: &InitPlan,
    before_pivot: impl FnOnce() -> Result<(), InitError>,
) -> Result<(), InitError> {
    // Nothing we mount may propagate back to the host: the private and
    // slave kinds of rootfsPropagation apply now, as runc applies them
    // before its mounts, and rslave otherwise. The shared and unbindable
    // kinds wait for the pivot (`protect_paths`): pivot_root refuses a
    // shared root, and an unbindable mount cannot go under a shared one.
    let early = root_propagation(&plan.spec)?
        .filter(|p| p.flag & (libc::MS_PRIVATE | libc::MS_SLAVE) != 0)
        .unwrap_or(Propagation {
            flag: libc::MS_SLAVE,
            recursive: true,
        });
    set_propagation(early)?;
    // The sandbox forked us with its working directory on the empty mount
    // point, so no path (and no search permission on the state directory,
    // which a user namespace lacks) is needed to reach it.
    sys::attach_mount_on_cwd(plan.rootfs.as_fd()).map_err(os("attach rootfs"))?;
    // The descriptor now names the attached rootfs.
    let root = plan.rootfs.as_fd();

    let mounts = plan.spec.mounts().as_deref().unwrap_or(&[]);
    let own_cgroup_ns =
        super::has_namespace(&plan.spec, oci_spec::runtime::LinuxNamespaceType::Cgroup);
    let label = mount_label(&plan.spec);
    let (steps, dev_is_tmpfs) = plan_mounts(mounts, &plan.binds)?;
    for step in steps {
        match step {
            Step::Bind { mount, donated } => attach_bind(root, mount, donated)?,
            Step::Filesystem(m) => mount_filesystem(root, m, own_cgroup_ns, label)?,
        }
    }
    if dev_is_tmpfs {
        devices::populate(root, &plan.spec)?;
    }
    devices::link_standard(root)?;
    before_pivot()?;
    // Only now, with every mount point made: the root mount alone, as
    // runc remounts it.
    if plan.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let ro = MountAttr {
            set: sys::MOUNT_ATTR_RDONLY,
            ..Default::default()
        };
        sys::mount_setattr(root, false, ro).map_err(os("make the rootfs read-only"))?;
    }

    sys::pivot_into(root).map_err(os("pivot_root into rootfs"))?;
    Ok(())
}

/// What one of the spec's mounts becomes.
#[derive(Debug)]
enum Step<'a> {
    /// A bind mount: the gofer's donated copy, attached as it is.
    Bind {
        mount: &'a Mount,
        donated: &'a OwnedFd,
    },
    /// A fresh kernel filesystem (a cgroup one included).
    Filesystem(&'a Mount),
}

/// The spec's mounts in order, each matched with what carries it out, and
/// whether /dev is a fresh tmpfs that needs its nodes: every mount is
/// checked before the first is made. This is the part of the rootfs that
/// decides; `build` only carries it out.
fn plan_mounts<'a>(
    mounts: &'a [Mount],
    binds: &'a [(usize, OwnedFd)],
) -> Result<(Vec<Step<'a>>, bool), InitError> {
    let mut steps = Vec::with_capacity(mounts.len());
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
            let donated = binds
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, fd)| fd)
                .ok_or_else(|| {
                    InitError::Invalid(format!("no donated mount for {}", dest.display()))
                })?;
            steps.push(Step::Bind { mount: m, donated });
            continue;
        }
        match m.typ().as_deref() {
            None | Some("") => {
                return Err(InitError::Invalid(format!(
                    "mount on {} has no type",
                    dest.display()
                )))
            }
            Some("tmpfs") if dest == Path::new("/dev") => dev_is_tmpfs = true,
            Some(_) => {}
        }
        steps.push(Step::Filesystem(m));
    }
    Ok((steps, dev_is_tmpfs))
}

/// Attaches a donated bind mount on its destination, a directory or a
/// file as the source is.
fn attach_bind(root: BorrowedFd<'_>, m: &Mount, donated: &OwnedFd) -> Result<(), InitError> {
    let dest = m.destination();
    let is_dir = rustix::fs::fstat(donated)
        .map_err(os("stat donated mount"))?
        .st_mode
        & libc::S_IFMT
        == libc::S_IFDIR;
    let target = ensure_target(root, dest, is_dir)?;
    sys::attach_mount(donated.as_fd(), target.as_fd())
        .map_err(os(format!("bind mount on {}", dest.display())))?;
    let options = parse_options(m.options().as_deref().unwrap_or(&[]));
    apply_propagation(donated.as_fd(), &options.propagation)
        .map_err(os(format!("set propagation of {}", dest.display())))?;
    Ok(())
}

/// Masked and read-only paths, and the rootfs propagation; after the
/// pivot, inside the new root.
pub fn protect_paths(spec: &oci_spec::runtime::Spec) -> Result<(), InitError> {
    if let Some(linux) = spec.linux() {
        let mut dir_cover = None;
        for p in linux.masked_paths().as_deref().unwrap_or(&[]) {
            mask(Path::new(p), mount_label(spec), &mut dir_cover)?;
        }
        for p in linux.readonly_paths().as_deref().unwrap_or(&[]) {
            make_readonly(Path::new(p))?;
        }
        // As runc: once the root is "/", the kinds `build` left out.
        if let Some(p) = root_propagation(spec)? {
            if p.flag & (libc::MS_PRIVATE | libc::MS_SLAVE) == 0 {
                set_propagation(p)?;
            }
        }
    }
    Ok(())
}

/// The SELinux context of the filesystems the init mounts, if any.
fn mount_label(spec: &oci_spec::runtime::Spec) -> Option<&str> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref())
}

fn mount_filesystem(
    root: BorrowedFd<'_>,
    m: &Mount,
    own_cgroup_ns: bool,
    label: Option<&str>,
) -> Result<(), InitError> {
    let dest = m.destination();
    let options = parse_options(m.options().as_deref().unwrap_or(&[]));
    let fstype = m.typ().as_deref().unwrap_or("");
    let fstype = match fstype {
        "cgroup" | "cgroup2" => {
            let target = ensure_target(root, dest, true)?;
            let v1 = fstype == "cgroup";
            return cgroup_mount::mount(target.as_fd(), dest, &options, v1, own_cgroup_ns);
        }
        t => t,
    };
    let source = m
        .source()
        .as_ref()
        .map(|s| s.display().to_string())
        .unwrap_or_default();
    let data = lsm::with_mount_label(fstype, &options.data, label);
    let fs = sys::new_filesystem(fstype, &source, &data)
        .map_err(os(format!("mount {fstype} on {}", dest.display())))?;
    if options.attr != MountAttr::default() {
        sys::mount_setattr(fs.as_fd(), true, options.attr)
            .map_err(os(format!("set flags of {fstype} on {}", dest.display())))?;
    }
    let target = ensure_target(root, dest, true)?;
    sys::attach_mount(fs.as_fd(), target.as_fd())
        .map_err(os(format!("attach {fstype} on {}", dest.display())))?;
    Ok(
        apply_propagation(fs.as_fd(), &options.propagation).map_err(os(format!(
            "set propagation of {fstype} on {}",
            dest.display()
        )))?,
    )
}

/// Hides `path` (already inside the new root): /dev/null over a file, an
/// empty read-only tmpfs over a directory. Missing paths are fine. The
/// directories share one tmpfs, kept in `dir_cover`: each filesystem
/// instance is a superblock, and the kernel's per-cgroup cost of a memory
/// cgroup grows with the superblocks on the host (BENCHMARKS.md, "Flat
/// cost: steady state").
fn mask(
    path: &Path,
    label: Option<&str>,
    dir_cover: &mut Option<OwnedFd>,
) -> Result<(), InitError> {
    let target = match rustix::fs::open(
        path,
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(os(format!("open masked path {}", path.display()))(e).into()),
    };
    let is_dir = rustix::fs::fstat(&target)
        .map_err(os("stat masked path"))?
        .st_mode
        & libc::S_IFMT
        == libc::S_IFDIR;
    let cover = if let (true, Some(first)) = (is_dir, dir_cover.as_ref()) {
        sys::clone_mount(first.as_fd()).map_err(os(format!("mask {}", path.display())))?
    } else if is_dir {
        let data = lsm::with_mount_label("tmpfs", &["size=0".to_string()], label);
        let fs = sys::new_filesystem("tmpfs", "tmpfs", &data)
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
    sys::attach_mount(cover.as_fd(), target.as_fd())
        .map_err(os(format!("mask {}", path.display())))?;
    if is_dir && dir_cover.is_none() {
        *dir_cover = Some(cover);
    }
    Ok(())
}

/// Makes `path` a read-only bind of itself. Missing paths are fine.
fn make_readonly(path: &Path) -> Result<(), InitError> {
    let tree = match sys::clone_mount_tree(path, true) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(os(format!("read-only path {}", path.display()))(e).into()),
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
    Ok(sys::attach_mount(tree.as_fd(), target.as_fd())
        .map_err(os(format!("read-only path {}", path.display())))?)
}

/// The spec's rootfsPropagation, if any.
fn root_propagation(spec: &oci_spec::runtime::Spec) -> Result<Option<Propagation>, InitError> {
    let Some(prop) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
    else {
        return Ok(None);
    };
    let parsed = parse_options(std::slice::from_ref(&prop));
    match parsed.propagation.as_slice() {
        [p] => Ok(Some(*p)),
        _ => Err(InitError::Invalid(format!(
            "invalid rootfsPropagation {prop:?}"
        ))),
    }
}

/// Changes the propagation of "/" (and of every mount below it, for the
/// recursive kinds).
fn set_propagation(p: Propagation) -> Result<(), InitError> {
    let mut flags = MsFlags::from_bits_retain(p.flag);
    if p.recursive {
        flags |= MsFlags::MS_REC;
    }
    Ok(
        nix::mount::mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .map_err(os(format!("set the propagation of / to {flags:?}")))?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::MountBuilder;

    fn mount(dest: &str, typ: &str, options: &[&str]) -> Mount {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source("src")
            .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
            .build()
            .expect("mount")
    }

    fn donated() -> OwnedFd {
        std::fs::File::open("/dev/null").expect("open").into()
    }

    #[test]
    fn binds_take_their_donated_mount_by_spec_index() {
        let mounts = [
            mount("/proc", "proc", &[]),
            mount("/data", "bind", &["rbind"]),
            mount("/tmp", "tmpfs", &[]),
            mount("/etc/hosts", "none", &["bind", "ro"]),
        ];
        let binds = [(3, donated()), (1, donated())];
        let (steps, dev_is_tmpfs) = plan_mounts(&mounts, &binds).expect("plan");
        assert!(!dev_is_tmpfs);
        let taken: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::Bind { mount, donated } => {
                    let index = binds.iter().position(|(_, fd)| std::ptr::eq(fd, *donated));
                    format!("bind {} <- {index:?}", mount.destination().display())
                }
                Step::Filesystem(m) => format!("fs {}", m.destination().display()),
            })
            .collect();
        assert_eq!(
            taken,
            [
                "fs /proc",
                "bind /data <- Some(1)",
                "fs /tmp",
                "bind /etc/hosts <- Some(0)"
            ]
        );
    }

    #[test]
    fn only_a_tmpfs_on_dev_gets_device_nodes() {
        let tmpfs = [mount("/dev", "tmpfs", &[])];
        assert!(plan_mounts(&tmpfs, &[]).expect("plan").1);
        let bound = [mount("/dev", "bind", &["rbind"])];
        assert!(!plan_mounts(&bound, &[(0, donated())]).expect("plan").1);
        let elsewhere = [mount("/dev/shm", "tmpfs", &[])];
        assert!(!plan_mounts(&elsewhere, &[]).expect("plan").1);
    }

    #[test]
    fn bad_mounts_are_refused_before_any_is_made() {
        let relative = [mount("proc", "proc", &[])];
        let missing = [mount("/data", "bind", &["rbind"])];
        let untyped = [mount("/x", "", &[])];
        for (mounts, says) in [
            (&relative[..], "is not absolute"),
            (&missing[..], "no donated mount for /data"),
            (&untyped[..], "has no type"),
        ] {
            let err = plan_mounts(mounts, &[]).expect_err(says);
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
