//! OCI seccomp profiles compiled into kernel filters with libseccomp, and the
//! allow-list the sandbox and gofer processes put on themselves.

use std::collections::BTreeMap;
use std::os::fd::{BorrowedFd, OwnedFd};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

type LibError = libseccomp::error::SeccompError;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("create seccomp filter with default action {0}: {1}")]
    Create(String, #[source] LibError),
    #[error("seccomp action {0}: errnoRet {1} does not fit in 16 bits")]
    ReturnValue(LinuxSeccompAction, u32),
    #[error("seccomp action SCMP_ACT_NOTIFY cannot be the default action")]
    NotifyDefault,
    #[error("add seccomp architecture {0}: {1}")]
    Arch(Arch, #[source] LibError),
    #[error("set seccomp flag {0}: {1}")]
    Flag(LinuxSeccompFilterFlag, #[source] LibError),
    #[error("set seccomp filter attribute {0}: {1}")]
    Attribute(&'static str, #[source] LibError),
    #[error("seccomp rule for {0}: argument index {1} is not in 0..6")]
    ArgIndex(String, usize),
    #[error("seccomp rule for {0}: valueTwo {2} is only used by SCMP_CMP_MASKED_EQ, not {1}")]
    ArgValueTwo(String, LinuxSeccompOperator, u64),
    #[error("add seccomp rule {1} for syscall {0}: {2}")]
    Rule(String, String, #[source] LibError),
    #[error("load seccomp filter: {0}")]
    Load(#[source] LibError),
    #[error("get seccomp notify fd: {0}")]
    NotifyFd(#[source] LibError),
    #[error("duplicate seccomp notify fd: {0}")]
    NotifyFdDup(#[source] std::io::Error),
}

/// A compiled, not yet loaded, seccomp filter.
#[derive(Debug)]
pub struct Filter {
    ctx: ScmpFilterContext,
    notify: bool,
}

impl Filter {
    /// Loads the filter into the calling thread (every thread with
    /// SECCOMP_FILTER_FLAG_TSYNC). Returns the user-notification fd when a
    /// rule uses SCMP_ACT_NOTIFY; the caller hands it to the seccomp agent.
    ///
    /// The caller must either have set no_new_privs or hold CAP_SYS_ADMIN.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        self.ctx.load().map_err(SeccompError::Load)?;
        if !self.notify {
            return Ok(None);
        }
        let raw = self.ctx.get_notify_fd().map_err(SeccompError::NotifyFd)?;
        // SAFETY: get_notify_fd returns an error for negative values, and the
        // fd it returns stays open in libseccomp's global state for the life
        // of the process, so it is valid for the duration of this borrow.
        let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
        // libseccomp keeps (and may close, on reset_global_state) its own
        // copy, so the caller gets a duplicate it truly owns. Both are
        // close-on-exec, so only the caller's copy survives an execve.
        borrowed
            .try_clone_to_owned()
            .map(Some)
            .map_err(SeccompError::NotifyFdDup)
    }

    /// A filter built from a prepared libseccomp context.
    pub(crate) fn from_context(ctx: ScmpFilterContext) -> Self {
        Self { ctx, notify: false }
    }

    /// Writes the filter as a BPF program, for comparison in tests.
    #[cfg(test)]
    pub(crate) fn export_bpf(&self, file: &std::fs::File) -> Result<(), SeccompError> {
        self.ctx.export_bpf(file).map_err(SeccompError::Load)
    }

    /// Whether a rule of this filter uses SCMP_ACT_NOTIFY.
    pub fn uses_notify(&self) -> bool {
        self.notify
    }
}

/// Builds (does not load) the filter an OCI `linux.seccomp` section describes.
///
/// Unknown syscall names are skipped with a warning, as runc does, so that one
/// profile serves kernels and libseccomp versions of different ages. Rules
/// whose action equals the default action are skipped: they change nothing
/// and libseccomp refuses them. Conditions on the same argument index cannot
/// be ANDed by libseccomp, so (as in runc) they are ORed: the rule is added
/// once per combination of one condition from each index.
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let default = scmp_action(profile.default_action(), profile.default_errno_ret())?;
    if default == ScmpAction::Notify {
        // The agent could never get the fd: sending it needs syscalls.
        return Err(SeccompError::NotifyDefault);
    }
    let mut ctx = new_context(default, &profile.default_action().to_string())?;
    for arch in profile.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(*arch))
            .map_err(|e| SeccompError::Arch(*arch, e))?;
    }
    for flag in profile.flags().iter().flatten() {
        set_flag(&mut ctx, *flag)?;
    }
    let mut notify = false;
    for rule in profile.syscalls().iter().flatten() {
        let action = scmp_action(rule.action(), rule.errno_ret())?;
        if action == default {
            tracing::debug!(syscalls = ?rule.names(), "seccomp rule repeats the default action; skipped");
            continue;
        }
        let added = add_rule(&mut ctx, rule, action)?;
        notify |= added && action == ScmpAction::Notify;
    }
    Ok(Filter { ctx, notify })
}

fn new_context(default: ScmpAction, label: &str) -> Result<ScmpFilterContext, SeccompError> {
    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| SeccompError::Create(label.to_string(), e))?;
    // no_new_privs is inherited by every later child and changes setuid
    // semantics, so only the spec (via the caller) may decide to set it.
    ctx.set_ctl_nnp(false)
        .map_err(|e| SeccompError::Attribute("no_new_privs", e))?;
    Ok(ctx)
}

fn scmp_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
) -> Result<ScmpAction, SeccompError> {
    // The kernel keeps only SECCOMP_RET_DATA (16 bits); libseccomp would
    // silently truncate a larger value into a different errno.
    let data = || {
        let value = errno_ret.unwrap_or(libc::EPERM as u32);
        u16::try_from(value).map_err(|_| SeccompError::ReturnValue(action, value))
    };
    use LinuxSeccompAction as A;
    Ok(match action {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(i32::from(data()?)),
        A::ScmpActTrace => ScmpAction::Trace(data()?),
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActNotify => ScmpAction::Notify,
    })
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

fn set_flag(ctx: &mut ScmpFilterContext, flag: LinuxSeccompFilterFlag) -> Result<(), SeccompError> {
    use LinuxSeccompFilterFlag as F;
    let set = match flag {
        F::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
        F::SeccompFilterFlagLog => ctx.set_ctl_log(true),
        F::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
        // Needs libseccomp >= 2.6; older ones make this an error naming the flag.
        F::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
    };
    set.map(drop).map_err(|e| SeccompError::Flag(flag, e))
}

/// Returns whether at least one syscall of the rule was known and added.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    action: ScmpAction,
) -> Result<bool, SeccompError> {
    let label = rule.names().join(",");
    let condition_sets = condition_sets(rule.args().as_deref().unwrap_or_default(), &label)?;
    let mut added = false;
    for name in rule.names() {
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            tracing::warn!(syscall = %name, "syscall unknown to libseccomp; seccomp rule skipped");
            continue;
        };
        for conditions in &condition_sets {
            ctx.add_rule_conditional(action, syscall, conditions)
                .map_err(|e| SeccompError::Rule(name.clone(), rule.action().to_string(), e))?;
        }
        added = true;
    }
    Ok(added)
}

