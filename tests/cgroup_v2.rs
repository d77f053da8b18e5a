//! Pure cgroup v2 with systemd as init, the most common real host (Debian
//! 12, Ubuntu 22.04+, Fedora, RHEL 9): the systemd driver's scope units,
//! and the v2 files the spec's limits, `update`, `pause` and `events`
//! go through. Elsewhere each test says in one line that it skipped;
//! tools/vmtest runs them in such a guest.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::systemd::{load_state, pure_v2_with_systemd, scoped_bundle, unit_properties};
use common::{edit_config, Env, Reaper};
use serde_json::json;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

#[test]
fn systemd_scope_holds_the_container_while_it_runs() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("systemd_scope_holds_the_container_while_it_runs") {
        return;
    }
    let env = Env::new();
    let id = env.id("scope");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let (bundle, unit) = scoped_bundle(&env, &id, &["sleep", "1000"]);
    edit_config(&bundle, |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        c["linux"]["resources"]["pids"] = json!({"limit": 32});
    });
    let b = bundle.to_str().unwrap();
    env.ok(&["--systemd-cgroup", "run", "-d", "-b", b, &id]);

    let props = unit_properties(
        &unit,
        &[
            "ActiveState",
            "Delegate",
            "MemoryMax",
            "TasksMax",
            "ControlGroup",
        ],
    );
    for want in [
        "ActiveState=active".to_string(),
        "Delegate=yes".into(),
        "MemoryMax=67108864".into(),
        "TasksMax=32".into(),
        format!("ControlGroup=/system.slice/{unit}"),
    ] {
        assert!(props.lines().any(|l| l == want), "{want} not in:\n{props}");
    }
    // The scope holds the sandbox (the pid `state` reports).
    let sandbox = common::sandbox_pid(&env, &id);
    let procs = read(
        &Path::new("/sys/fs/cgroup/system.slice")
            .join(&unit)
            .join("cgroup.procs"),
    );
    assert!(
        procs.lines().any(|p| p == sandbox.to_string()),
        "sandbox {sandbox} not in the scope: {procs}"
    );
    let status = Command::new("systemctl")
        .args(["status", "--no-pager", &unit])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains(&format!("{sandbox} ")), "{status}");

    env.ok(&["delete", "--force", &id]);
    assert_eq!(load_state(&unit), "LoadState=not-found");
    assert!(!Path::new("/sys/fs/cgroup/system.slice")
        .join(&unit)
        .exists());
    env.assert_clean(&[&id]);
}

#[test]
fn a_killed_create_leaves_no_unit_behind() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("a_killed_create_leaves_no_unit_behind") {
        return;
    }
    let env = Env::new();
    let ids = [env.id("crash1"), env.id("crash2")];
    let _reaper = Reaper {
        env: &env,
        ids: ids.to_vec(),
    };
    let create_and_die = |id: &str| {
        let (bundle, unit) = scoped_bundle(&env, id, &["sleep", "1000"]);
        let status = env
            .cmd(&[
                "--systemd-cgroup",
                "create",
                "-b",
                bundle.to_str().unwrap(),
                id,
            ])
            .env("RUNSC_TEST_CRASH_AT", "create:created")
            .status()
            .unwrap();
        assert!(!status.success(), "create was not killed");
        // The unit started before the frontend died: it holds the sandbox.
        let active = unit_properties(&unit, &["ActiveState"]);
        assert_eq!(active.trim(), "ActiveState=active");
        unit
    };

    // delete --force finds the unit in the metadata and stops it.
    let unit = create_and_die(&ids[0]);
    env.ok(&["delete", "--force", &ids[0]]);
    assert_eq!(load_state(&unit), "LoadState=not-found");

    // Without delete, systemd collects the scope once what it held is gone.
    let unit = create_and_die(&ids[1]);
    let procs = Path::new("/sys/fs/cgroup/system.slice")
        .join(&unit)
        .join("cgroup.procs");
    for pid in read(&procs).lines() {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    common::wait_for(
        &format!("{unit} to go with its processes"),
        Duration::from_secs(30),
        || load_state(&unit) == "LoadState=not-found",
    );
    env.ok(&["delete", "--force", &ids[1]]);
    env.assert_clean(&[&ids[0], &ids[1]]);
}

