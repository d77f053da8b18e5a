//! Realtime CPU bandwidth (`linux.resources.cpu.realtimeRuntime`) on a v1
//! cpu hierarchy: a container in our default parent `/runsc` gets it as one
//! under runc's default parent (the root) does, and `/runsc` holds only
//! what its children ask for.

mod common;

use std::path::{Path, PathBuf};

use common::profiles::runc_report;
use common::{cgroup_dirs, edit_config, install_program, stderr, stdout, Env, Reaper};
use serde_json::json;

/// The v1 cpu hierarchy's root, where the kernel has realtime group
/// scheduling (there is no such file on cgroup2).
fn cpu_root() -> Option<PathBuf> {
    cgroup_dirs("")
        .into_iter()
        .find(|d| d.join("cpu.rt_runtime_us").exists())
}

fn read_number(file: &Path) -> i64 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.trim().parse().unwrap()
}

/// `(runtime, period)` of cgroup directory `dir`, in µs.
fn bandwidth(dir: &Path) -> (i64, i64) {
    (
        read_number(&dir.join("cpu.rt_runtime_us")),
        read_number(&dir.join("cpu.rt_period_us")),
    )
}

/// The scheduling policy of `pid` (field 41 of its stat; 2 is SCHED_RR).
fn policy(pid: i64) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(41 - 3).unwrap().to_owned()
}

/// A bundle whose process takes SCHED_RR and runs `then`, with the
/// capability for it and realtime `runtime` per `period`.
fn rt_bundle(env: &Env, name: &str, runtime: i64, period: i64, then: &[&str]) -> PathBuf {
    let bundle = env.bundle(name, &["true"]);
    install_program(&bundle, "rtsched");
    edit_config(&bundle, |c| {
        c["linux"]["resources"]["cpu"] =
            json!({"realtimeRuntime": runtime, "realtimePeriod": period});
        let mut args = vec!["rtsched"];
        args.extend(then);
        c["process"]["args"] = json!(args);
        for set in ["bounding", "effective", "permitted"] {
            let caps = c["process"]["capabilities"][set].as_array_mut().unwrap();
            caps.push(json!("CAP_SYS_NICE"));
        }
    });
    bundle
}

#[test]
fn realtime_runtime_in_the_default_parent_as_under_runc() {
    if common::skip_without_root() {
        return;
    }
    let Some(cpu) = cpu_root() else {
        eprintln!("skipped: no v1 cpu hierarchy with realtime group scheduling");
        return;
    };
    let env = Env::new();
    let (a, b, c) = (env.id("rt-a"), env.id("rt-b"), env.id("rt-c"));
    let _reaper = Reaper {
        env: &env,
        ids: vec![a.clone(), b.clone(), c.clone()],
    };
    let parent = cpu.join("runsc");

    // A long-running container with 2% of each second.
    let bundle_a = rt_bundle(&env, "a", 20_000, 1_000_000, &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", bundle_a.to_str().unwrap(), &a]);
    let pids: Vec<i64> = serde_json::from_str(&env.ok(&["ps", "-f", "json", &a])).unwrap();
    let init = *pids.iter().min().unwrap();
    assert_eq!(policy(init), "2", "the init did not get SCHED_RR");
    assert_eq!(bandwidth(&parent.join(&a)), (20_000, 1_000_000));
    assert_eq!(bandwidth(&parent).0, 20_000, "the parent holds A's share");

    // A second one, 6% at another period, beside it; runc runs the same.
    let bundle_b = rt_bundle(&env, "b", 30_000, 500_000, &[]);
    let out = env.runsc(&["run", "-b", bundle_b.to_str().unwrap(), &b]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "rr-ok\n");
    let runc = runc_report(&env, &bundle_b, &env.id("rt-runc"));
    assert_eq!(runc.as_deref(), Some("rr-ok\n"), "runc on the same bundle");
    assert_eq!(bandwidth(&parent).0, 20_000, "B's share given back");

    // update raises the parent as the child needs.
    env.ok(&["update", "--cpu-rt-runtime", "50000", &a]);
    assert_eq!(bandwidth(&parent.join(&a)).0, 50_000);
    env.ok(&["update", "--cpu-rt-period", "500000", &a]);
    assert_eq!(bandwidth(&parent.join(&a)), (50_000, 500_000));
    assert_eq!(bandwidth(&parent).0, 100_000, "10% at the parent's period");

    // More than the host has: a clear error, nothing left, A's share kept.
    let bundle_c = rt_bundle(&env, "c", 990_000, 1_000_000, &[]);
    let out = env.runsc(&["run", "-b", bundle_c.to_str().unwrap(), &c]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("realtime runtime"),
        "{}",
        stderr(&out)
    );
    assert!(!parent.join(&c).exists(), "C's cgroup left");
    assert_eq!(bandwidth(&parent).0, 100_000);
    assert!(
        !env.runsc(&["state", &c]).status.success(),
        "C's entry left"
    );

    env.ok(&["delete", "--force", &a]);
    assert!(
        !parent.exists() || bandwidth(&parent).0 == 0,
        "the parent keeps realtime runtime with no child asking for it"
    );
    env.assert_clean(&[&a, &b, &c]);
}
