//! checkpoint and restore with a real CRIU (4.x, tools/install-criu) on
//! real busybox containers.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::counter::{assert_consecutive, complete_lines, numbers};
use common::{assert_fails_with, edit_config, status_of, stderr, stdout, wait_for, Env, Reaper};
use serde_json::json;

/// A bundle running `cmd` with the host directory `<env>/<name>-data`
/// bind-mounted read-write at /data; returns the bundle and that directory.
fn bundle_with_data(env: &Env, name: &str, cmd: &[&str]) -> (PathBuf, PathBuf) {
    let bundle = env.bundle(name, cmd);
    let data = env.path().join(format!("{name}-data"));
    std::fs::create_dir(&data).expect("create data dir");
    let source = data.to_str().expect("utf-8 path").to_string();
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().expect("mounts").push(json!({
            "destination": "/data",
            "type": "bind",
            "source": source,
            "options": ["rbind", "rw"]
        }));
    });
    (bundle, data)
}

/// A counter that appends 1, 2, 3, ... to /data/log, one every 50 ms.
const COUNTER: &[&str] = &[
    "sh",
    "-c",
    // The append runs in a pipeline's child; a builtin's redirection in
    // the shell itself, which parks its stdout on fd 10 for a moment, is
    // tests/checkpoint_fds.rs's case.
    "i=0; while true; do i=$((i+1)); echo $i | cat >> /data/log; sleep 0.05; done",
];

#[test]
fn checkpoint_stops_the_counter_and_restore_continues_it() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (bundle, data) = bundle_with_data(&env, "b", COUNTER);
    let b = bundle.to_str().unwrap();
    let id = env.id("c");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let log = data.join("log");
    env.ok(&["run", "--detach", "-b", b, &id]);
    wait_for("the counter", Duration::from_secs(10), || {
        numbers(&log).len() >= 5
    });

    let image = env.path().join("image");
    env.ok(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    assert_eq!(status_of(&env, &id), "stopped");
    let at_checkpoint = numbers(&log);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(numbers(&log), at_checkpoint, "the counter went on");
    assert!(image.join("runsc-checkpoint.json").is_file());
    env.ok(&["delete", &id]);

    // The same id again, from the image.
    env.ok(&[
        "restore",
        "--detach",
        "--image-path",
        image.to_str().unwrap(),
        "-b",
        b,
        &id,
    ]);
    assert_eq!(status_of(&env, &id), "running");
    let last = *at_checkpoint.last().unwrap();
    wait_for("the restored counter", Duration::from_secs(10), || {
        numbers(&log).len() as u64 >= last + 5
    });
    assert_consecutive(&numbers(&log));

    // A restored container behaves as a started one, and its sandbox gave
    // up the capabilities it does not use (CAP_SYS_MODULE is bit 16).
    let sandbox = common::sandbox_pid(&env, &id);
    let status = std::fs::read_to_string(format!("/proc/{sandbox}/status")).unwrap();
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap();
    assert_eq!(
        bounding & (1 << 16),
        0,
        "restored sandbox keeps CAP_SYS_MODULE"
    );
    let out = env.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo from exec; tail -n1 /data/log",
    ]);
    assert!(out.starts_with("from exec\n"), "{out}");
    let ps = env.ok(&["ps", &id]);
    assert!(ps.contains("sh -c i=0"), "{ps}");
    env.ok(&["kill", &id, "KILL"]);
    assert_eq!(env.runsc(&["wait", &id]).status.code(), Some(137));
    env.ok(&["delete", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn leave_running_and_paused_checkpoints_restore_under_a_new_id() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (bundle, data) = bundle_with_data(&env, "b", COUNTER);
    let b = bundle.to_str().unwrap();
    let id = env.id("c");
    let copy = env.id("copy");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone(), copy.clone()],
    };
    let log = data.join("log");
    env.ok(&["run", "--detach", "-b", b, &id]);
    wait_for("the counter", Duration::from_secs(10), || {
        numbers(&log).len() >= 3
    });

    let first = env.path().join("first");
    env.ok(&[
        "checkpoint",
        "--leave-running",
        "--image-path",
        first.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(status_of(&env, &id), "running");
    let n = numbers(&log).len();
    wait_for(
        "counting after --leave-running",
        Duration::from_secs(10),
        || numbers(&log).len() >= n + 5,
    );

    // A paused container: checkpointed as it is, and stopped afterwards.
    env.ok(&["pause", &id]);
    let paused_at = numbers(&log);
    let second = env.path().join("second");
    let work = env.path().join("work");
    env.ok(&[
        "checkpoint",
        "--image-path",
        second.to_str().unwrap(),
        "--work-path",
        work.to_str().unwrap(),
        &id,
    ]);
    assert!(
        work.join("dump.log").is_file(),
        "CRIU's log goes to --work-path"
    );
    assert_eq!(status_of(&env, &id), "stopped");
    assert_eq!(numbers(&log), paused_at, "a paused container counted");
    env.ok(&["delete", &id]);

    env.ok(&[
        "restore",
        "--detach",
        "--image-path",
        second.to_str().unwrap(),
        "-b",
        b,
        &copy,
    ]);
    let last = *paused_at.last().unwrap();
    wait_for("the restored counter", Duration::from_secs(10), || {
        numbers(&log).len() as u64 >= last + 5
    });
    assert_consecutive(&numbers(&log));
    env.ok(&["delete", "--force", &copy]);
    env.assert_clean(&[&id, &copy]);
}

fn ticks(path: &Path) -> Vec<(u64, String)> {
    complete_lines(path)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("tick ")?;
            let (n, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((n.parse().ok()?, tail.to_string()))
        })
        .collect()
}

