//! The sandbox holds a container frozen while the frontend checkpoints it:
//! it refuses exec, pause and resume meanwhile, and thaws the container when the
//! checkpoint fails or its frontend dies mid-dump.

mod common;

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{cgroup_dirs, status_of, stderr, wait_for, Env, Reaper};
use oci_spec::runtime::Process;
use runsc::api::Sandbox;
use runsc::container::ContainerStore;
use sandbox::control::{FreezerFds, FreezerKind, Stdio};

/// Appends a line to /tmp/log every 50 ms, inside the container.
const COUNTER: &[&str] = &[
    "sh",
    "-c",
    "while true; do echo x >> /tmp/log; sleep 0.05; done",
];

/// A `criu` that passes the version check, then takes `seconds` and fails.
fn slow_criu(env: &Env, seconds: u32) -> PathBuf {
    let dir = env.path().join("slow-criu");
    std::fs::create_dir(&dir).expect("create fake criu dir");
    let script = dir.join("criu");
    let text = format!(
        "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo 'Version: 4.1.1'; exit 0; }}\nsleep {seconds}\nexit 1\n"
    );
    std::fs::write(&script, text).expect("write fake criu");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod fake criu");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    PathBuf::from(path)
}

/// Lines the counter has written so far, read through exec.
fn count(env: &Env, id: &str) -> usize {
    let out = env.runsc(&["exec", id, "cat", "/tmp/log"]);
    assert!(out.status.success(), "exec cat: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Whether the container's freezer cgroup says it is frozen.
fn frozen(id: &str) -> bool {
    for dir in cgroup_dirs(&format!("runsc/{id}")) {
        if let Ok(s) = std::fs::read_to_string(dir.join("freezer.state")) {
            return s.trim() != "THAWED";
        }
    }
    for dir in cgroup_dirs(&format!("runsc/{id}")) {
        if let Ok(s) = std::fs::read_to_string(dir.join("cgroup.freeze")) {
            return s.trim() == "1";
        }
    }
    panic!("no freezer cgroup for {id}");
}

/// The container's freezer files, opened as the frontend opens them for
/// `Pause`: v1's `freezer.state`, or cgroup2's `cgroup.freeze` and
/// `cgroup.events`.
fn freezer_files(id: &str) -> (FreezerKind, File, Vec<File>) {
    let rw = |p: PathBuf| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
    };
    for dir in cgroup_dirs(&format!("runsc/{id}")) {
        if dir.join("freezer.state").exists() {
            return (FreezerKind::V1, rw(dir.join("freezer.state")), Vec::new());
        }
    }
    for dir in cgroup_dirs(&format!("runsc/{id}")) {
        if dir.join("cgroup.freeze").exists() {
            let events = File::open(dir.join("cgroup.events")).expect("open cgroup.events");
            return (FreezerKind::V2, rw(dir.join("cgroup.freeze")), vec![events]);
        }
    }
    panic!("no freezer cgroup for {id}");
}

fn park_dirs(id: &str) -> Vec<PathBuf> {
    cgroup_dirs(&format!("runsc/{id}.sandbox"))
        .into_iter()
        .filter(|d| d.exists())
        .collect()
}

fn assert_runs_on(env: &Env, id: &str) {
    assert_eq!(status_of(env, id), "running");
    assert!(!frozen(id), "container {id} left frozen");
    let before = count(env, id);
    wait_for("the counter to go on", Duration::from_secs(10), || {
        count(env, id) >= before + 3
    });
}

/// Runs the counter as container `id` and waits until it counts.
fn run_counter(env: &Env, id: &str) {
    let bundle = env.bundle("b", COUNTER);
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), id]);
    wait_for("the counter", Duration::from_secs(10), || {
        count(env, id) >= 2
    });
}

