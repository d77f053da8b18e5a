//! A seccomp filter as the kernel takes it: a classic BPF program, and the
//! one syscall that installs it. Programs come from libseccomp (exported,
//! so that we can put our own instructions in front) or are built into the
//! binary.

use std::io::{self, Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::ScmpFilterContext;

/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSTRUCTIONS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("export seccomp filter as bpf: {0}")]
    Export(#[source] libseccomp::error::SeccompError),
    #[error("read exported seccomp filter: {0}")]
    Read(#[source] io::Error),
    #[error("seccomp program of {0} bytes is not a whole number of instructions")]
    Size(usize),
    #[error("seccomp program of {0} instructions is longer than the kernel's {MAX_INSTRUCTIONS}")]
    TooLong(usize),
}

/// A classic BPF program for SECCOMP_SET_MODE_FILTER.
#[derive(Clone)]
pub struct Program(Vec<libc::sock_filter>);

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({} instructions)", self.0.len())
    }
}

impl Program {
    /// The program libseccomp generates for `ctx`. libseccomp 2.5 can
    /// only write it to a descriptor, so it goes through a memfd.
    pub fn export(ctx: &ScmpFilterContext) -> Result<Self, ProgramError> {
        let fd = rustix::fs::memfd_create("seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| ProgramError::Read(e.into()))?;
        ctx.export_bpf(&fd).map_err(ProgramError::Export)?;
        let mut file = std::fs::File::from(fd);
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|()| file.read_to_end(&mut bytes))
            .map_err(ProgramError::Read)?;
        Self::from_bytes(&bytes)
    }

    /// Parses instructions in libseccomp's export format: `struct
    /// sock_filter` after `struct sock_filter`, in native byte order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProgramError> {
        let size = std::mem::size_of::<libc::sock_filter>();
        if bytes.is_empty() || !bytes.len().is_multiple_of(size) {
            return Err(ProgramError::Size(bytes.len()));
        }
        // Copied into aligned instructions; the bytes are only u8-aligned.
        let code = bytes
            .chunks_exact(size)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Self::new(code)
    }

    fn new(code: Vec<libc::sock_filter>) -> Result<Self, ProgramError> {
        match code.len() {
            n if n > MAX_INSTRUCTIONS => Err(ProgramError::TooLong(n)),
            _ => Ok(Self(code)),
        }
    }

    /// `prefix` runs first; its jumps past its own end land on this
    /// program's first instruction.
    pub fn prepend(self, prefix: Vec<libc::sock_filter>) -> Result<Self, ProgramError> {
        let mut code = prefix;
        code.extend(self.0);
        Self::new(code)
    }

    /// The instructions in libseccomp's export format (for comparisons).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0
            .iter()
            .flat_map(|i| {
                let mut b = i.code.to_ne_bytes().to_vec();
                b.extend([i.jt, i.jf]);
                b.extend(i.k.to_ne_bytes());
                b
            })
            .collect()
    }

    /// Installs the program as a filter of the calling thread with the
    /// kernel's SECCOMP_FILTER_FLAG_* `flags`. With
    /// SECCOMP_FILTER_FLAG_NEW_LISTENER, returns the notification fd.
    ///
    /// The caller must have set no_new_privs or hold CAP_SYS_ADMIN.
    pub fn load(&self, flags: libc::c_ulong) -> io::Result<Option<OwnedFd>> {
        let ret = self.load_raw(flags).map_err(io::Error::from_raw_os_error)?;
        if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
            // With TSYNC, a positive value is a thread that could not
            // take the filter, and nothing was installed.
            return match ret {
                0 => Ok(None),
                tid => Err(io::Error::other(format!(
                    "thread {tid} cannot take the filter (SECCOMP_FILTER_FLAG_TSYNC)"
                ))),
            };
        }
        let fd = i32::try_from(ret).map_err(|_| io::ErrorKind::InvalidData)?;
        // SAFETY: with NEW_LISTENER, a successful seccomp() returns a new
        // descriptor (close-on-exec) that nothing else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The seccomp syscall of [`Program::load`] alone, without
    /// allocating, so that a child sharing the sandbox's memory may call
    /// it. Returns what the kernel returned, or its errno.
    pub fn load_raw(&self, flags: libc::c_ulong) -> Result<i64, i32> {
        // new() keeps the length within u16.
        let len = u16::try_from(self.0.len()).map_err(|_| libc::EINVAL)?;
        let prog = libc::sock_fprog {
            len,
            filter: self.0.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `len` initialized instructions that
        // outlive the call; the kernel only reads them.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        match ret {
            r if r < 0 => Err(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)),
            r => Ok(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsync_failure_is_an_error() {
        let allow = ScmpFilterContext::new(libseccomp::ScmpAction::Allow).expect("context");
        let program = Program::export(&allow).expect("export");
        // SAFETY: the child only makes syscalls, starts one thread (glibc and
        // musl keep malloc usable across fork) and leaves with _exit.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let ok = nix::sys::prctl::set_no_new_privs().is_ok() && {
                    // A thread with a filter of its own cannot be synced.
                    let (tx, rx) = std::sync::mpsc::channel();
                    let own = program.clone();
                    std::thread::spawn(move || {
                        let _ = tx.send(own.load(0).is_ok());
                        std::thread::park();
                    });
                    rx.recv() == Ok(true) && program.load(libc::SECCOMP_FILTER_FLAG_TSYNC).is_err()
                };
                // SAFETY: _exit runs none of the parent's destructors.
                unsafe { libc::_exit(i32::from(!ok)) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).expect("waitpid");
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
