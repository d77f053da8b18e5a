/* Takes SCHED_RR at priority 10, says so, then execs its arguments if any
 * (the policy is kept across execve). The kernel refuses SCHED_RR in a v1
 * cpu cgroup without realtime runtime (EPERM). */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct sched_param param = {.sched_priority = 10};
    if (sched_setscheduler(0, SCHED_RR, &param) != 0) {
        printf("sched_setscheduler: %s\n", strerror(errno));
        return 1;
    }
    printf("rr-ok\n");
    fflush(stdout);
    if (argc > 1) {
        execvp(argv[1], argv + 1);
        printf("exec %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    return 0;
}
