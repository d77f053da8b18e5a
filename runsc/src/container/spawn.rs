//! Starting our own binary again as the gofer or the sandbox, with chosen
//! descriptors at chosen numbers and, for the gofer, in new namespaces.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use nix::sched::CloneFlags;

/// A child we started; we are its parent until we exit.
#[derive(Debug)]
pub struct Child {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

impl Child {
    /// SIGKILLs and reaps the child.
    pub fn kill_and_reap(&self) {
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, rustix::process::Signal::KILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}

static EXE: OnceLock<PathBuf> = OnceLock::new();

/// Makes children run `exe` (the runsc binary) instead of our own: for a
/// program that uses this library but is not runsc, the containerd shim.
/// False if children already ran some binary.
pub fn use_exe(exe: PathBuf) -> bool {
    EXE.set(exe).is_ok()
}

/// Our own executable (or the one [`use_exe`] chose), resolved once so
/// that every child runs the same file even if the path is replaced
/// meanwhile.
pub fn self_exe() -> io::Result<&'static PathBuf> {
    if let Some(p) = EXE.get() {
        return Ok(p);
    }
    let p = std::fs::read_link("/proc/self/exe")?;
    Ok(EXE.get_or_init(|| p))
}

/// Descriptors are parked at or above this number between fork and exec,
/// above every target number we use.
const PARK_BASE: RawFd = 100;

/// Runs `runsc ARGS` as a child with `fds[i].0` at descriptor `fds[i].1`,
/// in new `namespaces`, and with /dev/null as stdio when `quiet`.
pub fn spawn_self(
    args: &[String],
    fds: &[(BorrowedFd<'_>, RawFd)],
    namespaces: CloneFlags,
    quiet: bool,
) -> io::Result<Child> {
    spawn_self_into(args, fds, namespaces, quiet, None)
}

/// Exit status of a child that could not make our binary read-only.
pub const EXIT_NO_READ_ONLY_EXE: i32 = 125;

/// [`spawn_self`], with the child born in the cgroup2 directory `cgroup`.
///
/// A child in a new mount namespace runs our binary through a read-only
/// bind mount of it, made in that namespace (a slave of ours, so nothing
/// reaches the host's). A container process that gets hold of such a
/// process's /proc/<pid>/exe (the class of CVE-2019-5736) then reaches the
/// file only through a read-only mount: opening it for writing fails with
/// EROFS, for as long as the file exists, not only while it runs.
pub fn spawn_self_into(
    args: &[String],
    fds: &[(BorrowedFd<'_>, RawFd)],
    namespaces: CloneFlags,
    quiet: bool,
    cgroup: Option<BorrowedFd<'_>>,
) -> io::Result<Child> {
    let exe = CString::new(self_exe()?.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "executable path has a NUL"))?;
    let mut argv = vec![CString::new("runsc").unwrap_or_default()];
    for a in args {
        argv.push(specutils::sys::cstring(a)?);
    }
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != super::fault::CRASH_AT)
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let null = if quiet {
        Some(rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?)
    } else {
        None
    };
    let moves: Vec<(RawFd, RawFd)> = fds.iter().map(|(f, to)| (f.as_raw_fd(), *to)).collect();
    let null_raw = null.as_ref().map(|n| n.as_fd().as_raw_fd());
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let mut parked: Vec<RawFd> = vec![-1; moves.len()];
    let targets: Vec<RawFd> = moves.iter().map(|(_, to)| *to).collect();
    let past_targets = targets.iter().copied().max().unwrap_or(2).max(2) + 1;
    let mut plan = ChildPlan {
        exe: &exe,
        argv: &argv_ptrs,
        env: &env_ptrs,
        moves: &moves,
        parked: &mut parked,
        targets: &targets,
        past_targets,
        null: null_raw,
        read_only_exe: namespaces.contains(CloneFlags::CLONE_NEWNS),
    };
    // No handler of ours may run in the child, on our memory: it starts
    // with every signal blocked, and unblocks them only in execve's
    // stead (see `child_main`).
    let old_mask = specutils::sys::block_all_signals()?;
    // SAFETY: `child_main` only makes syscalls on `plan` (prepared above,
    // alive until this returns, as CLONE_VFORK keeps us asleep until the
    // child has exec'd or exited); signals are blocked; no user namespace
    // is asked for.
    let cloned = unsafe {
        specutils::vfork::vfork_into(
            namespaces.bits() as u64,
            cgroup,
            CHILD_STACK,
            child_main,
            &mut plan as *mut ChildPlan<'_> as *mut libc::c_void,
        )
    };
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&old_mask),
        None,
    );
    let (pid, pidfd) = cloned?;
    Ok(Child { pid, pidfd })
}

/// The child's frames are small (no buffer of its own); 32 KiB is ample.
const CHILD_STACK: usize = 32 * 1024;

/// What the child does between the clone and its execve, prepared by the
/// parent: the child runs on the parent's memory and may not allocate.
struct ChildPlan<'a> {
    exe: &'a CString,
    argv: &'a [*const libc::c_char],
    env: &'a [*const libc::c_char],
    moves: &'a [(RawFd, RawFd)],
    parked: &'a mut [RawFd],
    targets: &'a [RawFd],
    past_targets: RawFd,
    null: Option<RawFd>,
    read_only_exe: bool,
}

