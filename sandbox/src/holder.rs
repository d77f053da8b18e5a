//! The holder: the process whose pid we report (`state.pid`, the pid
//! file), one per container of a pod. It lives in its container's mount,
//! network, uts, ipc and cgroup namespaces and in its cgroup, so that a
//! tool entering the reported pid (`nsenter -t <pid> -m`, Podman's `top`,
//! which reads `/proc` in that pid's mount namespace) lands in the
//! container, and it exits with its container's status, so that the caller
//! that reaps it (containerd's runc shim, conmon, our shim) sees the
//! container end. It lives in the host's pid namespace, but its children's
//! is its container's: a spec joining `/proc/<holder>/ns/pid` (Docker's
//! `--pid container:`) is given that one (`spawn::namespaces`).
//!
//! It is a sibling of the sandbox (CLONE_PARENT): the caller that reaps the
//! sandbox reaps it too. The root container's shares the sandbox's memory
//! (CLONE_VM), so it costs a stack page and a task, not a copy of the
//! sandbox's heap. A later container's gets a copy of it, as after fork:
//! it lives in that container's memory cgroup, and the kernel's OOM
//! killer, when it picks a process, kills every process sharing its
//! memory, so a holder on the sandbox's memory picked in a later
//! container's OOM took the whole pod down. Before it waits it closes every
//! descriptor but its pipe, drops every capability (its bounding set too)
//! and loads a filter that allows read, write and exit only (seccomp's
//! strict mode, which the sandbox's own filter refuses), on top of the
//! sandbox's, which it inherits: even a sandbox that writes into the
//! shared memory could make it do nothing but those.
//!
//! See docs/decisions.md, "The pid we report, and what it costs".

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use rustix::thread::{CapabilitySet, CapabilitySets, LinkNameSpaceType};

/// The status a holder exits with when the sandbox died without saying
/// how the container ended: as if the sandbox had been SIGKILLed.
pub const SANDBOX_LOST: i32 = 128 + 9;

/// The holder's stack: its frames are small and it makes only raw
/// syscalls.
const STACK_SIZE: usize = 64 * 1024;

/// What the holder reads: the write end of its pipe, kept for
/// [`release`].
static EXIT: OnceLock<OwnedFd> = OnceLock::new();

/// A started holder.
#[derive(Debug, Clone, Copy)]
pub struct Holder {
    pub pid: i32,
    /// False when it could not enter the container's mount namespace or
    /// cgroup, or take its pid namespace for its children: it still holds,
    /// but tools entering it land in the sandbox's, and a spec joining its
    /// pid namespace joins the sandbox's.
    pub entered: bool,
}

/// The most cgroup files a holder writes itself into: one per v1
/// hierarchy and the cgroup2 one.
const MAX_PROCS: usize = 16;

/// What the holder's code gets: raw descriptors, copied before the clone.
#[repr(C)]
struct Args {
    mnt: RawFd,
    cgroup: RawFd,
    pid: RawFd,
    ready: RawFd,
    exit: RawFd,
    /// `tasks` of a subcontainer's cgroup in each v1 hierarchy (its
    /// cgroup2 directory it is born in), opened for writing; -1 past the
    /// last.
    procs: [RawFd; MAX_PROCS],
    /// The sandbox already runs under its own filter, where strict mode
    /// is refused (EINVAL): this filter, which allows the same three
    /// calls, stacks on it instead.
    filter: &'static crate::seccomp::Program,
}

/// read, write and exit, and death for anything else: strict mode as a
/// filter, built once (libseccomp allocates, which the holder may not).
fn strict_filter() -> std::io::Result<&'static crate::seccomp::Program> {
    use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
    static FILTER: OnceLock<crate::seccomp::Program> = OnceLock::new();
    if let Some(f) = FILTER.get() {
        return Ok(f);
    }
    let build = || -> Result<crate::seccomp::Program, Box<dyn std::error::Error>> {
        let mut ctx = ScmpFilterContext::new(ScmpAction::KillProcess)?;
        for name in ["read", "write", "exit"] {
            ctx.add_rule(ScmpAction::Allow, ScmpSyscall::from_name(name)?)?;
        }
        Ok(crate::seccomp::Program::export(&ctx)?)
    };
    let program = build().map_err(|e| std::io::Error::other(format!("holder filter: {e}")))?;
    Ok(FILTER.get_or_init(|| program))
}

fn open_ns(init: i32, name: &str) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        format!("/proc/{init}/ns/{name}"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
}

/// Builds the holders' filter ahead of the first [`start`], so that the
/// sandbox can do it while the root container's init sets up.
pub fn prepare() -> std::io::Result<()> {
    strict_filter().map(|_| ())
}

