//! `delete` without `--force` by status, as runc does it: a created
//! container is killed and removed (containerd's runc shim relies on
//! that), a running or paused one is refused and left as it was.

mod common;

use common::{assert_fails_with, Env, Reaper};

#[test]
fn delete_removes_a_created_container_as_runc_does() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("created");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["create", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(env.state(&id)["status"], "created");
    let sandbox = common::sandbox_pid(&env, &id);
    // runc 1.1.5 and runc's main branch: a created container is deleted
    // without --force, exit 0. containerd's shim deletes a task that was
    // never started that way (createdState.Delete, no --force).
    env.ok(&["delete", &id]);
    assert_fails_with(&env.runsc(&["state", &id]), "does not exist");
    // Gone, or a zombie its new parent has yet to reap.
    let stat = std::fs::read_to_string(format!("/proc/{sandbox}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
    assert!(
        matches!(state, None | Some("Z")),
        "sandbox {sandbox} still runs: {stat}"
    );
    env.assert_clean(&[&id]);
}

#[test]
fn delete_refuses_a_paused_container_and_changes_nothing() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sh", "-c", "while true; do sleep 0.05; done"]);
    let id = env.id("paused");
    let _reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    env.ok(&["pause", &id]);
    let out = env.runsc(&["delete", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert_fails_with(&out, "not stopped");
    assert_eq!(env.state(&id)["status"], "paused");
    env.ok(&["resume", &id]);
    assert_eq!(env.state(&id)["status"], "running");
    let out = env.runsc(&["exec", &id, "true"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
