//! The few system calls our crates need that nix does not wrap, each
//! behind one small function that says what it guarantees.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{MoveMountFlags, OpenTreeFlags};

/// Mount attributes for [`mount_setattr`]: `MOUNT_ATTR_*` bits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    pub set: u64,
    pub clear: u64,
    /// `MS_PRIVATE`, `MS_SLAVE`, `MS_SHARED`, or 0 to leave it.
    pub propagation: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
pub const MOUNT_ATTR__ATIME: u64 = 0x0000_0070;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// A detached copy of the mount tree at `path` (recursive when asked), as
/// a file descriptor that can be sent to another process and attached there
/// with [`attach_mount`].
pub fn clone_mount_tree(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    Ok(rustix::mount::open_tree(rustix::fs::CWD, path, flags)?)
}

/// A detached copy of the one mount `mount` refers to (an fd from
/// [`new_filesystem`] or [`clone_mount_tree`], attached or not): the same
/// superblock, so no new filesystem instance.
pub fn clone_mount(mount: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    Ok(rustix::mount::open_tree(mount, "", flags)?)
}

/// Changes the attributes of the mount (tree, when `recursive`) that `fd`
/// refers to.
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: MountAttr) -> io::Result<()> {
    let mut kattr = libc::mount_attr {
        attr_set: attr.set,
        attr_clr: attr.clear,
        propagation: attr.propagation,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is a valid empty C string, `kattr` is a properly
    // initialised mount_attr whose size we pass, and the kernel only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &mut kattr as *mut libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attaches the detached mount `mount` on top of the directory or file
/// that `target` refers to.
pub fn attach_mount(mount: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::mount::move_mount(
        mount,
        c"",
        target,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?)
}

/// Attaches the detached mount `mount` on the caller's working directory,
/// without looking up any path.
pub fn attach_mount_on_cwd(mount: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::mount::move_mount(
        mount,
        c"",
        rustix::fs::CWD,
        c"",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?)
}

/// A new filesystem instance of type `fstype` with `options` (key or
/// key=value, as in mount(8)), as a detached mount.
pub fn new_filesystem(fstype: &str, source: &str, options: &[String]) -> io::Result<OwnedFd> {
    use rustix::mount::{fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount};
    use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
    let fs = rustix::mount::fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    if !source.is_empty() {
        fsconfig_set_string(&fs, "source", source)?;
    }
    for opt in options {
        match opt.split_once('=') {
            Some((k, v)) => fsconfig_set_string(&fs, k, v)?,
            None => fsconfig_set_flag(&fs, opt.as_str())?,
        }
    }
    fsconfig_create(&fs)?;
    Ok(fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )?)
}

/// Opens `path` inside the directory `root` as if `root` were `/`: `..`,
/// absolute symlinks and absolute paths cannot leave it, and magic links
/// (/proc/self/fd/N) are refused.
pub fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    flags: OFlags,
    mode: Mode,
) -> io::Result<OwnedFd> {
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    loop {
        match rustix::fs::openat2(root, path, flags | OFlags::CLOEXEC, mode, resolve) {
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// How [`clone_process_into`] returned: as the parent, with the child's pid and
/// a pidfd, or as the child.
pub enum Cloned {
    Parent { pid: i32, pidfd: OwnedFd },
    Child,
}

/// clone3's flag for a child born in a given cgroup2 directory.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks into new namespaces (`CLONE_NEW*` bits of `flags`) with a pidfd
/// for the child, as clone3 does, born in the cgroup2 directory `cgroup`
/// if given (CLONE_INTO_CGROUP), which costs no migration. The child runs
/// on a copy of the caller's memory, as after fork.
///
/// # Safety
/// The caller must be single-threaded, or the child must call only
/// async-signal-safe functions before it execs or exits: exactly the
/// contract of fork().
pub unsafe fn clone_process_into(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Cloned> {
    let mut args: libc::clone_args = std::mem::zeroed();
    args.flags = flags;
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    args.exit_signal = libc::SIGCHLD as u64;
    clone3_with_pidfd(args)
}

/// Forks a sibling: a child of our own parent (CLONE_PARENT), with a pidfd
/// for it, as runc's nsexec forks the init into a pid namespace made by
/// `unshare`.
///
/// # Safety
/// As for [`clone_process_into`].
pub unsafe fn clone_sibling() -> io::Result<Cloned> {
    let mut args: libc::clone_args = std::mem::zeroed();
    args.flags = libc::CLONE_PARENT as u64;
    // clone3 takes no exit signal with CLONE_PARENT: the child gets ours.
    args.exit_signal = 0;
    clone3_with_pidfd(args)
}

/// clone3 with `args`, plus a pidfd for the child.
///
/// # Safety
/// As for [`clone_process_into`].
unsafe fn clone3_with_pidfd(mut args: libc::clone_args) -> io::Result<Cloned> {
    let mut pidfd: RawFd = -1;
    args.flags |= libc::CLONE_PIDFD as u64;
    args.pidfd = &mut pidfd as *mut RawFd as u64;
    let rc = libc::syscall(
        libc::SYS_clone3,
        &mut args as *mut libc::clone_args,
        std::mem::size_of::<libc::clone_args>(),
    );
    match rc {
        r if r < 0 => Err(io::Error::last_os_error()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent {
            pid: pid as i32,
            pidfd: OwnedFd::from_raw_fd(pidfd),
        }),
    }
}

/// Makes `fd` survive execve.
pub fn clear_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::io::fcntl_getfd(fd)?;
    rustix::io::fcntl_setfd(fd, flags - rustix::io::FdFlags::CLOEXEC)?;
    Ok(())
}

/// Puts each source `moves[i].0` at its target `moves[i].1`, however
/// sources and targets overlap: every source is first parked at or above
/// `park_base` (close-on-exec), so that no dup2 clobbers a source still to
/// be moved; then each is dup2'd to its target (which clears
/// close-on-exec there), and the parked copies are closed. The sources
/// stay open. `parked` is scratch space of `moves.len()`; nothing here
/// allocates, so a child between fork and exec may call it.
///
/// # Safety
/// The caller owns every target number: whatever was open there is
/// closed and replaced.
pub unsafe fn place_fds(
    moves: &[(RawFd, RawFd)],
    parked: &mut [RawFd],
    park_base: RawFd,
) -> io::Result<()> {
    if parked.len() < moves.len() || moves.iter().any(|&(_, to)| to >= park_base) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    parked.fill(-1);
    let close_parked = |parked: &[RawFd]| {
        for &fd in parked.iter().filter(|&&fd| fd >= 0) {
            // SAFETY: each parked descriptor was made here and is ours.
            unsafe { libc::close(fd) };
        }
    };
    for (slot, &(from, _)) in parked.iter_mut().zip(moves) {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) only adds a descriptor.
        *slot = unsafe { libc::fcntl(from, libc::F_DUPFD_CLOEXEC, park_base) };
        if *slot < 0 {
            let e = io::Error::last_os_error();
            close_parked(parked);
            return Err(e);
        }
    }
    for (&high, &(_, to)) in parked.iter().zip(moves) {
        // SAFETY: the caller owns `to`; `high` is ours.
        if unsafe { libc::dup2(high, to) } < 0 {
            let e = io::Error::last_os_error();
            close_parked(parked);
            return Err(e);
        }
    }
    close_parked(parked);
    Ok(())
}

/// `pivot_root(".", ".")` in `new_root`, then detaches the old root, so
/// that nothing of the host's tree stays reachable.
pub fn pivot_into(new_root: BorrowedFd<'_>) -> io::Result<()> {
    rustix::process::fchdir(new_root)?;
    nix::unistd::pivot_root(".", ".")?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)?;
    rustix::process::chdir("/")?;
    Ok(())
}

/// Blocks every signal of the calling thread, as around a clone whose
/// child shares our memory and must not run our handlers; returns the
/// mask to put back.
pub fn block_all_signals() -> io::Result<nix::sys::signal::SigSet> {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let mut old = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )?;
    Ok(old)
}

