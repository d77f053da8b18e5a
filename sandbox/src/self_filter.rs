//! The sandbox's own seccomp filter, compiled to BPF at
//! build time (build.rs, from `self_filter_lists.rs`) and loaded as they
//! are.

use std::io;

use crate::seccomp::{Filter, Program, SeccompError};

include!("self_filter_lists.rs");

const SANDBOX_BPF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sandbox.bpf"));

/// Confines the sandbox. Needs CAP_SYS_ADMIN, since the sandbox cannot set
/// no_new_privs (its containers may need setuid binaries).
///
/// `given_back` are syscalls the root container's annotations give back
/// to its workloads (`crate::baseline`): processes the sandbox forks later
/// inherit its filter, so it lets those through too, built now.
pub fn load_sandbox(given_back: &[&'static str]) -> io::Result<()> {
    if given_back.is_empty() {
        return load_bpf(SANDBOX_BPF);
    }
    let mut extra = sandbox_extra();
    extra.extend_from_slice(given_back);
    let filter = build(&extra).map_err(io::Error::other)?;
    filter.program().load(0).map(drop)
}

/// The same filters, built now (for tests, and to compare).
pub fn build(extra: &[&str]) -> Result<Filter, SeccompError> {
    let (ctx, unknown) = build_self_filter(extra)
        .map_err(|(what, e)| SeccompError::Rule(what, "SCMP_ACT_ALLOW".into(), e))?;
    for name in unknown {
        tracing::warn!(syscall = %name, "syscall unknown to libseccomp; not allowed");
    }
    Filter::from_context(&ctx)
}

/// Installs a program as libseccomp exports it as this thread's filter.
fn load_bpf(program: &[u8]) -> io::Result<()> {
    let program =
        Program::from_bytes(program).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    program.load(0).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build-time program is what the lists give today.
    #[test]
    fn the_precompiled_program_matches_the_lists() {
        let now = build(&sandbox_extra()).unwrap().program().to_bytes();
        assert_eq!(now, SANDBOX_BPF);
    }
}
