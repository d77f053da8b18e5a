//! The limits `create` writes itself, without libcgroups' manager (device
//! rules and a pids limit), as the kernel shows them from outside; the
//! cgroups a container's processes are in; and a limit the kernel refuses.

mod common;

use common::{assert_fails_with, edit_config, Env, Reaper};
use serde_json::json;

#[test]
fn device_rules_and_pids_limit_reach_the_cgroup() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "100"]);
    edit_config(&bundle, |c| {
        c["linux"]["resources"] = json!({
            "devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}
            ],
            "pids": {"limit": 42}
        })
    });
    let id = env.id("writer");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["create", "-b", bundle.to_str().unwrap(), &id]);
    let cgroup = format!("runsc/{id}");
    // cgroup2 has no devices files (its rules would be an eBPF program).
    if let Some(devices) = common::v1_hierarchy("devices") {
        let list = std::fs::read_to_string(devices.join(&cgroup).join("devices.list"))
            .expect("read devices.list");
        let rules: Vec<&str> = list.lines().collect();
        // Without our rules the cgroup would inherit its parent's "a *:* rwm".
        assert!(!rules.contains(&"a *:* rwm"), "{list}");
        for rule in [
            "c 1:11 r",
            "c 1:3 rwm",
            "c 1:9 rwm",
            "c *:* m",
            "b *:* m",
            "c 136:* rwm",
            "c 10:200 rwm",
        ] {
            assert!(rules.contains(&rule), "{rule} missing from {list}");
        }
    }
    let pids_max = common::cgroup_dirs(&cgroup)
        .into_iter()
        .map(|d| d.join("pids.max"))
        .find(|f| f.exists())
        .expect("a pids.max");
    let limit = std::fs::read_to_string(&pids_max).expect("read pids.max");
    assert_eq!(limit.trim(), "42", "{}", pids_max.display());
    drop(reaper);
    env.assert_clean(&[&id]);
}

/// `create` makes the v1 directories while the sandbox starts, and the
/// sandbox joins them when told to begin: every process it then forks, and
/// the sandbox itself, must be in the container's cgroup in each hierarchy.
#[test]
fn every_process_of_a_container_is_in_its_cgroup_in_every_hierarchy() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "100"]);
    let id = env.id("joined");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["create", "-b", bundle.to_str().unwrap(), &id]);
    let cgroup = format!("runsc/{id}");
    let dirs = common::cgroup_dirs(&cgroup);
    let procs = std::fs::read_to_string(dirs[0].join("cgroup.procs")).expect("read cgroup.procs");
    let pids: Vec<&str> = procs.lines().collect();
    // The sandbox, the holder and the init.
    assert_eq!(pids.len(), 3, "{}: {procs}", dirs[0].display());
    let hierarchies = dirs.len();
    for pid in pids {
        let table = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
        let ours = table
            .lines()
            .filter(|l| l.ends_with(&format!(":/{cgroup}")));
        assert_eq!(ours.count(), hierarchies, "process {pid}:\n{table}");
    }
    drop(reaper);
    env.assert_clean(&[&id]);
}

/// A limit the kernel refuses fails `create` with the file and the
/// kernel's reason, after the sandbox has started: the sandbox, the cgroup
/// and the store entry must all go.
#[test]
fn a_limit_the_kernel_refuses_fails_create_and_leaves_nothing() {
    if common::skip_without_root() {
        return;
    }
    if common::v1_hierarchy("cpuset").is_none() {
        eprintln!("skipped: no v1 cpuset hierarchy");
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    edit_config(&bundle, |c| {
        c["linux"]["resources"] = json!({"cpu": {"cpus": "99999"}});
    });
    let id = env.id("refused");
    let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(&out, "cpuset.cpus: Result not representable");
    env.assert_clean(&[&id]);
}
