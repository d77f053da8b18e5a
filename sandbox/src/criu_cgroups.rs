//! The container's cgroup mounts in a checkpoint.
//!
//! A spec's `cgroup` mount (the default of `runc spec`, Docker and
//! containerd) gives the container its own cgroup directories: binds of
//! them, or, in a cgroup namespace, fresh mounts whose root the host sees
//! as that same directory (`init/cgroup_mount.rs`). Either way CRIU finds
//! no mount of the hierarchy's root to make them from and refuses the dump
//! ("doesn't have a proper root mount"). So each is an external mount, as
//! runc marks its v1 cgroup binds: the dump names it by a cookie, and the
//! restoring sandbox, born in the new container's cgroup, binds its own
//! directory of the same hierarchy there.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use specutils::error::{os, OsError};

use crate::init::cgroup_mount::{cgroup_fs_mounts, own_dir};

/// One cgroup mount of a checkpointed container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CgroupBind {
    pub cookie: String,
    /// Where it is mounted in the container.
    pub destination: String,
    pub v2: bool,
    /// Controllers and `name=` of a v1 hierarchy.
    pub controllers: Vec<String>,
}

/// The cgroup mounts of `pid`'s mount namespace that show less than their
/// hierarchy's root, as this process (in the host's cgroup namespace)
/// sees them.
pub fn cgroup_binds(pid: i32) -> std::io::Result<Vec<CgroupBind>> {
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    let known = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    Ok(binds_of(&mountinfo, &known))
}

fn binds_of(mountinfo: &str, known: &str) -> Vec<CgroupBind> {
    cgroup_fs_mounts(mountinfo, known)
        .into_iter()
        .filter(|m| m.root != "/")
        .enumerate()
        .map(|(n, m)| CgroupBind {
            cookie: format!("runsc-cgroup-{n}"),
            destination: m.point.display().to_string(),
            v2: m.v2,
            controllers: m.controllers,
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupDirError {
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("the checkpoint has a cgroup mount at {destination} of hierarchy {hierarchy:?}, which this host lacks")]
    Missing {
        destination: String,
        hierarchy: String,
    },
}

/// This process's own directory in the hierarchy of each of `binds`, from
/// /proc/self: what a restore mounts in their place.
pub fn own_dirs(binds: &[CgroupBind]) -> Result<Vec<PathBuf>, CgroupDirError> {
    let read = |p: &str| std::fs::read_to_string(p).map_err(os(format!("read {p}")));
    let mountinfo = read("/proc/self/mountinfo")?;
    let own = read("/proc/self/cgroup")?;
    let known = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    own_dirs_of(binds, &mountinfo, &own, &known)
}

fn own_dirs_of(
    binds: &[CgroupBind],
    mountinfo: &str,
    own: &str,
    known: &str,
) -> Result<Vec<PathBuf>, CgroupDirError> {
    let mounts = cgroup_fs_mounts(mountinfo, known);
    binds
        .iter()
        .map(|b| {
            mounts
                .iter()
                .filter(|m| m.v2 == b.v2 && m.controllers == b.controllers)
                .find_map(|m| own_dir(own, m))
                .ok_or_else(|| CgroupDirError::Missing {
                    destination: b.destination.clone(),
                    hierarchy: if b.v2 {
                        "cgroup2".to_string()
                    } else {
                        b.controllers.join(",")
                    },
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &str =
        "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t3\t1\t1\nmemory\t4\t1\t1\n";

    #[test]
    fn binds_are_cgroup_mounts_below_the_root() {
        let container = "\
100 99 0:50 / / rw - ext4 /dev/vda rw
125 100 0:49 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
126 125 0:29 /runsc/c1 /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu
127 125 0:32 /runsc/c1 /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory
128 125 0:38 /runsc/c1 /sys/fs/cgroup/unified ro - cgroup2 cgroup2 rw
129 100 0:40 / /mnt/all rw - cgroup cgroup rw,cpu
";
        let binds = binds_of(container, KNOWN);
        let dests: Vec<&str> = binds.iter().map(|b| b.destination.as_str()).collect();
        assert_eq!(
            dests,
            [
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/unified"
            ]
        );
        assert_eq!(binds[0].controllers, ["cpu"]);
        assert!(binds[2].v2);

        let host = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
        let own = "4:memory:/runsc/c2\n3:cpu:/runsc/c2\n0::/runsc/c2\n";
        let dirs = own_dirs_of(&binds, host, own, KNOWN).unwrap();
        assert_eq!(
            dirs,
            [
                PathBuf::from("/sys/fs/cgroup/cpu/runsc/c2"),
                PathBuf::from("/sys/fs/cgroup/memory/runsc/c2"),
                PathBuf::from("/sys/fs/cgroup/unified/runsc/c2"),
            ]
        );
        let v2_only = "31 1 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert!(own_dirs_of(&binds, v2_only, own, KNOWN)
            .unwrap_err()
            .to_string()
            .contains("/sys/fs/cgroup/cpu"));
    }
}
