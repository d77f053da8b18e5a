//! What the rootful and rootless Podman tests share: Podman itself
//! (installed if missing), the busybox image they load, the limits this
//! host needs, and how they look into a container from outside.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::common::{stderr, stdout, Env};

/// This host's root lacks CAP_SYS_RESOURCE: limits above the host's are
/// refused, under runc as well.
pub const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn have(rootless: bool) -> bool {
    runs("podman") && (!rootless || Path::new("/usr/bin/newuidmap").exists())
}

/// Podman (and, for `rootless`, newuidmap from uidmap), installed with
/// apt-get if missing; false, with a note, if that fails.
pub fn installed(rootless: bool) -> bool {
    if have(rootless) {
        return true;
    }
    let out = Command::new("apt-get")
        .args([
            "install",
            "-y",
            "--no-install-recommends",
            "podman",
            "uidmap",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
    if !have(rootless) {
        eprintln!(
            "skipped: podman or uidmap is missing and apt-get could not install them: {out:?}"
        );
        return false;
    }
    true
}

/// A busybox image named `name` whose command is `sleep 1000`, as an
/// archive at `archive` (tools/mkimage).
pub fn busybox_archive(env: &Env, name: &str, archive: &Path) -> PathBuf {
    let bundle = env.bundle("image", &["sh"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/mkimage");
    let out = Command::new(script)
        .arg(bundle.join("rootfs"))
        .arg(name)
        .arg(archive)
        .args(["sleep", "1000"])
        .output()
        .expect("run tools/mkimage");
    assert!(out.status.success(), "mkimage: {}", stderr(&out));
    archive.to_path_buf()
}

/// The stdout of a podman call that must succeed.
pub fn expect_ok(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "podman {args:?} failed ({:?}): {}",
        out.status,
        stderr(&out)
    );
    stdout(&out)
}

/// The hostname and interfaces seen through `nsenter -t <pid> -n -u`.
pub fn entered_net_uts(pid: &str) -> Vec<String> {
    let out = Command::new("nsenter")
        .args(["-t", pid, "-n", "-u", "--", "sh", "-c"])
        .arg("hostname; tail -n +3 /proc/net/dev | cut -d: -f1")
        .output()
        .expect("run nsenter");
    stdout(&out).lines().map(|l| l.trim().to_string()).collect()
}

/// `podman top <id> -eo pid,comm` lists the container's `sleep`, and none
/// of the host's processes or ours.
pub fn assert_top_lists_the_container(top: &str) {
    let comms: Vec<&str> = top
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(comms.first(), Some(&"sleep"), "{top}");
    assert!(!top.contains("kworker") && !top.contains("runsc"), "{top}");
}

/// `podman top <id>` with its default descriptors, which Podman serves by
/// reading `/proc` in the mount namespace of the pid we report: the
/// container's one process, none of the host's.
pub fn assert_default_top_lists_the_container(top: &str) {
    let rows: Vec<&str> = top
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert!(rows[0].trim_end().ends_with("sleep 1000"), "{top}");
    assert!(!top.contains("kworker") && !top.contains("runsc"), "{top}");
}
