//! A pod under the systemd cgroup driver, as kubelet and containerd run it
//! with `SystemdCgroup = true`: each container of the pod, not only the
//! first, gets a scope unit of its own that holds its processes, and
//! delete removes each. Runs in the guest of tools/vmtest; elsewhere it
//! says in one line that it skipped.

mod common;

use common::systemd::{load_state, pure_v2_with_systemd, scope_dir};
use common::{edit_config, init_pid, run_quietly, Env, Reaper};

/// Gives `bundle` cgroupsPath `system.slice:runsc-test:<id>`; returns the
/// scope unit that names.
fn scoped(bundle: &std::path::Path, id: &str) -> String {
    edit_config(bundle, |c| {
        c["linux"]["cgroupsPath"] = serde_json::json!(format!("system.slice:runsc-test:{id}"));
    });
    format!("runsc-test-{id}.scope")
}

fn procs_of(unit: &str) -> Vec<String> {
    std::fs::read_to_string(scope_dir(unit).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_container_of_a_pod_gets_its_own_scope_unit() {
    if common::skip_without_root() {
        return;
    }
    if !pure_v2_with_systemd("each_container_of_a_pod_gets_its_own_scope_unit") {
        return;
    }
    let env = Env::new();
    let pod = env.id("pod");
    let sub = env.id("sub");
    let _reaper = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    let pod_unit = scoped(&pod_bundle, &pod);
    let sub_bundle = env.sub_bundle("sub", &pod, &["sleep", "1000"]);
    let sub_unit = scoped(&sub_bundle, &sub);

    let run = |b: &std::path::Path, id: &str| {
        let b = b.to_str().unwrap();
        assert!(
            run_quietly(&env, &["--systemd-cgroup", "run", "--detach", "-b", b, id]),
            "run {id} failed: see {}",
            env.log.display()
        );
    };
    run(&pod_bundle, &pod);
    run(&sub_bundle, &sub);

    assert_eq!(load_state(&sub_unit), "LoadState=loaded");
    let init = init_pid(&env, &sub).to_string();
    assert!(
        procs_of(&sub_unit).contains(&init),
        "the subcontainer's init {init} is not in {sub_unit}: {:?}",
        procs_of(&sub_unit)
    );
    assert!(!procs_of(&pod_unit).contains(&init));

    env.ok(&["--systemd-cgroup", "kill", &sub, "KILL"]);
    common::wait_for_status(&env, &sub, "stopped");
    env.ok(&["--systemd-cgroup", "delete", &sub]);
    assert_eq!(load_state(&sub_unit), "LoadState=not-found");
    assert_eq!(load_state(&pod_unit), "LoadState=loaded");

    env.ok(&["--systemd-cgroup", "kill", &pod, "KILL"]);
    common::wait_for_status(&env, &pod, "stopped");
    env.ok(&["--systemd-cgroup", "delete", &pod]);
    assert_eq!(load_state(&pod_unit), "LoadState=not-found");
}