#[test]
fn memory_open_files_and_pipes_survive_restore() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (bundle, data) = bundle_with_data(&env, "b", &["memhold", "256", "/data"]);
    common::install_program(&bundle, "memhold");
    let b = bundle.to_str().unwrap();
    let id = env.id("m");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let (held, child) = (data.join("held"), data.join("child"));
    env.ok(&["run", "--detach", "-b", b, &id]);
    wait_for("memhold's first ticks", Duration::from_secs(30), || {
        ticks(&held).len() >= 2
    });

    let image = env.path().join("image");
    env.ok(&["checkpoint", "--image-path", image.to_str().unwrap(), &id]);
    let pages: u64 = std::fs::read_dir(&image)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(pages >= 256 << 20, "image holds {pages} bytes of pages");
    let before = ticks(&held).len() as u64;
    env.ok(&["delete", &id]);

    env.ok(&[
        "restore",
        "--detach",
        "--image-path",
        image.to_str().unwrap(),
        "-b",
        b,
        &id,
    ]);
    wait_for("ticks after restore", Duration::from_secs(30), || {
        ticks(&held).len() as u64 >= before + 3
    });
    let held_ticks = ticks(&held);
    for (i, (n, tail)) in held_ticks.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1, "held file: {held_ticks:?}");
        assert_eq!(tail, "bad 0", "memory changed at tick {n}");
    }
    // The child read every tick through the restored pipe.
    wait_for("the child's copy", Duration::from_secs(10), || {
        ticks(&child).len() as u64 >= before + 2
    });
    let child_ticks: Vec<u64> = ticks(&child).into_iter().map(|(n, _)| n).collect();
    assert_consecutive(&child_ticks);
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

