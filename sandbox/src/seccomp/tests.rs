//! Unit tests of compiling and loading OCI profiles, and of the
//! sandbox's own filter.

use super::*;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use serde_json::json;

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).expect("profile json")
}

/// Loads `filter` in a forked child, runs `check` there with the notify
/// fd, and returns the child's exit code (0: every expectation held).
pub(crate) fn in_child(filter: &Filter, check: impl FnOnce(Option<OwnedFd>) -> i32) -> i32 {
    // SAFETY: the harness is multithreaded, so the child only loads the
    // filter (glibc and musl keep malloc usable across fork), makes syscalls and
    // leaves with _exit, never waiting on locks other threads held.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            // SAFETY: prctl with integer arguments touches no memory.
            let nnp = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            let code = match (nnp, filter.load()) {
                (0, Ok(fd)) => check(fd),
                _ => 100,
            };
            // SAFETY: _exit runs no destructors or atexit handlers that
            // belong to the parent's state.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child did not exit normally: {other:?}"),
        },
    }
}

/// A raw syscall with integer arguments: its result, or its errno.
fn sys(nr: libc::c_long, a0: libc::c_long, a1: libc::c_long) -> Result<libc::c_long, i32> {
    // SAFETY: only used with syscalls that take integers, not pointers.
    let ret = unsafe { libc::syscall(nr, a0, a1, 0, 0, 0, 0) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    (ret != -1).then_some(ret).ok_or(errno)
}

#[test]
fn compiles_every_action_and_condition() {
    let actions = "KILL KILL_PROCESS KILL_THREAD TRAP ERRNO TRACE LOG NOTIFY ALLOW";
    for action in actions.split(' ').map(|a| format!("SCMP_ACT_{a}")) {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_NATIVE", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                              "SCMP_ARCH_AARCH64"],
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                      "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [
                {"names": ["getppid", "socketcall"], "action": action},
                {"names": ["getpid"], "action": action, "errnoRet": 38},
                {"names": ["personality"], "action": action, "args": [
                    {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 0xffffffffu32, "op": "SCMP_CMP_NE"}]},
                {"names": ["clone"], "action": action, "args": [
                    {"index": 0, "value": 0x7e020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"},
                    {"index": 1, "value": 5, "op": "SCMP_CMP_LT"},
                    {"index": 2, "value": 5, "op": "SCMP_CMP_LE"},
                    {"index": 3, "value": 5, "op": "SCMP_CMP_GE"},
                    {"index": 4, "value": 5, "op": "SCMP_CMP_GT"}]},
            ],
        }));
        let filter = compile(&p).unwrap_or_else(|e| panic!("{action}: {e}"));
        assert_eq!(filter.uses_notify(), action == "SCMP_ACT_NOTIFY");
    }
}

#[test]
fn skips_unknown_syscalls_and_default_action_rules() {
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["no_such_syscall", "getppid"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["also_unknown"], "action": "SCMP_ACT_NOTIFY"}]}));
    let filter = compile(&p).expect("unknown names are skipped");
    assert!(
        !filter.uses_notify(),
        "a notify rule without a known syscall adds nothing"
    );
}

#[test]
fn rejects_bad_input_naming_it() {
    let rule = |args| {
        json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_LOG", "args": args}]})
    };
    let fails = |json, words: &[&str]| {
        let msg = compile(&profile(json)).expect_err("must fail").to_string();
        assert!(words.iter().all(|w| msg.contains(w)), "{msg}");
    };
    fails(
        json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
        &["SCMP_ACT_NOTIFY"],
    );
    let errno = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000});
    fails(errno, &["SCMP_ACT_ERRNO", "70000"]);
    let index = json!([{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]);
    fails(rule(index), &["getppid", "index 6"]);
    let two = json!([{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_EQ"}]);
    fails(rule(two), &["getppid", "SCMP_CMP_EQ"]);
}

#[test]
fn flags_reach_the_kernel() {
    // oci-spec refuses flag names it does not know.
    let unknown = json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]});
    assert!(serde_json::from_value::<LinuxSeccomp>(unknown).is_err());
    let every = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    // With a listener, TSYNC needs TSYNC_ESRCH; without one, the kernel
    // refuses WAIT_KILLABLE_RECV: either mistake fails the load.
    let notify = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": every,
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}));
    let filter = compile(&notify).expect("compile");
    assert_eq!(in_child(&filter, |fd| i32::from(fd.is_none())), 0);
    let plain = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": every}));
    let filter = compile(&plain).expect("compile");
    assert_eq!(in_child(&filter, |fd| i32::from(fd.is_some())), 0);
}

#[test]
fn errno_rule_blocks_mkdir() {
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}));
    let filter = compile(&p).expect("compile");
    let dir = std::env::temp_dir().join(format!("seccomp-mkdir-{}", std::process::id()));
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
    let code = in_child(&filter, |_| {
        // SAFETY: path is a NUL-terminated string that outlives the call.
        let ret = unsafe { libc::mkdir(path.as_ptr(), 0o700) };
        match (ret, std::io::Error::last_os_error().raw_os_error()) {
            (-1, Some(libc::EPERM)) => 0,
            (0, _) => 1,
            _ => 2,
        }
    });
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(code, 0, "mkdir must fail with EPERM under the filter");
}