/// Starts the holder in `init`'s mount and cgroup namespaces (it shares
/// the sandbox's other namespaces, the pod's after `PodNamespaces::join`)
/// and waits until it is there. Called once, after the sandbox has
/// confined itself and the init has pivoted; [`release`] ends it.
pub fn start(init: i32) -> std::io::Result<Holder> {
    let (holder, exit, memory) = spawn(init, &[], None, strict_filter()?, true)?;
    // The root container's holder lives as long as the sandbox.
    memory.keep();
    // Set once per sandbox; a second holder would have no one to report.
    let _ = EXIT.set(exit);
    Ok(holder)
}

/// A holder for a pod's later container `init`, born in that container's
/// cgroup2 directory `cgroup2` and moving itself into its v1 cgroups
/// through `procs` (the files its init joined by). Writing the
/// container's status into the returned descriptor ends it; closing it
/// ends it with [`SANDBOX_LOST`]. It runs on a copy of the sandbox's
/// memory: an OOM kill in its container must end it alone, not the
/// sandbox too. Its stack and arguments are the caller's to free once it
/// has exited.
pub fn start_sub(
    init: i32,
    procs: &[OwnedFd],
    cgroup2: Option<BorrowedFd<'_>>,
) -> std::io::Result<(Holder, OwnedFd, Memory)> {
    spawn(init, procs, cgroup2, strict_filter()?, false)
}

/// What a holder was started on: its stack and arguments, and a pidfd
/// that tells when it has exited. A root container's holder runs on them
/// in the sandbox's memory; a later container's on its own copy, so for
/// it they only keep `destroy` waiting for its exit.
pub struct Memory {
    _stack: specutils::vfork::ChildStack,
    _args: Box<Args>,
    pidfd: OwnedFd,
}

impl Memory {
    /// Frees the stack and arguments if the holder has exited, waiting up
    /// to `wait_ms` for it; gives them back if it still runs.
    pub fn free_if_exited(self, wait_ms: u16) -> Option<Memory> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        // A pidfd turns readable when its task is a zombie, which is after
        // the kernel has dropped the task's hold on our memory (exit_mm
        // comes first in do_exit): nothing runs on the stack any more.
        match poll(&mut fds, PollTimeout::from(wait_ms)) {
            Ok(n) if n > 0 => {
                drop(self);
                None
            }
            _ => Some(self),
        }
    }

    /// Keeps the memory for the rest of the sandbox's life.
    fn keep(self) {
        std::mem::forget(self);
    }
}

