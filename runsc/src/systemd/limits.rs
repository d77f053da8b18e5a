//! The spec's limits as a scope unit's properties, in systemd's units.

use oci_spec::runtime::LinuxResources;

/// systemd's "infinity" for its u64 limits.
const INFINITY: u64 = u64::MAX;

/// The spec's limits that systemd has unit properties for, in its units.
/// What systemd has no property for (io.max, hugetlb, unified keys, the
/// exact cpu.max period) is only written into the cgroup.
pub fn limit_properties(resources: Option<&LinuxResources>) -> Vec<(&'static str, u64)> {
    let mut props = Vec::new();
    let Some(r) = resources else {
        return props;
    };
    let bytes = |v: i64| if v < 0 { INFINITY } else { v as u64 };
    if let Some(m) = r.memory() {
        if let Some(limit) = m.limit() {
            props.push(("MemoryMax", bytes(limit)));
        }
        if let Some(low) = m.reservation().filter(|v| *v != 0) {
            props.push(("MemoryLow", bytes(low)));
        }
        // OCI's swap is memory plus swap, as on cgroup v1.
        match (m.limit(), m.swap()) {
            (_, Some(-1)) => props.push(("MemorySwapMax", INFINITY)),
            (Some(limit), Some(swap)) if limit > 0 && swap >= limit => {
                props.push(("MemorySwapMax", (swap - limit) as u64))
            }
            _ => {}
        }
    }
    if let Some(p) = r.pids() {
        match p.limit() {
            l if l > 0 => props.push(("TasksMax", l as u64)),
            l if l < 0 => props.push(("TasksMax", INFINITY)),
            _ => {}
        }
    }
    if let Some(cpu) = r.cpu() {
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            props.push(("CPUWeight", weight_of_shares(shares)));
        }
        if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
            let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
            // systemd keeps a percentage: round up to whole 10 ms per
            // second so that its value never undercuts cpu.max.
            let per_sec = (quota as u64).saturating_mul(1_000_000) / period;
            props.push(("CPUQuotaPerSecUSec", per_sec.div_ceil(10_000) * 10_000));
        }
    }
    props
}

/// cgroup v1 cpu.shares (2..262144) as a v2 cpu.weight (1..10000) by the
/// map runc 1.3 adopted (the one libcgroups writes into cpu.weight): a
/// curve through 2 -> 1, 1024 -> 100 (both defaults) and 262144 -> 10000,
/// quadratic in log2(shares) on a log10 scale.
fn weight_of_shares(shares: u64) -> u64 {
    match shares {
        0..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };

    #[test]
    fn limits_become_systemd_properties() -> Result<(), Box<dyn std::error::Error>> {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(96 << 20)
                    .build()?,
            )
            .pids(LinuxPidsBuilder::default().limit(20).build()?)
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .build()?,
            )
            .build()?;
        let props = limit_properties(Some(&r));
        assert_eq!(
            props,
            vec![
                ("MemoryMax", 64 << 20),
                ("MemorySwapMax", 32 << 20),
                ("TasksMax", 20),
                ("CPUWeight", 100),
                ("CPUQuotaPerSecUSec", 500_000),
            ]
        );
        Ok(())
    }

    #[test]
    fn unlimited_is_infinity_and_quota_rounds_up() -> Result<(), Box<dyn std::error::Error>> {
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(-1).swap(-1).build()?)
            .pids(LinuxPidsBuilder::default().limit(-1).build()?)
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(1_234i64)
                    .period(10_000u64)
                    .build()?,
            )
            .build()?;
        let props = limit_properties(Some(&r));
        assert_eq!(
            props,
            vec![
                ("MemoryMax", INFINITY),
                ("MemorySwapMax", INFINITY),
                ("TasksMax", INFINITY),
                ("CPUQuotaPerSecUSec", 130_000),
            ]
        );
        assert!(limit_properties(None).is_empty());
        Ok(())
    }

    #[test]
    fn shares_map_onto_weights() {
        assert_eq!(weight_of_shares(2), 1);
        assert_eq!(weight_of_shares(262_144), 10_000);
        assert_eq!(weight_of_shares(1024), 100);
        assert_eq!(weight_of_shares(512), 59);
        assert_eq!(weight_of_shares(0), 1);
    }
}
