/* Uses SysV shared memory, semaphores and message queues, and a POSIX
 * message queue, as PostgreSQL and friends do; prints what failed and
 * exits with the number of failures. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

static int failed(const char *what) {
    printf("%s: %s\n", what, strerror(errno));
    return 1;
}

int main(void) {
    int fails = 0;
    int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (shm < 0) {
        fails += failed("shmget");
    } else {
        void *p = shmat(shm, NULL, 0);
        if (p == (void *)-1)
            fails += failed("shmat");
        else
            shmdt(p);
        shmctl(shm, IPC_RMID, NULL);
    }
    int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (sem < 0) {
        fails += failed("semget");
    } else {
        struct sembuf up = {0, 1, 0};
        if (semop(sem, &up, 1) < 0)
            fails += failed("semop");
        semctl(sem, 0, IPC_RMID);
    }
    int msg = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (msg < 0) {
        fails += failed("msgget");
    } else {
        struct { long type; char text[4]; } m = {1, "hi"};
        if (msgsnd(msg, &m, sizeof m.text, 0) < 0)
            fails += failed("msgsnd");
        msgctl(msg, IPC_RMID, NULL);
    }
    mqd_t q = mq_open("/runsc-ipc-test", O_CREAT | O_RDWR, 0600, NULL);
    if (q == (mqd_t)-1) {
        fails += failed("mq_open");
    } else {
        mq_close(q);
        mq_unlink("/runsc-ipc-test");
    }
    printf("ipc failures: %d\n", fails);
    return fails;
}
