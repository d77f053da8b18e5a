//! Syscalls newer than a filter: ENOSYS, not the filter's default action.
//!
//! A profile written before a syscall existed cannot name it, so its
//! default action (usually EPERM) refuses it, and libraries that probe a
//! new syscall and fall back to an old one only on ENOSYS (glibc with
//! clone3 in posix_spawn, close_range, faccessat2; Go with openat2) break.
//! As runc does, a syscall numbered above the highest one the profile
//! names for that architecture is answered as a kernel without it would.
//! That is a prefix to the filter's program: a filter cannot learn the
//! syscall number in any other way, and libseccomp has no such action.

use std::collections::BTreeMap;

use libseccomp::{ScmpArch, ScmpSyscall};

use super::asm::{Asm, Target, DATA_ARCH, DATA_NR};

/// x32 syscalls are x86_64's numbers with this bit set, under the same
/// AUDIT_ARCH_X86_64.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// s390 turns a syscall number its table lacks into 0 (the long gone
/// setup(2)) before seccomp sees it.
const S390_UNKNOWN_SYSCALL: u32 = 0;

/// Per architecture of a filter (by the AUDIT_ARCH_* the kernel reports),
/// the highest syscall number that a list of names resolves to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HighestNamed(BTreeMap<u32, Highest>);

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Highest {
    /// The architecture's own (for x86_64: not x32) syscalls.
    main: Option<u32>,
    /// x32's, bit included.
    x32: Option<u32>,
}

impl HighestNamed {
    /// `arches` are those the filter holds (the native one included);
    /// names unknown on an architecture count for nothing there.
    pub fn of<'a>(names: impl Iterator<Item = &'a str> + Clone, arches: &[ScmpArch]) -> Self {
        let mut out = Self::default();
        for &arch in arches {
            let arch = if arch == ScmpArch::Native {
                ScmpArch::native()
            } else {
                arch
            };
            let Some(audit) = audit_arch(arch) else {
                continue;
            };
            let entry = out.0.entry(audit).or_default();
            let slot = match arch {
                ScmpArch::X32 => &mut entry.x32,
                _ => &mut entry.main,
            };
            // Negative numbers are libseccomp's stand-ins for syscalls
            // the architecture does not have.
            let highest = names
                .clone()
                .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
                .filter_map(|s| u32::try_from(s.as_raw_syscall()).ok())
                .max();
            *slot = (*slot).max(highest);
        }
        out
    }

    /// The same syscall number for x86_64's and i386's own calls (since
    /// Linux 5.1 every architecture numbers new syscalls alike); x32's
    /// are left to the filter. On other hosts, the native architecture.
    pub fn up_to(highest: u32) -> Self {
        let mut out = Self::default();
        let arches = match ScmpArch::native() {
            ScmpArch::X8664 => vec![ScmpArch::X8664, ScmpArch::X86],
            native => vec![native],
        };
        for audit in arches.into_iter().filter_map(audit_arch) {
            out.0.entry(audit).or_default().main = Some(highest);
        }
        out
    }

    /// The instructions to put in front of a filter's program: on each
    /// architecture listed, a syscall above the highest named returns
    /// ENOSYS; every other syscall, and every other architecture, goes
    /// on to the filter (which kills a foreign architecture).
    pub fn enosys_stub(&self) -> Vec<libc::sock_filter> {
        let mut asm = Asm::default();
        asm.load(DATA_ARCH);
        let archs: Vec<(u32, Highest)> = self.0.iter().map(|(a, h)| (*a, *h)).collect();
        for (index, (audit, _)) in archs.iter().enumerate() {
            asm.jump(libc::BPF_JEQ, *audit, 0, 1);
            asm.goto(Target::Section(index));
        }
        asm.goto(Target::Filter);
        for (index, (audit, highest)) in archs.iter().enumerate() {
            asm.section_starts(index);
            asm.load(DATA_NR);
            if matches!(
                *audit,
                libseccomp_sys::SCMP_ARCH_S390 | libseccomp_sys::SCMP_ARCH_S390X
            ) {
                asm.jump(libc::BPF_JEQ, S390_UNKNOWN_SYSCALL, 0, 1);
                asm.enosys();
            }
            if *audit == libseccomp_sys::SCMP_ARCH_X86_64 {
                let x32_len = if highest.x32.is_some() { 3 } else { 1 };
                asm.jump(libc::BPF_JSET, X32_SYSCALL_BIT, 0, x32_len);
                asm.enosys_above(highest.x32);
            }
            asm.enosys_above(highest.main);
        }
        asm.finish()
    }
}

