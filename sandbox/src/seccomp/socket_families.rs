//! Socket families refused by socket(2) and socketpair(2)'s first
//! argument: a stub in front of a filter's program.
//!
//! Not libseccomp rules: on i386, libseccomp also applies a rule on
//! `socket` to socketcall(2), whose arguments lie in memory, by dropping
//! the argument test, which would refuse every socket of a 32-bit program.
//! The stub checks the direct syscalls only, on each x86 ABI.

use libseccomp::{ScmpArch, ScmpSyscall};

use super::asm::{Asm, Target, DATA_ARCH, DATA_ARG0_LOW, DATA_NR};
use super::newer_syscalls::audit_arch;

/// i386's direct socket and socketpair (Linux 4.3), which libseccomp
/// names only as socketcall's stand-ins.
const I386_SOCKET_CALLS: [u32; 2] = [359, 360];

/// The instructions that make socket(2) and socketpair(2) of a family not
/// in `allowed` (and below `limit`, above which the kernel refuses any)
/// fail with EAFNOSUPPORT, on the native architecture and, on x86_64, on
/// i386 and x32; everything else goes on to the filter. The family is the
/// argument's low 32 bits, which is what the kernel reads.
pub fn refuse_socket_families(allowed: &[u64], limit: u64) -> Vec<libc::sock_filter> {
    let mut asm = Asm::default();
    let sections = sections();
    asm.load(DATA_ARCH);
    for (index, (audit, _)) in sections.iter().enumerate() {
        asm.jump(libc::BPF_JEQ, *audit, 0, 1);
        asm.goto(Target::Section(index));
    }
    asm.goto(Target::Filter);
    let check = sections.len();
    for (index, (_, numbers)) in sections.iter().enumerate() {
        asm.section_starts(index);
        asm.load(DATA_NR);
        for nr in numbers {
            asm.jump(libc::BPF_JEQ, *nr, 0, 1);
            asm.goto(Target::Section(check));
        }
        asm.goto(Target::Filter);
    }
    asm.section_starts(check);
    asm.load(DATA_ARG0_LOW);
    // AF_UNSPEC and numbers past the limit are the kernel's to refuse.
    let limit = u32::try_from(limit).unwrap_or(u32::MAX);
    asm.jump(libc::BPF_JGE, limit, 0, 1);
    asm.goto(Target::Filter);
    let families = allowed.iter().filter_map(|f| u32::try_from(*f).ok());
    for family in families.chain([0]) {
        asm.jump(libc::BPF_JEQ, family, 0, 1);
        asm.goto(Target::Filter);
    }
    asm.errno(libc::EAFNOSUPPORT);
    asm.finish()
}

/// Per AUDIT_ARCH_*, the numbers of socket and socketpair (x32's with
/// their bit, under x86_64's AUDIT_ARCH).
fn sections() -> Vec<(u32, Vec<u32>)> {
    let native = ScmpArch::native();
    let arches = match native {
        ScmpArch::X8664 => vec![ScmpArch::X8664, ScmpArch::X32, ScmpArch::X86],
        _ => vec![native],
    };
    let mut out: Vec<(u32, Vec<u32>)> = Vec::new();
    for arch in arches {
        let Some(audit) = audit_arch(arch) else {
            continue;
        };
        // Multiplexed calls (socketcall) come back as negative stand-ins.
        let numbers: Vec<u32> = match arch {
            ScmpArch::X86 => I386_SOCKET_CALLS.to_vec(),
            _ => ["socket", "socketpair"]
                .iter()
                .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
                .filter_map(|s| u32::try_from(s.as_raw_syscall()).ok())
                .collect(),
        };
        match out.iter_mut().find(|(a, _)| *a == audit) {
            Some((_, list)) => list.extend(numbers),
            None => out.push((audit, numbers)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::asm::run;
    use libseccomp_sys::{SCMP_ARCH_X86, SCMP_ARCH_X86_64};

    const EAFNOSUPPORT: u32 = libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32;

    #[test]
    fn only_the_direct_calls_with_a_refused_family_are_answered() {
        let stub = refuse_socket_families(&[1, 2, 10], 64);
        let x32 = |n: u32| super::super::newer_syscalls::X32_SYSCALL_BIT | n;
        for (arch, nr, family, expected) in [
            (SCMP_ARCH_X86_64, 41, 38, Some(EAFNOSUPPORT)), // socket(AF_ALG)
            (SCMP_ARCH_X86_64, 53, 30, Some(EAFNOSUPPORT)), // socketpair(AF_TIPC)
            (SCMP_ARCH_X86_64, 41, 2, None),
            (SCMP_ARCH_X86_64, 41, 0, None),
            (SCMP_ARCH_X86_64, 41, 64, None),
            (SCMP_ARCH_X86_64, 0, 38, None), // read
            (SCMP_ARCH_X86_64, x32(41), 40, Some(EAFNOSUPPORT)),
            (SCMP_ARCH_X86, 359, 40, Some(EAFNOSUPPORT)), // i386 socket
            (SCMP_ARCH_X86, 360, 1, None),                // i386 socketpair(AF_UNIX)
            (SCMP_ARCH_X86, 102, 1, None),                // socketcall: out of reach
            (SCMP_ARCH_X86, 41, 38, None),                // i386 dup
        ] {
            let got = run(&stub, arch, nr, family);
            assert_eq!(got, expected, "arch {arch:#x} nr {nr:#x} family {family}");
        }
    }
}