/// The major:minor of the whole disk under `/`, for io.max (which takes
/// disks, not partitions).
fn root_disk() -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata("/").unwrap().dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let sys = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    if sys.join("partition").exists() {
        read(&sys.join("../dev"))
    } else {
        format!("{major}:{minor}")
    }
}

#[test]
fn v2_limits_update_freeze_and_stats_under_a_scope() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("v2_limits_update_freeze_and_stats_under_a_scope") {
        return;
    }
    let env = Env::new();
    let id = env.id("v2");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let (bundle, unit) = scoped_bundle(&env, &id, &["sleep", "1000"]);
    let disk = root_disk();
    let (major, minor) = disk.split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    edit_config(&bundle, |c| {
        c["linux"]["resources"] = json!({
            "memory": {"limit": 67108864, "swap": 100663296, "reservation": 33554432},
            "cpu": {"shares": 512, "quota": 20000, "period": 100000},
            "pids": {"limit": 40},
            "blockIO": {"throttleReadBpsDevice": [
                {"major": major, "minor": minor, "rate": 1048576}
            ]},
            "unified": {"memory.high": "50331648"}
        });
    });
    let b = bundle.to_str().unwrap();
    env.ok(&["--systemd-cgroup", "run", "-d", "-b", b, &id]);
    let dir = Path::new("/sys/fs/cgroup/system.slice").join(&unit);
    // Those systemd has no property for survive its start of the unit.
    for (file, want) in [
        ("memory.max", "67108864".to_string()),
        ("memory.swap.max", "33554432".into()),
        ("memory.low", "33554432".into()),
        ("memory.high", "50331648".into()),
        ("cpu.max", "20000 100000".into()),
        ("cpu.weight", "59".into()),
        ("pids.max", "40".into()),
    ] {
        assert_eq!(read(&dir.join(file)), want, "{file}");
    }
    let io = read(&dir.join("io.max"));
    assert!(
        io.lines()
            .any(|l| l.starts_with(&format!("{disk} rbps=1048576 "))),
        "io.max: {io}"
    );

    env.ok(&[
        "update",
        "--memory",
        "134217728",
        "--pids-limit",
        "50",
        "--cpu-quota",
        "30000",
        &id,
    ]);
    assert_eq!(read(&dir.join("memory.max")), "134217728");
    assert_eq!(read(&dir.join("pids.max")), "50");
    assert_eq!(read(&dir.join("cpu.max")), "30000 100000");
    // The unit has them too, or systemd would put the old ones back.
    let props = unit_properties(&unit, &["MemoryMax", "TasksMax"]);
    assert_eq!(props, "MemoryMax=134217728\nTasksMax=50\n");

    env.ok(&["pause", &id]);
    assert_eq!(read(&dir.join("cgroup.freeze")), "1");
    assert!(read(&dir.join("cgroup.events")).contains("frozen 1"));
    assert_eq!(env.state(&id)["status"], "paused");
    env.ok(&["resume", &id]);
    assert_eq!(read(&dir.join("cgroup.freeze")), "0");

    let stats: serde_json::Value =
        serde_json::from_str(&env.ok(&["events", "--stats", &id])).unwrap();
    assert_eq!(
        stats["data"]["memory"]["usage"]["limit"], 134217728,
        "{stats}"
    );
    assert_eq!(stats["data"]["pids"]["limit"], 50, "{stats}");
    assert!(
        stats["data"]["pids"]["current"].as_u64().unwrap() >= 1,
        "{stats}"
    );

    env.ok(&["delete", "--force", &id]);
    assert!(!dir.exists());
    assert_eq!(load_state(&unit), "LoadState=not-found");
    env.assert_clean(&[&id]);
}

#[test]
fn a_cgroup_namespace_sees_its_own_cgroup_as_the_root() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("a_cgroup_namespace_sees_its_own_cgroup_as_the_root") {
        return;
    }
    let env = Env::new();
    let id = env.id("cgns");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let bundle = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "cat /proc/self/cgroup /sys/fs/cgroup/memory.max; ls /sys/fs/cgroup",
        ],
    );
    edit_config(&bundle, |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "cgroup"}));
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
        }));
        c["linux"]["resources"]["memory"] = json!({"limit": 50331648});
    });
    let out = env.ok(&["run", "-b", bundle.to_str().unwrap(), &id]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0::/"), "{out}");
    assert_eq!(lines.next(), Some("50331648"), "{out}");
    assert!(out.lines().any(|l| l == "cgroup.procs"), "{out}");
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
