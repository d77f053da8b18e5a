//! The clone of an exec'd process: CLONE_VM | CLONE_VFORK on a stack of
//! its own. It shares the sandbox's memory, so no page table is copied
//! and neither side takes copy-on-write faults, and the sandbox sleeps
//! until the child has exec'd or exited (docs/decisions.md, "exec: a
//! vfork").

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

use super::child::{self, Report, Shared};
use super::plan::Plan;

/// The child's frames are small: a 4 KiB getcwd buffer is the largest.
const STACK_SIZE: usize = 128 * 1024;

/// One stack for every exec, mapped once: the sandbox serves one request
/// at a time and sleeps while a child runs on it, so no two children use
/// it at once, and its touched pages stay mapped (no fault next time).
fn stack() -> std::io::Result<usize> {
    static TOP: OnceLock<usize> = OnceLock::new();
    if let Some(top) = TOP.get() {
        return Ok(*top);
    }
    let stack = specutils::vfork::ChildStack::map(STACK_SIZE)?.leak();
    // Stacks grow down on every architecture we build for; 16-byte aligned.
    let top = stack.as_mut_ptr() as usize + stack.len();
    Ok(*TOP.get_or_init(|| top & !15))
}

/// Runs `plan` in a vfork'd child. Returns its pid and pidfd and what it
/// reported: the child has exec'd when `failed` is None, else it has
/// exited (not yet reaped). The caller must be single-threaded.
pub(super) fn spawn(plan: &mut Plan<'_>) -> std::io::Result<(i32, OwnedFd, Report)> {
    use nix::sys::signal::{pthread_sigmask, SigmaskHow};
    let top = stack()?;
    let mut shared = Shared {
        plan,
        report: Report::default(),
    };
    // No handler of ours may run in the child, on our memory, before it
    // has reset them all: it starts with every signal blocked.
    let old = specutils::sys::block_all_signals()?;
    let mut pidfd: libc::c_int = -1;
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    // SAFETY: the child runs `child::main` on the stack above, which only
    // makes syscalls on `shared` (see child.rs); CLONE_VFORK keeps us
    // asleep, and `shared` alive, until it has exec'd or exited. With
    // CLONE_PIDFD, the kernel writes the pidfd into `pidfd`.
    let pid = unsafe {
        libc::clone(
            child::main,
            top as *mut libc::c_void,
            flags,
            &mut shared as *mut Shared<'_, '_> as *mut libc::c_void,
            &mut pidfd as *mut libc::c_int,
        )
    };
    let err = std::io::Error::last_os_error();
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    if pid < 0 {
        return Err(err);
    }
    // SAFETY: CLONE_PIDFD made this descriptor for us alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok((pid, pidfd, shared.report))
}
