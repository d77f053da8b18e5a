//! The v1 cgroup hierarchies, from one read of the mount table.
//!
//! libcgroups' `list_supported_mount_points` reads /proc/self/mountinfo once
//! per controller it knows (13 reads, ~1 ms on a hybrid host); opening a
//! cgroup needs every v1 mount with its controllers, which one read gives.

use std::fs;
use std::io;
use std::path::PathBuf;

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One mounted v1 hierarchy.
#[derive(Debug)]
pub(super) struct V1Mount {
    pub root: PathBuf,
    /// The controllers its super options name (`cpu`, `name=systemd`, ...).
    pub controllers: Vec<String>,
}

/// Every mounted v1 hierarchy, in mount order, each mount point once.
pub(super) fn v1_mounts() -> io::Result<Vec<V1Mount>> {
    let table = fs::read_to_string(MOUNTINFO)
        .map_err(|e| io::Error::new(e.kind(), format!("read {MOUNTINFO}: {e}")))?;
    let mut mounts: Vec<V1Mount> = Vec::new();
    for line in table.lines() {
        let Some(mount) = parse_line(line) else {
            continue;
        };
        if !mounts.iter().any(|m| m.root == mount.root) {
            mounts.push(mount);
        }
    }
    Ok(mounts)
}

/// A mountinfo line is `id parent dev root mountpoint opts [tags] - fstype
/// source superopts`; `None` unless its fstype is `cgroup`.
fn parse_line(line: &str) -> Option<V1Mount> {
    let (before, after) = line.split_once(" - ")?;
    let mut after = after.split(' ');
    if after.next()? != "cgroup" {
        return None;
    }
    let super_opts = after.nth(1)?;
    let mount_point = before.split(' ').nth(4)?;
    let controllers = super_opts
        .split(',')
        .filter(|o| !matches!(*o, "rw" | "ro"))
        .map(str::to_owned)
        .collect();
    Some(V1Mount {
        root: PathBuf::from(unescape(mount_point)),
        controllers,
    })
}

/// The kernel writes space, tab, newline and backslash in mount points as
/// `\` and three octal digits.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_v1_mount_and_skips_others() {
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct";
        let m = parse_line(v1).expect("a cgroup line");
        assert_eq!(m.root, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(m.controllers, ["cpu", "cpuacct"]);
        let v2 = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
        assert!(parse_line(v2).is_none());
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/a\040b\\c"), r"/a b\\c");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
    }
}