/// Points stdin, stdout and stderr at /dev/null: for a process whose
/// stdio belongs to a container or a caller it must not hold open.
pub fn stdio_to_dev_null() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        nix::unistd::dup2(null.as_raw_fd(), fd)?;
    }
    Ok(())
}

/// Closes every descriptor of the process but `keep`: what a forked child
/// that will not exec does in place of close-on-exec.
///
/// Descriptors that some `OwnedFd` of the caller's memory still names are
/// closed too; the caller must never use nor drop those again (a child
/// that leaves by `_exit` does neither).
pub fn close_all_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 0u32;
    for k in keep.into_iter().chain([u32::MAX]) {
        if k > first {
            close_fd_range(first, k - 1)?;
        }
        first = k.saturating_add(1);
    }
    Ok(())
}

/// close_range(first, last, 0).
fn close_fd_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: close_range only closes descriptor numbers; it touches no
    // memory of ours. (Who may still name them is close_all_except's rule.)
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unblocks every signal of the calling thread. Only sigemptyset and
/// sigprocmask, both async-signal-safe: callable between fork and exec,
/// where a child must not keep the signals its parent blocked.
pub fn clear_signal_mask() -> io::Result<()> {
    let mut none = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initializes the set it is given; sigprocmask only
    // reads it, and the old mask is not asked for.
    let failed = unsafe {
        libc::sigemptyset(none.as_mut_ptr()) != 0
            || libc::sigprocmask(libc::SIG_SETMASK, none.as_ptr(), std::ptr::null_mut()) != 0
    };
    if failed {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the heap memory that setup freed back to the kernel: a sandbox
/// then idles for the container's life with what it still uses.
/// musl's malloc returns freed spans as it goes and has no such call, but
/// the blocks runsc's allocator keeps for reuse go back to it here.
pub fn release_free_memory() {
    crate::span_cache::release();
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages; it takes glibc's
    // own locks, and our callers are single-threaded.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Joins a new session keyring named `name` (KEYCTL_JOIN_SESSION_KEYRING),
/// so that the caller no longer shares its parent's session keyring.
pub fn join_session_keyring(name: &std::ffi::CStr) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl reads only the NUL-terminated name, which outlives the
    // call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The descriptor's path as /proc/self/fd/N, for the calls that take only
/// paths (classic mount(2) targets).
pub fn fd_path(fd: &impl AsFd) -> String {
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

/// A C string from a Rust string, with the NUL reported as an error.
pub fn cstring(s: &str) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{s:?} contains a NUL byte"),
        )
    })
}

