/*
 * seccomp_surface PID: which x86_64 syscalls reach the kernel from process
 * PID. Reads every seccomp filter the process holds
 * (PTRACE_SECCOMP_GET_FILTER; needs CAP_SYS_ADMIN), runs them on each
 * syscall number with all-zero arguments, as the kernel would, and prints
 * one line of JSON: the syscalls counted, how many every filter lets
 * through (ALLOW or LOG), and the names of those refused.
 *
 * Counted: every x86_64 syscall libseccomp names (up to 450 for 2.5.4)
 * and 451..469 (Linux 6.3 to 6.17). A syscall filtered on its arguments
 * (clone's flags, socket's family) counts as reaching the kernel, as it
 * does for some arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#define MAX_FILTERS 32
#define MAX_INSNS 4096

static const char *newer[] = {
    "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait",
    "futex_requeue", "statmount", "listmount", "lsm_get_self_attr",
    "lsm_set_self_attr", "lsm_list_modules", "mseal", "setxattrat",
    "getxattrat", "listxattrat", "removexattrat", "open_tree_attr",
    "file_getattr", "file_setattr",
};
#define FIRST_NEWER 451

struct filter {
    struct sock_filter code[MAX_INSNS];
    long len;
};

static void die(const char *what) {
    fprintf(stderr, "seccomp_surface: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* A classic BPF interpreter for what seccomp filters use. */
static unsigned run(const struct filter *f, const struct seccomp_data *d) {
    unsigned a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
    for (long pc = 0; pc < f->len; pc++) {
        const struct sock_filter *i = &f->code[pc];
        unsigned k = i->k;
        unsigned src = BPF_SRC(i->code) == BPF_X ? x : k;
        switch (BPF_CLASS(i->code)) {
        case BPF_LD:
            if (BPF_MODE(i->code) == BPF_ABS) {
                if (k + 4 > sizeof(*d)) return SECCOMP_RET_KILL_PROCESS;
                memcpy(&a, (const char *)d + k, 4);
            } else if (BPF_MODE(i->code) == BPF_IMM) {
                a = k;
            } else if (BPF_MODE(i->code) == BPF_MEM) {
                a = mem[k % BPF_MEMWORDS];
            } else if (BPF_MODE(i->code) == BPF_LEN) {
                a = sizeof(*d);
            }
            break;
        case BPF_LDX:
            x = BPF_MODE(i->code) == BPF_MEM ? mem[k % BPF_MEMWORDS]
                : BPF_MODE(i->code) == BPF_LEN ? sizeof(*d) : k;
            break;
        case BPF_ST: mem[k % BPF_MEMWORDS] = a; break;
        case BPF_STX: mem[k % BPF_MEMWORDS] = x; break;
        case BPF_ALU:
            switch (BPF_OP(i->code)) {
            case BPF_ADD: a += src; break;
            case BPF_SUB: a -= src; break;
            case BPF_MUL: a *= src; break;
            case BPF_DIV: a = src ? a / src : 0; break;
            case BPF_MOD: a = src ? a % src : 0; break;
            case BPF_AND: a &= src; break;
            case BPF_OR: a |= src; break;
            case BPF_XOR: a ^= src; break;
            case BPF_LSH: a <<= src; break;
            case BPF_RSH: a >>= src; break;
            case BPF_NEG: a = -a; break;
            }
            break;
        case BPF_JMP:
            if (BPF_OP(i->code) == BPF_JA) {
                pc += k;
                break;
            }
            {
                int taken = BPF_OP(i->code) == BPF_JEQ ? a == src
                          : BPF_OP(i->code) == BPF_JGT ? a > src
                          : BPF_OP(i->code) == BPF_JGE ? a >= src
                          : (a & src) != 0;
                pc += taken ? i->jt : i->jf;
            }
            break;
        case BPF_RET:
            return BPF_RVAL(i->code) == BPF_A ? a : k;
        case BPF_MISC:
            if (BPF_MISCOP(i->code) == BPF_TAX) x = a; else a = x;
            break;
        }
    }
    return SECCOMP_RET_KILL_PROCESS;
}

static int reaches(const struct filter *fs, int n, int nr) {
    struct seccomp_data d = {.nr = nr, .arch = AUDIT_ARCH_X86_64};
    for (int i = 0; i < n; i++) {
        unsigned action = run(&fs[i], &d) & SECCOMP_RET_ACTION_FULL;
        if (action != SECCOMP_RET_ALLOW && action != SECCOMP_RET_LOG)
            return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: seccomp_surface PID\n");
        return 2;
    }
    pid_t pid = atoi(argv[1]);
    static struct filter fs[MAX_FILTERS];
    int n = 0;
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0) die("attach");
    if (waitpid(pid, NULL, __WALL) < 0) die("wait");
    for (; n < MAX_FILTERS; n++) {
        fs[n].len = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, n, fs[n].code);
        if (fs[n].len < 0) {
            if (errno == ENOENT || errno == EINVAL) break; /* none left, or none */
            die("PTRACE_SECCOMP_GET_FILTER");
        }
    }
    ptrace(PTRACE_DETACH, pid, 0, 0);
    int counted = 0, reached = 0;
    printf("{\"filters\": %d, \"refused\": [", n);
    const char *sep = "";
    for (int nr = 0; nr < FIRST_NEWER + (int)(sizeof newer / sizeof *newer); nr++) {
        const char *name = nr >= FIRST_NEWER ? newer[nr - FIRST_NEWER]
                           : seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
        if (!name) continue;
        counted++;
        if (reaches(fs, n, nr)) {
            reached++;
        } else {
            printf("%s\"%s\"", sep, name);
            sep = ", ";
        }
        if (nr < FIRST_NEWER) free((void *)name);
    }
    printf("], \"counted\": %d, \"reached\": %d}\n", counted, reached);
    return 0;
}
