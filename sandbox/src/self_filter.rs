//! The sandbox's and the gofer's own seccomp filters, compiled to BPF at
//! build time (build.rs, from `self_filter_lists.rs`) and loaded as they
//! are.

use std::io;

use crate::seccomp::{Filter, SeccompError};

include!("self_filter_lists.rs");

const SANDBOX_BPF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/sandbox.bpf"));
const GOFER_BPF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gofer.bpf"));

/// Confines the sandbox. Needs CAP_SYS_ADMIN, since the sandbox cannot set
/// no_new_privs (its containers may need setuid binaries).
pub fn load_sandbox() -> io::Result<()> {
    load_bpf(SANDBOX_BPF)
}

/// Confines the gofer; call after setting no_new_privs.
pub fn load_gofer() -> io::Result<()> {
    load_bpf(GOFER_BPF)
}

/// The same filters, built now (for tests, and to compare).
pub fn build(extra: &[&str]) -> Result<Filter, SeccompError> {
    let (ctx, unknown) = build_self_filter(extra)
        .map_err(|(what, e)| SeccompError::Rule(what, "SCMP_ACT_ALLOW".into(), e))?;
    for name in unknown {
        tracing::warn!(syscall = %name, "syscall unknown to libseccomp; not allowed");
    }
    Ok(Filter::from_context(ctx))
}

/// Installs a classic BPF program, as libseccomp exports it (an array of
/// `struct sock_filter` in native byte order), as this thread's seccomp
/// filter.
fn load_bpf(program: &[u8]) -> io::Result<()> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "seccomp program of a bad size");
    let size = std::mem::size_of::<libc::sock_filter>();
    if program.is_empty() || !program.len().is_multiple_of(size) {
        return Err(invalid());
    }
    // Copied into properly aligned instructions; the bytes are only u8-aligned.
    let filters: Vec<libc::sock_filter> = program
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let len = u16::try_from(filters.len()).map_err(|_| invalid())?;
    let prog = libc::sock_fprog {
        len,
        filter: filters.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` initialized instructions that outlive
    // the call; the kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build-time programs are what the lists give today.
    #[test]
    fn precompiled_programs_match_the_lists() {
        for (bpf, extra) in [(GOFER_BPF, vec![]), (SANDBOX_BPF, sandbox_extra())] {
            let file = tempfile::tempfile().unwrap();
            build(&extra).unwrap().export_bpf(&file).unwrap();
            let now = std::fs::read(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&file)
            ))
            .unwrap();
            assert_eq!(now, bpf);
        }
    }
}
