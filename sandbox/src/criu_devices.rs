//! Host device nodes bound into a container, in a checkpoint.
//!
//! Masked files are binds of the sandbox's /dev/null (`init/rootfs.rs`),
//! and in a user namespace, where mknod is refused, every device node is a
//! bind of the host's. CRIU cannot make such a mount from anything in the
//! container: without a user namespace it takes them as device binds by
//! itself, in one it refuses the dump ("./proc/timer_list doesn't have a
//! proper root mount"). So each is an external mount named after its
//! node, bound from the host's node again at restore, as runc does for
//! masked paths and devices.

use serde::{Deserialize, Serialize};

/// A mount of one node of the host's devtmpfs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceBind {
    /// Where it is mounted in the container.
    pub destination: String,
    /// The node within devtmpfs, e.g. `/null`.
    pub node: String,
}

impl DeviceBind {
    /// The name the dump gives the mount: one per node.
    pub fn cookie(&self) -> String {
        format!("runsc-dev{}", self.node.replace('/', "-"))
    }

    /// The host's node, as the restoring sandbox sees it.
    pub fn host_path(&self) -> String {
        format!("/dev{}", self.node)
    }
}

/// The devtmpfs mounts in the mountinfo of `pid` (binds of single nodes).
pub fn device_binds(pid: i32) -> std::io::Result<Vec<DeviceBind>> {
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    Ok(binds_of(&mountinfo))
}

fn binds_of(mountinfo: &str) -> Vec<DeviceBind> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (fields, fs) = l.split_once(" - ")?;
            let mut fields = fields.split(' ');
            let root = fields.nth(3)?;
            let point = fields.next()?;
            (fs.split(' ').next()? == "devtmpfs" && root != "/").then(|| DeviceBind {
                destination: point.to_string(),
                node: root.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_binds_are_devtmpfs_mounts_of_one_node() {
        let mountinfo = "\
94 91 0:50 / /proc/acpi ro - tmpfs tmpfs ro,size=0k
95 91 0:6 /null /proc/keys rw - devtmpfs devtmpfs rw
96 91 0:6 /tty /dev/tty rw - devtmpfs devtmpfs rw
97 91 0:6 / /mnt/dev rw - devtmpfs devtmpfs rw
";
        let binds = binds_of(mountinfo);
        assert_eq!(binds.len(), 2);
        assert_eq!(binds[0].destination, "/proc/keys");
        assert_eq!(binds[0].cookie(), "runsc-dev-null");
        assert_eq!(binds[0].host_path(), "/dev/null");
        assert_eq!(binds[1].node, "/tty");
    }
}
