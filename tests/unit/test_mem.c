/* test_mem.c - the alloc:N fault point: which calls fail, per thread, and
 * the rank filter. The spec is read once per process, at the first
 * allocation, so each case runs in a child process of its own. */
#include "tap.h"

#include "base/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bit i of the result: whether call i+1 of 6 failed (mb_malloc & co. in turn). */
static unsigned failures(void)
{
    unsigned bits = 0;
    void *p[6];

    p[0] = mb_malloc(8);
    p[1] = mb_calloc(2, 8);
    p[2] = mb_realloc(NULL, 8);
    p[3] = mb_strdup("x");
    p[4] = mb_strndup("xyz", 2);
    p[5] = mb_malloc(1);
    for (unsigned i = 0; i < 6; i++) {
        bits |= p[i] ? 0u : 1u << i;
        free(p[i]);
    }
    return bits;
}

static void *thread_main(void *out)
{
    *(unsigned *)out = failures();
    return NULL;
}

/* Runs failures() with MPIBATCH_FAULT=spec (and OMPI_COMM_WORLD_RANK=rank
 * when rank is not NULL) in a child; returns its result, or ~0u. */
static unsigned in_child(const char *spec, const char *rank, int threaded)
{
    int fd[2];
    unsigned r = ~0u;
    pid_t pid;

    if (pipe(fd) != 0 || (pid = fork()) < 0)
        return ~0u;
    if (pid == 0) {
        unsigned main_bits, thr_bits = 0;
        pthread_t t;
        close(fd[0]);
        setenv("MPIBATCH_FAULT", spec, 1);
        unsetenv("OMPI_COMM_WORLD_RANK");
        unsetenv("PMIX_RANK");
        unsetenv("PMI_RANK");
        if (rank)
            setenv("OMPI_COMM_WORLD_RANK", rank, 1);
        main_bits = failures();
        if (threaded && (pthread_create(&t, NULL, thread_main, &thr_bits) != 0 ||
                         pthread_join(t, NULL) != 0))
            _exit(1);
        main_bits |= thr_bits << 8;
        if (write(fd[1], &main_bits, sizeof main_bits) != (ssize_t)sizeof main_bits)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    if (read(fd[0], &r, sizeof r) != (ssize_t)sizeof r)
        r = ~0u;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return r;
}

int main(void)
{
    unsigned r;

    ok(in_child("", NULL, 0) == 0, "no spec: nothing fails");
    ok(in_child("alloc:0", NULL, 0) == 0, "alloc:0 fails nothing");
    ok(in_child("alloc:1", NULL, 0) == 1u, "alloc:1 fails the first call only");
    ok(in_child("alloc:4", NULL, 0) == 1u << 3, "alloc:4 fails mb_strdup, the 4th call");
    ok(in_child("alloc:7", NULL, 0) == 0, "alloc:7 past the last call fails nothing");
    ok(in_child("after-commit,alloc:2,x", NULL, 0) == 1u << 1,
       "alloc:N is found among other fault points");
    ok(in_child("alloc:2x", NULL, 0) == 0 && in_child("alloc:-1", NULL, 0) == 0,
       "a malformed alloc:N is ignored");
    r = in_child("alloc:3", NULL, 1);
    ok(r == (1u << 2 | 1u << 10), "each thread fails its own 3rd call (got %#x)", r);
    ok(in_child("alloc:5@1", "1", 0) == 1u << 4, "alloc:5@1 fails on rank 1");
    ok(in_child("alloc:5@1", "0", 0) == 0, "alloc:5@1 fails nothing on rank 0");
    ok(in_child("alloc:5@0", NULL, 0) == 1u << 4, "a process without a launcher is rank 0");
    return tap_done();
}
