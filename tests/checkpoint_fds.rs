//! checkpoint and restore of a container whose processes hold the
//! container's stdio (a host file) on descriptors other than 0-2, with a
//! real CRIU (tools/install-criu) on busybox.

mod common;

use std::path::Path;
use std::time::Duration;

use common::counter::{assert_consecutive, numbers};
use common::{stderr, wait_for, Env, Reaper};

/// Where the restored shell's fd 1 should point.
enum Fd1 {
    /// The host file its stdout is, as fd 10.
    Output,
    /// The container's /dev/null.
    DevNull,
    /// The host file its stderr is.
    Errors,
}

/// Runs `script` in a container whose stdout is a host file opened for
/// appending (stderr another, where runsc's own errors land too); twice
/// checkpoints it once it has counted on by 5 and restores it with the
/// same files, and checks that it counts on in that file with its shell's
/// fd 10 on the file and fd 1 on `fd1`.
fn counts_on_across_checkpoints(name: &str, script: &str, fd1: Fd1) {
    let env = Env::new();
    let bundle = env.bundle(name, &["sh", "-c", script]);
    let b = bundle.to_str().unwrap();
    let id = env.id(name);
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let output = env.path().join("output");
    let errors = env.path().join("errors");
    let append = |path: &Path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
    };
    let failed = |what: &str| {
        let errors = std::fs::read_to_string(&errors).unwrap_or_default();
        format!("{what} failed: {errors}")
    };
    let status = env
        .cmd(&["run", "--detach", "-b", b, &id])
        .stdout(append(&output))
        .stderr(append(&errors))
        .status()
        .unwrap();
    assert!(status.success(), "{}", failed("run"));
    wait_for("the counter", Duration::from_secs(10), || {
        numbers(&output).len() >= 5
    });

    for round in 0..2 {
        let image = env.path().join(format!("image{round}"));
        let img = image.to_str().unwrap();
        let out = env.runsc(&["checkpoint", "--image-path", img, &id]);
        assert!(out.status.success(), "checkpoint failed: {}", stderr(&out));
        let at_checkpoint = numbers(&output);
        env.ok(&["delete", &id]);

        let status = env
            .cmd(&["restore", "--detach", "--image-path", img, "-b", b, &id])
            .stdout(append(&output))
            .stderr(append(&errors))
            .status()
            .unwrap();
        assert!(status.success(), "{}", failed("restore"));
        let last = *at_checkpoint.last().unwrap();
        wait_for("the restored counter", Duration::from_secs(10), || {
            numbers(&output).len() as u64 >= last + 5
        });
        assert_consecutive(&numbers(&output));
        let init = common::init_pid(&env, &id);
        let link = |fd: u32| std::fs::read_link(format!("/proc/{init}/fd/{fd}")).unwrap();
        let want = match fd1 {
            Fd1::Output => output.clone(),
            Fd1::DevNull => "/dev/null".into(),
            Fd1::Errors => errors.clone(),
        };
        assert_eq!(link(1), want, "the restored shell's fd 1");
        assert_eq!(link(10), output, "the restored shell's fd 10");
    }
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn a_shell_that_moved_its_stdout_aside_checkpoints_and_restores() {
    if common::skip_without_root() {
        return;
    }
    // The shell keeps its stdout on fd 10 and points fd 1 at the
    // container's /dev/null for good: what busybox ash does for a moment
    // around `echo $i >> log`, so a dump always finds it so.
    counts_on_across_checkpoints(
        "aside",
        "exec 10>&1 >/dev/null; i=0; while :; do i=$((i+1)); echo $i >&10; sleep 0.1; done",
        Fd1::DevNull,
    );
}

#[test]
fn a_shell_that_pointed_its_stdout_at_its_stderr_checkpoints_and_restores() {
    if common::skip_without_root() {
        return;
    }
    // fd 1 is the container's stderr now: each comes back from the
    // restore's stdio of its own number, not from fd 1's.
    counts_on_across_checkpoints(
        "swap",
        "exec 10>&1 1>&2; i=0; while :; do i=$((i+1)); echo $i >&10; sleep 0.1; done",
        Fd1::Errors,
    );
}

#[test]
fn a_shell_with_a_copy_of_its_stdout_checkpoints_and_restores() {
    if common::skip_without_root() {
        return;
    }
    // fd 1 and fd 10 both name the host file, in the shell and in each
    // sleep it forks (one CRIU name, declared already for fd 1).
    counts_on_across_checkpoints(
        "copy",
        "exec 10>&1; i=0; while :; do i=$((i+1)); echo $i >&10; sleep 0.1; done",
        Fd1::Output,
    );
}

#[test]
fn a_host_file_that_is_not_the_stdio_refuses_the_checkpoint() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("foreign", &["sh", "-c", "while :; do sleep 0.1; done"]);
    let b = bundle.to_str().unwrap();
    let id = env.id("foreign");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let null = || std::process::Stdio::null();
    let status = env
        .cmd(&["run", "--detach", "-b", b, &id])
        .stdin(null())
        .stdout(null())
        .stderr(null())
        .status()
        .unwrap();
    assert!(status.success());
    // An exec'd shell leaves a child with its stdout, another host file,
    // to the init, which adopts it into the tree a dump takes.
    let other = env.path().join("other");
    let status = env
        .cmd(&["exec", "--detach", &id, "sh", "-c", "sleep 1000 & exit 0"])
        .stdin(null())
        .stdout(std::fs::File::create(&other).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("the adopted sleep", Duration::from_secs(10), || {
        env.ok(&["ps", &id]).contains("sleep 1000")
    });
    let image = env.path().join("image");
    let out = env.runsc(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    common::assert_fails_with(
        &out,
        &format!(
            "descriptor 1 on {}, a host file that is not the container's stdio",
            other.display()
        ),
    );
    assert_eq!(common::status_of(&env, &id), "running");
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
