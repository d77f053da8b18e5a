//! The exec'd process from the vfork to its execve. It runs in the
//! sandbox's memory, on a stack of its own, while the sandbox waits (see
//! `super::vfork`). So it only makes syscalls on what `Plan` holds: no
//! allocation, no lock, no panic, nothing of the sandbox's dropped. A
//! failure is written into `Report`, which the sandbox reads once the
//! child is gone, and the child exits.
//!
//! rustix's syscalls (its linux_raw backend) leave errno alone; the few
//! libc calls here write it on failure, into the sandbox's thread, which
//! is stopped until we exec or exit and reads errno only after failures
//! of its own.

use std::os::fd::{BorrowedFd, RawFd};

use rustix::fs::{Access, Mode, OFlags};
use rustix::io::Errno;
use rustix::thread::{CapabilitySet, CapabilitySets};

use super::plan::{Attr, Plan, Stdio};

/// Which step failed; `super::failure` words it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Step {
    Signals,
    Cgroup,
    OomScoreAdj,
    Join(usize),
    Setsid,
    Pty(PtyOp),
    Stdio,
    Rlimit(usize),
    NotFound,
    CloseOnExec,
    Attr {
        selinux: bool,
        op: AttrOp,
    },
    Chdir,
    CwdOutside,
    Getcwd,
    Baseline,
    Seccomp,
    Bounding(u32),
    KeepCaps,
    Groups,
    Gid,
    Uid,
    ResetKeepCaps,
    Caps,
    AmbientClear,
    NoNewPrivs,
    /// The checks runc makes of the file before execve.
    Stat(usize),
    NotExecutable(usize),
    Access(usize),
    Exec(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum PtyOp {
    Open,
    Unlock,
    Name,
    OpenPeer,
    Size,
    Send,
    Ctty,
    Dup,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum AttrOp {
    Open,
    NotProc,
    Write,
}

/// What the child leaves for the sandbox.
#[derive(Debug, Default)]
pub(super) struct Report {
    /// The step that failed, and its errno (0 where there is none).
    pub failed: Option<(Step, i32)>,
    /// The pty's number, once known.
    pub pty: u32,
    /// The attribute file written, when an LSM step failed.
    pub attr_fallback: bool,
    /// Ambient capabilities the kernel refused (a warning, as runc's).
    pub ambient_refused: u64,
    pub ambient_errno: i32,
}

/// What the clone hands the child.
pub(super) struct Shared<'s, 'a> {
    pub plan: &'s mut Plan<'a>,
    pub report: Report,
}

pub(super) type Done = Result<(), (Step, i32)>;

pub(super) fn at(step: Step) -> impl Fn(Errno) -> (Step, i32) {
    move |e| (step, e.raw_os_error())
}

/// errno of the libc call that just failed.
pub(super) fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The child's entry point.
pub(super) extern "C" fn main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` that `super::vfork::spawn` passed; the
    // sandbox does not touch it until this task has exec'd or exited.
    let shared = unsafe { &mut *(arg as *mut Shared<'_, '_>) };
    match run(shared.plan, &mut shared.report) {
        // As under runc, the process has started: it exits 1 and says
        // why on its own stderr.
        Err((Step::Exec(n), errno)) => {
            if let Some(path) = shared.plan.exe.get(n) {
                super::refused::say(path, errno);
            }
            1
        }
        Err(failed) => {
            shared.report.failed = Some(failed);
            127
        }
        Ok(()) => 127,
    }
}

fn run(plan: &mut Plan<'_>, report: &mut Report) -> Done {
    reset_signals()?;
    for &procs in &plan.cgroup_procs {
        rustix::io::write(fd(procs), b"0").map_err(at(Step::Cgroup))?;
    }
    if let Some(adj) = &plan.oom_score_adj {
        let file = rustix::fs::open(
            c"/proc/self/oom_score_adj",
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(at(Step::OomScoreAdj))?;
        rustix::io::write(&file, adj).map_err(at(Step::OomScoreAdj))?;
    }
    for (n, &(kind, ns)) in plan.joins.iter().enumerate() {
        rustix::thread::move_into_link_name_space(fd(ns), Some(kind)).map_err(at(Step::Join(n)))?;
    }
    rustix::process::setsid().map_err(at(Step::Setsid))?;
    match &mut plan.stdio {
        Stdio::Terminal { console, size } => super::child_pty::pty(*console, *size, report)?,
        Stdio::Streams { moves, parked } => {
            let base = 100 + moves.len() as RawFd;
            // SAFETY: 0..n are this process's stdio and preserved slots,
            // which the container's process gets in their place.
            unsafe { specutils::sys::place_fds(moves, parked, base) }
                .map_err(|e| (Step::Stdio, e.raw_os_error().unwrap_or(libc::EIO)))?;
        }
    }
    for (n, (resource, limit)) in plan.rlimits.iter().enumerate() {
        // The raw syscall, not libc's setrlimit: musl's takes a lock and
        // blocks signals around it (for threads), on the sandbox's memory.
        // SAFETY: `limit` is a valid rlimit (two u64s, the kernel's
        // rlimit64) that the kernel only reads; the old one is not asked.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_prlimit64,
                0,
                *resource as libc::c_int,
                limit as *const libc::rlimit,
                std::ptr::null_mut::<libc::rlimit>(),
            )
        };
        if rc != 0 {
            return Err((Step::Rlimit(n), last_errno()));
        }
    }
    let exe = executable(plan)?;
    close_on_exec_from(plan.close_from)?;
    for (attr, selinux) in [(&plan.apparmor, false), (&plan.selinux, true)] {
        if let Some(attr) = attr {
            write_attr(attr, selinux, report)?;
        }
    }
    let entered = enter_cwd(plan, true)?;
    if let Some(baseline) = plan.baseline {
        baseline.load_raw(0).map_err(|e| (Step::Baseline, e))?;
    }
    if !plan.nnp {
        load_seccomp(plan)?;
    }
    take_identity(plan, report)?;
    if plan.nnp {
        rustix::thread::set_no_new_privs(true).map_err(at(Step::NoNewPrivs))?;
    }
    if !entered {
        enter_cwd(plan, false)?;
    }
    let path = plan.exe.get(exe).ok_or((Step::NotFound, 0))?;
    super::refused::check(path, exe)?;
    if plan.nnp {
        load_seccomp(plan)?;
    }
    // SAFETY: `path` and the two arrays are NUL-terminated, each array
    // ends with a null pointer, and all of it lives in `plan`.
    unsafe { libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr()) };
    Err((Step::Exec(exe), last_errno()))
}

/// A raw descriptor of the plan as a borrowed one.
pub(super) fn fd(raw: RawFd) -> BorrowedFd<'static> {
    // SAFETY: the plan's descriptors are open in our copy of the table
    // until execve, and nothing in this task closes them before.
    unsafe { BorrowedFd::borrow_raw(raw) }
}

/// The kernel's `struct sigaction` (not glibc's, which is larger).
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// One rt_sigaction: install `new` (unless null), read the old into `old`.
fn sigaction(sig: i32, new: *const KernelSigaction, old: *mut KernelSigaction) -> bool {
    // SAFETY: both point at kernel-layout structs or are null; 8 is the
    // size of the kernel's signal set.
    unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, new, old, 8) == 0 }
}

/// Every handler of the sandbox's back to default: the handlers are the
/// sandbox's code, on our shared memory. Ignored signals stay ignored
/// through execve, as after a fork, but for SIGPIPE, which Rust ignores
/// for itself. Then every signal unblocked (the sandbox blocked them all
/// around the clone, and blocks SIGCHLD always), and death with the
/// sandbox.
fn reset_signals() -> Done {
    let default = KernelSigaction::default();
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let mut old = KernelSigaction::default();
        if !sigaction(sig, std::ptr::null(), &mut old) {
            // Numbers past this kernel's last signal.
            continue;
        }
        let handled = old.handler != libc::SIG_DFL && old.handler != libc::SIG_IGN;
        if (handled || sig == libc::SIGPIPE) && !sigaction(sig, &default, std::ptr::null_mut()) {
            return Err((Step::Signals, last_errno()));
        }
    }
    let none: u64 = 0;
    // SAFETY: an empty 8-byte signal set, read by the kernel only.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &none as *const u64,
            std::ptr::null_mut::<u64>(),
            8,
        )
    };
    if rc != 0 {
        return Err((Step::Signals, last_errno()));
    }
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(at(Step::Signals))
}

/// The index of the candidate to exec: the first regular file with an
/// execute bit, as the PATH search in `init::identity` takes it.
fn executable(plan: &Plan<'_>) -> Result<usize, (Step, i32)> {
    if !plan.search {
        return Ok(0);
    }
    plan.exe
        .iter()
        .position(|c| {
            rustix::fs::stat(c.as_c_str()).is_ok_and(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() && st.st_mode & 0o111 != 0
            })
        })
        .ok_or((Step::NotFound, 0))
}

/// Marks every descriptor from `first` on close-on-exec; where
/// close_range cannot, one by one from /proc/self/fd.
fn close_on_exec_from(first: u32) -> Done {
    // Its io::Error is an OS error: nothing allocated.
    if crate::init::inherited_fds::close_range_cloexec(first).is_ok() {
        return Ok(());
    }
    let dir = rustix::fs::open(
        c"/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(at(Step::CloseOnExec))?;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = rustix::fs::RawDir::new(&dir, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(at(Step::CloseOnExec))?;
        let Some(fd) = parse_fd(entry.file_name().to_bytes()) else {
            continue;
        };
        if fd >= first as i32 {
            crate::init::inherited_fds::set_cloexec(fd).map_err(at(Step::CloseOnExec))?;
        }
    }
    Ok(())
}

/// A descriptor number from its decimal name; `.` and `..` are none.
fn parse_fd(name: &[u8]) -> Option<i32> {
    if name.is_empty() {
        return None;
    }
    name.iter().try_fold(0i32, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(i32::from(digit))
    })
}

/// Writes an LSM attribute for the next execve, in one write, after
/// checking the file is on procfs (a mount over /proc would swallow the
/// label: CVE-2019-16884).
fn write_attr(attr: &Attr, selinux: bool, report: &mut Report) -> Done {
    let step = |op| Step::Attr { selinux, op };
    let path = match &attr.fallback {
        Some(f) if rustix::fs::access(attr.path.as_c_str(), Access::EXISTS).is_err() => {
            report.attr_fallback = true;
            f
        }
        _ => &attr.path,
    };
    let file = rustix::fs::open(
        path.as_c_str(),
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(at(step(AttrOp::Open)))?;
    let fs = rustix::fs::fstatfs(&file).map_err(at(step(AttrOp::NotProc)))?;
    if fs.f_type != libc::PROC_SUPER_MAGIC {
        return Err((step(AttrOp::NotProc), 0));
    }
    match rustix::io::write(&file, &attr.value) {
        Ok(n) if n == attr.value.len() => Ok(()),
        Ok(_) => Err((step(AttrOp::Write), libc::EIO)),
        Err(e) => Err((step(AttrOp::Write), e.raw_os_error())),
    }
}

/// Changes into the cwd and checks that it is inside the container's
/// root (CVE-2024-21626: a cwd through one of our descriptors could name
/// a directory outside). An early attempt, with the runtime's rights,
/// that lacks them returns false, to be tried again as the user.
fn enter_cwd(plan: &Plan<'_>, early: bool) -> Result<bool, (Step, i32)> {
    match rustix::process::chdir(plan.cwd.as_c_str()) {
        Ok(()) => {}
        Err(Errno::ACCESS | Errno::PERM) if early => return Ok(false),
        Err(e) => return Err((Step::Chdir, e.raw_os_error())),
    }
    let mut buf = [0u8; 4096];
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    match rc {
        n if n > 0 && buf.first() == Some(&b'/') => Ok(true),
        n if n > 0 => Err((Step::CwdOutside, 0)),
        _ => match last_errno() {
            libc::ENOENT => Err((Step::CwdOutside, 0)),
            e => Err((Step::Getcwd, e)),
        },
    }
}

fn load_seccomp(plan: &Plan<'_>) -> Done {
    // With SCMP_ACT_NOTIFY rules the kernel returns a listener
    // descriptor; exec has no agent for it, and execve closes it.
    match plan.seccomp {
        Some((program, flags)) => program
            .load_raw(flags)
            .map(drop)
            .map_err(|e| (Step::Seccomp, e)),
        None => Ok(()),
    }
}

/// The spec's bounding set, user, groups, umask and capabilities, as
/// `init::identity::apply` takes them.
fn take_identity(plan: &Plan<'_>, report: &mut Report) -> Done {
    use rustix::thread::{
        set_keep_capabilities, set_thread_groups, set_thread_res_gid, set_thread_res_uid,
    };
    for &cap in &plan.bounding_drop {
        let set = CapabilitySet::from_bits_retain(1 << cap);
        match rustix::thread::remove_capability_from_bounding_set(set) {
            Ok(()) => {}
            // Capabilities this kernel does not know cannot be dropped.
            Err(_) if cap > plan.last_cap => {}
            Err(e) => return Err((Step::Bounding(cap), e.raw_os_error())),
        }
    }
    set_keep_capabilities(true).map_err(at(Step::KeepCaps))?;
    match set_thread_groups(&plan.groups) {
        Ok(()) => {}
        Err(Errno::PERM) if setgroups_denied() => {}
        Err(e) => return Err((Step::Groups, e.raw_os_error())),
    }
    let gid = rustix::process::Gid::from_raw(plan.gid);
    set_thread_res_gid(gid, gid, gid).map_err(at(Step::Gid))?;
    let uid = rustix::process::Uid::from_raw(plan.uid);
    set_thread_res_uid(uid, uid, uid).map_err(at(Step::Uid))?;
    set_keep_capabilities(false).map_err(at(Step::ResetKeepCaps))?;
    rustix::process::umask(Mode::from_bits_truncate(plan.umask));
    // One capset: the kernel checks the new effective set against the new
    // permitted one and that against the old, which three calls (effective
    // first, permitted last) checked one at a time.
    let sets = CapabilitySets {
        effective: plan.effective,
        permitted: plan.permitted,
        inheritable: plan.inheritable,
    };
    rustix::thread::set_capabilities(None, sets).map_err(at(Step::Caps))?;
    rustix::thread::clear_ambient_capability_set().map_err(at(Step::AmbientClear))?;
    for &cap in &plan.ambient {
        let set = CapabilitySet::from_bits_retain(1 << cap);
        if let Err(e) = rustix::thread::configure_capability_in_ambient_set(set, true) {
            report.ambient_refused |= 1 << cap;
            report.ambient_errno = e.raw_os_error();
        }
    }
    Ok(())
}

/// In a user namespace whose setgroups file says "deny", setgroups fails.
fn setgroups_denied() -> bool {
    let Ok(file) = rustix::fs::open(
        c"/proc/self/setgroups",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let mut buf = [0u8; 16];
    match rustix::io::read(&file, &mut buf) {
        Ok(n) => buf.get(..n).is_some_and(|b| b.trim_ascii() == b"deny"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_numbers() {
        assert_eq!(parse_fd(b"17"), Some(17));
        assert_eq!(parse_fd(b"."), None);
        assert_eq!(parse_fd(b""), None);
    }
}
