/* mem.c - allocation wrappers and the alloc:N fault point (see mem.h). */
#include "base/mem.h"

#include <stdatomic.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -1: environment not read yet; 0: no injection; else the target call. */
static _Atomic long long fail_at = -1;
/* Per thread, so that which call fails does not depend on how the
 * scheduler interleaves the main thread and the Scheduled Events watcher:
 * a failure the sweep finds can be reproduced by its N. */
static _Thread_local unsigned long long ncalls;
static _Atomic unsigned long long most;      /* the largest ncalls, for the report */

static void report_count(void)
{
    fprintf(stderr, "mpibatch: fault: alloc: %llu allocations\n",
            (unsigned long long)atomic_load(&most));
}

/* The MPI rank the launcher gave this process, 0 for a singleton. Read
 * from the environment because the first allocations precede MPI_Init. */
static long long launcher_rank(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *s = getenv(names[i]);
        char *end;
        long long v;
        if (!s || !*s)
            continue;
        v = strtoll(s, &end, 10);
        if (*end == '\0' && v >= 0)
            return v;
    }
    return 0;
}

/* Reads alloc:N or alloc:N@RANK out of MPIBATCH_FAULT's comma-separated
 * list once; with @RANK, the other ranks fail nothing (and report
 * nothing), so that a test can fail one rank alone. */
static long long read_spec(int *report)
{
    const char *spec = getenv("MPIBATCH_FAULT");
    long long n = 0;

    while (spec && *spec) {
        size_t len = strcspn(spec, ",");
        if (len > 6 && memcmp(spec, "alloc:", 6) == 0) {
            char *end;
            long long v = strtoll(spec + 6, &end, 10), rank = -1;
            if (end < spec + len && *end == '@' && end[1] >= '0' && end[1] <= '9')
                rank = strtoll(end + 1, &end, 10);
            if (end == spec + len && v >= 0 && (rank < 0 || rank == launcher_rank())) {
                n = v == 0 ? LLONG_MAX : v;
                *report = v == 0;
            }
        }
        spec += len + (spec[len] == ',');
    }
    return n;
}

static int should_fail(void)
{
    long long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    unsigned long long k, m;
    int report = 0;

    if (at == 0)
        return 0;
    if (at < 0) {
        long long expected = -1;
        at = read_spec(&report);
        if (atomic_compare_exchange_strong(&fail_at, &expected, at) && report)
            atexit(report_count);
        at = atomic_load(&fail_at);
        if (at == 0)
            return 0;
    }
    k = ++ncalls;
    m = atomic_load(&most);
    while (k > m && !atomic_compare_exchange_weak(&most, &m, k))
        ;
    return (long long)k == at;
}

void *mb_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

void *mb_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count, size);
}

void *mb_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

char *mb_strdup(const char *s)
{
    return should_fail() ? NULL : strdup(s);
}

char *mb_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : strndup(s, n);
}