/// The condition lists to add one rule each for: the cartesian product of
/// the conditions grouped by argument index (one empty list when no args).
fn condition_sets(
    args: &[LinuxSeccompArg],
    label: &str,
) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let mut by_index: BTreeMap<usize, Vec<ScmpArgCompare>> = BTreeMap::new();
    for arg in args {
        let compare = arg_compare(arg, label)?;
        by_index.entry(arg.index()).or_default().push(compare);
    }
    let mut sets = vec![Vec::new()];
    for group in by_index.values() {
        sets = sets
            .iter()
            .flat_map(|set| group.iter().map(move |c| [set.as_slice(), &[*c]].concat()))
            .collect();
    }
    Ok(sets)
}

fn arg_compare(arg: &LinuxSeccompArg, label: &str) -> Result<ScmpArgCompare, SeccompError> {
    use LinuxSeccompOperator as Op;
    let index = u32::try_from(arg.index())
        .ok()
        .filter(|i| *i < 6)
        .ok_or_else(|| SeccompError::ArgIndex(label.to_string(), arg.index()))?;
    let op = match arg.op() {
        Op::ScmpCmpNe => ScmpCompareOp::NotEqual,
        Op::ScmpCmpLt => ScmpCompareOp::Less,
        Op::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        Op::ScmpCmpEq => ScmpCompareOp::Equal,
        Op::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        Op::ScmpCmpGt => ScmpCompareOp::Greater,
        Op::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(arg.value()),
    };
    let value_two = arg.value_two().unwrap_or(0);
    if let ScmpCompareOp::MaskedEqual(_) = op {
        // OCI, like libseccomp, puts the mask in value and the datum the
        // masked argument must equal in valueTwo.
        return Ok(ScmpArgCompare::new(index, op, value_two));
    }
    // Elsewhere a valueTwo means the profile expects a check we would
    // silently not enforce.
    if value_two != 0 {
        let label = label.to_string();
        return Err(SeccompError::ArgValueTwo(label, arg.op(), value_two));
    }
    Ok(ScmpArgCompare::new(index, op, arg.value()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use serde_json::json;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).expect("profile json")
    }

    /// Loads `filter` in a forked child, runs `check` there with the notify
    /// fd, and returns the child's exit code (0: every expectation held).
    fn in_child(filter: &Filter, check: impl FnOnce(Option<OwnedFd>) -> i32) -> i32 {
        // SAFETY: the harness is multithreaded, so the child only loads the
        // filter (glibc keeps malloc usable across fork), makes syscalls and
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
    fn unsupported_flag_is_an_error_naming_it() {
        // oci-spec already refuses flag names it does not know...
        let unknown =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]});
        assert!(serde_json::from_value::<LinuxSeccomp>(unknown).is_err());
        // ...and the one flag an old libseccomp lacks is reported by name.
        let flag = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";
        let p = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]}));
        let new = libseccomp::check_version(libseccomp::ScmpVersion::from((2, 6, 0)));
        match compile(&p) {
            Ok(_) => assert!(new.expect("version")),
            Err(e) => assert!(
                !new.expect("version") && e.to_string().contains(flag),
                "{e}"
            ),
        }
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
            let prio = |which: u32, who| sys(libc::SYS_getpriority, which.into(), who);
            let (process, group) = (libc::PRIO_PROCESS, libc::PRIO_PGRP);
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
        // SysV shared memory in the gofer's list, but it is in the one
        // the sandbox loads.
        const FCHMODAT2: libc::c_long = 452;
        let gofer = crate::self_filter::build(&[]).expect("allow list");
        let code = in_child(&gofer, |_| {
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
}
