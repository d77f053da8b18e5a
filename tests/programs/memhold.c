/*
 * memhold MIB DIR: holds MIB MiB of patterned memory, a file open for
 * writing (DIR/held) and a pipe to a child (which copies what it reads to
 * DIR/child). Twice a second it checks every byte of the memory and writes
 * "tick N bad B" to the held file and "tick N" down the pipe. After a
 * checkpoint and restore the ticks go on from where they were, with the
 * memory intact, through the same descriptors.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned char pattern(size_t i) { return (unsigned char)((i * 2654435761u) >> 13); }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: memhold MIB DIR\n");
        return 2;
    }
    size_t size = (size_t)atol(argv[1]) << 20;
    char path[4096];
    unsigned char *mem = malloc(size);
    if (!mem) {
        perror("malloc");
        return 1;
    }
    for (size_t i = 0; i < size; i++)
        mem[i] = pattern(i);

    snprintf(path, sizeof path, "%s/held", argv[2]);
    int held = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int p[2];
    if (held < 0 || pipe(p) < 0) {
        perror("open or pipe");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        close(p[1]);
        snprintf(path, sizeof path, "%s/child", argv[2]);
        int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        char buf[256];
        ssize_t n;
        while ((n = read(p[0], buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)n) != n)
                return 1;
        return 0;
    }
    close(p[0]);
    for (unsigned long tick = 1;; tick++) {
        size_t bad = 0;
        for (size_t i = 0; i < size; i++)
            bad += mem[i] != pattern(i);
        dprintf(held, "tick %lu bad %zu\n", tick, bad);
        dprintf(p[1], "tick %lu\n", tick);
        usleep(500000);
    }
}