#[test]
fn the_sandbox_refuses_exec_during_a_checkpoint_and_a_failed_one_thaws() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let id = env.id("c");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    run_counter(&env, &id);

    let image = env.path().join("image");
    let mut checkpoint = env
        .cmd(&["checkpoint", "--image-path", image.to_str().unwrap(), &id])
        .env("PATH", slow_criu(&env, 8))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn checkpoint");
    // The frontend's lock makes `runsc exec` and `runsc pause` wait for
    // the checkpoint; a caller that reaches the sandbox directly is
    // refused at once while it holds the container.
    let store = ContainerStore::open(&env.root).expect("open store");
    let sandbox = Sandbox::of(&store, &id);
    let null = File::open("/dev/null").expect("open /dev/null");
    let mut process = Process::default();
    process.set_args(Some(vec!["true".into()]));
    // Our own execs must not be in flight when the hold begins: the
    // frontend then finds processes outside the init's tree, refuses to
    // checkpoint and ends the hold at once. So the freeze comes first.
    wait_for("the checkpoint's freeze", Duration::from_secs(20), || {
        frozen(&id)
    });
    let t = Instant::now();
    let stdio = Stdio::Streams(vec![null.as_fd(); 3]);
    let Err(refused) = sandbox.exec(&id, process.clone(), stdio) else {
        panic!("exec ran during the checkpoint");
    };
    let took = t.elapsed();
    assert!(
        refused.to_string().contains("being checkpointed"),
        "exec: {refused}"
    );
    assert!(
        took < Duration::from_secs(1),
        "exec waited {took:?}: {refused}"
    );
    assert!(frozen(&id), "container not frozen during the checkpoint");
    // Pause and resume through the sandbox are refused too.
    let (kind, state, events) = freezer_files(&id);
    let fds = || FreezerFds {
        state: state.as_fd(),
        events: events.iter().map(|f| f.as_fd()).collect(),
        park: Vec::new(),
        home: Vec::new(),
    };
    let paused = sandbox.pause(&id, kind, fds());
    let e = paused.expect_err("pause during the checkpoint");
    assert!(e.to_string().contains("being checkpointed"), "pause: {e}");
    let resumed = sandbox.resume(&id, kind, fds());
    let e = resumed.expect_err("resume during the checkpoint");
    assert!(e.to_string().contains("being checkpointed"), "resume: {e}");
    let t = Instant::now();
    let out = env.runsc(&["exec", &id, "true"]);
    assert!(
        out.status.success(),
        "exec after the checkpoint: {}",
        stderr(&out)
    );
    assert!(
        t.elapsed() > Duration::from_secs(1),
        "exec did not wait for the checkpoint"
    );

    let status = checkpoint.wait().expect("wait checkpoint");
    assert!(!status.success(), "the fake criu's dump cannot succeed");
    assert_runs_on(&env, &id);
    assert_eq!(park_dirs(&id), Vec::<PathBuf>::new(), "park cgroup left");
    assert!(!image.join("runsc-checkpoint.json").exists());

    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn a_frontend_killed_mid_checkpoint_leaves_the_container_running() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let id = env.id("c");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    run_counter(&env, &id);

    let image = env.path().join("image");
    let out = env
        .cmd(&["checkpoint", "--image-path", image.to_str().unwrap(), &id])
        .env("PATH", slow_criu(&env, 1))
        .env("RUNSC_TEST_CRASH_AT", "checkpoint:held")
        .output()
        .expect("run checkpoint");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "checkpoint did not crash where asked"
    );
    // The sandbox saw its connection close and thawed the container.
    wait_for("the thaw", Duration::from_secs(5), || !frozen(&id));
    assert_runs_on(&env, &id);

    // Nothing is stuck: a checkpoint now works, and delete cleans up.
    let again = env.path().join("again");
    env.ok(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        again.to_str().unwrap(),
        &id,
    ]);
    assert!(Path::new(&again).join("runsc-checkpoint.json").is_file());
    assert_runs_on(&env, &id);
    env.ok(&["delete", "--force", &id]);
    assert_eq!(park_dirs(&id), Vec::<PathBuf>::new(), "park cgroup left");
    env.assert_clean(&[&id]);
}