fn spawn(
    init: i32,
    procs: &[OwnedFd],
    cgroup2: Option<BorrowedFd<'_>>,
    filter: &'static crate::seccomp::Program,
    shared_memory: bool,
) -> std::io::Result<(Holder, OwnedFd, Memory)> {
    if procs.len() > MAX_PROCS {
        return Err(std::io::Error::other(format!(
            "{} cgroup files for the holder, at most {MAX_PROCS}",
            procs.len()
        )));
    }
    let mnt = open_ns(init, "mnt")?;
    let cgroup = open_ns(init, "cgroup").ok();
    let pid_ns = open_ns(init, "pid")?;
    let (ready_r, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (exit_r, exit_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let mut raw_procs = [-1; MAX_PROCS];
    for (slot, fd) in raw_procs.iter_mut().zip(procs) {
        *slot = fd.as_raw_fd();
    }
    // Boxed, and kept with its stack in `Memory`: the holder reads these
    // for as long as it lives, which can outlast any scope here.
    let args = Box::new(Args {
        mnt: mnt.as_raw_fd(),
        cgroup: cgroup.as_ref().map_or(-1, |c| c.as_raw_fd()),
        pid: pid_ns.as_raw_fd(),
        ready: ready_w.as_raw_fd(),
        exit: exit_r.as_raw_fd(),
        procs: raw_procs,
        filter,
    });
    let stack = specutils::vfork::ChildStack::map(STACK_SIZE)?;
    let (pid, pidfd) = clone_holder(&stack, &args, cgroup2, shared_memory)?;
    let memory = Memory {
        _stack: stack,
        _args: args,
        pidfd,
    };
    drop(ready_w);
    drop(exit_r);
    let mut byte = [0u8; 1];
    let entered = match rustix::io::read(ready_r.as_fd(), &mut byte) {
        Ok(1) => byte[0] == 0,
        _ => false,
    };
    Ok((Holder { pid, entered }, exit_w, memory))
}

/// Makes the holder exit with `code`: the last thing the sandbox does.
pub fn release(code: u8) {
    if let Some(fd) = EXIT.get() {
        let _ = rustix::io::write(fd, &[code]);
    }
}

/// Clones the holder: CLONE_VM (our memory) if `shared_memory`, else on
/// a copy of it; CLONE_PARENT (our parent's child); every signal blocked
/// (it has no handler to run them); born in `cgroup2` if given: a cgroup2 move by `cgroup.procs` would wait for the
/// kernel's threadgroup lock, 10 to 30 ms here. Returns its pid and a
/// pidfd.
fn clone_holder(
    stack: &specutils::vfork::ChildStack,
    args: &Args,
    cgroup2: Option<BorrowedFd<'_>>,
    shared_memory: bool,
) -> std::io::Result<(i32, OwnedFd)> {
    use nix::sys::signal::{pthread_sigmask, SigmaskHow};
    let old = specutils::sys::block_all_signals()?;
    let (base, len) = stack.usable();
    // SAFETY: `stack` and `args` go into the `Memory` that `spawn`
    // returns, which frees them only once the pidfd shows the child gone
    // (or never); the child runs `holder_main`, which touches nothing but
    // `args` and its own stack and makes raw syscalls (no allocation, no
    // TLS, no locks), so sharing our memory cannot race with us; signals
    // are blocked; no user namespace is asked for. Without CLONE_VM the
    // child has its own copy of all of it.
    let flags = match shared_memory {
        true => libc::CLONE_PARENT | libc::CLONE_VM,
        false => libc::CLONE_PARENT,
    };
    let cloned = unsafe {
        specutils::vfork::clone_on_stack(
            flags as u64,
            cgroup2,
            base,
            len,
            holder_main,
            args as *const Args as *mut libc::c_void,
        )
    };
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    cloned
}

/// The holder's whole life. Only raw syscalls (rustix's linux_raw
/// backend sets no errno): it shares the sandbox's memory and thread
/// pointer, or a copy of them taken at the clone.
extern "C" fn holder_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Args` that `spawn` made for us, kept until
    // we have exited.
    let args = unsafe { &*(arg as *const Args) };
    // SAFETY: the descriptors are open in our copy of the table, and
    // nothing else in this process uses them.
    let fd = |raw: RawFd| unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    // Into the container's cgroup first, while the cgroup namespace and
    // the paths are still the sandbox's; "0" is the writer itself.
    let mut joined = true;
    for &procs in args.procs.iter().take_while(|&&p| p >= 0) {
        joined &= rustix::io::write(fd(procs), b"0").is_ok();
    }
    let mut entered = joined;
    entered &=
        rustix::thread::move_into_link_name_space(fd(args.mnt), Some(LinkNameSpaceType::Mount))
            .is_ok();
    if args.cgroup >= 0 {
        entered &= rustix::thread::move_into_link_name_space(
            fd(args.cgroup),
            Some(LinkNameSpaceType::ControlGroup),
        )
        .is_ok();
    }
    // For its children only: it forks none, but /proc/<pid>/ns/
    // pid_for_children now names the container's pid namespace.
    entered &=
        rustix::thread::move_into_link_name_space(fd(args.pid), Some(LinkNameSpaceType::ProcessID))
            .is_ok();
    // Its command line is the sandbox's (the memory is shared); its name
    // tells the two apart in `ps -o comm` and `top`.
    let _ = rustix::thread::set_name(c"runsc-holder");
    let _ = rustix::io::write(fd(args.ready), &[u8::from(!entered)]);
    close_all_but(args.exit);
    // The bounding set too, so that /proc shows a process with nothing.
    // Capability numbers are dense: the first the kernel does not know
    // (EINVAL) ends them.
    for cap in 0..64 {
        let dropped = rustix::thread::remove_capability_from_bounding_set(
            CapabilitySet::from_bits_retain(1 << cap),
        );
        if dropped == Err(rustix::io::Errno::INVAL) {
            break;
        }
    }
    let none = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    if rustix::thread::set_capabilities(None, none).is_err() {
        exit(SANDBOX_LOST);
    }
    // Without capabilities a filter needs no_new_privs. Program::load is
    // one raw syscall; only a failure, which ends us, writes errno.
    let confined = rustix::thread::set_no_new_privs(true).is_ok() && args.filter.load(0).is_ok();
    if !confined {
        exit(SANDBOX_LOST);
    }
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(fd(args.exit), &mut byte) {
            Ok(1) => exit(i32::from(byte[0])),
            Err(rustix::io::Errno::INTR) => continue,
            _ => exit(SANDBOX_LOST),
        }
    }
}

/// Closes every descriptor but `keep`.
fn close_all_but(keep: RawFd) {
    let keep = keep as libc::c_uint;
    // SAFETY: close_range only closes descriptors; on failure it returns
    // -1 and writes errno, which only a kernel before 5.9 would make it do.
    unsafe {
        if keep > 0 {
            libc::syscall(libc::SYS_close_range, 0, keep - 1, 0);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0);
    }
}

/// exit(2) of this task alone, the one call its filter allows to end it
/// (exit_group is not among them); the holder has no other thread.
fn exit(code: i32) -> ! {
    loop {
        // SAFETY: SYS_exit ends this task and does not return.
        unsafe {
            libc::syscall(libc::SYS_exit, code);
        }
    }
}
