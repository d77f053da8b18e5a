//! Starting our own binary again as the gofer or the sandbox, with chosen
//! descriptors at chosen numbers and, for the gofer, in new namespaces.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use nix::sched::CloneFlags;
use specutils::sys::{clone_process_into, Cloned};

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
    let read_only_exe = namespaces.contains(CloneFlags::CLONE_NEWNS);
    let targets: Vec<RawFd> = moves.iter().map(|(_, to)| *to).collect();
    let past_targets = targets.iter().copied().max().unwrap_or(2).max(2) + 1;
    let root = c"/";

    // SAFETY: the frontend is single-threaded, and the child only calls
    // async-signal-safe functions (fcntl, dup2, close_range, mount,
    // sigprocmask, execve, _exit) before exec;
    // everything it needs was allocated before the fork.
    match unsafe { clone_process_into(namespaces.bits() as u64, cgroup) }? {
        Cloned::Parent { pid, pidfd } => Ok(Child { pid, pidfd }),
        Cloned::Child => {
            // SAFETY: plain descriptor syscalls on numbers we own, then exec.
            unsafe {
                // Park every source above any target, so no dup2 clobbers a
                // source that is still to be moved.
                for (slot, (from, _)) in parked.iter_mut().zip(&moves) {
                    *slot = libc::fcntl(*from, libc::F_DUPFD_CLOEXEC, PARK_BASE);
                    if *slot < 0 {
                        libc::_exit(126);
                    }
                }
                for (high, (_, to)) in parked.iter().zip(&moves) {
                    if libc::dup2(*high, *to) < 0 {
                        libc::_exit(126);
                    }
                }
                if let Some(n) = null_raw {
                    for std in 0..3 {
                        libc::dup2(n, std);
                    }
                }
                // Whatever else our caller let us inherit (containerd's
                // and shells' stray descriptors) must not live on in the
                // sandbox or gofer: close-on-exec for all but stdio and
                // the targets.
                for fd in 3..past_targets {
                    if !targets.contains(&fd)
                        && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) < 0
                        && *libc::__errno_location() != libc::EBADF
                    {
                        libc::_exit(126);
                    }
                }
                let flags = libc::CLOSE_RANGE_CLOEXEC as libc::c_long;
                if libc::syscall(
                    libc::SYS_close_range,
                    past_targets,
                    libc::c_uint::MAX,
                    flags,
                ) < 0
                {
                    libc::_exit(126);
                }
                if read_only_exe {
                    let null = std::ptr::null();
                    let slave = (libc::MS_REC | libc::MS_SLAVE) as libc::c_ulong;
                    let bind = libc::MS_BIND as libc::c_ulong;
                    let ro = (libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY) as libc::c_ulong;
                    if libc::mount(
                        null,
                        root.as_ptr(),
                        null,
                        slave,
                        null as *const libc::c_void,
                    ) < 0
                        || libc::mount(
                            exe.as_ptr(),
                            exe.as_ptr(),
                            null,
                            bind,
                            null as *const libc::c_void,
                        ) < 0
                        || libc::mount(null, exe.as_ptr(), null, ro, null as *const libc::c_void)
                            < 0
                    {
                        libc::_exit(EXIT_NO_READ_ONLY_EXE);
                    }
                }
                // A foreground `run` blocks the signals it forwards; the
                // sandbox and gofer start with none blocked.
                if specutils::sys::clear_signal_mask().is_err() {
                    libc::_exit(126);
                }
                libc::execve(exe.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr());
                libc::_exit(127)
            }
        }
    }
}
