//! The CRIU binary a caller names with the global `--criu` (a path, or a
//! name looked up in PATH, as runc takes it; containerd's runc shim passes
//! its `CriuPath` so before every command) is the one checkpoint and the
//! restoring sandbox run.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{assert_fails_with, status_of, Env, Reaper};

/// `dir/name`: a script that logs its first argument to `dir/log`, then
/// runs `then` with all of them.
fn wrapper(dir: &Path, name: &str, then: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join(name);
    let log = dir.join("log");
    let text = format!(
        "#!/bin/sh\necho \"$1\" >> '{}'\nexec {then} \"$@\"\n",
        log.display()
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn host_criu() -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join("criu"))
        .find(|p| p.is_file())
}

#[test]
fn the_criu_named_by_the_flag_checkpoints_and_restores() {
    if common::skip_without_root() {
        return;
    }
    let criu = host_criu().expect("criu in PATH (tools/install-criu)");
    let env = Env::new();
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let b = bundle.to_str().unwrap();
    let id = env.id("c");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "--detach", "-b", b, &id]);
    let image = env.path().join("image");
    let img = image.to_str().unwrap();

    // A path that is not there, and a CRIU too old: refused, whatever
    // PATH holds, and the container runs on.
    let out = env.runsc(&[
        "--criu",
        "/nonexistent/criu",
        "checkpoint",
        "--image-path",
        img,
        &id,
    ]);
    assert_fails_with(&out, "run /nonexistent/criu: No such file or directory");
    let old = wrapper(&env.path().join("old"), "criu", "echo Version: 3.17.1 #");
    let out = env.runsc(&[
        "--criu",
        old.to_str().unwrap(),
        "checkpoint",
        "--image-path",
        img,
        &id,
    ]);
    assert_fails_with(&out, "criu 3.17.1 is too old");
    let out = env.runsc(&[
        "--criu",
        "no-such-criu",
        "checkpoint",
        "--image-path",
        img,
        &id,
    ]);
    assert_fails_with(&out, "no-such-criu not found in PATH");
    assert_eq!(status_of(&env, &id), "running");
    assert!(!image.exists(), "a refused checkpoint made its directory");

    // Ours, by path: it dumps, and the restoring sandbox runs it too.
    let ours = wrapper(&env.path().join("ours"), "my-criu", criu.to_str().unwrap());
    let flag = ["--criu", ours.to_str().unwrap()];
    let mut args = flag.to_vec();
    args.extend(["checkpoint", "--image-path", img, &id]);
    env.ok(&args);
    assert_eq!(status_of(&env, &id), "stopped");
    let mut args = flag.to_vec();
    args.extend(["delete", &id]);
    env.ok(&args);
    let mut args = flag.to_vec();
    args.extend(["restore", "--detach", "--image-path", img, "-b", b, &id]);
    env.ok(&args);
    assert_eq!(status_of(&env, &id), "running");
    let log = std::fs::read_to_string(env.path().join("ours/log")).unwrap();
    let actions: Vec<&str> = log.lines().filter(|l| *l != "--version").collect();
    assert_eq!(actions, ["dump", "restore"], "{log}");
    assert!(env.ok(&["ps", &id]).contains("sleep 1000"));
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
