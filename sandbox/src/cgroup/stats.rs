//! Usage and limits of a container's cgroup, where libcgroups' own
//! reading falls short.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

use libcgroups::common::CgroupManager;
use libcgroups::stats::{
    parse_single_value, pid_stats, supported_page_sizes, CpuStats, CpuUsage, HugeTlbStats,
    MemoryData, MemoryStats, Stats,
};

use super::{Cgroup, CgroupError, Kind};

impl Cgroup {
    /// Usage and limits: cpu, memory, pids, blkio, hugetlb.
    ///
    /// libcgroups returns nothing at all when one file it expects is missing
    /// (`memory.memsw.*` on v1 without swap accounting, `nr_periods` in a v2
    /// `cpu.stat` without the cpu controller). Then this reports what the
    /// files present tell: pids, memory usage and limit, cpu time.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let mut stats = self.manager()?.stats().unwrap_or_else(|e| {
            tracing::debug!("cgroup {}: partial stats: {e}", self.path.display());
            self.basic_stats()
        });
        if let Some((_, dir)) = &self.unified_hugetlb {
            stats.hugetlb = self.v2_hugetlb_stats(dir)?;
        }
        Ok(stats)
    }

    /// What the control files present tell, whichever hierarchy holds them.
    fn basic_stats(&self) -> Stats {
        let value = |names: &[&str]| {
            let mut files = self
                .hierarchies
                .iter()
                .flat_map(|h| names.iter().map(|n| h.dir.join(n)));
            files
                .find_map(|file| parse_single_value(&file).ok())
                .unwrap_or_default()
        };
        let v2_cpu_usec = self.hierarchies.iter().find_map(|h| {
            let stat = fs::read_to_string(h.dir.join("cpu.stat")).ok()?;
            stat.lines()
                .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok())
        });
        let memory = MemoryData {
            usage: value(&["memory.usage_in_bytes", "memory.current"]),
            max_usage: value(&["memory.max_usage_in_bytes", "memory.peak"]),
            limit: value(&["memory.limit_in_bytes", "memory.max"]),
            fail_count: value(&["memory.failcnt"]),
        };
        let usage_total = match v2_cpu_usec {
            Some(usec) => usec.saturating_mul(1000),
            None => value(&["cpuacct.usage"]),
        };
        Stats {
            pids: (self.hierarchies.iter())
                .find_map(|h| pid_stats(&h.dir).ok())
                .unwrap_or_default(),
            memory: MemoryStats {
                memory,
                ..Default::default()
            },
            cpu: CpuStats {
                usage: CpuUsage {
                    usage_total,
                    ..Default::default()
                },
                ..Default::default()
            },
            hugetlb: (self.hierarchies.iter())
                .filter(|h| h.kind == Kind::V2)
                .find_map(|h| self.v2_hugetlb_stats(&h.dir).ok())
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    /// hugetlb usage in the v2 directory `dir`, as libcgroups' v2 manager
    /// reports it (cgroup v2 keeps no peak usage).
    fn v2_hugetlb_stats(&self, dir: &Path) -> Result<HashMap<String, HugeTlbStats>, CgroupError> {
        let sizes = supported_page_sizes().map_err(|e| {
            self.file_err(Path::new("/sys/kernel/mm/hugepages"), io::Error::other(e))
        })?;
        let mut stats = HashMap::new();
        for size in sizes {
            let current = dir.join(format!("hugetlb.{size}.current"));
            let usage = parse_single_value(&current)
                .map_err(|e| CgroupError::Read(self.path.clone(), e))?;
            let events = self.read(&dir.join(format!("hugetlb.{size}.events")))?;
            let fail_count = (events.lines())
                .find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
                .unwrap_or(0);
            let entry = HugeTlbStats {
                usage,
                fail_count,
                ..Default::default()
            };
            stats.insert(size, entry);
        }
        Ok(stats)
    }
}
