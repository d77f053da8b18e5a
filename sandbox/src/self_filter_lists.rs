// The sandbox's own seccomp filter: its lists and how it is built.
// Shared, through include!, by the sandbox crate and by its build script,
// which compiles the filter to BPF once at build time
// (building it with libseccomp took about 2 ms of every `create`).
// Plain items only: no crate paths.

/// Syscalls the sandbox may make. Those in [`DENIED`] fail with
/// EPERM; any other (newer syscalls included) fails with ENOSYS, as on a
/// kernel without it, so that libraries fall back as they would there.
#[rustfmt::skip]
pub const SELF_ALLOW: &[&str] = &[
    // files and directories
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "dup",
    "dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
    "truncate", "ftruncate", "fallocate", "fadvise64", "readahead", "stat", "fstat", "lstat",
    "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2", "getdents",
    "getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod",
    "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "utime", "utimes", "utimensat",
    "futimesat", "umask", "chdir", "fchdir", "getcwd", "chroot", "mknod", "mknodat", "sendfile",
    "splice", "tee", "vmsplice", "copy_file_range", "getxattr", "lgetxattr", "fgetxattr",
    "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
    "lremovexattr", "fremovexattr", "memfd_create", "pipe", "pipe2", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "eventfd", "eventfd2",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4", "ioctl",
    // mounts and namespaces
    "mount", "umount2", "pivot_root", "open_tree", "move_mount", "mount_setattr", "fsopen",
    "fsconfig", "fsmount", "fspick", "setns", "unshare", "sethostname", "setdomainname",
    // sockets
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
    "getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
    "sendmmsg", "recvmmsg", "shutdown",
    // waiting for events
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "futex", "futex_waitv", "pause",
    "restart_syscall",
    // signals and process handles
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending",
    "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "kill", "tkill",
    "tgkill", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
    // processes and threads
    "clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4",
    "waitid", "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "arch_prctl", "prctl",
    "seccomp", "membarrier", "uname", "sysinfo", "times", "getcpu", "getrusage", "getrlimit",
    "setrlimit", "prlimit64", "getpriority", "setpriority", "ioprio_get", "ioprio_set",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
    "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "sched_getattr", "sched_setattr", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self",
    // credentials
    "capget", "capset", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
    "getgroups", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid",
    // memory
    "mmap", "munmap", "mprotect", "mremap", "madvise", "msync", "mincore", "mlock", "mlock2",
    "munlock", "mlockall", "munlockall", "brk",
    // time and randomness
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
    "timer_getoverrun", "timer_delete", "getrandom",
];

/// Syscalls the sandbox never makes itself, but the processes it forks
/// once confined (exec'd processes, a pod's later containers) inherit its
/// filter and may need: what Docker's default profile allows a container
/// beyond [`SELF_ALLOW`]. Shared memory, semaphores and message queues
/// (PostgreSQL), Linux AIO (MySQL), memory policy (NUMA-aware JVMs),
/// protection keys, and calls the kernel itself reserves for capabilities
/// a container may be granted (setting the clock).
#[rustfmt::skip]
pub const CONTAINER_ALLOW: &[&str] = &[
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget",
    "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr", "io_setup", "io_destroy", "io_submit", "io_cancel",
    "io_getevents", "io_pgetevents", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "remap_file_pages", "process_mrelease", "process_madvise", "memfd_secret", "personality",
    "fanotify_mark", "name_to_handle_at", "adjtimex", "clock_adjtime", "clock_settime",
    "settimeofday", "mbind", "get_mempolicy", "set_mempolicy", "migrate_pages", "move_pages",
    "kcmp",
];

/// Syscalls refused with EPERM: the ones that reach into the kernel or
/// other processes in ways no container of ours gets (module loading,
/// kexec, bpf, perf, keyrings, userfaultfd, io_uring, open_by_handle_at,
/// reboot, swap, accounting, raw I/O ports, the kernel log).
#[rustfmt::skip]
pub const DENIED: &[&str] = &[
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "open_by_handle_at", "reboot", "swapon", "swapoff",
    "acct", "quotactl", "quotactl_fd", "iopl", "ioperm", "lookup_dcookie", "syslog", "vhangup",
    "fanotify_init", "uselib",
];


/// The extra syscalls of the sandbox's own filter: the container
/// additions, and tracing in `exec` sessions.
pub fn sandbox_extra() -> Vec<&'static str> {
    let mut extra = vec!["ptrace", "process_vm_readv", "process_vm_writev"];
    extra.extend_from_slice(CONTAINER_ALLOW);
    extra
}

/// Builds a self filter: [`SELF_ALLOW`] and `extra` allowed, [`DENIED`]
/// EPERM, anything else ENOSYS; nothing kills. A binary tree of syscall
/// numbers, since every process under it pays on every syscall. Names
/// libseccomp does not know are skipped and returned.
pub fn build_self_filter(
    extra: &[&str],
) -> Result<(libseccomp::ScmpFilterContext, Vec<String>), (String, libseccomp::error::SeccompError)> {
    use libseccomp::{ScmpAction, ScmpFilterContext, ScmpSyscall};
    let at = |what: &str| {
        let what = what.to_string();
        move |e| (what, e)
    };
    let mut ctx = ScmpFilterContext::new(ScmpAction::Errno(libc::ENOSYS)).map_err(at("create"))?;
    // The sandbox may not set no_new_privs: its containers may need setuid.
    ctx.set_ctl_nnp(false).map_err(at("no_new_privs"))?;
    ctx.set_ctl_optimize(2).map_err(at("optimize"))?;
    let allowed: Vec<&str> = SELF_ALLOW.iter().chain(extra).copied().collect();
    let denied = DENIED.iter().filter(|d| !allowed.contains(d));
    let rules = allowed
        .iter()
        .map(|name| (*name, ScmpAction::Allow))
        .chain(denied.map(|name| (*name, ScmpAction::Errno(libc::EPERM))));
    let mut unknown = Vec::new();
    for (name, action) in rules {
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            unknown.push(name.to_string());
            continue;
        };
        ctx.add_rule(action, syscall).map_err(at(name))?;
    }
    Ok((ctx, unknown))
}