/// A directory with a fake `criu` that reports `version`.
fn fake_criu(env: &Env, version: &str) -> PathBuf {
    let dir = env.path().join(format!("fake-criu-{version}"));
    std::fs::create_dir(&dir).unwrap();
    let script = dir.join("criu");
    std::fs::write(&script, format!("#!/bin/sh\necho 'Version: {version}'\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn bad_checkpoints_and_restores_fail_cleanly() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let (bundle, data) = bundle_with_data(&env, "b", COUNTER);
    let b = bundle.to_str().unwrap();
    let id = env.id("c");
    let other = env.id("other");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone(), other.clone()],
    };
    let log = data.join("log");
    // Output on /dev/null, which any restore's output can stand in for.
    let status = env
        .cmd(&["run", "--detach", "-b", b, &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("the counter", Duration::from_secs(10), || {
        numbers(&log).len() >= 2
    });
    let image = env.path().join("image");
    let img = image.to_str().unwrap();

    // CRIU absent, or too old: nothing happens to the container.
    let mut cmd = env.cmd(&["checkpoint", "--image-path", img, &id]);
    let out = cmd.env("PATH", "/nonexistent").output().unwrap();
    assert_fails_with(&out, "criu not found in PATH");
    let old = fake_criu(&env, "3.17.1");
    let out = env
        .cmd(&["checkpoint", "--image-path", img, &id])
        .env("PATH", &old)
        .output()
        .unwrap();
    assert_fails_with(&out, "criu 3.17.1 is too old");
    assert_eq!(status_of(&env, &id), "running");
    assert!(!image.exists(), "a refused checkpoint made its directory");

    // A process exec'd into the container is outside the init's tree.
    let out = env.runsc(&["exec", "--detach", &id, "sleep", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.runsc(&["checkpoint", "--image-path", img, &id]);
    assert_fails_with(&out, "not descendants of its init");
    assert_eq!(status_of(&env, &id), "running");
    // The init's own short sleeps may exit while killall walks them (seen
    // in the slow guest), which makes it exit 1; the wait below is what
    // shows the exec'd one gone.
    let _ = env.runsc(&["exec", &id, "killall", "sleep"]);
    wait_for("the exec'd sleep to end", Duration::from_secs(10), || {
        !env.ok(&["ps", &id]).contains("sleep 1000")
    });

    // --pre-dump needs the kernel's soft-dirty page tracking, which some
    // kernels (this one among them) lack; either way the container runs on.
    let pre = env.path().join("pre");
    let out = env.runsc(&[
        "checkpoint",
        "--pre-dump",
        "--image-path",
        pre.to_str().unwrap(),
        &id,
    ]);
    if !out.status.success() {
        assert_fails_with(&out, "Tracking memory is not available");
    }
    assert_eq!(status_of(&env, &id), "running");

    // A good image, for the restore cases.
    env.ok(&["checkpoint", "--image-path", img, &id]);
    let out = env.runsc(&["checkpoint", "--image-path", img, &id]);
    assert_fails_with(&out, "container not running: container");
    env.ok(&["delete", &id]);

    // Restore onto an id in use: the running container is untouched.
    let bundle2 = env.bundle("b2", &["sleep", "1000"]);
    env.ok(&["run", "--detach", "-b", bundle2.to_str().unwrap(), &other]);
    let work = env.path().join("refused-work");
    let out = env.runsc(&[
        "restore",
        "--detach",
        "--image-path",
        img,
        "--work-path",
        work.to_str().unwrap(),
        "-b",
        b,
        &other,
    ]);
    assert_fails_with(&out, "already exists");
    assert_eq!(status_of(&env, &other), "running");
    assert!(!work.exists(), "a refused restore made its --work-path");
    env.ok(&["delete", "--force", &other]);

    let restore = |image: &str, path: Option<&Path>| {
        let mut cmd = env.cmd(&["restore", "--detach", "--image-path", image, "-b", b, &id]);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        env.output(cmd)
    };
    let missing = env.path().join("no-such-image");
    let out = restore(missing.to_str().unwrap(), None);
    assert_fails_with(&out, "no-such-image: no such file or directory");
    env.assert_clean(&[&id, &other]);

    let out = restore(img, Some(Path::new("/nonexistent")));
    assert_fails_with(&out, "criu not found in PATH");
    env.assert_clean(&[&id, &other]);

    let not_image = env.path().join("b");
    let out = restore(not_image.to_str().unwrap(), None);
    assert_fails_with(&out, "is not a runsc checkpoint image");
    env.assert_clean(&[&id, &other]);

    // Damaged images: truncated pages (which CRIU itself would not
    // notice), and a core image CRIU cannot read.
    for (file, needle) in [
        ("pages-1.img", "pages-1.img has 0 bytes"),
        ("core-1.img", "criu restore failed"),
    ] {
        let damaged = env.path().join(format!("damaged-{file}"));
        copy_dir(&image, &damaged);
        std::fs::write(damaged.join(file), b"").unwrap();
        if file == "core-1.img" {
            // Past the size check, so CRIU reads it.
            let info_path = damaged.join("runsc-checkpoint.json");
            let mut info: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
            info["files"][file] = json!(0);
            std::fs::write(&info_path, serde_json::to_vec(&info).unwrap()).unwrap();
        }
        let out = restore(damaged.to_str().unwrap(), None);
        assert_fails_with(&out, needle);
        env.assert_clean(&[&id, &other]);
    }

    // A newer format than ours.
    let future = env.path().join("future");
    copy_dir(&image, &future);
    let info_path = future.join("runsc-checkpoint.json");
    let mut info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
    info["version"] = json!(99);
    std::fs::write(&info_path, serde_json::to_vec(&info).unwrap()).unwrap();
    let out = restore(future.to_str().unwrap(), None);
    assert_fails_with(&out, "image format 99");
    env.assert_clean(&[&id, &other]);

    // The container wrote to /dev/null; a pipe cannot take its place.
    let out = env
        .cmd(&["restore", "--detach", "--image-path", img, "-b", b, &id])
        .output()
        .unwrap();
    assert_fails_with(&out, "stdout of the restore is a pipe");
    env.assert_clean(&[&id, &other]);

    // The good image still restores after all that.
    let out = env.runsc(&["restore", "--detach", "--image-path", img, "-b", b, &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id, &other]);
}

#[test]
fn restored_output_files_must_match_the_checkpointed_ones() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "echo hello; while sleep 0.1; do [ -e /go ] && { echo again; rm /go; }; done",
        ],
    );
    let b = bundle.to_str().unwrap();
    let id = env.id("c");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let output = env.path().join("output");
    let file = std::fs::File::create(&output).unwrap();
    let status = env
        .cmd(&["run", "--detach", "-b", b, &id])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("hello", Duration::from_secs(10), || {
        std::fs::read_to_string(&output).unwrap_or_default() == "hello\n"
    });
    let image = env.path().join("image");
    let img = image.to_str().unwrap();
    env.ok(&["checkpoint", "--image-path", img, &id]);
    env.ok(&["delete", &id]);

    // CRIU checks a regular file's size: a fresh, empty file will not do.
    let out = env.runsc(&["restore", "--detach", "--image-path", img, "-b", b, &id]);
    assert_fails_with(&out, "stdout of the restore is a file of 0 bytes");
    env.assert_clean(&[&id]);

    // The same file will, and the restored process writes on after hello.
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&output)
            .unwrap()
    };
    let status = env
        .cmd(&["restore", "--detach", "--image-path", img, "-b", b, &id])
        .stdout(open())
        .stderr(open())
        .status()
        .unwrap();
    assert!(status.success());
    env.ok(&["exec", &id, "touch", "/go"]);
    wait_for("again", Duration::from_secs(10), || {
        std::fs::read_to_string(&output).unwrap_or_default() != "hello\n"
    });
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "hello\nagain\n");
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
