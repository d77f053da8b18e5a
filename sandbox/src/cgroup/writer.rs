//! Limits written straight to the files a spec needs, without libcgroups'
//! manager.
//!
//! Building that manager reads the mount table once per controller (~1.5 ms
//! on a hybrid host), and most specs carry only device rules, often a pids
//! limit. Those this module writes itself, the same rules in the same order
//! as libcgroups' v1 manager: the spec's, then [`DEFAULT_ALLOWED`]. A spec
//! with any other limit goes to the manager as before.

use std::io::Write;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::{Cgroup, CgroupError, Kind, CGROUP_ROOT};

/// The device rules every container gets after its spec's, as with
/// libcgroups (whose list is private): /dev/null, zero, full, tty, urandom
/// and random; mknod of any character or block device; /dev/console, the
/// pts, /dev/ptmx and /dev/net/tun.
const DEFAULT_ALLOWED: [&str; 12] = [
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:9 rwm",
    "c 1:8 rwm",
    "c *:* m",
    "b *:* m",
    "c 5:1 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

impl Cgroup {
    /// Applies `resources` when they hold nothing but device rules and a
    /// pids limit, and says whether it did; otherwise writes nothing.
    pub(super) fn apply_direct(&self, resources: &LinuxResources) -> Result<bool, CgroupError> {
        if !only_devices_and_pids(resources) {
            return Ok(false);
        }
        let pids_dir = match resources.pids() {
            Some(_) => match self.pids_dir() {
                Some(dir) => Some(dir),
                // Let the manager report what it makes of a missing controller.
                None => return Ok(false),
            },
            None => None,
        };
        if let Some(devices) = self.v1_dir_of("devices") {
            let spec = (resources.devices().iter().flatten()).map(|d| (d.allow(), d.to_string()));
            let defaults = DEFAULT_ALLOWED.iter().map(|r| (true, (*r).to_owned()));
            self.write_device_rules(devices, spec.chain(defaults))?;
        }
        // cgroup2 device rules need an eBPF program, which this build leaves
        // out (see the module docs of `cgroup`), as libcgroups does.
        if let (Some(dir), Some(pids)) = (pids_dir, resources.pids()) {
            let limit = match pids.limit() {
                l if l > 0 => l.to_string(),
                _ => "max".to_owned(),
            };
            self.write(&dir.join("pids.max"), &limit)?;
        }
        Ok(true)
    }

    /// This cgroup's directory in the v1 hierarchy of `controller`.
    pub(super) fn v1_dir_of(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.kind != Kind::V2 && h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    /// Where `pids.max` is: the v1 pids hierarchy, or on a pure cgroup2
    /// host the cgroup itself (a hybrid host's cgroup2 one is not used for
    /// limits, as with libcgroups' v1 manager).
    fn pids_dir(&self) -> Option<&Path> {
        self.v1_dir_of("pids")
            .or_else(|| match self.hierarchies.as_slice() {
                [h] if h.kind == Kind::V2 && h.root == Path::new(CGROUP_ROOT) => {
                    Some(h.dir.as_path())
                }
                _ => None,
            })
    }

    /// One write per rule: the kernel parses one rule per write(2). Each
    /// file is opened once.
    fn write_device_rules(
        &self,
        dir: &Path,
        rules: impl Iterator<Item = (bool, String)>,
    ) -> Result<(), CgroupError> {
        let mut allow = None;
        let mut deny = None;
        for (allowed, rule) in rules {
            let (slot, name) = if allowed {
                (&mut allow, "devices.allow")
            } else {
                (&mut deny, "devices.deny")
            };
            let path = dir.join(name);
            let file = match slot {
                Some(file) => file,
                None => slot.insert(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| self.file_err(&path, e))?,
                ),
            };
            file.write_all(rule.as_bytes())
                .map_err(|e| self.file_err(&path, e))?;
        }
        Ok(())
    }
}

/// Whether the manager has nothing to do for `resources` beyond what
/// [`Cgroup::apply_direct`] writes.
fn only_devices_and_pids(r: &LinuxResources) -> bool {
    r.memory().is_none()
        && r.cpu().is_none()
        && r.block_io().is_none()
        && r.hugepage_limits().as_ref().is_none_or(Vec::is_empty)
        && r.network().is_none()
        && r.rdma().as_ref().is_none_or(|m| m.is_empty())
        && r.unified().as_ref().is_none_or(|m| m.is_empty())
}
