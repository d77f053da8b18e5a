//! The clone of an exec'd process: clone3 with CLONE_VM | CLONE_VFORK on
//! a stack of its own (`specutils::vfork::clone_vm`, as the frontend's
//! spawns). It shares the sandbox's memory, so no page table is copied
//! and neither side takes copy-on-write faults, and the sandbox sleeps
//! until the child has exec'd or exited (docs/decisions.md, "exec: a
//! vfork").

use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use super::child::{self, Report, Shared};
use super::plan::Plan;

/// The child's frames are small: a 4 KiB getcwd buffer is the largest.
const STACK_SIZE: usize = 128 * 1024;

/// One stack for every exec, mapped once: the sandbox serves one request
/// at a time and sleeps while a child runs on it, so no two children use
/// it at once, and its touched pages stay mapped (no fault next time).
/// Its lowest address; it is `STACK_SIZE` long.
fn stack() -> std::io::Result<usize> {
    static BASE: OnceLock<usize> = OnceLock::new();
    if let Some(base) = BASE.get() {
        return Ok(*base);
    }
    let stack = specutils::vfork::ChildStack::map(STACK_SIZE)?.leak();
    Ok(*BASE.get_or_init(|| stack.as_mut_ptr() as usize))
}

/// Runs `plan` in a vfork'd child, born in the cgroup2 directory `cgroup2`
/// if given (a later container's: a move by `cgroup.procs` would wait for
/// the kernel's threadgroup lock, 10 to 30 ms here). Returns its pid and
/// pidfd and what it reported: the child has exec'd when `failed` is None,
/// else it has exited (not yet reaped). The caller must be
/// single-threaded.
pub(super) fn spawn(
    plan: &mut Plan<'_>,
    cgroup2: Option<BorrowedFd<'_>>,
) -> std::io::Result<(i32, OwnedFd, Report)> {
    use nix::sys::signal::{pthread_sigmask, SigmaskHow};
    let base = stack()?;
    let mut shared = Shared {
        plan,
        report: Report::default(),
    };
    // No handler of ours may run in the child, on our memory, before it
    // has reset them all: it starts with every signal blocked.
    let old = specutils::sys::block_all_signals()?;
    // SAFETY: the child runs `child::main` on the stack above (ours alone:
    // one request at a time), which only makes syscalls on `shared` (see
    // child.rs); CLONE_VFORK keeps us asleep, and `shared` alive, until it
    // has exec'd or exited; signals are blocked; no user namespace is
    // asked for at the clone.
    let cloned = unsafe {
        specutils::vfork::clone_vm(
            libc::CLONE_VFORK as u64,
            cgroup2,
            base as *mut u8,
            STACK_SIZE,
            child::main,
            &mut shared as *mut Shared<'_, '_> as *mut libc::c_void,
        )
    };
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    let (pid, pidfd) = cloned?;
    Ok((pid, pidfd, shared.report))
}
