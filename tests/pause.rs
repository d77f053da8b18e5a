//! Pause and resume served by the sandbox: a paused container refuses
//! exec while the rest of its pod goes on answering, and its sandbox waits
//! out the pause in a sibling freezer cgroup, visible to stats readers in
//! every other controller.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{assert_exec_fails_with, cgroup_dirs, stdout, Env, Reaper};

/// Runs `cmd`, killing it if it has not finished within 10 seconds (a
/// frozen sandbox would never answer).
fn within_10s(mut cmd: Command) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within 10s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

/// The cgroup of `pid` in the v1 hierarchy of `controller`, or in the
/// cgroup2 one for "".
fn cgroup_of(pid: i64, controller: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted = if controller.is_empty() {
            names.is_empty()
        } else {
            names.split(',').any(|n| n == controller)
        };
        wanted.then(|| path.to_string())
    })
}

/// Runs pod `pod` (its first container) and `sub` in it, both sleeping.
fn run_pod(env: &Env, pod: &str, sub: &str) {
    let pod_bundle = env.bundle("pod", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", pod_bundle.to_str().unwrap(), pod]);
    let sub_bundle = env.sub_bundle("sub", pod, &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", sub_bundle.to_str().unwrap(), sub]);
}

/// Runs container `id`, sleeping, and pauses it.
fn run_paused(env: &Env, id: &str) {
    let bundle = env.bundle("b", &["sleep", "1000"]);
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), id]);
    env.ok(&["pause", id]);
}

/// Asserts that the sibling cgroup a pause of `id` parks its sandbox in
/// is gone.
fn assert_no_park(id: &str) {
    for dir in cgroup_dirs(&format!("runsc/{id}.sandbox")) {
        assert!(!dir.exists(), "park cgroup left: {}", dir.display());
    }
}

#[test]
fn pausing_a_pods_first_container_leaves_the_rest_answering() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (pod, sub) = (env.id("pod"), env.id("sub"));
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    run_pod(&env, &pod, &sub);
    let sandbox = common::sandbox_pid(&env, &pod);
    let home_memory = cgroup_of(sandbox, "memory");
    let home_freezer = cgroup_of(sandbox, "freezer");

    env.ok(&["pause", &pod]);
    assert_eq!(env.state(&pod)["status"], "paused");
    // The other container of the pod still execs, through the sandbox.
    let out = within_10s(env.cmd(&["exec", &sub, "echo", "still here"]));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out).trim(), "still here");
    // The paused one refuses, and its processes are still listed.
    assert_exec_fails_with(&within_10s(env.cmd(&["exec", &pod, "true"])), "paused");
    let pids: Vec<i32> =
        serde_json::from_str(&stdout(&within_10s(env.cmd(&["ps", "-f", "json", &pod])))).unwrap();
    assert!(!pids.is_empty(), "no processes listed while paused");
    // The sandbox waits in a sibling freezer cgroup, and stays in the
    // container's memory cgroup, which Docker and containerd read through
    // the pid we report.
    if let Some(home) = &home_freezer {
        let parked = cgroup_of(sandbox, "freezer").unwrap();
        assert_eq!(parked, format!("{home}.sandbox"));
        assert_eq!(cgroup_of(sandbox, "memory"), home_memory);
    }

    env.ok(&["resume", &pod]);
    assert_eq!(env.state(&pod)["status"], "running");
    assert_eq!(cgroup_of(sandbox, "freezer"), home_freezer);
    assert_eq!(env.ok(&["exec", &pod, "echo", "back"]).trim(), "back");
    assert_no_park(&pod);

    env.ok(&["delete", "--force", &sub]);
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&pod, &sub]);
}

#[test]
fn a_paused_subcontainer_refuses_exec_while_its_pod_goes_on() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (pod, sub) = (env.id("pod"), env.id("sub"));
    let _r = Reaper {
        env: &env,
        ids: vec![sub.clone(), pod.clone()],
    };
    run_pod(&env, &pod, &sub);

    env.ok(&["pause", &sub]);
    assert_exec_fails_with(&within_10s(env.cmd(&["exec", &sub, "true"])), "paused");
    assert_eq!(env.ok(&["exec", &pod, "echo", "pod"]).trim(), "pod");
    env.ok(&["resume", &sub]);
    assert_eq!(env.ok(&["exec", &sub, "echo", "sub"]).trim(), "sub");

    env.ok(&["delete", "--force", &sub]);
    env.ok(&["delete", "--force", &pod]);
    env.assert_clean(&[&pod, &sub]);
}

#[test]
fn a_container_killed_while_paused_stops_and_leaves_nothing() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let id = env.id("killed");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    run_paused(&env, &id);
    let out = within_10s(env.cmd(&["kill", &id, "KILL"]));
    assert!(out.status.success(), "{out:?}");
    // cgroup v1 holds the SIGKILL until thawed; v2 delivers it to frozen
    // tasks, and the container stops (and `resume` fails) on its own.
    let _ = env.runsc(&["resume", &id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.state(&id)["status"] != "stopped" {
        assert!(Instant::now() < deadline, "not stopped after kill");
        std::thread::sleep(Duration::from_millis(50));
    }
    env.ok(&["delete", &id]);
    assert_no_park(&id);
    env.assert_clean(&[&id]);
}

#[test]
fn deleting_a_paused_container_removes_its_park_cgroup() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let id = env.id("gone");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    run_paused(&env, &id);
    env.ok(&["delete", "--force", &id]);
    assert_no_park(&id);
    env.assert_clean(&[&id]);
}