/// Brings the loopback interface of the caller's network namespace up, as
/// a fresh namespace has it down.
pub fn loopback_up() -> io::Result<()> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the ifreq we
    // own, whose name is NUL-terminated. (The request's C type is glibc's
    // unsigned long or musl's int, hence `as _`.)
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The user namespace that owns the namespace `ns` refers to
/// (NS_GET_USERNS).
pub fn owning_user_ns(ns: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: NS_GET_USERNS takes no argument and only returns a new
    // descriptor (or -1), which nothing else owns.
    let raw = unsafe { libc::ioctl(ns.as_raw_fd(), libc::NS_GET_USERNS) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor the kernel just opened for us.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inode(fd: RawFd) -> u64 {
        // SAFETY: borrowed only for the fstat, while the test owns `fd`.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        rustix::fs::fstat(fd).expect("fstat").st_ino
    }

    #[test]
    fn place_fds_swaps_without_clobbering_a_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = std::fs::File::create(dir.path().join("a")).expect("a");
        let b = std::fs::File::create(dir.path().join("b")).expect("b");
        let (ino_a, ino_b) = (inode(a.as_raw_fd()), inode(b.as_raw_fd()));
        // High numbers that nothing else in the test process uses.
        let (x, y) = (900, 901);
        // SAFETY: dup2 onto numbers this test owns from here on.
        unsafe {
            assert_eq!(libc::dup2(a.as_raw_fd(), x), x);
            assert_eq!(libc::dup2(b.as_raw_fd(), y), y);
        }
        let mut parked = [-1; 2];
        // SAFETY: x and y are this test's.
        unsafe { place_fds(&[(x, y), (y, x)], &mut parked, 950) }.expect("place");
        assert_eq!((inode(x), inode(y)), (ino_b, ino_a));
        // The parked copies are gone.
        // SAFETY: fcntl(F_GETFD) only queries.
        assert!(parked
            .iter()
            .all(|&p| unsafe { libc::fcntl(p, libc::F_GETFD) } < 0));
        // SAFETY: x and y are this test's to close.
        unsafe {
            libc::close(x);
            libc::close(y);
        }
        // A target at or above the parking base is refused.
        // SAFETY: refused before any descriptor is touched.
        let refused = unsafe { place_fds(&[(a.as_raw_fd(), 960)], &mut parked, 950) };
        assert!(refused.is_err());
    }
}