/// The child of [`spawn_self_into`]: puts the descriptors in place, makes
/// our binary read-only in its mount namespace, and execs it. Returns the
/// status to exit with if a step fails.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildPlan`, alive and untouched by
    // the parent (asleep) until we exec or exit.
    let plan = unsafe { &mut *(arg as *mut ChildPlan<'_>) };
    // SAFETY: plain descriptor, mount and signal-mask syscalls on numbers
    // and strings the plan owns, then exec; nothing allocates or unwinds.
    unsafe {
        // Every target is below PARK_BASE and ours to replace.
        if specutils::sys::place_fds(plan.moves, plan.parked, PARK_BASE).is_err() {
            return 126;
        }
        if let Some(n) = plan.null {
            for std in 0..3 {
                libc::dup2(n, std);
            }
        }
        // Whatever else our caller let us inherit (containerd's and
        // shells' stray descriptors) must not live on in the sandbox or
        // gofer: close-on-exec for all but stdio and the targets.
        for fd in 3..plan.past_targets {
            if !plan.targets.contains(&fd)
                && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) < 0
                && *libc::__errno_location() != libc::EBADF
            {
                return 126;
            }
        }
        let flags = libc::CLOSE_RANGE_CLOEXEC as libc::c_long;
        if libc::syscall(
            libc::SYS_close_range,
            plan.past_targets,
            libc::c_uint::MAX,
            flags,
        ) < 0
        {
            return 126;
        }
        if plan.read_only_exe {
            let exe = plan.exe.as_ptr();
            let null = std::ptr::null();
            let slave = (libc::MS_REC | libc::MS_SLAVE) as libc::c_ulong;
            let bind = libc::MS_BIND as libc::c_ulong;
            let ro = (libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY) as libc::c_ulong;
            if libc::mount(
                null,
                c"/".as_ptr(),
                null,
                slave,
                null as *const libc::c_void,
            ) < 0
                || libc::mount(exe, exe, null, bind, null as *const libc::c_void) < 0
                || libc::mount(null, exe, null, ro, null as *const libc::c_void) < 0
            {
                return EXIT_NO_READ_ONLY_EXE;
            }
        }
        // A foreground `run` blocks the signals it forwards, and the
        // parent blocked every signal around the clone: the sandbox and
        // gofer start with none blocked. A signal that comes between this
        // and execve finds only the handlers std installs for faults.
        if specutils::sys::clear_signal_mask().is_err() {
            return 126;
        }
        libc::execve(plan.exe.as_ptr(), plan.argv.as_ptr(), plan.env.as_ptr());
        127
    }
}

/// SIGKILLs and reaps a child unless taken out.
pub(crate) struct KillOnDrop(pub(crate) Option<Child>);

impl KillOnDrop {
    pub(crate) fn take(mut self) -> Option<Child> {
        self.0.take()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.kill_and_reap();
        }
    }
}
