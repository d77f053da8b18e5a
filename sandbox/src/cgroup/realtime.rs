//! Realtime bandwidth under our default parent `/runsc` (cgroup v1's
//! `cpu.rt_runtime_us`).
//!
//! The kernel lets a child have realtime runtime only within its parent's,
//! and a new cgroup such as `/runsc` starts with none. runc's default
//! cgroup sits under the root, which has the host's budget, so a spec with
//! `cpu.realtimeRuntime` works there and failed under `/runsc` (EINVAL).
//! So `/runsc` is given what its children ask for, and no more: it is raised
//! before a child's runtime is written, and lowered to what the remaining
//! children hold when one goes, so that it does not keep the host's
//! realtime bandwidth from other cgroups. Parents we did not make are left
//! to whoever made them (Docker gives its own one with `--cpu-rt-runtime`).

use std::fs;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::parent::{self, ParentLock};
use super::{Cgroup, CgroupError};

const RUNTIME: &str = "cpu.rt_runtime_us";
const PERIOD: &str = "cpu.rt_period_us";
/// The kernel's fixed-point shift for bandwidth ratios (`BW_SHIFT`).
const SHIFT: u32 = 20;

impl Cgroup {
    /// Before `resources` are applied: where they give this cgroup realtime
    /// runtime in `/runsc`, raises `/runsc`'s to cover it and its siblings'.
    /// The returned lock keeps other cgroups' changes out until the runtime
    /// is written.
    pub(super) fn make_room_for_realtime(
        &self,
        resources: &LinuxResources,
    ) -> Result<Option<ParentLock>, CgroupError> {
        let Some(cpu) = resources.cpu() else {
            return Ok(None);
        };
        let (runtime, period) = (cpu.realtime_runtime(), cpu.realtime_period());
        let asks = runtime.is_some_and(|r| r > 0) || period.is_some_and(|p| p > 0);
        if !asks || !self.in_default_parent() {
            return Ok(None);
        }
        let Some(dir) = self.v1_dir_of("cpu") else {
            return Ok(None);
        };
        let Some(parent_dir) = dir.parent() else {
            return Ok(None);
        };
        let lock = parent::lock(true);
        let current = self.bandwidth(dir)?;
        let runtime = match runtime {
            Some(r) if r > 0 => r as u64,
            _ => current.0,
        };
        // libcgroups writes the runtime before the period: the child holds
        // the new runtime at its old period, then at the new one.
        let period_after = period.filter(|p| *p > 0).unwrap_or(current.1);
        let own = ratio(runtime, current.1).max(ratio(runtime, period_after));
        let needed = self
            .children_ratio(parent_dir, Some(dir))?
            .saturating_add(own);
        let (held, parent_period) = self.bandwidth(parent_dir)?;
        if ratio(held, parent_period) < needed {
            let file = parent_dir.join(RUNTIME);
            let raised = runtime_for(needed, parent_period);
            fs::write(&file, raised.to_string())
                .map_err(|e| CgroupError::NoRealtimeRoom(self.path.clone(), file, raised, e))?;
        }
        Ok(lock)
    }

    /// Whether this cgroup is in `/runsc` and `/runsc` holds realtime
    /// runtime: then [`Cgroup::give_up_realtime`] goes before the rmdir and
    /// [`Cgroup::release_realtime`] after. One read on `delete`'s path.
    pub(super) fn parent_holds_realtime(&self) -> bool {
        if !self.in_default_parent() {
            return false;
        }
        let Some(parent_dir) = self.v1_dir_of("cpu").and_then(Path::parent) else {
            return false;
        };
        fs::read_to_string(parent_dir.join(RUNTIME)).is_ok_and(|held| held.trim() != "0")
    }

