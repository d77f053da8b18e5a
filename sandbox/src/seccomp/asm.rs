//! A tiny assembler for the classic BPF stubs we put in front of
//! libseccomp's programs: loads, short conditional jumps, gotos to labelled
//! sections or to the program after the stub, and errno returns.

use std::collections::BTreeMap;

/// Offsets in `struct seccomp_data`.
pub(super) const DATA_NR: u32 = 0;
pub(super) const DATA_ARCH: u32 = 4;
/// The low 32 bits of the first argument, on a little-endian machine
/// (the high ones on a big-endian one).
pub(super) const DATA_ARG0_LOW: u32 = if cfg!(target_endian = "little") {
    16
} else {
    20
};

pub(super) enum Target {
    /// The first instruction after the stub.
    Filter,
    Section(usize),
}

/// Emits the stub; unconditional jumps get their offsets once the length
/// is known (conditional ones only ever skip an instruction or three).
#[derive(Default)]
pub(super) struct Asm {
    code: Vec<libc::sock_filter>,
    gotos: Vec<(usize, Target)>,
    sections: BTreeMap<usize, usize>,
}

impl Asm {
    pub(super) fn push(&mut self, code: u32, k: u32, jt: u8, jf: u8) {
        // BPF opcodes are 16-bit; libc types the constants u32.
        let code = code as u16;
        self.code.push(libc::sock_filter { code, jt, jf, k });
    }

    pub(super) fn load(&mut self, offset: u32) {
        self.push(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset, 0, 0);
    }

    pub(super) fn jump(&mut self, op: u32, k: u32, jt: u8, jf: u8) {
        self.push(libc::BPF_JMP | op | libc::BPF_K, k, jt, jf);
    }

    pub(super) fn goto(&mut self, target: Target) {
        self.gotos.push((self.code.len(), target));
        self.push(libc::BPF_JMP | libc::BPF_JA, 0, 0, 0);
    }

    pub(super) fn enosys(&mut self) {
        self.errno(libc::ENOSYS);
    }

    pub(super) fn errno(&mut self, errno: i32) {
        let ret = libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA);
        self.push(libc::BPF_RET | libc::BPF_K, ret, 0, 0);
    }

    /// Three instructions with a limit, one without.
    pub(super) fn enosys_above(&mut self, highest: Option<u32>) {
        if let Some(highest) = highest {
            self.jump(libc::BPF_JGT, highest, 0, 1);
            self.enosys();
        }
        self.goto(Target::Filter);
    }

    pub(super) fn section_starts(&mut self, index: usize) {
        self.sections.insert(index, self.code.len());
    }

    pub(super) fn finish(mut self) -> Vec<libc::sock_filter> {
        let end = self.code.len();
        for (at, target) in &self.gotos {
            let to = match target {
                Target::Filter => end,
                Target::Section(i) => self.sections.get(i).copied().unwrap_or(end),
            };
            // Jumps only go forward, by less than the stub's length.
            self.code[*at].k = (to - at - 1) as u32;
        }
        self.code
    }
}

/// Runs a stub on one syscall (arch, number, first argument): what it
/// returns, or None when it goes on to the filter.
#[cfg(test)]
pub(super) fn run(stub: &[libc::sock_filter], arch: u32, nr: u32, arg0: u32) -> Option<u32> {
    let (mut pc, mut acc) = (0, 0);
    while let Some(i) = stub.get(pc) {
        let (code, k) = (u32::from(i.code), i.k);
        let skip = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        pc += 1 + match code {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                acc = match k {
                    DATA_ARCH => arch,
                    DATA_NR => nr,
                    DATA_ARG0_LOW => arg0,
                    other => panic!("load of offset {other}"),
                };
                0
            }
            c if c == libc::BPF_JMP | libc::BPF_JA => k as usize,
            c if c == libc::BPF_JMP | libc::BPF_JEQ => skip(acc == k),
            c if c == libc::BPF_JMP | libc::BPF_JGT => skip(acc > k),
            c if c == libc::BPF_JMP | libc::BPF_JGE => skip(acc >= k),
            c if c == libc::BPF_JMP | libc::BPF_JSET => skip(acc & k != 0),
            c if c == libc::BPF_RET | libc::BPF_K => return Some(k),
            other => panic!("unexpected instruction {other:#x}"),
        };
    }
    assert_eq!(pc, stub.len(), "jumped past the filter's start");
    None
}
