#define _GNU_SOURCE
/* Calls syscalls newer than old seccomp profiles, with arguments the kernel
 * itself rejects (so none has an effect), and prints what each returned as
 * "name=ERRNO" or "name=0"; then posix_spawns /bin/true, which glibc does
 * with clone3 and, on ENOSYS only, clone, and prints "spawn=<status>".
 * Also unshare(0), older than the profiles, as a control. x86_64 numbers. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void report(const char *name, long ret) {
    printf("%s=%s\n", name, ret == 0 ? "0" : strerrorname_np(errno));
}

int main(void) {
    report("clone3", syscall(435, NULL, 0));               /* size 0: EINVAL */
    report("close_range", syscall(436, 5, 4, 0));          /* first > last: EINVAL */
    report("openat2", syscall(437, -1, NULL, NULL, 0));    /* size 0: EINVAL */
    report("faccessat2", syscall(439, -1, NULL, 0, -1));   /* bad flags: EINVAL */
    report("cachestat", syscall(451, -1, NULL, NULL, 0));  /* bad fd: EBADF */
    report("fchmodat2", syscall(452, -1, NULL, 0, -1));    /* bad flags: EINVAL */
    report("mseal", syscall(462, 1, 0, 0));                /* unaligned: EINVAL */
    report("unshare", syscall(SYS_unshare, 0));
    pid_t pid;
    char *argv[] = {"true", NULL};
    int err = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
    int status = -1;
    if (err != 0)
        printf("spawn=%s\n", strerrorname_np(err));
    else if (waitpid(pid, &status, 0) != pid)
        printf("spawn=wait-%s\n", strerrorname_np(errno));
    else
        printf("spawn=%d\n", status);
    return 0;
}
