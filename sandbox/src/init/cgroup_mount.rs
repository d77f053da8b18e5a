//! The container's view of its cgroups, for a spec mount of type `cgroup`
//! or `cgroup2`.
//!
//! On a host with v1 hierarchies (v1 or hybrid), a `cgroup` mount gets
//! runc's layout: a tmpfs with one directory per hierarchy, named as on the
//! host, holding that hierarchy as the container sees it, so that programs
//! that read v1 limits (JVMs, Go runtimes) find them. Comounted
//! controllers (`cpu,cpuacct`) also get a symlink per controller. A
//! `cgroup2` mount, or any cgroup mount on a v2 host, is one cgroup2 mount.
//!
//! With a cgroup namespace of its own, each hierarchy is a fresh mount,
//! rooted by the namespace at the container's cgroup. Without one, a fresh
//! mount would show the whole host tree, so the container's own directory
//! is bound instead, as runc does. A fresh mount the kernel refuses (a user
//! namespace without a cgroup namespace of its own) falls back to the bind
//! as well.

use std::collections::BTreeSet;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use specutils::mounts::MountOptions;
use specutils::sys::{self, MountAttr};

use specutils::error::os;

use super::InitError;

/// One cgroup hierarchy of the host, as this process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    /// The directory it gets in the container: its host mount point's name.
    name: String,
    v2: bool,
    /// Controllers and `name=` of a v1 hierarchy, as mount options.
    controllers: Vec<String>,
    /// The directory of this process's cgroup in the host's mount; None
    /// when a cgroup namespace of our own hides where that is (and a fresh
    /// mount is what we want anyway).
    own_dir: Option<PathBuf>,
}

/// Mounts the container's cgroups on `target` (a directory inside the
/// rootfs). `v1_wanted` is false for a `cgroup2` mount. `own_ns` says
/// whether the container has a cgroup namespace of its own.
pub fn mount(
    target: BorrowedFd<'_>,
    dest: &Path,
    options: &MountOptions,
    v1_wanted: bool,
    own_ns: bool,
) -> Result<(), InitError> {
    let what = |step: &str| format!("{step} cgroups on {}", dest.display());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(os(what("read")))?;
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(os(what("read")))?;
    let known = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    let hierarchies = hierarchies(&mountinfo, &own, &known);
    let v1: Vec<&Hierarchy> = hierarchies.iter().filter(|h| !h.v2).collect();
    if !v1_wanted || v1.is_empty() {
        let unified = hierarchies.iter().find(|h| h.v2);
        let tree = one_hierarchy(unified, &[], own_ns).map_err(os(what("mount")))?;
        return Ok(attach(tree, target, options).map_err(os(what("mount")))?);
    }

    let fs = sys::new_filesystem("tmpfs", "tmpfs", &["mode=755".to_string()])
        .map_err(os(what("mount a tmpfs for")))?;
    let base = MountAttr {
        set: sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC,
        ..Default::default()
    };
    sys::mount_setattr(fs.as_fd(), false, base).map_err(os(what("mount a tmpfs for")))?;
    sys::attach_mount(fs.as_fd(), target).map_err(os(what("mount a tmpfs for")))?;
    // The hybrid host's cgroup2 mount (hugetlb here) comes along as
    // `unified`, as on the host.
    let mut names = BTreeSet::new();
    for h in hierarchies.iter() {
        let tree = one_hierarchy(Some(h), &h.controllers, own_ns).map_err(os(format!(
            "{} ({})",
            what("mount"),
            h.name
        )))?;
        let dir = make_dir(fs.as_fd(), &h.name).map_err(os(what("make directories for")))?;
        attach(tree, dir.as_fd(), options).map_err(os(format!(
            "{} ({})",
            what("mount"),
            h.name
        )))?;
        names.insert(h.name.clone());
    }
    for h in v1.iter().filter(|h| h.name.contains(',')) {
        for part in h.name.split(',') {
            if names.insert(part.to_string()) {
                rustix::fs::symlinkat(h.name.as_str(), fs.as_fd(), part)
                    .map_err(os(what("link comounted controllers for")))?;
            }
        }
    }
    if options.readonly() {
        let ro = MountAttr {
            set: sys::MOUNT_ATTR_RDONLY,
            ..Default::default()
        };
        sys::mount_setattr(fs.as_fd(), false, ro).map_err(os(what("make read-only")))?;
    }
    Ok(())
}

/// A detached mount of one hierarchy (cgroup2 when `h` is None or v2):
/// fresh in our own cgroup namespace, else, or if the kernel refuses, a
/// bind of our own directory in it.
fn one_hierarchy(
    h: Option<&Hierarchy>,
    controllers: &[String],
    own_ns: bool,
) -> std::io::Result<OwnedFd> {
    let v2 = h.is_none_or(|h| h.v2);
    let (fstype, source) = if v2 {
        ("cgroup2", "cgroup2")
    } else {
        ("cgroup", "cgroup")
    };
    let bind = || match h.and_then(|h| h.own_dir.as_deref()) {
        Some(dir) => sys::clone_mount_tree(dir, false),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no directory of our own in the host's cgroup hierarchy to bind",
        )),
    };
    if !own_ns && h.is_some() {
        return bind();
    }
    match sys::new_filesystem(fstype, source, controllers) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => bind().map_err(|_| e),
        other => other,
    }
}

