/* dist.c - MPI collectives: agreement, broadcast, state reduction.
 * Counts passed to MPI are int; every size is checked against INT_MAX
 * before the call rather than silently truncated. */
#include "core/dist.h"

#include <assert.h>
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

mb_status mb_dist_init(mb_dist *d, int *argc, char ***argv, mb_err *err)
{
    int flag = 0, provided = 0;

    memset(d, 0, sizeof *d);
    MPI_Initialized(&flag);
    if (!flag) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return mb_err_set(err, MB_EINTERNAL, "MPI_Init failed");
        d->initialized = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    return MB_OK;
}

void mb_dist_fini(mb_dist *d)
{
    if (!d)
        return;
    free(d->round);     /* never left pending: every post is waited for */
    d->round = NULL;
    if (d->initialized) {
        MPI_Finalize();
        d->initialized = 0;
    }
}

double mb_dist_wtime(void)
{
    return MPI_Wtime();
}

static mb_status mpi_fail(mb_err *err, const char *what, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;

    MPI_Error_string(rc, msg, &len);
    return mb_err_set(err, MB_EINTERNAL, "%s failed: %.*s", what, len, msg);
}

/* Completes a non-blocking request, sleeping between tests; calls tick
 * about every 50 ms. */
static int wait_polling(MPI_Request *req, mb_dist_tick_fn tick, void *ctx)
{
    struct timespec ts = {0, 50000};
    double last = MPI_Wtime(), spin_until = last + 200e-6;
    int done = 0, rc;

    /* Nonblocking collectives progress only inside MPI calls, and the
     * partner is usually a few microseconds away at the end of a round:
     * test in a tight loop for a moment before backing off to sleeps. */
    while (MPI_Wtime() < spin_until) {
        rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
    }
    for (;;) {
        rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        if (tick && MPI_Wtime() - last > 0.05) {
            tick(ctx);
            last = MPI_Wtime();
        }
        nanosleep(&ts, NULL);
        if (ts.tv_nsec < 20000000)
            ts.tv_nsec += ts.tv_nsec / 4;
    }
}

mb_status mb_dist_agree(mb_dist *d, mb_status local, mb_err *err)
{
    struct { int failed_ok; int rank; } in, out;
    struct { int code; char msg[MB_ERR_MAX]; } rep;
    MPI_Request req;
    int rc;

    /* MINLOC over (0 = failed, 1 = fine) finds the lowest failing rank. */
    in.failed_ok = local == MB_OK ? 1 : 0;
    in.rank = d->rank;
    rc = MPI_Iallreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD, &req);
    if (rc == MPI_SUCCESS)
        rc = wait_polling(&req, NULL, NULL);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Allreduce (agreement)", rc);
    if (out.failed_ok == 1)
        return MB_OK;
    memset(&rep, 0, sizeof rep);
    if (d->rank == out.rank) {
        rep.code = (int)local;
        if (err)
            memcpy(rep.msg, err->msg, sizeof rep.msg);
        rep.msg[sizeof rep.msg - 1] = '\0';
    }
    rc = MPI_Bcast(&rep, (int)sizeof rep, MPI_BYTE, out.rank, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Bcast (agreement)", rc);
    rep.msg[sizeof rep.msg - 1] = '\0';
    if (err) {
        err->code = (mb_status)rep.code;
        if (d->rank != out.rank) {
            memcpy(err->msg, rep.msg, sizeof err->msg);
            err->msg[sizeof err->msg - 1] = '\0';
        }
    }
    return (mb_status)rep.code;
}

