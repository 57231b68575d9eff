/* dist.h - everything that crosses ranks: start-up, agreement on failure,
 * broadcast of task descriptors and the reduction of group states.
 *
 * The only module that calls MPI collectives. Every collective here is
 * preceded by an agreement (mb_dist_agree) in the callers' protocol, so a
 * rank that failed locally never leaves the others waiting in a collective
 * it will not enter. */
#ifndef MB_DIST_H
#define MB_DIST_H

#include "agg/group.h"

struct mb_dist_round;

typedef struct mb_dist {
    int rank, size;
    int initialized;     /* MPI_Init was called by us */
    struct mb_dist_round *round;   /* round flags in flight, if any */
} mb_dist;

mb_status mb_dist_init(mb_dist *d, int *argc, char ***argv, mb_err *err);
void mb_dist_fini(mb_dist *d);

/* Every rank passes its local status (and error report). Returns MB_OK
 * when every rank is OK; otherwise the status of the lowest failing rank,
 * whose message is copied into `err` on every rank. */
mb_status mb_dist_agree(mb_dist *d, mb_status local, mb_err *err);

/* Called about every 50 ms while a rank waits in a collective that takes
 * one (rank 0 renews its lease there). */
typedef void (*mb_dist_tick_fn)(void *ctx);

/* Rank 0's buffer b (len, bytes) is copied to every rank's b. Ranks other
 * than 0 wait for it sleeping in short steps rather than spinning, since
 * rank 0 may sit idle on an empty queue for a long time. */
mb_status mb_dist_bcast(mb_dist *d, mb_buf *b, mb_err *err);

/* Combines every rank's table `local` (consumed: emptied) into `*out` on
 * rank 0 (other ranks get an empty table). From three ranks on, groups are
 * shuffled to an owner rank by key hash (MPI_Alltoallv), merged there, then
 * gathered to rank 0; with two, rank 1 streams its groups straight into
 * rank 0's table in bounded rounds. Exact merging makes the result
 * independent of how groups were spread. */
mb_status mb_dist_reduce(mb_dist *d, mb_groups *local, size_t max_bytes,
                         mb_groups *out, mb_err *err);

/* Every rank's array v[0..n) to rank 0: *all (rank order) and *counts (one
 * length per rank) are allocated there, NULL elsewhere; the caller frees
 * them. Every rank must call it, whatever its own status. */
mb_status mb_dist_gather_u64(mb_dist *d, const uint64_t *v, size_t n, uint64_t **all,
                             size_t **counts, mb_err *err);

/* Sum of a counter over all ranks (for progress figures). */
mb_status mb_dist_sum_u64(mb_dist *d, uint64_t local, uint64_t *total);

/* Exclusive prefix sums, in rank order, of n counters: before[i] gets the
 * sum of local[i] over the lower ranks (0 on rank 0) and total[i] the sum
 * over all ranks. Used to place each rank's part in a shared file. The
 * caller keeps the sums far from 2^64 (they count bytes in memory). */
mb_status mb_dist_scan_u64(mb_dist *d, const uint64_t *local, uint64_t *before,
                           uint64_t *total, size_t n, mb_err *err);

double mb_dist_wtime(void);

/* 1 if this rank is the lowest rank on its node (shared-memory domain). */
int mb_dist_node_leader(mb_dist *d);

/* Bitwise OR of every rank's flags, waiting without spinning. This is the
 * per-turn agreement of the run loop: failure and stop requests travel as
 * bits. */
mb_status mb_dist_or_flags(mb_dist *d, unsigned local, unsigned *all, mb_err *err);

/* The same agreement in two halves, so that a rank can work on while the
 * flags of the round before travel: post this round's flags, then wait for
 * their OR. One round may be in flight at a time; every rank must post and
 * wait in the same order. */
mb_status mb_dist_flags_post(mb_dist *d, unsigned local, mb_err *err);
mb_status mb_dist_flags_wait(mb_dist *d, unsigned *all, mb_dist_tick_fn tick, void *ctx,
                             mb_err *err);
int mb_dist_flags_pending(const mb_dist *d);

#endif
