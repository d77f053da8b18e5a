//! `runsc update <id>`: `--resources FILE|-` (LinuxResources JSON, as
//! containerd sends it) or runc's flags.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// LinuxResources JSON file, or - for stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes (100M, 1.5g and -1 too)
    #[arg(long, value_parser = parse_size, allow_hyphen_values = true)]
    pub memory: Option<i64>,
    /// Memory reservation or soft limit in bytes
    #[arg(long = "memory-reservation", value_parser = parse_size, allow_hyphen_values = true)]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes; -1 for unlimited swap
    #[arg(long = "memory-swap", value_parser = parse_size, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// CPU CFS quota in microseconds
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU shares
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// Block IO weight, 10 to 1000
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPUs to run on (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Container id (any unique prefix)
    pub id: String,
}

pub fn run(g: &GlobalFlags, a: Args) -> Result<u8> {
    let store = super::store(g)?;
    let id = store.find(&a.id)?;
    let resources = match &a.resources {
        Some(path) => {
            let mut data = Vec::new();
            if path.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut data)
                    .context("read resources from stdin")?;
            } else {
                data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            }
            serde_json::from_slice::<LinuxResources>(&data).context("parse resources")?
        }
        None => from_flags(&a),
    };
    runsc::api::Container::open(&store, &id).update(&resources)?;
    Ok(0)
}

fn from_flags(a: &Args) -> LinuxResources {
    let mut r = LinuxResources::default();
    if a.memory.is_some() || a.memory_reservation.is_some() || a.memory_swap.is_some() {
        let mut m = LinuxMemory::default();
        m.set_limit(a.memory);
        m.set_reservation(a.memory_reservation);
        m.set_swap(a.memory_swap);
        r.set_memory(Some(m));
    }
    if a.cpu_quota.is_some()
        || a.cpu_period.is_some()
        || a.cpu_share.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
    {
        let mut c = LinuxCpu::default();
        c.set_quota(a.cpu_quota);
        c.set_period(a.cpu_period);
        c.set_shares(a.cpu_share);
        c.set_realtime_period(a.cpu_rt_period);
        c.set_realtime_runtime(a.cpu_rt_runtime);
        c.set_cpus(a.cpuset_cpus.clone());
        c.set_mems(a.cpuset_mems.clone());
        r.set_cpu(Some(c));
    }
    if let Some(weight) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(weight));
        r.set_block_io(Some(b));
    }
    if let Some(limit) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    r
}

/// A size as runc's update flags take it (Docker's RAMInBytes): bytes, or a
/// number with a binary unit, `k` to `p`, any case, with an optional `i`
/// and `b` (`100M`, `1.5g`, `512KiB`); -1 for unlimited.
fn parse_size(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit
        .strip_suffix('i')
        .filter(|u| !u.is_empty())
        .unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(format!("invalid size {s:?}: unknown unit")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid size {s:?}: not a number"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(format!("invalid size {s:?}: too large"));
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_as_runc_takes_them() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("-1"), Ok(-1));
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert_eq!(parse_size("100m"), Ok(100 << 20));
        assert_eq!(parse_size("100MB"), Ok(100 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("2 G"), Ok(2 << 30));
        assert_eq!(parse_size("7b"), Ok(7));
        for bad in ["", "M", "-2", "1x", "1.2.3", "1ib", "99999999999p"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