#[test]
fn arg_conditions_match_only_their_values() {
    // getpgid(pid) and getpriority(which, who) are harmless with any
    // value, and never fail with EXDEV by themselves.
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
         "args": [{"index": 0, "value": 0xff00, "valueTwo": 0x4200, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
         "args": [{"index": 0, "value": libc::PRIO_PROCESS, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 111, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 222, "op": "SCMP_CMP_EQ"}]}]}));
    let filter = compile(&p).expect("compile");
    let code = in_child(&filter, |_| {
        let hit = |r| r == Err(libc::EXDEV);
        let pgid = |pid| sys(libc::SYS_getpgid, pid, 0);
        let prio = |which, who| sys(libc::SYS_getpriority, which, who);
        // Their C type is unsigned in glibc, int in musl.
        let (process, group) = (libc::PRIO_PROCESS as _, libc::PRIO_PGRP as _);
        let pgid_hits = [0x4242, 0x42ff, 0, 0x4342].map(|pid| hit(pgid(pid)));
        let prio_hits = [(process, 111), (process, 222), (process, 0), (group, 111)];
        let prio_hits = prio_hits.map(|(which, who)| hit(prio(which, who)));
        let expected = [true, true, false, false];
        i32::from(pgid_hits != expected) + 2 * i32::from(prio_hits != expected)
    });
    assert_eq!(
        code, 0,
        "1: MASKED_EQ, 2: same-index OR with EQ on another index"
    );
}

#[test]
fn notify_load_returns_the_listener_fd() {
    let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}));
    let filter = compile(&p).expect("compile");
    assert_eq!(in_child(&filter, |fd| i32::from(fd.is_none())), 0);
    let plain = compile(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW"}))).expect("compile");
    assert_eq!(in_child(&plain, |fd| i32::from(fd.is_some())), 0);
}

#[test]
fn self_filters_block_dangerous_syscalls() {
    let strict = crate::self_filter::build(&["no_such_syscall"]).expect("allow list");
    // perf_event_open(NULL, ...) fails with EFAULT or EINVAL, never
    // EPERM, once the kernel sees it.
    let perf = || sys(libc::SYS_perf_event_open, 0, 0);
    let code = in_child(&strict, |_| {
        let ok = sys(libc::SYS_getpid, 0, 0).is_ok_and(|pid| pid > 0)
            && std::fs::read("/proc/self/stat").is_ok()
            && perf() == Err(libc::EPERM)
            && sys(libc::SYS_bpf, -1, 0) == Err(libc::EPERM);
        i32::from(!ok)
    });
    assert_eq!(code, 0);
    let with_perf = crate::self_filter::build(&["perf_event_open"]).expect("allow list");
    let code = in_child(&with_perf, |_| i32::from(perf() == Err(libc::EPERM)));
    assert_eq!(code, 0, "extra syscalls must be allowed");
}

#[test]
fn self_filters_say_enosys_for_what_they_do_not_name() {
    // fchmodat2 (Linux 6.6) is in no list: a caller such as glibc,
    // which falls back only on ENOSYS, must see ENOSYS. Neither is
    // SysV shared memory in the base list, but it is in the one the
    // sandbox loads.
    const FCHMODAT2: libc::c_long = 452;
    let base = crate::self_filter::build(&[]).expect("allow list");
    let code = in_child(&base, |_| {
        let ok = sys(FCHMODAT2, -1, 0) == Err(libc::ENOSYS)
            && sys(libc::SYS_shmget, 0, 0) == Err(libc::ENOSYS);
        i32::from(!ok)
    });
    assert_eq!(code, 0);
    let sandbox =
        crate::self_filter::build(crate::self_filter::CONTAINER_ALLOW).expect("allow list");
    let code = in_child(&sandbox, |_| {
        // shmget(IPC_PRIVATE, 0, 0) reaches the kernel: EINVAL.
        i32::from(sys(libc::SYS_shmget, 0, 0) != Err(libc::EINVAL))
    });
    assert_eq!(code, 0, "the sandbox's list lets containers use SysV IPC");
}

#[test]
fn newer_syscalls_get_enosys_older_ones_the_default() {
    // The highest syscall named is rseq (Linux 4.18), in a rule that
    // repeats the default action and so adds nothing but that name.
    let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["rseq"], "action": "SCMP_ACT_ERRNO"}]}));
    let filter = compile(&p).expect("compile");
    // close_range, faccessat2, fchmodat2 (unknown to libseccomp 2.5) and
    // mseal; numbers of x86_64.
    let newer: [libc::c_long; 4] = [436, 439, 452, 462];
    let code = in_child(&filter, |_| {
        let old = sys(libc::SYS_getpid, 0, 0).is_ok()
            && sys(libc::SYS_getppid, 0, 0) == Err(libc::EPERM)
            && sys(libc::SYS_rseq, 0, 0) == Err(libc::EPERM);
        let new = newer.iter().all(|nr| sys(*nr, -1, 0) == Err(libc::ENOSYS));
        i32::from(!old) + 2 * i32::from(!new)
    });
    assert_eq!(
        code, 0,
        "1: old syscalls not as the profile says, 2: newer not ENOSYS"
    );
}

#[test]
fn permissive_defaults_let_newer_syscalls_reach_the_kernel() {
    for default in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"] {
        let p = profile(json!({"defaultAction": default,
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}));
        let filter = compile(&p).expect("compile");
        // fchmodat2(-1, NULL, 0, 0): the kernel itself says EBADF or EFAULT.
        let code = in_child(&filter, |_| i32::from(sys(452, -1, 0) == Err(libc::ENOSYS)));
        assert_eq!(code, 0, "{default}");
    }
}
