/*
 * sysbench DIR: the cost of a system call and of file I/O in DIR, as one
 * line of JSON. tools/bench runs it statically linked on the host and in a
 * container of each runtime, so the numbers compare like for like.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FILE_MIB 32
#define PASSES 8
#define GETPIDS 2000000
#define RANDOM_READS 200000

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: sysbench DIR\n");
        return 2;
    }
    double t = now();
    for (int i = 0; i < GETPIDS; i++)
        syscall(SYS_getpid);
    double getpid_ns = (now() - t) * 1e9 / GETPIDS;

    char path[4096];
    snprintf(path, sizeof path, "%s/sysbench.dat", argv[1]);
    static char chunk[1 << 20];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)i;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open");

    t = now();
    for (int p = 0; p < PASSES; p++) {
        if (lseek(fd, 0, SEEK_SET) < 0)
            die("lseek");
        for (int m = 0; m < FILE_MIB; m++)
            if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
                die("write");
    }
    double write_mibs = FILE_MIB * PASSES / (now() - t);

    t = now();
    for (int p = 0; p < PASSES; p++)
        for (int m = 0; m < FILE_MIB; m++)
            if (pread(fd, chunk, sizeof chunk, (off_t)m << 20) != (ssize_t)sizeof chunk)
                die("read");
    double read_mibs = FILE_MIB * PASSES / (now() - t);

    unsigned int seed = 1;
    char block[4096];
    long blocks = ((long)FILE_MIB << 20) / sizeof block;
    t = now();
    for (int i = 0; i < RANDOM_READS; i++)
        if (pread(fd, block, sizeof block, (off_t)(rand_r(&seed) % blocks) * sizeof block) != (ssize_t)sizeof block)
            die("random read");
    double random_kiops = RANDOM_READS / (now() - t) / 1000;

    close(fd);
    unlink(path);
    printf("{\"getpid_ns\": %.1f, \"seq_write_mibs\": %.0f, \"seq_read_mibs\": %.0f, \"random_read_kiops\": %.0f}\n",
           getpid_ns, write_mibs, read_mibs, random_kiops);
    return 0;
}
