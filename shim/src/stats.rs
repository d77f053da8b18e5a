//! A container's cgroup statistics as containerd's metrics messages:
//! `io.containerd.cgroups.v1.Metrics` or `.v2.Metrics`, as CRI decodes.

use containerd_shim::protos::cgroups::metrics as v1m;
use containerd_shim::protos::cgroups_v2::metrics as v2m;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageField;
use sandbox::cgroup::Stats;

fn stat(s: &Stats, key: &str) -> u64 {
    s.memory.stats.get(key).copied().unwrap_or(0)
}

/// The v1 metrics; `ooms` is the OOM killer's count.
pub fn v1(s: &Stats, ooms: u64) -> Result<Any, String> {
    let entry = |m: &libcgroups::stats::MemoryData| v1m::MemoryEntry {
        limit: m.limit,
        usage: m.usage,
        max: m.max_usage,
        failcnt: m.fail_count,
        ..Default::default()
    };
    let u = &s.cpu.usage;
    let m = v1m::Metrics {
        pids: MessageField::some(v1m::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(v1m::CPUStat {
            usage: MessageField::some(v1m::CPUUsage {
                total: u.usage_total,
                kernel: u.usage_kernel,
                user: u.usage_user,
                per_cpu: u.per_core_usage_total.clone(),
                ..Default::default()
            }),
            throttling: MessageField::some(v1m::Throttle {
                periods: s.cpu.throttling.periods,
                throttled_periods: s.cpu.throttling.throttled_periods,
                throttled_time: s.cpu.throttling.throttled_time,
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory: MessageField::some(v1m::MemoryStat {
            cache: s.memory.cache,
            rss: stat(s, "rss"),
            total_rss: stat(s, "total_rss"),
            total_cache: stat(s, "total_cache"),
            inactive_file: stat(s, "inactive_file"),
            total_inactive_file: stat(s, "total_inactive_file"),
            pg_fault: stat(s, "pgfault"),
            pg_maj_fault: stat(s, "pgmajfault"),
            usage: MessageField::some(entry(&s.memory.memory)),
            swap: MessageField::some(entry(&s.memory.memswap)),
            kernel: MessageField::some(entry(&s.memory.kernel)),
            kernel_tcp: MessageField::some(entry(&s.memory.kernel_tcp)),
            ..Default::default()
        }),
        memory_oom_control: MessageField::some(v1m::MemoryOomControl {
            oom_kill: ooms,
            ..Default::default()
        }),
        ..Default::default()
    };
    crate::publish::pack(crate::publish::CGROUPS_V1_PACKAGE, &m)
}

/// The v2 metrics.
pub fn v2(s: &Stats, ooms: u64) -> Result<Any, String> {
    let u = &s.cpu.usage;
    // cgroup2's cpu.stat counts microseconds; the stats carry nanoseconds.
    let usec = |ns: u64| ns / 1000;
    let m = v2m::Metrics {
        pids: MessageField::some(v2m::PidsStat {
            current: s.pids.current,
            limit: s.pids.limit,
            ..Default::default()
        }),
        cpu: MessageField::some(v2m::CPUStat {
            usage_usec: usec(u.usage_total),
            user_usec: usec(u.usage_user),
            system_usec: usec(u.usage_kernel),
            nr_periods: s.cpu.throttling.periods,
            nr_throttled: s.cpu.throttling.throttled_periods,
            throttled_usec: usec(s.cpu.throttling.throttled_time),
            ..Default::default()
        }),
        memory: MessageField::some(v2m::MemoryStat {
            anon: stat(s, "anon"),
            file: stat(s, "file"),
            inactive_file: stat(s, "inactive_file"),
            active_file: stat(s, "active_file"),
            pgfault: stat(s, "pgfault"),
            pgmajfault: stat(s, "pgmajfault"),
            usage: s.memory.memory.usage,
            usage_limit: s.memory.memory.limit,
            swap_usage: s.memory.memswap.usage,
            swap_limit: s.memory.memswap.limit,
            max_usage: s.memory.memory.max_usage,
            ..Default::default()
        }),
        memory_events: MessageField::some(v2m::MemoryEvents {
            oom_kill: ooms,
            ..Default::default()
        }),
        ..Default::default()
    };
    crate::publish::pack(crate::publish::CGROUPS_V2_PACKAGE, &m)
}
