//! Bad input, faults and escape attempts: each must end in one clear
//! error or a contained container, never a panic or a leftover.

mod common;

use std::time::{Duration, Instant};

use common::{assert_fails_with, edit_config, stderr, stdout, Env, Reaper};
use serde_json::json;

#[test]
fn malformed_specs_are_one_line_errors() {
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
    assert_fails_with(
        &env.runsc(&["exec", "--cap", "CAP_NOPE", &id, "true"]),
        "CAP_NOPE",
    );
    assert_eq!(env.state(&id)["status"], "running");
}

#[test]
fn bundle_paths_with_spaces_and_unicode() {
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
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("sigkill");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let sandbox = env.state(&id)["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sandbox),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.state(&id)["status"] != "stopped" {
        assert!(Instant::now() < deadline, "never stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its init died with it.
    assert_eq!(env.state(&id)["pid"], 0);
    env.ok(&["delete", &id]);
    env.assert_clean(&[&id]);
}

#[test]
fn no_host_descriptor_reaches_the_container() {
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let id = env.id("fds");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let init_fds = env.ok(&["exec", &id, "ls", "/proc/1/fd"]);
    assert_eq!(
        init_fds.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2"],
        "init: {init_fds}"
    );
    // ls's own directory descriptor is the 4th.
    let exec_fds = env.ok(&["exec", &id, "ls", "/proc/self/fd"]);
    assert_eq!(
        exec_fds.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "exec: {exec_fds}"
    );
    let cwd = env.ok(&["exec", &id, "readlink", "/proc/1/cwd"]);
    assert_eq!(cwd.trim(), "/");
}

#[test]
fn a_symlinked_mount_destination_stays_inside_the_rootfs() {
    let env = Env::new();
    let bundle = env.bundle(
        "b",
        &["sh", "-c", "ls /inside-target; cat /inside-target/marker"],
    );
    let source = env.path().join("source");
    let outside = env.path().join("outside");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(source.join("marker"), "mounted\n").unwrap();
    let rootfs = bundle.join("rootfs");
    // Absolute and ../-laden links that point outside the rootfs if
    // resolved on the host.
    std::os::unix::fs::symlink(&outside, rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../inside-target", rootfs.join("rel")).unwrap();
    edit_config(&bundle, |c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/abs/x", "type": "bind", "source": source, "options": ["rbind", "ro"]}));
        mounts.push(json!({"destination": "/rel", "type": "bind", "source": source, "options": ["rbind", "ro"]}));
    });
    let id = env.id("symlink");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("mounted"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "something was made outside the rootfs"
    );
    // The links were followed inside the rootfs.
    assert!(rootfs
        .join(outside.strip_prefix("/").unwrap())
        .join("x")
        .exists());
    env.assert_clean(&[&id]);
}

#[test]
fn read_only_mounts_cannot_be_made_writable_without_cap_sys_admin() {
    let env = Env::new();
    let source = env.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let bundle = env.bundle("b", &["sh", "-c", "mount -o remount,rw /ro 2>&1; mount -o remount,rw,bind /ro 2>&1; touch /ro/x 2>&1; echo done"]);
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/ro", "type": "bind", "source": source, "options": ["rbind", "ro"]}));
    });
    let id = env.id("remount");
    let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Read-only file system"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_dir(&source).unwrap().count(), 0);
    env.assert_clean(&[&id]);
}

#[test]
fn racing_creates_of_one_id_have_one_winner() {
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
    std::fs::remove_file(&filler).unwrap();
    // The container started anyway (the sandbox ran it); delete cleans up.
    env.ok(&["delete", "--force", &id]);
    assert!(!env.root.join(&id).exists());
}
