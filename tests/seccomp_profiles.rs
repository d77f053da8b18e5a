//! Containers under seccomp profiles older than the syscalls that libc and
//! our own init use: Docker 19.03's default profile, and one that knows
//! only Linux 4.x. They must start, and a syscall newer than any the
//! profile names must fail with ENOSYS (so that libraries fall back), as
//! under runc; older ones get the profile's default action.

mod common;

use std::path::PathBuf;

use common::profiles::{data, docker_19_03_profile, mkrootfs_caps, runc_report};
use common::{edit_config, install_program, stderr, stdout, Env, Reaper};
use serde_json::{json, Value};

/// What tests/programs/newer_syscalls.c prints under both profiles.
const NEWER_SYSCALLS_ENOSYS: [&str; 8] = [
    "clone3=ENOSYS",
    "close_range=ENOSYS",
    "openat2=ENOSYS",
    "faccessat2=ENOSYS",
    "cachestat=ENOSYS",
    "fchmodat2=ENOSYS",
    "mseal=ENOSYS",
    // glibc's posix_spawn falls back from clone3 to clone; 0: exit status.
    "spawn=0",
];

/// Allows every syscall of Linux 4.20 on x86_64 and nothing later.
fn linux_4_profile() -> Value {
    let text = std::fs::read_to_string(data("linux-4.20-x86_64-syscalls.txt")).expect("list");
    let names: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(names.len(), 335, "x86_64 syscalls 0..=334");
    json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]})
}

/// A busybox bundle running /bin/newer_syscalls under `profile`.
fn bundle(env: &Env, name: &str, profile: &Value, nnp: bool) -> PathBuf {
    let bundle = env.bundle(name, &["/bin/newer_syscalls"]);
    install_program(&bundle, "newer_syscalls");
    edit_config(&bundle, |c| {
        c["linux"]["seccomp"] = profile.clone();
        c["process"]["noNewPrivileges"] = json!(nnp);
    });
    bundle
}

/// Asserts the program's report: ENOSYS for every newer syscall, posix_spawn
/// working, and `unshare` (older than the profile) as the profile says.
fn assert_report(what: &str, out: &str, unshare: &str) {
    let lines: Vec<&str> = out.lines().collect();
    for want in NEWER_SYSCALLS_ENOSYS.iter().chain([&unshare]) {
        assert!(lines.contains(want), "{what}: {want} missing in:\n{out}");
    }
}

#[test]
fn old_profiles_start_containers_and_newer_syscalls_get_enosys() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let caps = mkrootfs_caps(&env);
    // Without CAP_SYS_ADMIN, Docker's profile leaves unshare out.
    let cases = [
        ("docker", docker_19_03_profile(&caps), "unshare=EPERM"),
        ("linux4", linux_4_profile(), "unshare=0"),
    ];
    for (name, profile, unshare) in &cases {
        for nnp in [false, true] {
            let label = format!("{name}-nnp-{nnp}");
            let bundle = bundle(&env, &label, profile, nnp);
            let id = env.id(&label);
            let _r = Reaper {
                env: &env,
                ids: vec![id.clone()],
            };
            let out = env.runsc(&["run", "-b", bundle.to_str().unwrap(), &id]);
            assert!(out.status.success(), "{label}: {}", stderr(&out));
            assert_report(&label, &stdout(&out), unshare);
            if let Some(runc) = runc_report(&env, &bundle, &env.id(&format!("runc-{label}"))) {
                assert_eq!(stdout(&out), runc, "{label}: runsc and runc differ");
            }
            env.assert_clean(&[&id]);
        }
    }
}

#[test]
fn exec_as_a_user_under_an_old_profile() {
    if common::skip_without_root() {
        return;
    }
    // An exec'd process also runs under the sandbox's own filter, and a
    // user other than root changes identity (capset) under the profile.
    let env = Env::new();
    let caps = mkrootfs_caps(&env);
    let bundle = bundle(&env, "exec", &docker_19_03_profile(&caps), false);
    edit_config(&bundle, |c| c["process"]["args"] = json!(["sleep", "1000"]));
    let id = env.id("exec");
    let _r = Reaper {
        env: &env,
        ids: vec![id.clone()],
    };
    env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), &id]);
    let out = env.ok(&[
        "exec",
        "--user",
        "1000:1000",
        "--cwd",
        "/tmp",
        &id,
        "/bin/newer_syscalls",
    ]);
    assert_report("exec", &out, "unshare=EPERM");
    let id_out = env.ok(&["exec", "--user", "1000:1000", &id, "id", "-u"]);
    assert_eq!(id_out.trim(), "1000");
    env.ok(&["delete", "--force", &id]);
    env.assert_clean(&[&id]);
}
