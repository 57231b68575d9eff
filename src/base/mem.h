/* mem.h - the allocation calls of every module, with one fault-injection
 * point. MPIBATCH_FAULT=alloc:N makes the Nth allocation of each thread of
 * the process fail (N counts from 1; later ones succeed again), so that a
 * test can sweep N over a job and see each MB_ENOMEM path end in a clean
 * error. Threads count apart, so the failing call does not depend on
 * scheduling. Under mpirun every rank that sees the variable fails its own
 * Nth call; alloc:N@R limits the failure to rank R (as the launcher's rank
 * variable gives it; a singleton is rank 0). MPIBATCH_FAULT=alloc:0 fails
 * nothing and, at exit, reports on stderr "mpibatch: fault: alloc: K
 * allocations", K the most any thread made (the sweep's upper bound).
 * Unset, the cost is one predictable branch per call. */
#ifndef MB_MEM_H
#define MB_MEM_H

#include <stddef.h>

void *mb_malloc(size_t n);
void *mb_calloc(size_t count, size_t size);
void *mb_realloc(void *p, size_t n);
char *mb_strdup(const char *s);
char *mb_strndup(const char *s, size_t n);

#endif