fn attach(tree: OwnedFd, target: BorrowedFd<'_>, options: &MountOptions) -> std::io::Result<()> {
    if options.attr != MountAttr::default() {
        sys::mount_setattr(tree.as_fd(), false, options.attr)?;
    }
    sys::attach_mount(tree.as_fd(), target)
}

fn make_dir(parent: BorrowedFd<'_>, name: &str) -> std::io::Result<OwnedFd> {
    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755))?;
    Ok(rustix::fs::openat(
        parent,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )?)
}

/// A cgroup or cgroup2 mount of a mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupFsMount {
    /// The mount's root within its hierarchy, as the reader sees it.
    pub root: String,
    pub point: PathBuf,
    pub v2: bool,
    /// Controllers and `name=` of a v1 hierarchy, as mount options.
    pub controllers: Vec<String>,
}

/// Every cgroup and cgroup2 mount of `mountinfo`, in its order, with the
/// controller names of /proc/cgroups (`known`) picked from its options.
pub(crate) fn cgroup_fs_mounts(mountinfo: &str, known: &str) -> Vec<CgroupFsMount> {
    let controllers: BTreeSet<&str> = known
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((fields, fs)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = fields.split(' ').collect();
        let fs: Vec<&str> = fs.split(' ').collect();
        let (Some(root), Some(point), Some(&fstype), Some(superopts)) =
            (fields.get(3), fields.get(4), fs.first(), fs.get(2))
        else {
            continue;
        };
        let v2 = match fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        found.push(CgroupFsMount {
            root: root.to_string(),
            point: PathBuf::from(point),
            v2,
            controllers: superopts
                .split(',')
                .filter(|o| controllers.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect(),
        });
    }
    found
}

/// The cgroup hierarchies mounted on this host (one per hierarchy, the
/// first mount of each), with this process's place in each, from
/// /proc/self/mountinfo, /proc/self/cgroup and the controller names in
/// /proc/cgroups.
fn hierarchies(mountinfo: &str, own: &str, known: &str) -> Vec<Hierarchy> {
    let mut found: Vec<Hierarchy> = Vec::new();
    for m in cgroup_fs_mounts(mountinfo, known) {
        let Some(name) = m.point.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let h = Hierarchy {
            name: name.to_string(),
            v2: m.v2,
            own_dir: own_dir(own, &m),
            controllers: m.controllers,
        };
        if !found
            .iter()
            .any(|f| f.v2 == h.v2 && f.controllers == h.controllers)
        {
            found.push(h);
        }
    }
    found
}

/// This process's directory in the host mount `m`, from /proc/self/cgroup
/// (`own`). In a cgroup namespace of our own, the host's mounts have roots
/// such as /.. and our path is /: no directory of ours to name.
pub(crate) fn own_dir(own: &str, m: &CgroupFsMount) -> Option<PathBuf> {
    let path = own_path(own, m.v2, &m.controllers)?;
    let within = Path::new(&path).strip_prefix(&m.root).ok()?;
    Some(m.point.join(within))
}

/// This process's cgroup path in the hierarchy of `subsystems` (v1) or in
/// the unified one, from /proc/self/cgroup.
fn own_path(own: &str, v2: bool, subsystems: &[String]) -> Option<String> {
    let want: BTreeSet<&str> = subsystems.iter().map(String::as_str).collect();
    own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if v2 {
            id == "0" && ctrls.is_empty()
        } else {
            !ctrls.is_empty() && ctrls.split(',').collect::<BTreeSet<_>>() == want
        };
        matches.then(|| path.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
29 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
30 29 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
35 30 0:30 / /mnt/memory-again rw,nosuid - cgroup cgroup rw,memory
";
    const OWN: &str = "\
4:memory:/runsc/c1
3:cpu,cpuacct:/runsc/c1
1:name=systemd:/runsc/c1
0::/runsc/c1
";
    const KNOWN: &str = "\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpu\t3\t1\t1
cpuacct\t3\t1\t1
memory\t4\t1\t1
hugetlb\t0\t1\t1
";

    #[test]
    fn finds_each_hierarchy_once_with_our_place_in_it() {
        let found = hierarchies(MOUNTINFO, OWN, KNOWN);
        let names: Vec<&str> = found.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["unified", "systemd", "cpu,cpuacct", "memory"]);
        let cpu = &found[2];
        assert_eq!(cpu.controllers, ["cpu", "cpuacct"]);
        assert_eq!(
            cpu.own_dir.as_deref(),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/runsc/c1"))
        );
        assert_eq!(found[1].controllers, ["name=systemd"]);
        assert!(found[0].v2);
        assert_eq!(
            found[0].own_dir.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified/runsc/c1"))
        );
    }

    #[test]
    fn in_a_cgroup_namespace_hierarchies_have_no_directory_of_ours() {
        let mountinfo = "34 30 0:30 /.. /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let found = hierarchies(mountinfo, "4:memory:/\n", KNOWN);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].own_dir, None);
    }

    #[test]
    fn a_pure_v2_host_has_one_hierarchy() {
        let mountinfo = "31 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let found = hierarchies(mountinfo, "0::/kubepods/c1\n", "");
        assert_eq!(found.len(), 1);
        assert!(found[0].v2);
        assert_eq!(
            found[0].own_dir.as_deref(),
            Some(Path::new("/sys/fs/cgroup/kubepods/c1"))
        );
    }
}