mb_status mb_dist_bcast(mb_dist *d, mb_buf *b, mb_err *err)
{
    uint64_t len = b->len;
    MPI_Request req;
    mb_status st = MB_OK;
    int rc = MPI_Ibcast(&len, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &req);

    if (rc == MPI_SUCCESS)
        rc = d->rank == 0 ? MPI_Wait(&req, MPI_STATUS_IGNORE) : wait_polling(&req, NULL, NULL);

    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Bcast", rc);
    if (len > INT_MAX)
        return mb_err_set(err, MB_ELIMIT, "broadcast of %llu bytes is too large",
                          (unsigned long long)len);
    if (d->rank != 0) {
        b->len = 0;
        if (mb_buf_reserve(b, (size_t)len) != MB_OK)
            st = mb_err_set(err, MB_ENOMEM, "out of memory receiving a broadcast");
        else
            b->len = (size_t)len;
    }
    /* Agreed on before the bytes move: a rank without room for them cannot
     * leave the broadcast without leaving the others waiting in it. */
    if ((st = mb_dist_agree(d, st, err)) != MB_OK)
        return st;
    rc = MPI_Bcast(b->p, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? MB_OK : mpi_fail(err, "MPI_Bcast", rc);
}

mb_status mb_dist_sum_u64(mb_dist *d, uint64_t local, uint64_t *total)
{
    (void)d;
    return MPI_Allreduce(&local, total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD) ==
                   MPI_SUCCESS
               ? MB_OK
               : MB_EINTERNAL;
}

mb_status mb_dist_scan_u64(mb_dist *d, const uint64_t *local, uint64_t *before,
                           uint64_t *total, size_t n, mb_err *err)
{
    int rc;

    if (n == 0 || n > INT_MAX)
        return mb_err_set(err, MB_EINTERNAL, "scan of %zu counters", n);
    rc = MPI_Exscan(local, before, (int)n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Exscan", rc);
    /* MPI leaves rank 0's result of an exclusive scan undefined. */
    if (d->rank == 0)
        memset(before, 0, n * sizeof *before);
    rc = MPI_Allreduce(local, total, (int)n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? MB_OK : mpi_fail(err, "MPI_Allreduce", rc);
}

/* Whether counts and displacements cut a buffer of `total` bytes into
 * consecutive pieces in rank order, none negative or past the end: what
 * the collectives below rely on (for assert()). */
static int layout_ok(const int *counts, const int *displs, int size, size_t total)
{
    size_t at = 0;

    for (int r = 0; r < size; r++) {
        if (counts[r] < 0 || displs[r] < 0 || (size_t)displs[r] != at)
            return 0;
        at += (size_t)counts[r];
    }
    return at == total;
}

/* Packs each group of `g` into the send buffer of its owner rank. */
static mb_status pack_by_owner(const mb_groups *g, int size, mb_buf *parts)
{
    mb_status st = MB_OK;
    size_t i;

    for (i = 0; i < g->n && st == MB_OK; i++)
        st = mb_groups_pack(g, i, &parts[mb_groups_rec(g, i)->hash % (uint64_t)size]);
    return st;
}

/* Concatenates parts into one buffer and fills counts/displacements. */
static mb_status flatten(mb_buf *parts, int size, mb_buf *all, int *counts, int *displs)
{
    size_t total = 0;
    int r;

    for (r = 0; r < size; r++) {
        if (parts[r].len > INT_MAX || total > (size_t)INT_MAX - parts[r].len)
            return MB_ELIMIT;
        displs[r] = (int)total;
        counts[r] = (int)parts[r].len;
        total += parts[r].len;
    }
    if (mb_buf_reserve(all, total ? total : 1) != MB_OK)
        return MB_ENOMEM;
    for (r = 0; r < size; r++)
        mb_buf_put(all, parts[r].p, parts[r].len);
    assert(all->len == total && layout_ok(counts, displs, size, total));
    return MB_OK;
}

static mb_status displs_of(const int *counts, int size, int *displs, size_t *total)
{
    size_t t = 0;
    for (int r = 0; r < size; r++) {
        if (t > (size_t)INT_MAX - (size_t)counts[r])
            return MB_ELIMIT;
        displs[r] = (int)t;
        t += (size_t)counts[r];
    }
    *total = t;
    return MB_OK;
}

/* Stage 1: every rank sends each group to its owner; owners merge. */
static mb_status shuffle(mb_dist *d, mb_groups *local, mb_groups *own,
                         mb_err *err)
{
    int n = d->size, rc;
    int *sc = mb_calloc((size_t)n * 4, sizeof *sc);
    int *sd = sc + n, *rcnt = sc + 2 * n, *rd = sc + 3 * n;
    mb_buf *parts = mb_calloc((size_t)n, sizeof *parts), all, in;
    mb_status st = MB_OK;
    size_t total = 0;

    mb_buf_init(&all, INT_MAX);
    mb_buf_init(&in, INT_MAX);
    if (!sc || !parts) {
        /* agreed on like any other failure: the others wait for it */
        mb_groups_fini(local);
        st = mb_dist_agree(d, mb_err_set(err, MB_ENOMEM, "out of memory in the shuffle"), err);
        goto out;
    }
    for (int r = 0; r < n; r++)
        mb_buf_init(&parts[r], INT_MAX);
    st = pack_by_owner(local, n, parts);
    if (st == MB_OK)
        st = flatten(parts, n, &all, sc, sd);
    for (int r = 0; r < n; r++)
        mb_buf_fini(&parts[r]);
    mb_groups_fini(local);
    if (st != MB_OK)
        st = mb_err_set(err, st, st == MB_ENOMEM ? "out of memory packing group states"
                                                 : "group states too large to shuffle (over 2 "
                                                   "GiB per rank)");
    if ((st = mb_dist_agree(d, st, err)) != MB_OK)
        goto out;
    rc = MPI_Alltoall(sc, 1, MPI_INT, rcnt, 1, MPI_INT, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        st = mpi_fail(err, "MPI_Alltoall", rc);
        goto out;
    }
    /* out of memory is not a limit of the data: it must not poison the file */
    if (displs_of(rcnt, n, rd, &total) != MB_OK)
        st = mb_err_set(err, MB_ELIMIT, "shuffle receive of more than 2 GiB");
    else if (mb_buf_reserve(&in, total ? total : 1) != MB_OK)
        st = mb_err_set(err, MB_ENOMEM, "out of memory receiving %zu bytes in the shuffle",
                        total);
    if ((st = mb_dist_agree(d, st, err)) != MB_OK)
        goto out;
    assert(layout_ok(sc, sd, n, all.len) && layout_ok(rcnt, rd, n, total) && in.cap >= total);
    assert(sc[d->rank] == rcnt[d->rank]);      /* what a rank keeps for itself */
    rc = MPI_Alltoallv(all.p, sc, sd, MPI_BYTE, in.p, rcnt, rd, MPI_BYTE, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        st = mpi_fail(err, "MPI_Alltoallv", rc);
        goto out;
    }
    mb_buf_fini(&all);
    st = mb_groups_unpack_merge(own, in.p, total, err);
out:
    mb_buf_fini(&all);
    mb_buf_fini(&in);
    free(parts);
    free(sc);
    return st;
}

/* Every rank's bytes p[0..len) to rank 0's recv, in rank order. The
 * lengths travel by MPI_Allgather, so every rank learns *total (0: nothing
 * anywhere, and no MPI_Gatherv) and, when lens is given, each rank's
 * length: a total past 2 GiB is then refused on every rank alike. A rank 0
 * that cannot take the bytes receives nothing and reports it after the
 * collective, as it cannot refuse without leaving the others waiting. */
static mb_status gather_bytes(mb_dist *d, const char *p, size_t len, mb_buf *recv,
                              size_t *total, size_t *lens, int nomem, mb_err *err)
{
    int n = d->size, rc, mine = len > INT_MAX ? 0 : (int)len;
    int *cnt = mb_calloc((size_t)n * 2, sizeof *cnt), *dis = cnt ? cnt + n : NULL;
    mb_status st = !cnt || nomem   ? mb_err_set(err, MB_ENOMEM, "out of memory gathering")
                   : len > INT_MAX ? mb_err_set(err, MB_ELIMIT, "more than 2 GiB to gather")
                                   : MB_OK;

    *total = 0;
    if ((st = mb_dist_agree(d, st, err)) != MB_OK) {
        free(cnt);
        return st;
    }
    rc = MPI_Allgather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(cnt);
        return mpi_fail(err, "MPI_Allgather", rc);
    }
    for (int r = 0; r < n; r++)
        if (lens)
            lens[r] = (size_t)cnt[r];
    if (displs_of(cnt, n, dis, total) != MB_OK) {
        free(cnt);
        return mb_err_set(err, MB_ELIMIT, "gather of more than 2 GiB on rank 0");
    }
    assert(layout_ok(cnt, dis, n, *total) && cnt[d->rank] == mine);
    if (*total == 0) {
        free(cnt);
        return MB_OK;
    }
    recv->len = 0;
    if (d->rank == 0 && mb_buf_reserve(recv, *total) != MB_OK) {
        memset(cnt, 0, (size_t)n * 2 * sizeof *cnt);
        st = mb_err_set(err, MB_ENOMEM, "out of memory receiving %zu bytes", *total);
    }
    rc = MPI_Gatherv(p, mine, MPI_BYTE, recv->p, cnt, dis, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS && st == MB_OK)
        st = mpi_fail(err, "MPI_Gatherv", rc);
    if (st == MB_OK && d->rank == 0)
        recv->len = *total;
    free(cnt);
    return st;
}

mb_status mb_dist_gather_u64(mb_dist *d, const uint64_t *v, size_t n, uint64_t **all,
                             size_t **counts, mb_err *err)
{
    size_t total = 0, *lens = mb_malloc((size_t)d->size * sizeof *lens);
    mb_buf recv;
    mb_status st;

    *all = NULL;
    *counts = NULL;
    mb_buf_init(&recv, INT_MAX);
    st = gather_bytes(d, (const char *)v, n <= INT_MAX / 8 ? n * 8 : (size_t)INT_MAX + 1,
                      &recv, &total, lens, !lens, err);
    if (st == MB_OK && d->rank == 0) {
        for (int r = 0; r < d->size; r++) {
            assert(lens[r] % 8 == 0);
            lens[r] /= 8;
        }
        *all = (uint64_t *)(void *)recv.p;   /* malloc'd: suitably aligned */
        *counts = lens;
        recv.p = NULL;
        lens = NULL;
        if (!*all && !(*all = mb_malloc(sizeof **all))) {
            free(*counts);
            *counts = NULL;
            st = mb_err_set(err, MB_ENOMEM, "out of memory gathering");
        }
    }
    mb_buf_fini(&recv);
    free(lens);
    return st;
}

/* Stage 2: owners send their (disjoint) groups to rank 0. */
static mb_status gather(mb_dist *d, mb_groups *own, mb_groups *out, mb_err *err)
{
    mb_buf send, recv;
    mb_status st = MB_OK;
    size_t total = 0, i;

    mb_buf_init(&send, INT_MAX);
    mb_buf_init(&recv, INT_MAX);
    for (i = 0; i < own->n && st == MB_OK; i++)
        st = mb_groups_pack(own, i, &send);
    mb_groups_fini(own);
    if (st != MB_OK)
        st = mb_err_set(err, st, st == MB_ENOMEM ? "out of memory packing group states"
                                                 : "group states too large to gather (over 2 "
                                                   "GiB per rank)");
    if ((st = mb_dist_agree(d, st, err)) == MB_OK)
        st = gather_bytes(d, send.p, send.len, &recv, &total, NULL, 0, err);
    if (st == MB_OK && d->rank == 0 && total)
        st = mb_groups_unpack_merge(out, recv.p, total, err);
    mb_buf_fini(&send);
    mb_buf_fini(&recv);
    return st;
}

/* Bytes of packed groups a rank sends per round of the direct gather. */
#define PIECE ((size_t)32 << 20)

/* Two ranks: rank 1 streams its packed groups to rank 0, which merges them
 * straight into its own table, in rounds of at most PIECE bytes so that
 * memory stays bounded. With two ranks a shuffle would move as much data,
 * insert every group twice and leave half the merging serial anyway. */
static mb_status gather_direct(mb_dist *d, mb_groups *local, mb_err *err)
{
    mb_buf send, recv;
    mb_status st = MB_OK;
    size_t next = 0, total = 0;

    mb_buf_init(&send, INT_MAX);
    mb_buf_init(&recv, INT_MAX);
    for (;;) {
        send.len = 0;
        while (d->rank != 0 && st == MB_OK && next < local->n && send.len < PIECE)
            st = mb_groups_pack(local, next++, &send);
        if (st != MB_OK)
            st = mb_err_set(err, st, "out of memory packing group states");
        if ((st = mb_dist_agree(d, st, err)) != MB_OK)
            break;
        /* Rank 0 alone may fail to take the bytes, after the collective:
         * that is agreed on below with the merge, or rank 1 would wait
         * there alone. An empty round is empty on every rank. */
        st = gather_bytes(d, send.p, send.len, &recv, &total, NULL, 0, err);
        if (st == MB_OK && total == 0)
            break;
        if (st == MB_OK && d->rank == 0)
            st = mb_groups_unpack_merge(local, recv.p, total, err);
        if ((st = mb_dist_agree(d, st, err)) != MB_OK)
            break;
    }
    mb_buf_fini(&send);
    mb_buf_fini(&recv);
    return st;
}

mb_status mb_dist_reduce(mb_dist *d, mb_groups *local, size_t max_bytes,
                         mb_groups *out, mb_err *err)
{
    mb_groups own;
    mb_status st;
    size_t nstate = local->nstate;

    memset(&own, 0, sizeof own);
    st = mb_groups_init(out, local->needs, nstate, max_bytes);
    if (st == MB_OK)
        st = mb_groups_init(&own, local->needs, nstate, max_bytes);
    if (st != MB_OK)
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    /* A rank that returned alone would leave the others waiting in the
     * reduction's first collective. */
    if ((st = mb_dist_agree(d, st, err)) != MB_OK) {
        mb_groups_fini(out);
        mb_groups_fini(&own);
        return st;
    }
    if (d->size == 1) {
        /* One rank: the local table is the result. */
        mb_groups_fini(out);
        mb_groups_fini(&own);
        *out = *local;
        memset(local, 0, sizeof *local);
        return MB_OK;
    }
    if (d->size == 2) {
        mb_groups_fini(&own);
        st = gather_direct(d, local, err);
        if (st == MB_OK && d->rank == 0) {
            mb_groups_fini(out);
            *out = *local;
            memset(local, 0, sizeof *local);
        }
        mb_groups_fini(local);
        return st;
    }
    st = shuffle(d, local, &own, err);
    st = mb_dist_agree(d, st, err);   /* merge errors (overflow, memory cap) */
    if (st != MB_OK) {
        mb_groups_fini(&own);
        return st;
    }
    st = gather(d, &own, out, err);
    return mb_dist_agree(d, st, err);
}

int mb_dist_node_leader(mb_dist *d)
{
    MPI_Comm node;
    int lr = 0;

    (void)d;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
        MPI_SUCCESS)
        return 0;
    MPI_Comm_rank(node, &lr);
    MPI_Comm_free(&node);
    return lr == 0;
}

struct mb_dist_round {
    MPI_Request req;
    unsigned local, all;
    int pending;
};

mb_status mb_dist_flags_post(mb_dist *d, unsigned local, mb_err *err)
{
    int rc;

    if (!d->round && !(d->round = mb_calloc(1, sizeof *d->round)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    if (d->round->pending)
        return mb_err_set(err, MB_EINTERNAL, "round flags posted twice");
    d->round->local = local;
    rc = MPI_Iallreduce(&d->round->local, &d->round->all, 1, MPI_UNSIGNED, MPI_BOR,
                        MPI_COMM_WORLD, &d->round->req);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Iallreduce (flags)", rc);
    d->round->pending = 1;
    return MB_OK;
}

mb_status mb_dist_flags_wait(mb_dist *d, unsigned *all, mb_dist_tick_fn tick, void *ctx,
                             mb_err *err)
{
    int rc;

    if (!mb_dist_flags_pending(d))
        return mb_err_set(err, MB_EINTERNAL, "no round flags in flight");
    rc = wait_polling(&d->round->req, tick, ctx);
    d->round->pending = 0;
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Allreduce (flags)", rc);
    *all = d->round->all;
    return MB_OK;
}

int mb_dist_flags_pending(const mb_dist *d)
{
    return d->round && d->round->pending;
}

mb_status mb_dist_or_flags(mb_dist *d, unsigned local, unsigned *all, mb_err *err)
{
    MPI_Request req;
    int rc;

    (void)d;
    rc = MPI_Iallreduce(&local, all, 1, MPI_UNSIGNED, MPI_BOR, MPI_COMM_WORLD, &req);
    if (rc == MPI_SUCCESS)
        rc = wait_polling(&req, NULL, NULL);
    return rc == MPI_SUCCESS ? MB_OK : mpi_fail(err, "MPI_Allreduce (flags)", rc);
}