/// The AUDIT_ARCH_* value the kernel reports for `arch`; libseccomp's
/// tokens are those, except for x32's.
pub(super) fn audit_arch(arch: ScmpArch) -> Option<u32> {
    use libseccomp_sys as sys;
    Some(match arch {
        ScmpArch::X86 => sys::SCMP_ARCH_X86,
        ScmpArch::X8664 | ScmpArch::X32 => sys::SCMP_ARCH_X86_64,
        ScmpArch::Arm => sys::SCMP_ARCH_ARM,
        ScmpArch::Aarch64 => sys::SCMP_ARCH_AARCH64,
        ScmpArch::Loongarch64 => sys::SCMP_ARCH_LOONGARCH64,
        ScmpArch::M68k => sys::SCMP_ARCH_M68K,
        ScmpArch::Mips => sys::SCMP_ARCH_MIPS,
        ScmpArch::Mips64 => sys::SCMP_ARCH_MIPS64,
        ScmpArch::Mips64N32 => sys::SCMP_ARCH_MIPS64N32,
        ScmpArch::Mipsel => sys::SCMP_ARCH_MIPSEL,
        ScmpArch::Mipsel64 => sys::SCMP_ARCH_MIPSEL64,
        ScmpArch::Mipsel64N32 => sys::SCMP_ARCH_MIPSEL64N32,
        ScmpArch::Ppc => sys::SCMP_ARCH_PPC,
        ScmpArch::Ppc64 => sys::SCMP_ARCH_PPC64,
        ScmpArch::Ppc64Le => sys::SCMP_ARCH_PPC64LE,
        ScmpArch::S390 => sys::SCMP_ARCH_S390,
        ScmpArch::S390X => sys::SCMP_ARCH_S390X,
        ScmpArch::Parisc => sys::SCMP_ARCH_PARISC,
        ScmpArch::Parisc64 => sys::SCMP_ARCH_PARISC64,
        ScmpArch::Riscv64 => sys::SCMP_ARCH_RISCV64,
        ScmpArch::Sh => sys::SCMP_ARCH_SH,
        ScmpArch::Sheb => sys::SCMP_ARCH_SHEB,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use libseccomp_sys::{SCMP_ARCH_AARCH64, SCMP_ARCH_X86, SCMP_ARCH_X86_64};

    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    fn run(stub: &[libc::sock_filter], arch: u32, nr: u32) -> Option<u32> {
        crate::seccomp::asm::run(stub, arch, nr, 0)
    }

    fn nr(name: &str, arch: ScmpArch) -> u32 {
        let s = ScmpSyscall::from_name_by_arch(name, arch).expect("known syscall");
        u32::try_from(s.as_raw_syscall()).expect("real syscall")
    }

    #[test]
    fn highest_named_is_per_architecture() {
        let names = ["read", "rseq", "no_such_syscall", "socketcall"];
        let arches = [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32];
        let highest = HighestNamed::of(names.into_iter(), &arches);
        let x86_64 = highest.0[&SCMP_ARCH_X86_64];
        assert_eq!(x86_64.main, Some(nr("rseq", ScmpArch::X8664)));
        assert_eq!(
            x86_64.x32,
            Some(X32_SYSCALL_BIT | nr("rseq", ScmpArch::X8664))
        );
        // socketcall exists on x86 only, and numbers there differ.
        assert_eq!(highest.0[&SCMP_ARCH_X86].main, Some(386));
        assert_eq!(highest.0.len(), 2);
    }

    #[test]
    fn up_to_a_number_holds_for_x86_64_and_i386_not_x32() {
        let stub = HighestNamed::up_to(469).enosys_stub();
        for (arch, nr, expected) in [
            (SCMP_ARCH_X86_64, 469, None),
            (SCMP_ARCH_X86_64, 470, Some(ENOSYS)),
            (SCMP_ARCH_X86, 469, None),
            (SCMP_ARCH_X86, 470, Some(ENOSYS)),
            // x32's own calls (512 and up) are left to the filter.
            (SCMP_ARCH_X86_64, X32_SYSCALL_BIT | 520, None),
        ] {
            assert_eq!(run(&stub, arch, nr), expected, "arch {arch:#x} nr {nr}");
        }
    }

    #[test]
    fn stub_answers_only_above_the_highest_named() {
        let names = ["read", "rseq"];
        let arches = [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32];
        let stub = HighestNamed::of(names.into_iter(), &arches).enosys_stub();
        let x32 = |n| X32_SYSCALL_BIT | n;
        for (arch, nr, expected) in [
            (SCMP_ARCH_X86_64, 0, None),
            (SCMP_ARCH_X86_64, 334, None),
            (SCMP_ARCH_X86_64, 335, Some(ENOSYS)),
            (SCMP_ARCH_X86_64, 452, Some(ENOSYS)),
            (SCMP_ARCH_X86_64, x32(334), None),
            (SCMP_ARCH_X86_64, x32(436), Some(ENOSYS)),
            (SCMP_ARCH_X86, 386, None),
            (SCMP_ARCH_X86, 387, Some(ENOSYS)),
            // Not in the filter: its bad-architecture action decides.
            (SCMP_ARCH_AARCH64, 5000, None),
        ] {
            assert_eq!(run(&stub, arch, nr), expected, "arch {arch:#x} nr {nr:#x}");
        }
        // Without x32 in the filter, its syscalls are the filter's to refuse.
        let stub = HighestNamed::of(names.into_iter(), &[ScmpArch::X8664]).enosys_stub();
        assert_eq!(run(&stub, SCMP_ARCH_X86_64, x32(999)), None);
        assert_eq!(run(&stub, SCMP_ARCH_X86_64, 999), Some(ENOSYS));
    }
}
