//! clone3 as a vfork: the child shares the caller's memory (CLONE_VM) on a
//! stack of its own and the caller sleeps until it has exec'd or exited
//! (CLONE_VFORK). No page table is copied, neither side takes
//! copy-on-write faults, and the child's execve has no copy to tear down:
//! what a fork-then-exec of our 9 MiB binary paid in the frontend for each
//! gofer and sandbox (BENCHMARKS.md, "CPU per run"). Unlike libc's
//! `clone`, clone3 takes CLONE_INTO_CGROUP, which the frontend's children
//! need.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// clone3's flag for a child born in a given cgroup2 directory.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A stack for a child that runs on our memory: a fresh mapping under an
/// inaccessible guard page, so that an overflow faults instead of writing
/// into the caller's memory. Unmapped on drop, unless leaked.
pub struct ChildStack {
    base: *mut c_void,
    len: usize,
}

const GUARD: usize = 4096;

impl ChildStack {
    /// `size` usable bytes (a multiple of the page size) above the guard.
    pub fn map(size: usize) -> io::Result<ChildStack> {
        let len = size + GUARD;
        // SAFETY: a fresh private anonymous mapping that nothing aliases;
        // its lowest page is then made inaccessible.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let stack = ChildStack { base, len };
            if libc::mprotect(base, GUARD, libc::PROT_NONE) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(stack)
        }
    }

    /// The usable part: its lowest address and its length (page-aligned,
    /// whole pages), for [`clone_vm`].
    pub fn usable(&self) -> (*mut u8, usize) {
        // SAFETY: the guard page lies within the mapping.
        let base = unsafe { self.base.cast::<u8>().add(GUARD) };
        (base, self.len - GUARD)
    }

    /// The usable part, mapped for the rest of the process's life: for a
    /// stack used again and again, or by a child that outlives the call.
    pub fn leak(self) -> &'static mut [u8] {
        let stack = std::mem::ManuallyDrop::new(self);
        // SAFETY: the pages above the guard are ours, readable and
        // writable, and never unmapped (no drop), so 'static holds.
        unsafe {
            std::slice::from_raw_parts_mut(stack.base.cast::<u8>().add(GUARD), stack.len - GUARD)
        }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping; whoever holds it drops it only once the
        // child that ran on it has exec'd or exited (CLONE_VFORK, or an
        // exit seen on its pidfd), so nothing uses it any more.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Runs `child(arg)` in a new process made by clone3 with `flags` (the
/// `CLONE_NEW*` bits; `CLONE_VM`, `CLONE_VFORK` and `CLONE_PIDFD` are
/// added), born in the cgroup2 directory `cgroup` if given, on a stack of
/// `stack_size` bytes. Returns once the child has exec'd or exited, with
/// its pid and a pidfd; the child exits with what `child` returns if it
/// returns.
///
/// # Safety
/// `child` runs on the caller's memory while the calling thread sleeps:
/// it may only make syscalls on what `arg` points to (no allocation, no
/// lock, no unwinding, nothing dropped), and `arg` must stay valid until
/// this returns. Signals with handlers of the caller's must be blocked
/// while it runs. `flags` must not hold `CLONE_NEWUSER` (nor anything
/// else the kernel refuses with a shared address space).
#[cfg(target_arch = "x86_64")]
pub unsafe fn vfork_into(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
    stack_size: usize,
    child: extern "C" fn(*mut c_void) -> libc::c_int,
    arg: *mut c_void,
) -> io::Result<(i32, OwnedFd)> {
    let stack = ChildStack::map(stack_size)?;
    let (base, len) = stack.usable();
    let flags = flags | libc::CLONE_VFORK as u64;
    let cloned = clone_vm(flags, cgroup, base, len, child, arg);
    drop(stack);
    cloned
}

/// Runs `child(arg)` in a new process made by clone3 with `flags` plus
/// `CLONE_VM` and `CLONE_PIDFD`: [`clone_on_stack`] on the caller's memory.
///
/// # Safety
/// As [`clone_on_stack`], and: `child` runs on the caller's memory, so it
/// may only make syscalls on what `arg` points to (no allocation, no lock,
/// no unwinding, nothing dropped); `arg` and the stack must stay valid
/// until the child has exec'd or exited; `flags` must not hold
/// `CLONE_NEWUSER` (nor anything else the kernel refuses with a shared
/// address space).
#[cfg(target_arch = "x86_64")]
pub unsafe fn clone_vm(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
    stack: *mut u8,
    len: usize,
    child: extern "C" fn(*mut c_void) -> libc::c_int,
    arg: *mut c_void,
) -> io::Result<(i32, OwnedFd)> {
    clone_on_stack(
        flags | libc::CLONE_VM as u64,
        cgroup,
        stack,
        len,
        child,
        arg,
    )
}

/// Runs `child(arg)` in a new process made by clone3 with `flags` plus
/// `CLONE_PIDFD`, on the stack `stack..stack + len`, born in the cgroup2
/// directory `cgroup` if given. Returns its pid and a pidfd; with
/// `CLONE_VFORK` in `flags`, once it has exec'd or exited. The child exits
/// with what `child` returns if it returns. With `CLONE_PARENT` it gets
/// the caller's exit signal (clone3 takes none then), else SIGCHLD.
/// Without `CLONE_VM` the child runs on a copy of the caller's memory, as
/// after fork, the stack included.
///
/// # Safety
/// `child` must not unwind or return into the caller's frames (it has
/// none on its stack). The stack must be page-aligned, a whole number of
/// pages, and used by nothing else while the child runs on it. Signals
/// with handlers of the caller's must be blocked while it starts.
#[cfg(target_arch = "x86_64")]
pub unsafe fn clone_on_stack(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
    stack: *mut u8,
    len: usize,
    child: extern "C" fn(*mut c_void) -> libc::c_int,
    arg: *mut c_void,
) -> io::Result<(i32, OwnedFd)> {
    let mut pidfd: RawFd = -1;
    let mut args: libc::clone_args = std::mem::zeroed();
    args.flags = flags | libc::CLONE_PIDFD as u64;
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    args.pidfd = &mut pidfd as *mut RawFd as u64;
    if flags & libc::CLONE_PARENT as u64 == 0 {
        args.exit_signal = libc::SIGCHLD as u64;
    }
    // The kernel starts the child with the stack pointer at `stack + len`
    // (16-byte aligned: page-aligned base, page-multiple size), so `call`
    // leaves it as the ABI wants at `child`'s entry.
    args.stack = stack as u64;
    args.stack_size = len as u64;
    let ret: i64;
    // The child comes out of the syscall on its new stack with the
    // caller's registers but rax = 0: it calls `child(arg)` (r13, r12,
    // which the syscall preserves) and exits with its result; it never
    // returns into the caller's frames. The caller goes on at 2 (after a
    // vfork, once the child has exec'd or exited).
    core::arch::asm!(
        "syscall",
        "test rax, rax",
        "jnz 2f",
        "mov rdi, r12",
        "call r13",
        "mov edi, eax",
        "mov eax, {exit}",
        "syscall",
        "ud2",
        "2:",
        exit = const libc::SYS_exit,
        inlateout("rax") libc::SYS_clone3 => ret,
        in("rdi") &mut args as *mut libc::clone_args,
        in("rsi") std::mem::size_of::<libc::clone_args>(),
        in("r12") arg,
        in("r13") child,
        lateout("rcx") _,
        lateout("r11") _,
        options(nostack),
    );
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    // SAFETY: CLONE_PIDFD made this descriptor for us alone.
    Ok((ret as i32, OwnedFd::from_raw_fd(pidfd)))
}