    /// Sets this cgroup's realtime runtime to 0 before its rmdir: the
    /// kernel keeps a removed cgroup among its parent's children until its
    /// last reference goes, and counts its runtime there meanwhile.
    pub(super) fn give_up_realtime(&self) {
        let Some(dir) = self.v1_dir_of("cpu") else {
            return;
        };
        match fs::write(dir.join(RUNTIME), "0") {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // EBUSY while realtime tasks are in it; the rmdir fails too then.
            Err(e) => tracing::debug!(
                "cgroup {}: keeps realtime runtime: {e}",
                self.path.display()
            ),
        }
    }

    /// After this cgroup is gone: lowers `/runsc`'s realtime runtime to
    /// what its remaining children hold.
    pub(super) fn release_realtime(&self) {
        let Some(parent_dir) = self.v1_dir_of("cpu").and_then(Path::parent) else {
            return;
        };
        let _lock = parent::lock(true);
        let file = parent_dir.join(RUNTIME);
        let lowered = self.bandwidth(parent_dir).and_then(|(_, period)| {
            let needed = self.children_ratio(parent_dir, None)?;
            self.write(&file, &runtime_for(needed, period).to_string())
        });
        if let Err(e) = lowered {
            // Gone meanwhile with its last child, or not lowerable: it keeps
            // bandwidth until the last container leaves and it is removed.
            tracing::debug!("realtime runtime of the parent cgroup stays: {e}");
        }
    }

    /// The sum of the ratios the children of `parent_dir` hold, `skip` aside.
    fn children_ratio(&self, parent_dir: &Path, skip: Option<&Path>) -> Result<u64, CgroupError> {
        let entries = fs::read_dir(parent_dir).map_err(|e| self.file_err(parent_dir, e))?;
        let mut sum = 0;
        for entry in entries.flatten() {
            let child = entry.path();
            if Some(child.as_path()) == skip || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match self.bandwidth(&child) {
                Ok((runtime, period)) => sum = ratio(runtime, period).saturating_add(sum),
                // A sibling removed while we read has no bandwidth left.
                Err(CgroupError::File(_, _, e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(sum)
    }

    /// `(runtime, period)` in µs of cgroup directory `dir`; an unlimited
    /// runtime (-1) is returned as `u64::MAX`.
    fn bandwidth(&self, dir: &Path) -> Result<(u64, u64), CgroupError> {
        let number = |name: &str| -> Result<u64, CgroupError> {
            let file = dir.join(name);
            let text = self.read(&file)?;
            let text = text.trim();
            if text == "-1" {
                return Ok(u64::MAX);
            }
            text.parse().map_err(|_| {
                let e = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not a number: {text:?}"),
                );
                self.file_err(&file, e)
            })
        };
        Ok((number(RUNTIME)?, number(PERIOD)?))
    }
}

/// The kernel's share of a period that `runtime` is (`to_ratio`), in
/// fixed point; an unlimited runtime counts as all of it, many times over.
fn ratio(runtime: u64, period: u64) -> u64 {
    if runtime == u64::MAX {
        return u64::MAX >> 8;
    }
    if period == 0 {
        return 0;
    }
    ((u128::from(runtime) << SHIFT) / u128::from(period)) as u64
}

/// The smallest runtime at `period` whose ratio is at least `needed`.
fn runtime_for(needed: u64, period: u64) -> u64 {
    let scaled = u128::from(needed) * u128::from(period);
    scaled.div_ceil(1u128 << SHIFT) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_given_runtime_for_its_children_covers_them() {
        for (children, period) in [
            (vec![(10_000, 1_000_000)], 1_000_000),
            (vec![(333, 1_000), (7, 999_999)], 1_000_000),
            (vec![(1, 3), (1, 7)], 10_000),
        ] {
            let needed: u64 = children.iter().map(|&(r, p)| ratio(r, p)).sum();
            let given = runtime_for(needed, period);
            assert!(ratio(given, period) >= needed, "{children:?}");
            assert!(
                ratio(given - 1, period) < needed,
                "{children:?}: not the least"
            );
        }
        assert_eq!(runtime_for(0, 1_000_000), 0);
    }
}
