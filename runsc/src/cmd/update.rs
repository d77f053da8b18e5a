//! `runsc update <id>`: `--resources FILE|-` (LinuxResources JSON, as
//! containerd sends it) or runc's flags.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::GlobalFlags;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// LinuxResources JSON file, or - for stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes
    #[arg(long)]
    pub memory: Option<i64>,
    /// Memory reservation in bytes
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes
    #[arg(long = "memory-swap")]
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
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
    {
        let mut c = LinuxCpu::default();
        c.set_quota(a.cpu_quota);
        c.set_period(a.cpu_period);
        c.set_shares(a.cpu_share);
        c.set_cpus(a.cpuset_cpus.clone());
        c.set_mems(a.cpuset_mems.clone());
        r.set_cpu(Some(c));
    }
    if let Some(limit) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    r
}
