//! `kill` takes what runc takes: any signal number up to SIGRTMAX, the
//! real-time ones included (Docker stops a systemd image with SIGRTMIN+3,
//! 37), and 0, which only checks that the init still runs. The sandbox
//! used to refuse both ("invalid signal 37").

mod common;

use std::time::Duration;

use common::{assert_fails_with, stderr, wait_for_status, Env, Reaper};

#[test]
fn kill_sends_real_time_signals_and_zero() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    // The shell is its namespace's init: only a signal it traps reaches it.
    let bundle = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "trap 'exit 37' 37; trap 'exit 64' 64; while :; do sleep 0.05; done",
        ],
    );
    let b = bundle.to_str().unwrap();
    let cases = [("RTMIN+3", 37), ("64", 64)];
    for (n, (signal, status)) in cases.into_iter().enumerate() {
        let id = env.id(&format!("rt{n}"));
        let _r = Reaper {
            env: &env,
            ids: vec![id.clone()],
        };
        env.ok(&["run", "-d", "-b", b, &id]);
        env.ok(&["kill", &id, "0"]);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(env.state(&id)["status"], "running", "after signal 0");
        env.ok(&["kill", &id, signal]);
        wait_for_status(&env, &id, "stopped");
        let waited = env.runsc(&["wait", &id]);
        assert_eq!(waited.status.code(), Some(status), "{}", stderr(&waited));
        // As runc: nothing to check once the init is gone.
        assert_fails_with(&env.runsc(&["kill", &id, "0"]), "not running");
        env.ok(&["delete", &id]);
        env.assert_clean(&[&id]);
    }
    let id = env.id("bad");
    assert_fails_with(&env.runsc(&["kill", &id, "65"]), "invalid signal");
}
