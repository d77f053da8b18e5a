//! Classifying the spec's mounts: which ones the gofer donates (binds,
//! resolved on the host) and which ones the sandbox makes (kernel
//! filesystems), and turning mount(8) options into mount attributes.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};

use crate::sys::{self, MountAttr};

/// Mount options parsed into what the new mount API takes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub bind: bool,
    pub recursive: bool,
    pub attr: MountAttr,
    /// Filesystem-specific options (`mode=755`, `newinstance`, ...), for
    /// fsconfig.
    pub data: Vec<String>,
    /// Propagation changes in the spec's order: each is applied in turn,
    /// as runc makes one mount(2) call per option, since `rshared` then
    /// `rslave` is not the same as `rslave` alone.
    pub propagation: Vec<Propagation>,
}

/// One propagation option: `MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE` or
/// `MS_UNBINDABLE`, over the whole tree for the `r` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Propagation {
    pub flag: u64,
    pub recursive: bool,
}

/// Applies `steps` in order to the mount (tree) `fd` refers to.
pub fn apply_propagation(
    fd: std::os::fd::BorrowedFd<'_>,
    steps: &[Propagation],
) -> std::io::Result<()> {
    for step in steps {
        let attr = MountAttr {
            propagation: step.flag,
            ..Default::default()
        };
        sys::mount_setattr(fd, step.recursive, attr)?;
    }
    Ok(())
}

impl MountOptions {
    pub fn readonly(&self) -> bool {
        self.attr.set & sys::MOUNT_ATTR_RDONLY != 0
    }
}

/// Parses mount(8)-style options as runc accepts them.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (sys::MOUNT_ATTR_RDONLY, 0),
            "rw" => (0, sys::MOUNT_ATTR_RDONLY),
            "nosuid" => (sys::MOUNT_ATTR_NOSUID, 0),
            "suid" => (0, sys::MOUNT_ATTR_NOSUID),
            "nodev" => (sys::MOUNT_ATTR_NODEV, 0),
            "dev" => (0, sys::MOUNT_ATTR_NODEV),
            "noexec" => (sys::MOUNT_ATTR_NOEXEC, 0),
            "exec" => (0, sys::MOUNT_ATTR_NOEXEC),
            "noatime" => (sys::MOUNT_ATTR_NOATIME, sys::MOUNT_ATTR__ATIME),
            "strictatime" => (sys::MOUNT_ATTR_STRICTATIME, sys::MOUNT_ATTR__ATIME),
            "relatime" => (sys::MOUNT_ATTR_RELATIME, sys::MOUNT_ATTR__ATIME),
            "atime" => (0, sys::MOUNT_ATTR__ATIME),
            "nodiratime" => (sys::MOUNT_ATTR_NODIRATIME, 0),
            "diratime" => (0, sys::MOUNT_ATTR_NODIRATIME),
            "nosymfollow" => (sys::MOUNT_ATTR_NOSYMFOLLOW, 0),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            p @ ("private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared"
            | "unbindable" | "runbindable") => {
                let flag = match p.trim_start_matches('r') {
                    "private" => libc::MS_PRIVATE,
                    "slave" => libc::MS_SLAVE,
                    "shared" => libc::MS_SHARED,
                    _ => libc::MS_UNBINDABLE,
                };
                o.propagation.push(Propagation {
                    flag,
                    recursive: p.starts_with('r'),
                });
                continue;
            }
            // Accepted and meaningless here, as with runc.
            "defaults" | "async" | "sync" | "mand" | "nomand" | "dirsync" | "remount"
            | "tmpcopyup" => continue,
            data => {
                o.data.push(data.to_string());
                continue;
            }
        };
        o.attr.set = (o.attr.set & !clear) | set;
        o.attr.clear |= clear;
        o.attr.clear &= !set | clear;
    }
    o
}

/// Whether the gofer donates this mount (a bind of a host path).
pub fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind") || parse_options(m.options().as_deref().unwrap_or(&[])).bind
}

/// The spec mounts the gofer donates, in spec order, with their index in
/// `spec.mounts`. The rootfs is donated before them, on channel 0.
pub fn donated_mounts(spec: &Spec) -> Vec<(usize, &Mount)> {
    spec.mounts()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .filter(|(_, m)| is_bind(m))
        .collect()
}

/// The host path a bind mount's source names: relative sources are
/// relative to the bundle.
pub fn bind_source(bundle: &Path, m: &Mount) -> Option<PathBuf> {
    m.source().as_ref().map(|s| bundle.join(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &[&str]) -> MountOptions {
        parse_options(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data() {
        let o = opts(&["rbind", "ro", "nosuid", "mode=755", "rprivate"]);
        assert!(o.bind && o.recursive && o.readonly());
        assert_eq!(o.attr.set, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID);
        let rprivate = Propagation {
            flag: libc::MS_PRIVATE,
            recursive: true,
        };
        assert_eq!(o.propagation, vec![rprivate]);
        assert_eq!(o.data, vec!["mode=755".to_string()]);
    }

    #[test]
    fn propagation_in_spec_order() {
        let o = opts(&["bind", "rshared", "slave", "runbindable"]);
        let steps: Vec<_> = o
            .propagation
            .iter()
            .map(|p| (p.flag, p.recursive))
            .collect();
        assert_eq!(
            steps,
            vec![
                (libc::MS_SHARED, true),
                (libc::MS_SLAVE, false),
                (libc::MS_UNBINDABLE, true)
            ]
        );
        assert_eq!(o.attr, MountAttr::default());
    }

    #[test]
    fn later_options_win() {
        let o = opts(&["ro", "rw"]);
        assert!(!o.readonly());
        assert_eq!(
            o.attr.clear & sys::MOUNT_ATTR_RDONLY,
            sys::MOUNT_ATTR_RDONLY
        );
        let o = opts(&["rw", "ro"]);
        assert!(o.readonly());
        assert_eq!(o.attr.clear & sys::MOUNT_ATTR_RDONLY, 0);
    }
}
