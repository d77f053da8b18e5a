//! Bad input, faults and races: each must end in one clear error or a
//! contained container, never a panic or a leftover. What a container
//! can reach is tests/confinement.rs.

mod common;

use std::time::{Duration, Instant};

use common::{assert_exec_fails_with, assert_fails_with, edit_config, stderr, stdout, Env, Reaper};
use serde_json::json;

#[test]
fn malformed_specs_are_one_line_errors() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    let config = bundle.join("config.json");
    let good = std::fs::read_to_string(&config).unwrap();
    let id = env.id("bad");
    let cases: Vec<(String, &str)> = vec![
        ("{\"ociVersion\": ".to_string(), "config.json"),
        (good[..good.len() / 2].to_string(), "config.json"),
        (
            good.replace("\"hostname\": \"runsc\"", "\"hostname\": 42"),
            "config.json",
        ),
        (
            good.replace("\"path\": \"rootfs\"", "\"path\": \"\""),
            "root.path",
        ),
        (
            good.replace("\"CAP_KILL\"", "\"CAP_NOT_A_THING\""),
            "config.json",
        ),
    ];
    for (content, needle) in cases {
        std::fs::write(&config, &content).unwrap();
        let out = env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]);
        assert_fails_with(&out, needle);
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    std::fs::write(&config, &good).unwrap();
    edit_config(&bundle, |c| c["process"]["args"] = json!([]));
    assert_fails_with(
        &env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]),
        "process.args",
    );
    std::fs::write(&config, &good).unwrap();
    edit_config(&bundle, |c| c["root"]["path"] = json!("config.json"));
    assert_fails_with(
        &env.runsc(&["create", "-b", bundle.to_str().unwrap(), &id]),
        "not a directory",
    );
    env.assert_clean(&[&id]);
}

#[test]
fn bad_arguments_are_one_line_errors() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("args");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let missing = env.path().join("no-such.sock");
    let out = env.runsc(&[
        "create",
        "-b",
        bundle.to_str().unwrap(),
        "--console-socket",
        missing.to_str().unwrap(),
        &id,
    ]);
    assert_fails_with(&out, "no-such.sock");
    let out = env.runsc(&[
        "create",
        "-b",
        bundle.to_str().unwrap(),
        "--pid-file",
        "/nonexistent/dir/pid",
        &id,
    ]);
    assert_fails_with(&out, "/nonexistent/dir");
    env.assert_clean(&[&id]);
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    assert_fails_with(&env.runsc(&["kill", &id, "SIGNOPE"]), "invalid signal");
    assert_exec_fails_with(
        &env.runsc(&["exec", "--cap", "CAP_NOPE", &id, "true"]),
        "CAP_NOPE",
    );
    assert_eq!(env.state(&id)["status"], "running");
    // A flag we do not know: one line on stderr, and the cause in --log,
    // where containerd looks for it.
    assert_fails_with(
        &env.runsc(&["restore", "--bogus-flag", &id]),
        "--bogus-flag",
    );
    let logged = env.log_lines().iter().any(|l| {
        l["level"] == "error"
            && l["msg"]
                .as_str()
                .is_some_and(|m| m.contains("--bogus-flag"))
    });
    assert!(logged, "not in the log: {:?}", env.log_lines());
}

#[test]
fn bundle_paths_with_spaces_and_unicode() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("a bündle ✓", &["echo", "fine"]);
    let id = env.id("unicode");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "fine\n");
    env.assert_clean(&[&id]);
}

#[test]
fn a_killed_sandbox_leaves_a_stopped_container_delete_can_clean() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("sigkill");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = common::sandbox_pid(&env, &id) as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sandbox),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    common::wait_for_status(&env, &id, "stopped");
    // Its init died with it.
    assert_eq!(env.state(&id)["pid"], 0);
    env.ok(&["delete", &id]);
    env.assert_clean(&[&id]);
}

/// SIGKILL of the frontend at each step of create, start, exec and
/// delete (through the test-only RUNSC_TEST_CRASH_AT hook): the store is
/// never torn, and `delete --force` always cleans up completely.
#[test]
fn a_frontend_killed_midway_leaves_nothing_delete_force_cannot_clean() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let b = bundle.to_str().unwrap();
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("create:registered", &[], &["create", "-b", b]),
        ("create:spawned", &[], &["create", "-b", b]),
        ("create:created", &[], &["create", "-b", b]),
        ("start:released", &["create", "-b", b], &["start"]),
        // `run` starts within create, under one lock and one write.
        ("create:created", &[], &["run", "-d", "-b", b]),
        ("start:released", &[], &["run", "-d", "-b", b]),
        (
            "exec:started",
            &["run", "-d", "-b", b],
            &["exec", "--", "sleep", "1000"],
        ),
        (
            "delete:killed",
            &["run", "-d", "-b", b],
            &["delete", "--force"],
        ),
        (
            "delete:renamed",
            &["run", "-d", "-b", b],
            &["delete", "--force"],
        ),
    ];
    for (n, (point, before, crashing)) in cases.iter().enumerate() {
        let id = env.id(&format!("crash{n}"));
        let _r = Reaper {
            env: &env,
            ids: vec![id.clone()],
        };
        let with_id = |args: &[&str]| -> Vec<String> {
            // The id goes after the flags, before an exec's command.
            let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let at = v.iter().position(|a| a == "--").unwrap_or(v.len());
            v.insert(at, id.clone());
            v
        };
        if !before.is_empty() {
            let args = with_id(before);
            env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        }
        let args = with_id(crashing);
        env.crash_at(point, &args.iter().map(String::as_str).collect::<Vec<_>>());
        // Every listed container still has whole metadata.
        let listed: serde_json::Value =
            serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
        for c in listed.as_array().into_iter().flatten() {
            let cid = c["id"].as_str().unwrap();
            env.ok(&["state", cid]);
        }
        env.ok(&["delete", "--force", &id]);
        env.assert_clean(&[&id]);
    }
}

