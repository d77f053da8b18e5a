//! The limits `create` writes itself, without libcgroups' manager (device
//! rules and a pids limit), as the kernel shows them from outside.

mod common;

use common::{edit_config, Env, Reaper};
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
