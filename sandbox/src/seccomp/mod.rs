//! OCI seccomp profiles compiled into kernel filters with libseccomp, and the
//! allow-list the sandbox puts on itself.

mod asm;
mod newer_syscalls;
mod program;
mod socket_families;

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

pub use newer_syscalls::HighestNamed;
pub use program::{Program, ProgramError};
pub use socket_families::refuse_socket_families;

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
    #[error("seccomp rule for {0}: argument index {1} is not in 0..6")]
    ArgIndex(String, usize),
    #[error("seccomp rule for {0}: valueTwo {2} is only used by SCMP_CMP_MASKED_EQ, not {1}")]
    ArgValueTwo(String, LinuxSeccompOperator, u64),
    #[error("add seccomp rule {1} for syscall {0}: {2}")]
    Rule(String, String, #[source] LibError),
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error("load seccomp filter (flags {0:#x}): {1}")]
    Load(libc::c_ulong, #[source] std::io::Error),
}

/// A compiled, not yet loaded, seccomp filter.
#[derive(Debug)]
pub struct Filter {
    program: Program,
    /// SECCOMP_FILTER_FLAG_* the profile asks for.
    flags: libc::c_ulong,
    notify: bool,
}

impl Filter {
    /// Loads the filter into the calling thread (every thread with
    /// SECCOMP_FILTER_FLAG_TSYNC). Returns the user-notification fd when a
    /// rule uses SCMP_ACT_NOTIFY; the caller hands it to the seccomp agent.
    ///
    /// Only the seccomp syscall itself runs, so a forked child may call
    /// this. The caller must either have set no_new_privs or hold
    /// CAP_SYS_ADMIN.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let flags = self.load_flags();
        self.program
            .load(flags)
            .map_err(|e| SeccompError::Load(flags, e))
    }

    /// The SECCOMP_FILTER_FLAG_* that [`Filter::load`] passes the kernel.
    pub fn load_flags(&self) -> libc::c_ulong {
        let mut flags = self.flags;
        if self.notify {
            flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
            if flags & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
                // Otherwise the kernel cannot tell a failing thread's id
                // from the listener fd, and refuses the pair.
                flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
            }
        } else {
            // The kernel refuses it without a listener, which it is about.
            flags &= !libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        }
        flags
    }

    /// A filter built from a prepared libseccomp context, as it is.
    pub(crate) fn from_context(ctx: &ScmpFilterContext) -> Result<Self, SeccompError> {
        Ok(Self {
            program: Program::export(ctx)?,
            flags: 0,
            notify: false,
        })
    }

    /// The BPF program that `load` installs.
    pub fn program(&self) -> &Program {
        &self.program
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
/// once per combination of one condition from each index. Syscalls newer
/// than any the profile names get ENOSYS ([`newer_syscalls`]).
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let default = scmp_action(profile.default_action(), profile.default_errno_ret())?;
    if default == ScmpAction::Notify {
        // The agent could never get the fd: sending it needs syscalls.
        return Err(SeccompError::NotifyDefault);
    }
    let label = profile.default_action().to_string();
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| SeccompError::Create(label, e))?;
    let mut arches = vec![ScmpArch::Native];
    for arch in profile.architectures().iter().flatten() {
        ctx.add_arch(scmp_arch(*arch))
            .map_err(|e| SeccompError::Arch(*arch, e))?;
        arches.push(scmp_arch(*arch));
    }
    let flags = profile
        .flags()
        .iter()
        .flatten()
        .fold(0, |f, g| f | kernel_flag(*g));
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
    let mut program = Program::export(&ctx)?;
    if newer_syscalls_get_enosys(default) {
        let names = profile.syscalls().iter().flatten().flat_map(|r| r.names());
        let highest = HighestNamed::of(names.map(String::as_str), &arches);
        program = program.prepend(highest.enosys_stub())?;
    }
    Ok(Filter {
        program,
        flags,
        notify,
    })
}

/// Whether syscalls newer than a profile need answering for it: not when
/// its default lets them through anyway (as runc, counting a tracer as
/// one that handles new syscalls itself), nor when it already says ENOSYS.
fn newer_syscalls_get_enosys(default: ScmpAction) -> bool {
    !matches!(
        default,
        ScmpAction::Allow
            | ScmpAction::Log
            | ScmpAction::Trace(_)
            | ScmpAction::Errno(libc::ENOSYS)
    )
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

fn kernel_flag(flag: LinuxSeccompFilterFlag) -> libc::c_ulong {
    use LinuxSeccompFilterFlag as F;
    match flag {
        F::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
        F::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
        F::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        F::SeccompFilterFlagWaitKillableRecv => libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    }
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
pub(crate) mod tests;