#[test]
fn delete_force_of_a_running_container_with_corrupt_metadata_kills_it() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("corrupt");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = common::sandbox_pid(&env, &id) as i32;
    std::fs::write(env.root.join(&id).join("meta.json"), b"{\"id\": tru").unwrap();
    let out = env.runsc(&["delete", &id]);
    assert_fails_with(&out, "is corrupt: use delete --force");
    env.ok(&["delete", "--force", &id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while specutils::proc::start_time(sandbox).is_ok_and(|_| {
        !std::fs::read_to_string(format!("/proc/{sandbox}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    }) {
        assert!(
            Instant::now() < deadline,
            "the sandbox outlived delete --force"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.assert_clean(&[&id]);
}

#[test]
fn racing_creates_of_one_id_have_one_winner() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("race");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    let children: Vec<_> = (0..10)
        .map(|n| {
            let out = std::fs::File::create(env.path().join(format!("race.{n}"))).unwrap();
            env.cmd(&["create", "-b", bundle.to_str().unwrap(), &id])
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|mut c| c.wait().unwrap().code().unwrap_or(-1))
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 1, "{codes:?}");
    for n in 0..10 {
        let text = std::fs::read_to_string(env.path().join(format!("race.{n}"))).unwrap();
        assert!(text.is_empty() || text.contains("already exists"), "{text}");
    }
    assert_eq!(env.state(&id)["status"], "created");
}

#[test]
fn a_hundred_parallel_lifecycles() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let bundle = env.bundle("b", &["true"]);
    let ids: Vec<String> = (0..100).map(|n| env.id(&format!("par{n}"))).collect();
    let _r = Reaper {
        env: &env,
        ids: ids.clone(),
    };
    let script = format!(
        "{bin} --root {root} create -b {bundle} \"$1\" && {bin} --root {root} start \"$1\" && \
         {bin} --root {root} wait \"$1\" >/dev/null; {bin} --root {root} delete --force \"$1\" || echo FAIL",
        bin = common::runsc_bin(),
        root = env.root.display(),
        bundle = bundle.display(),
    );
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            std::process::Command::new("sh")
                .args(["-c", &script, "sh", id])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut failures = Vec::new();
    for (id, child) in ids.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        if !out.status.success() || stdout(&out).contains("FAIL") || !stderr(&out).is_empty() {
            failures.push(format!("{id}: {}{}", stdout(&out), stderr(&out)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    env.assert_clean(&refs);
}

#[test]
fn a_full_state_root_is_enospc_and_keeps_meta() {
    if common::skip_without_root() {
        return;
    }
    let mut env = Env::new();
    let small = env.path().join("small-root");
    std::fs::create_dir(&small).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &small,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=256k"),
    )
    .expect("mount a small tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _unmount = Unmount(small.clone());
    env.root = small.join("root");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("full");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["create", "-b", bundle.to_str().unwrap(), &id]);
    let meta = env.root.join(&id).join("meta.json");
    let before = std::fs::read(&meta).unwrap();
    // Fill what is left.
    let filler = small.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 512 * 1024]);
    let out = env.runsc(&["start", &id]);
    assert_fails_with(&out, "No space left on device");
    assert_eq!(std::fs::read(&meta).unwrap(), before, "meta.json changed");
    // start failed before it released the init: the container is still
    // created, its init still waits, and nothing of the attempt is left.
    assert_eq!(env.state(&id)["status"], "created");
    let pids: Vec<i32> = serde_json::from_str(&env.ok(&["ps", "-f", "json", &id])).unwrap();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
    assert!(!cmdline.starts_with(b"sleep\0"), "the init exec'd");
    let entries: Vec<_> = std::fs::read_dir(env.root.join(&id))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with('~'))
        .collect();
    assert!(entries.is_empty(), "left behind: {entries:?}");
    // With room again, the same container starts.
    std::fs::remove_file(&filler).unwrap();
    env.ok(&["start", &id]);
    assert_eq!(env.state(&id)["status"], "running");
    env.ok(&["delete", "--force", &id]);
    assert!(!env.root.join(&id).exists());
}
