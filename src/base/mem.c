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
static _Atomic unsigned long long ncalls;
static int report;

static void report_count(void)
{
    fprintf(stderr, "mpibatch: fault: alloc: %llu allocations\n",
            (unsigned long long)atomic_load(&ncalls));
}

/* Reads alloc:N out of MPIBATCH_FAULT's comma-separated list once. */
static long long read_spec(void)
{
    const char *spec = getenv("MPIBATCH_FAULT");
    long long n = 0;

    while (spec && *spec) {
        size_t len = strcspn(spec, ",");
        if (len > 6 && memcmp(spec, "alloc:", 6) == 0) {
            char *end;
            long long v = strtoll(spec + 6, &end, 10);
            if (end == spec + len && v >= 0) {
                n = v == 0 ? LLONG_MAX : v;
                report = v == 0;
            }
        }
        spec += len + (spec[len] == ',');
    }
    return n;
}

static int should_fail(void)
{
    long long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    unsigned long long k;

    if (at == 0)
        return 0;
    if (at < 0) {
        long long expected = -1;
        at = read_spec();
        if (atomic_compare_exchange_strong(&fail_at, &expected, at) && report)
            atexit(report_count);
        at = atomic_load(&fail_at);
        if (at == 0)
            return 0;
    }
    k = atomic_fetch_add(&ncalls, 1) + 1;
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
