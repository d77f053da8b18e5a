#define _GNU_SOURCE
/* Calls one syscall of each family the baseline seccomp filter refuses,
 * with arguments the kernel itself rejects (so that none has an effect
 * where it is reached), and prints "name=ERRNO" (or "name=0", or
 * "name=fd" for a socket made). Where the filter answers, the errno is
 * its own (EPERM, ENOSYS, EAFNOSUPPORT); where the kernel does, the
 * argument checks' (EFAULT, EINVAL, EBADF) or a capability check's.
 * New user namespaces are tried in a child. x86_64 numbers; built with
 * -m32, the i386 ABI's (the newer syscalls are numbered alike). */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Garbage in the upper half of 64-bit arguments, which the kernel drops. */
#define HIGH ((unsigned long)(sizeof(long) == 8 ? 0xdead0000UL : 0) << (sizeof(long) == 8 ? 32 : 0))

static void report(const char *name, long ret) {
    if (ret >= 0)
        printf("%s=0\n", name);
    else
        printf("%s=%s\n", name, strerrorname_np(errno));
}

static void sock(const char *name, int family, int type) {
    int fd = socket(family, type, 0);
    if (fd >= 0) {
        printf("%s=fd\n", name);
        close(fd);
    } else {
        printf("%s=%s\n", name, strerrorname_np(errno));
    }
}

/* The child's own outcome, as an exit status: 0 when it made the user
 * namespace, else its errno. */
static void in_child(const char *name, long (*try)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(try() == 0 ? 0 : errno);
    int status = 0;
    waitpid(pid, &status, 0);
    int code = WEXITSTATUS(status);
    printf("%s=%s\n", name, code == 0 ? "0" : strerrorname_np(code));
}

static long try_unshare(void) { return syscall(SYS_unshare, CLONE_NEWUSER); }

static long try_clone(void) {
    /* Upper bits set around the flag: the filter must look at the int. */
    long pid = syscall(SYS_clone, HIGH | CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0) {
        waitpid(pid, NULL, 0);
        return 0;
    }
    return -1;
}

int main(void) {
    report("io_uring_setup", syscall(425, 1, NULL));       /* params NULL: EFAULT */
    report("io_uring_enter", syscall(426, -1, 0, 0, 0, NULL, 0)); /* EBADF */
    report("io_uring_register", syscall(427, -1, 0, NULL, 0));    /* EBADF */
    report("bpf", syscall(SYS_bpf, 0xffff, NULL, 0));       /* bad command: EINVAL */
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)); /* EFAULT */
    report("userfaultfd", syscall(SYS_userfaultfd, 1 | 0x40000000)); /* bad flags: EINVAL */
    report("keyctl", syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0)); /* bad command: EOPNOTSUPP */
    report("add_key", syscall(SYS_add_key, NULL, NULL, NULL, 0, 0)); /* EFAULT */
    report("request_key", syscall(SYS_request_key, NULL, NULL, NULL, 0)); /* EFAULT */
    report("init_module", syscall(SYS_init_module, NULL, 0, NULL)); /* EFAULT */
    report("finit_module", syscall(SYS_finit_module, -1, NULL, 0)); /* EBADF */
    report("delete_module", syscall(SYS_delete_module, NULL, 0)); /* EFAULT */
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000)); /* EINVAL */
#ifdef SYS_kexec_file_load
    report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0xdead)); /* EINVAL */
#endif
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0)); /* EFAULT/EBADF */
    report("lookup_dcookie", syscall(SYS_lookup_dcookie, 0, NULL, 0));
    report("clone3", syscall(435, NULL, 0));                 /* size 0: EINVAL */
    in_child("unshare_newuser", try_unshare);
    in_child("clone_newuser", try_clone);
    sock("af_alg", AF_ALG, SOCK_SEQPACKET);
    sock("af_vsock", AF_VSOCK, SOCK_STREAM);
    sock("af_tipc", AF_TIPC, SOCK_RDM);
    sock("af_rds", AF_RDS, SOCK_SEQPACKET);
    sock("af_key", AF_KEY, SOCK_RAW);
    sock("af_47", 47, SOCK_STREAM);
    {
        int sv[2];
        report("socketpair_af_tipc", socketpair(AF_TIPC, SOCK_RDM, 0, sv));
    }
    /* Upper bits set: the kernel reads an int, so this is AF_VSOCK. */
    report("af_vsock_high", syscall(SYS_socket, HIGH | AF_VSOCK, SOCK_STREAM, 0));
    report("newer_syscall", syscall(470, 0, 0, 0));
    /* Still there: what workloads use. */
    sock("af_unix", AF_UNIX, SOCK_STREAM);
    sock("af_inet", AF_INET, SOCK_STREAM);
    sock("af_inet6", AF_INET6, SOCK_DGRAM);
    sock("af_netlink", AF_NETLINK, SOCK_RAW);
    report("unshare_none", syscall(SYS_unshare, 0));
    return 0;
}
