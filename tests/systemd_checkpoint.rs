//! Checkpoint and restore of a container whose cgroup is a systemd scope
//! unit (`--systemd-cgroup`): the restored container gets a scope unit
//! again, holding its sandbox, and delete removes it. Runs in the guest of
//! tools/vmtest; elsewhere it says in one line that it skipped.

mod common;

use std::time::Duration;

use common::systemd::{load_state, pure_v2_with_systemd, scope_dir, scoped_bundle};
use common::{run_quietly, Env, Reaper};

/// Whether `pid` is in the scope cgroup of `unit`.
fn in_scope(unit: &str, pid: i64) -> bool {
    std::fs::read_to_string(scope_dir(unit).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .any(|p| p == pid.to_string())
}

#[test]
fn a_scoped_container_checkpoints_and_restores_into_a_scope_again() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("a_scoped_container_checkpoints_and_restores_into_a_scope_again") {
        return;
    }
    let env = Env::new();
    let id = env.id("cr");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let (bundle, unit) = scoped_bundle(
        &env,
        &id,
        &[
            "sh",
            "-c",
            "i=0; while sleep 0.1; do i=$((i+1)); echo $i > /dev/shm/n; done",
        ],
    );
    let b = bundle.to_str().unwrap();
    assert!(run_quietly(
        &env,
        &["--systemd-cgroup", "run", "--detach", "-b", b, &id]
    ));
    let sandbox = common::sandbox_pid(&env, &id);
    assert!(in_scope(&unit, sandbox), "sandbox {sandbox} not in {unit}");

    let image = env.path().join("image");
    let image = image.to_str().unwrap();
    env.ok(&["--systemd-cgroup", "checkpoint", "--image-path", image, &id]);
    assert_eq!(common::status_of(&env, &id), "stopped");
    env.ok(&["--systemd-cgroup", "delete", &id]);
    assert_eq!(load_state(&unit), "LoadState=not-found");

    let restore = [
        "--systemd-cgroup",
        "restore",
        "--detach",
        "--image-path",
        image,
        "-b",
        b,
        &id,
    ];
    assert!(
        run_quietly(&env, &restore),
        "restore failed: see {}",
        env.log.display()
    );
    assert_eq!(common::status_of(&env, &id), "running");
    let restored = common::sandbox_pid(&env, &id);
    assert!(
        in_scope(&unit, restored),
        "restored sandbox {restored} not in {unit}"
    );
    // The restored loop goes on from where it was.
    let count = || {
        env.ok(&["exec", &id, "cat", "/dev/shm/n"])
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    let first = count();
    common::wait_for("the restored loop", Duration::from_secs(20), || {
        count() > first
    });

    env.ok(&["--systemd-cgroup", "delete", "--force", &id]);
    assert_eq!(load_state(&unit), "LoadState=not-found");
    assert!(!scope_dir(&unit).exists(), "scope cgroup left");
    env.assert_clean(&[&id]);
}
