//! `events`: resource statistics in the layout `runc events` prints, and
//! OOM notices.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::{Container, LifecycleError};

/// One event line: `{"type":"stats","id":..,"data":{..}}` or
/// `{"type":"oom","id":..}`.
#[derive(Debug, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// The container's statistics now, as a stats event.
pub fn stats(c: &Container) -> Result<Event, LifecycleError> {
    let s = c.cgroup()?.stats()?;
    let mem = |m: &libcgroups::stats::MemoryData| json!({"usage": m.usage, "max": m.max_usage, "failcnt": m.fail_count, "limit": m.limit});
    let blkio = |v: &[libcgroups::stats::BlkioDeviceStat]| {
        v.iter()
            .map(|d| json!({"major": d.major, "minor": d.minor, "op": d.op_type.clone().unwrap_or_default(), "value": d.value}))
            .collect::<Vec<_>>()
    };
    let hugetlb: BTreeMap<&String, Value> = s
        .hugetlb
        .iter()
        .map(|(size, h)| {
            (
                size,
                json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count}),
            )
        })
        .collect();
    let u = &s.cpu.usage;
    let data = json!({
        "cpu": {
            "usage": {
                "total": u.usage_total,
                "percpu": u.per_core_usage_total,
                "percpu_kernel": u.per_core_usage_kernel,
                "percpu_user": u.per_core_usage_user,
                "kernel": u.usage_kernel,
                "user": u.usage_user,
            },
            "throttling": {
                "periods": s.cpu.throttling.periods,
                "throttled_periods": s.cpu.throttling.throttled_periods,
                "throttled_time": s.cpu.throttling.throttled_time,
            },
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": mem(&s.memory.memory),
            "swap": mem(&s.memory.memswap),
            "kernel": mem(&s.memory.kernel),
            "kernelTCP": mem(&s.memory.kernel_tcp),
            "raw": s.memory.stats.iter().collect::<BTreeMap<_, _>>(),
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": blkio(&s.blkio.service_bytes),
            "ioServicedRecursive": blkio(&s.blkio.serviced),
            "ioQueueRecursive": blkio(&s.blkio.queued),
            "ioServiceTimeRecursive": blkio(&s.blkio.service_time),
            "ioWaitTimeRecursive": blkio(&s.blkio.wait_time),
            "ioMergedRecursive": blkio(&s.blkio.merged),
            "ioTimeRecursive": blkio(&s.blkio.time),
            "sectorsRecursive": blkio(&s.blkio.sectors),
        },
        "hugetlb": hugetlb,
    });
    Ok(Event {
        kind: "stats",
        id: c.id.clone(),
        data: Some(data),
    })
}

/// How many times the kernel's OOM killer has struck in the container's
/// cgroup (v1 memory.oom_control, v2 memory.events).
pub fn oom_kills(c: &Container) -> u64 {
    let Ok(cgroup) = c.cgroup() else { return 0 };
    cgroup
        .dirs()
        .iter()
        .flat_map(|d| ["memory.oom_control", "memory.events"].map(|f| d.join(f)))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                })
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or(0)
}
