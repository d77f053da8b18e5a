//! `create` and `run --preserve-fds N`, as runc takes them (Podman passes
//! socket-activation descriptors this way): the caller's descriptors 3 to
//! 3+N-1 reach the container's process at the same numbers, and no other.

mod common;

use std::fs::File;
use std::path::Path;

use common::{assert_fails_with, stderr, stdout, Env};

/// The container's program: what it reads from 3, then its descriptors.
const PROGRAM: &str = "read line <&3; echo \"$line\" >&4; echo \"read $line\"; \
                       ls /proc/self/fd | sort -n | tr '\\n' ' '";

/// `cli run --preserve-fds 2` (runsc or runc) on `bundle` with "hello" on
/// descriptor 3 and a file on 4; its stdout and what 4 received.
fn run_with_two(env: &Env, cli: &str, bundle: &Path, id: &str) -> (String, String) {
    let input = env.path().join(format!("{id}.in"));
    let output = env.path().join(format!("{id}.out"));
    std::fs::write(&input, "hello\n").unwrap();
    let (three, four) = (File::open(&input).unwrap(), File::create(&output).unwrap());
    let mut cmd = if cli == "runc" {
        let mut c = std::process::Command::new("runc");
        c.arg("--root").arg(env.path().join("runc-root"));
        c
    } else {
        env.cmd(&[])
    };
    cmd.args([
        "run",
        "--preserve-fds",
        "2",
        "-b",
        bundle.to_str().unwrap(),
        id,
    ]);
    common::pass_fd(&mut cmd, &three, 3);
    common::pass_fd(&mut cmd, &four, 4);
    let out = env.output(cmd);
    assert_eq!(out.status.code(), Some(0), "{cli}: {}", stderr(&out));
    (stdout(&out), std::fs::read_to_string(&output).unwrap())
}

#[test]
fn preserved_descriptors_reach_the_container_as_under_runc() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sh", "-c", PROGRAM]);
    let id = env.id("pf");
    let ours = run_with_two(&env, "runsc", &bundle, &id);
    // 0-2, the two preserved, and the listing's own descriptor.
    assert_eq!(ours.0, "read hello\n0 1 2 3 4 5 ", "{ours:?}");
    assert_eq!(ours.1, "hello\n");
    env.assert_clean(&[&id]);
    assert_eq!(run_with_two(&env, "runc", &bundle, &id), ours);
}

#[test]
fn create_keeps_them_until_start_and_refuses_closed_ones() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sh", "-c", "echo started >&3"]);
    let b = bundle.to_str().unwrap();
    let id = env.id("pfc");
    let _r = common::Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let path = env.path().join("three");
    let three = File::create(&path).unwrap();
    let mut cmd = env.cmd(&["create", "--preserve-fds", "1", "-b", b, &id]);
    common::pass_fd(&mut cmd, &three, 3);
    let out = env.output(cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(three);
    env.ok(&["start", &id]);
    common::wait_for_status(&env, &id, "stopped");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "started\n");
    env.ok(&["delete", &id]);

    // A number the caller left closed: one line, nothing made.
    let out = env.runsc(&["create", "--preserve-fds", "40", "-b", b, &id]);
    assert_fails_with(&out, "descriptor");
    env.assert_clean(&[&id]);
}
