//! A container's process may name itself (its comm, in /proc/<pid>/stat)
//! with any bytes: the runtime's liveness checks must not take a name that
//! is not UTF-8 for a process that is gone.

mod common;

use common::{Env, Reaper};

#[test]
fn an_init_named_in_bytes_that_are_not_utf8_still_runs_and_takes_execs() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let script = r#"printf '\377x' > /proc/self/comm; touch /tmp/named; while :; do sleep 1; done"#;
    let bundle = env.bundle("b", &["sh", "-c", script]);
    let id = env.id("comm");
    let reaper = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let named = bundle.join("rootfs/tmp/named");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !named.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the init never named itself"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(env.state(&id)["status"], "running");
    let init = common::init_pid(&env, &id);
    let comm = std::fs::read(format!("/proc/{init}/comm")).expect("read comm");
    assert_eq!(comm, b"\xffx\n", "the init's comm");
    assert_eq!(env.ok(&["exec", &id, "echo", "in"]).trim(), "in");
    drop(reaper);
    env.assert_clean(&[&id]);
}
