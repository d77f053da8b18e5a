//! containerd-shim-runsc-v1 with a `binary://` log URI, as `ctr run
//! --log-uri` and nerdctl pass it: the shim starts the named program with
//! the container's stdout on fd 3, its stderr on fd 4 and a ready pipe on
//! fd 5; at delete the program and whatever it started are gone.

mod common;
mod shim_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{stderr, Env};
use shim_support::{Containerd, BUSYBOX, RUNTIME};

/// A logger that records what it is given under its `dir` argument; with
/// `mode stubborn`, it also starts a child that ignores SIGTERM and never
/// exits on its own.
const LOGGER: &str = r#"#!/bin/sh
dir=$2
env > "$dir/environ"
echo "$*" > "$dir/args"
PATH=/usr/bin:/bin
echo $$ > "$dir/pid"
if [ "$4" = stubborn ]; then
    sh -c "trap '' TERM; exec sleep 1000" 5>&- &
    echo $! > "$dir/child"
fi
exec 5>&-
cat <&3 > "$dir/stdout" &
cat <&4 > "$dir/stderr" &
wait
echo done > "$dir/done"
"#;

fn logger(env: &Env) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = env.path().join("logger");
    std::fs::write(&path, LOGGER).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    // A zombie is not a process left behind once its parent reaps it.
    !stat.is_empty() && !stat.contains(") Z ")
}

/// A private containerd with busybox, the logger, and its directory.
fn setup() -> (Env, Containerd, PathBuf, PathBuf) {
    let env = Env::new();
    let ctd = Containerd::start(&env, false);
    ctd.import_images(&env, "default");
    let logger = logger(&env);
    let dir = env.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    (env, ctd, logger, dir)
}

/// `ctr run` under our runtime with log URI `uri`: `flag`, then busybox
/// as `id` running `sh -c cmd`.
fn run(ctd: &Containerd, flag: &str, uri: &str, id: &str, cmd: &str) -> Output {
    let options = ctd.options.to_str().unwrap().to_string();
    ctd.ctr(
        "default",
        &[
            "run",
            flag,
            "--runtime",
            RUNTIME,
            "--runtime-config-path",
            &options,
            "--log-uri",
            uri,
            BUSYBOX,
            id,
            "sh",
            "-c",
            cmd,
        ],
    )
}

#[test]
fn container_output_reaches_the_log_binary() {
    let (env, ctd, logger, dir) = setup();
    let uri = format!("binary://{}?dir={}", logger.display(), dir.display());
    let out = run(
        &ctd,
        "--rm",
        &uri,
        "logged",
        "echo to stdout; echo to stderr >&2; exit 3",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(read(&dir, "stdout"), "to stdout\n");
    assert_eq!(read(&dir, "stderr"), "to stderr\n");
    assert_eq!(read(&dir, "args"), format!("dir {}\n", dir.display()));
    // Only containerd's two variables, not the shim's environment.
    let environ = read(&dir, "environ");
    assert!(environ.contains("CONTAINER_ID=logged\n"), "{environ}");
    assert!(
        environ.contains("CONTAINER_NAMESPACE=default\n"),
        "{environ}"
    );
    assert!(!environ.contains("TTRPC_ADDRESS"), "{environ}");
    // It saw end-of-file and finished on its own, and is gone.
    assert_eq!(read(&dir, "done"), "done\n");
    assert!(
        !alive(&read(&dir, "pid")),
        "the logger outlived its container"
    );

    // A program that cannot be run: the error says which.
    let out = run(
        &ctd,
        "--rm",
        "binary:///nonexistent/logger",
        "nologger",
        "true",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("log binary /nonexistent/logger: start"),
        "{}",
        stderr(&out)
    );
    let _ = ctd.ctr("default", &["container", "delete", "nologger"]);

    ctd.eventually(10, "shims gone", || ctd.shims().is_empty());
    ctd.assert_clean(&env);
}

#[test]
fn a_stubborn_log_binary_is_stopped_at_delete() {
    let (env, ctd, logger, dir) = setup();
    let uri = format!(
        "binary://{}?dir={}&mode=stubborn",
        logger.display(),
        dir.display()
    );
    let out = run(
        &ctd,
        "-d",
        &uri,
        "stubborn",
        "echo started; exec sleep 1000",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    ctd.eventually(10, "output logged", || read(&dir, "stdout") == "started\n");
    let (pid, child) = (read(&dir, "pid"), read(&dir, "child"));
    assert!(alive(&pid) && alive(&child));

    ctd.kill_and_delete("stubborn");
    // Reaped by the shim before the delete returned; its child, which
    // ignores SIGTERM, killed with its process group.
    assert!(!alive(&pid), "the logger outlived the delete");
    ctd.eventually(5, "the logger's child gone", || !alive(&child));
    assert_eq!(read(&dir, "done"), "", "it never finished on its own");
    ctd.eventually(10, "shim gone", || ctd.shims().is_empty());
    ctd.assert_clean(&env);
}
