/* run.c - the drain loop: claim, describe, scatter, aggregate, reduce,
 * commit, delete. Rank 0 talks to the queue and writes results; all ranks
 * read and aggregate their chunks of the input from shared storage.
 *
 * Failure semantics. A task is committed (results + ledger entry) before
 * its message is deleted, so a crash anywhere leaves the message to be
 * redelivered; a redelivered task that is already in the ledger is
 * acknowledged without reprocessing. Bad data is deterministic, so such a
 * message goes straight to the poison area with the error; a transient
 * failure (input missing or unreadable) releases the message with a delay
 * and the poison rule of the queue ends the retries. */
#include "run.h"

#include "fault.h"
#include "job.h"
#include "log.h"
#include "partition.h"
#include "queue.h"
#include "results.h"
#include "task.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { ACT_EXIT = 0, ACT_TASK = 1 };

/* What every rank needs to work on one task (broadcast by rank 0). */
typedef struct desc {
    uint64_t action;
    char *task_id, *input, *msg_id;
    mb_grid grid;                 /* bounds only on ranks other than 0 */
    mb_binding bind;
} desc;

typedef struct runner {
    mb_opts *o;
    mb_dist *d;
    mb_plan plan;
    mb_queue *q;                  /* rank 0 only */
    mb_msg msg;                   /* rank 0: the claimed message */
    double lease_renewed;
    int lease_lost;
    uint64_t tasks_done, tasks_failed, bytes_done;
    double t0;
    char *chunk;                  /* read buffer */
    size_t chunk_cap;
    mb_buf key;
    mb_cell *cells;
    size_t max_cells;
} runner;

static void desc_fini(desc *t)
{
    free(t->task_id);
    free(t->input);
    free(t->msg_id);
    mb_grid_fini(&t->grid);
    mb_binding_fini(&t->bind);
    memset(t, 0, sizeof *t);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- rank 0: the queue side ----------------------------------------- */

/* Renews the lease when half the visibility timeout has passed. Called
 * between chunks and while rank 0 waits for the others. */
static void renew_tick(void *ctx)
{
    runner *r = ctx;
    mb_err err;
    double t = now_s();

    if (!r->q || r->lease_lost || !r->msg.body)
        return;
    if (t - r->lease_renewed < (double)r->o->visibility_timeout / 2)
        return;
    if (mb_queue_renew(r->q, &r->msg, (unsigned)r->o->visibility_timeout, &err) == MB_OK) {
        r->lease_renewed = t;
        mb_debug("message %s: lease renewed", r->msg.id);
    } else {
        r->lease_lost = 1;
        mb_warn("message %s: lease lost (%s); the result will still count once", r->msg.id,
                err.msg);
    }
}

static void finish_message(runner *r, const char *verb, mb_status st, mb_err *err)
{
    if (st != MB_OK)
        mb_warn("message %s: %s failed: %s", r->msg.id, verb, err->msg);
    mb_msg_fini(&r->msg);
}

static void poison(runner *r, const char *reason)
{
    mb_err err;
    r->tasks_failed++;
    mb_error("message %s: %s", r->msg.id, reason);
    finish_message(r, "moving to the poison area",
                   mb_queue_poison(r->q, &r->msg, reason, &err), &err);
}

static void release_later(runner *r, const char *why)
{
    mb_err err;
    int64_t dq = r->msg.dequeue_count;
    unsigned delay = (unsigned)(dq < 1 ? 1 : dq > 60 ? 60 : dq);

    mb_warn("message %s: %s; retry in %u s (delivery %lld of %llu)", r->msg.id, why, delay,
            (long long)dq, (unsigned long long)r->o->max_dequeue);
    finish_message(r, "release", mb_queue_release(r->q, &r->msg, delay, &err), &err);
}

/* Prepares the task of the claimed message: parse, ledger check, grid,
 * binding. Returns 1 with t filled when there is work for all ranks, 0 when
 * the message was dealt with here (acknowledged, poisoned, released). */
static int prepare_task(runner *r, desc *t)
{
    mb_task task;
    mb_err err;
    mb_status st;
    struct stat sb;
    int fd;

    if (mb_task_parse(r->msg.body, r->msg.body_len, r->o->data_root, &task, &err) != MB_OK) {
        poison(r, err.msg);
        return 0;
    }
    if (mb_results_committed(r->o->out, task.id)) {
        mb_info("task %s: already committed; acknowledging the redelivered message %s",
                task.id, r->msg.id);
        finish_message(r, "delete", mb_queue_remove(r->q, &r->msg, &err), &err);
        mb_task_fini(&task);
        return 0;
    }
    fd = open(task.input, O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        char why[MB_ERR_MAX];
        snprintf(why, sizeof why, "%s: %s", task.input,
                 fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        release_later(r, why);
        mb_task_fini(&task);
        return 0;
    }
    st = mb_grid_build(&t->grid, task.input, fd, (uint64_t)sb.st_size, r->o->chunk_size,
                       &r->plan.dialect, r->plan.header, (size_t)r->o->max_record, &err);
    close(fd);
    if (st == MB_OK)
        st = mb_plan_bind(&r->plan, t->grid.names, t->grid.ncols, &t->bind, &err);
    if (st == MB_EDATA || st == MB_ELIMIT) {
        if (strncmp(err.msg, task.input, strlen(task.input)) != 0)
            mb_err_prefix(&err, "%s: ", task.input);
        poison(r, err.msg);
    } else if (st != MB_OK) {
        release_later(r, err.msg);
    }
    if (st != MB_OK) {
        mb_grid_fini(&t->grid);
        mb_task_fini(&task);
        return 0;
    }
    t->action = ACT_TASK;
    t->task_id = strdup(task.id);
    t->input = task.input;
    t->msg_id = strdup(r->msg.id);
    return t->task_id && t->msg_id;
}

/* Waits for the next task. Returns 1 with t filled, 0 when the run should
 * end (idle long enough), or -1 on a queue failure (err set). */
static int next_task(runner *r, desc *t, mb_err *err)
{
    double idle_since = now_s();

    for (;;) {
        mb_status st = mb_queue_claim(r->q, (unsigned)r->o->visibility_timeout, &r->msg, err);
        if (st == MB_OK) {
            r->lease_renewed = now_s();
            r->lease_lost = 0;
            if (prepare_task(r, t))
                return 1;
            idle_since = now_s();
            continue;
        }
        if (st != MB_EAGAIN)
            return -1;
        if (now_s() - idle_since >= r->o->idle_exit)
            return 0;
        {
            double left = r->o->idle_exit - (now_s() - idle_since);
            struct timespec ts = {0, 0};
            if (left > 1)
                left = 1;
            ts.tv_sec = (time_t)left;
            ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
            nanosleep(&ts, NULL);
        }
    }
}

/* ---- the task descriptor ------------------------------------------- */

static mb_status desc_pack(const runner *r, const desc *t, mb_buf *b)
{
    mb_status st = mb_buf_put_u64(b, t->action);
    size_t i;

    if (t->action != ACT_TASK)
        return st;
    if (st == MB_OK) st = mb_buf_put_str(b, t->task_id);
    if (st == MB_OK) st = mb_buf_put_str(b, t->input);
    if (st == MB_OK) st = mb_buf_put_str(b, t->msg_id);
    if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.ncols);
    if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.nchunks);
    if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.max_chunk);
    if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.file_size);
    if (st == MB_OK && t->grid.bounds)
        st = mb_buf_put(b, t->grid.bounds, (t->grid.nchunks + 1) * sizeof *t->grid.bounds);
    for (i = 0; i < r->plan.ngroup && st == MB_OK; i++)
        st = mb_buf_put_u64(b, t->bind.group_idx[i]);
    for (i = 0; i < r->plan.ncol && st == MB_OK; i++)
        st = mb_buf_put_u64(b, t->bind.col_idx[i]);
    return st;
}

static mb_status desc_unpack(const runner *r, const mb_buf *b, desc *t)
{
    mb_rd rd;
    size_t i, nb;

    memset(t, 0, sizeof *t);
    mb_rd_init(&rd, b->p, b->len);
    t->action = mb_rd_u64(&rd);
    if (t->action != ACT_TASK)
        return rd.bad ? MB_EINTERNAL : MB_OK;
    t->task_id = mb_rd_str(&rd, MB_TASK_ID_MAX);
    t->input = mb_rd_str(&rd, 65536);
    t->msg_id = mb_rd_str(&rd, 65536);
    t->grid.ncols = t->bind.ncols = (size_t)mb_rd_u64(&rd);
    t->grid.nchunks = (size_t)mb_rd_u64(&rd);
    t->grid.max_chunk = (size_t)mb_rd_u64(&rd);
    t->grid.file_size = mb_rd_u64(&rd);
    if (rd.bad || t->grid.nchunks > (SIZE_MAX / 8) - 1)
        return MB_EINTERNAL;
    nb = t->grid.nchunks + 1;
    t->grid.bounds = malloc(nb * sizeof *t->grid.bounds);
    t->bind.group_idx = malloc((r->plan.ngroup + 1) * sizeof(size_t));
    t->bind.col_idx = malloc((r->plan.ncol + 1) * sizeof(size_t));
    if (!t->grid.bounds || !t->bind.group_idx || !t->bind.col_idx)
        return MB_ENOMEM;
    mb_rd_get(&rd, t->grid.bounds, nb * sizeof *t->grid.bounds);
    for (i = 0; i < r->plan.ngroup; i++)
        t->bind.group_idx[i] = (size_t)mb_rd_u64(&rd);
    for (i = 0; i < r->plan.ncol; i++)
        t->bind.col_idx[i] = (size_t)mb_rd_u64(&rd);
    return rd.bad ? MB_EINTERNAL : MB_OK;
}

/* ---- every rank: aggregation --------------------------------------- */

/* An error at file offset `off`, reported as path:line:column. */
static mb_status data_error(const char *path, uint64_t off, mb_status code, mb_err *err,
                            const char *what)
{
    unsigned long line = 0, col = 0;
    char msg[MB_ERR_MAX];

    snprintf(msg, sizeof msg, "%s", what);
    if (mb_csv_locate_file(path, off, &line, &col) == MB_OK)
        return mb_err_set(err, code, "%s:%lu:%lu: %s", path, line, col, msg);
    return mb_err_set(err, code, "%s: at byte %llu: %s", path, (unsigned long long)off, msg);
}

/* Appends one key field (unescaped when needed) to the key buffer. */
static mb_status key_add(mb_buf *k, const mb_cell *c)
{
    uint32_t len = (uint32_t)c->len;
    size_t at;
    mb_status st;

    if (c->len > UINT32_MAX)
        return MB_ELIMIT;
    if ((st = mb_buf_reserve(k, sizeof len + c->len)) != MB_OK)
        return st;
    at = k->len;
    k->len += sizeof len;
    if (c->escaped) {
        len = (uint32_t)mb_csv_cell_unescape(c, k->p + k->len, c->len);
    } else {
        memcpy(k->p + k->len, c->p, c->len);
    }
    memcpy(k->p + at, &len, sizeof len);
    k->len += len;
    return MB_OK;
}

static mb_status add_values(runner *r, const desc *t, const mb_cell *cells, mb_numstate *s,
                            uint64_t base, const char *buf, mb_err *err)
{
    size_t c;

    for (c = 0; c < r->plan.ncol; c++) {
        const mb_cell *cell = &cells[t->bind.col_idx[c]];
        mb_dec v;
        mb_err e2;
        mb_status st;

        if (cell->len == 0)
            continue;                      /* NULL */
        if (r->plan.needs[c] == MB_NEED_COUNT) {
            mb_num_count(&s[c]);
            continue;
        }
        st = mb_dec_parse(cell->p, cell->len, &v, &e2);
        if (st == MB_OK)
            st = mb_num_add(&s[c], &v, r->plan.needs[c], &e2);
        if (st != MB_OK) {
            char what[MB_ERR_MAX];
            snprintf(what, sizeof what, "column '%s': %s", r->plan.cols[c], e2.msg);
            return data_error(t->input, base + (uint64_t)(cell->p - buf),
                              st == MB_ERANGE ? MB_ERANGE : MB_EDATA, err, what);
        }
    }
    return MB_OK;
}

static mb_status read_chunk(runner *r, int fd, const desc *t, size_t i, size_t *len,
                            mb_err *err)
{
    uint64_t a = t->grid.bounds[i], b = t->grid.bounds[i + 1];
    size_t n = (size_t)(b - a), got = 0;

    if (n > r->chunk_cap) {
        char *p = realloc(r->chunk, n);
        if (!p)
            return mb_err_set(err, MB_ENOMEM, "out of memory for a %zu-byte chunk", n);
        r->chunk = p;
        r->chunk_cap = n;
    }
    while (got < n) {
        ssize_t k = pread(fd, r->chunk + got, n - got, (off_t)(a + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return mb_err_set(err, MB_EIO, "%s: read at byte %llu: %s", t->input,
                              (unsigned long long)(a + got),
                              k == 0 ? "file shrank while being processed" : strerror(errno));
        got += (size_t)k;
    }
    *len = n;
    return MB_OK;
}

static mb_status process_chunk(runner *r, int fd, const desc *t, size_t i, mb_groups *g,
                               uint64_t *rows, mb_err *err)
{
    uint64_t base = t->grid.bounds[i];
    size_t len = 0, n = 0, k, gi = 0;
    mb_csv csv;
    mb_status st;
    mb_err e2;

    if ((st = read_chunk(r, fd, t, i, &len, err)) != MB_OK)
        return st;
    mb_csv_init(&csv, &r->plan.dialect, r->chunk, len, base);
    for (;;) {
        st = mb_csv_next(&csv, r->cells, r->max_cells, &n, t->grid.ncols, &e2);
        if (st == MB_EAGAIN)
            return MB_OK;
        if (st != MB_OK)
            return data_error(t->input, csv.err_off, MB_EDATA, err, e2.msg);
        r->key.len = 0;
        for (k = 0; k < r->plan.ngroup && st == MB_OK; k++)
            st = key_add(&r->key, &r->cells[t->bind.group_idx[k]]);
        if (st != MB_OK)
            return mb_err_set(err, MB_ELIMIT, "%s: group key too long", t->input);
        st = mb_groups_get(g, r->key.p, r->key.len, mb_groups_hash(r->key.p, r->key.len), &gi,
                           err);
        if (st != MB_OK)
            return st;
        g->rows[gi]++;
        (*rows)++;
        st = add_values(r, t, r->cells, mb_groups_state(g, gi), base, r->chunk, err);
        if (st != MB_OK)
            return st;
    }
}

/* This rank's share of the task: chunks i with i % size == rank. */
static mb_status aggregate(runner *r, const desc *t, mb_groups *g, uint64_t *rows, mb_err *err)
{
    mb_status st = MB_OK;
    size_t i, mine = 0, total = t->grid.nchunks;
    double last = now_s();
    int fd;

    if (t->grid.ncols + 1 > r->max_cells) {
        mb_cell *c = realloc(r->cells, (t->grid.ncols + 1) * sizeof *c);
        if (!c)
            return mb_err_set(err, MB_ENOMEM, "out of memory");
        r->cells = c;
        r->max_cells = t->grid.ncols + 1;
    }
    if ((fd = open(t->input, O_RDONLY)) < 0)
        return mb_err_set(err, MB_EIO, "%s: %s", t->input, strerror(errno));
    for (i = (size_t)r->d->rank; i < total && st == MB_OK; i += (size_t)r->d->size) {
        st = process_chunk(r, fd, t, i, g, rows, err);
        mine++;
        if (r->d->rank == 0) {
            renew_tick(r);
            if (now_s() - last > 5) {
                last = now_s();
                mb_info("task %s: chunk %zu of %zu", t->task_id, i + 1, total);
            }
        }
    }
    close(fd);
    (void)mine;
    return st;
}

/* ---- rank 0: commit ------------------------------------------------- */

static mb_status commit(runner *r, const desc *t, mb_groups *result, uint64_t rows,
                        double t_start, mb_err *err)
{
    mb_task_info info;
    mb_status st;
    double secs = now_s() - t_start;

    memset(&info, 0, sizeof info);
    info.task_id = t->task_id;
    info.input = t->input;
    info.message_id = t->msg_id;
    info.job_name = r->o->name;
    info.rows = rows;
    info.bytes = t->grid.file_size;
    info.chunks = t->grid.nchunks;
    info.ranks = r->d->size;
    info.seconds = secs;
    if ((st = mb_results_commit(r->o->out, &r->plan, result, &info, err)) != MB_OK)
        return st;
    mb_fault_point("after-commit");
    if (mb_queue_remove(r->q, &r->msg, err) != MB_OK)
        mb_warn("message %s: delete failed after commit (%s); the redelivery will be "
                "acknowledged without reprocessing", r->msg.id, err->msg);
    mb_msg_fini(&r->msg);
    r->tasks_done++;
    r->bytes_done += t->grid.file_size;
    mb_info("task %s: committed %llu rows, %zu groups, %.1f MB in %.2f s (%.0f MB/s); "
            "%llu tasks done, %.0f MB/s overall",
            t->task_id, (unsigned long long)rows, result->n, (double)t->grid.file_size / 1e6,
            secs, secs > 0 ? (double)t->grid.file_size / 1e6 / secs : 0.0,
            (unsigned long long)r->tasks_done,
            (double)r->bytes_done / 1e6 / (now_s() - r->t0 > 0 ? now_s() - r->t0 : 1));
    return MB_OK;
}

/* A failed task, as agreed by all ranks: rank 0 decides about the message.
 * Returns the status that should end the run, or MB_OK to go on. */
static mb_status task_failed(runner *r, const desc *t, mb_status st, mb_err *err)
{
    if (r->d->rank != 0)
        return st == MB_EDATA || st == MB_ERANGE || st == MB_ELIMIT || st == MB_EIO ? MB_OK
                                                                                     : st;
    switch (st) {
    case MB_EDATA:
    case MB_ERANGE:
    case MB_ELIMIT:
        poison(r, err->msg);
        return MB_OK;
    case MB_EIO:
        release_later(r, err->msg);
        return MB_OK;
    default:
        mb_error("task %s: %s", t->task_id, err->msg);
        release_later(r, "internal error");
        return st;
    }
}

static mb_status run_task(runner *r, const desc *t, mb_err *err)
{
    mb_groups local, result;
    mb_status st;
    uint64_t rows = 0, all_rows = 0;
    double t_start = now_s();
    size_t cap = (size_t)r->o->max_groups_mb << 20;

    if (mb_groups_init(&local, r->plan.ncol, cap) != MB_OK)
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    else
        st = aggregate(r, t, &local, &rows, err);
    st = mb_dist_agree_poll(r->d, st, err, r->d->rank == 0 ? renew_tick : NULL, r);
    if (st != MB_OK) {
        mb_groups_fini(&local);
        return task_failed(r, t, st, err);
    }
    if (mb_dist_sum_u64(r->d, rows, &all_rows) != MB_OK)
        return mb_err_set(err, MB_EINTERNAL, "row count reduction failed");
    st = mb_dist_reduce(r->d, &local, r->plan.needs, cap, &result, err);
    mb_groups_fini(&local);
    if (st != MB_OK) {
        mb_groups_fini(&result);
        return task_failed(r, t, st, err);
    }
    if (r->d->rank == 0) {
        renew_tick(r);
        st = commit(r, t, &result, all_rows, t_start, err);
        if (st == MB_EDATA) {
            st = task_failed(r, t, st, err);
        } else if (st != MB_OK) {
            mb_error("task %s: cannot commit the result: %s", t->task_id, err->msg);
            release_later(r, "commit failed");
        }
    }
    mb_groups_fini(&result);
    /* A commit failure on rank 0 ends the run on every rank. */
    return mb_dist_agree(r->d, st, err);
}

/* ---- the loop ------------------------------------------------------- */

static mb_status setup(runner *r, mb_opts *o, mb_dist *d, mb_err *err)
{
    mb_status st;

    memset(r, 0, sizeof *r);
    r->o = o;
    r->d = d;
    r->t0 = now_s();
    mb_buf_init(&r->key, (size_t)o->max_record);
    st = mb_plan_build(&r->plan, o, err);
    if (st == MB_OK && d->rank == 0) {
        st = mb_results_prepare(o->out, err);
        if (st == MB_OK && (st = mb_queue_open(&r->q, o->queue, 0, err)) == MB_OK)
            r->q->max_dequeue = (unsigned)o->max_dequeue;
    }
    return st;
}

mb_status mb_run(mb_opts *o, mb_dist *d, mb_err *err)
{
    runner r;
    mb_status st = setup(&r, o, d, err);
    mb_buf b;

    st = mb_dist_agree(d, st, err);
    mb_buf_init(&b, (size_t)1 << 30);
    if (st == MB_OK && d->rank == 0)
        mb_info("run: queue %s, %d ranks, out %s, job %s", o->queue, d->size, o->out,
                o->name ? o->name : (o->job ? o->job : "(command line)"));
    while (st == MB_OK) {
        desc t;
        int got = 0;
        memset(&t, 0, sizeof t);
        b.len = 0;
        if (d->rank == 0) {
            got = next_task(&r, &t, err);
            if (got < 0)
                st = err->code ? err->code : MB_EQUEUE;
            else if ((st = desc_pack(&r, &t, &b)) != MB_OK)
                mb_err_set(err, st, "task descriptor too large");
        }
        /* Rank 0's failure (or the end of the run) travels in the descriptor. */
        if (d->rank == 0 && st != MB_OK) {
            b.len = 0;
            mb_buf_put_u64(&b, ACT_EXIT);
        }
        if (mb_dist_bcast(d, &b, err) != MB_OK) {
            st = MB_EINTERNAL;
            desc_fini(&t);
            break;
        }
        if (d->rank != 0 && desc_unpack(&r, &b, &t) != MB_OK)
            st = mb_err_set(err, MB_EINTERNAL, "malformed task descriptor");
        if (d->rank != 0)
            got = t.action == ACT_TASK;
        if (st == MB_OK && got)
            st = run_task(&r, &t, err);
        desc_fini(&t);
        if (!got)
            break;
    }
    if (d->rank == 0) {
        if (st == MB_OK)
            mb_info("run: done: %llu tasks committed, %llu rejected, %.1f MB in %.1f s",
                    (unsigned long long)r.tasks_done, (unsigned long long)r.tasks_failed,
                    (double)r.bytes_done / 1e6, now_s() - r.t0);
        if (st == MB_OK && r.tasks_failed)
            st = mb_err_set(err, MB_EDATA, "%llu task(s) rejected for bad data; see the poison "
                            "area of %s", (unsigned long long)r.tasks_failed, o->queue);
    }
    mb_buf_fini(&b);
    mb_buf_fini(&r.key);
    mb_msg_fini(&r.msg);
    mb_queue_free(r.q);
    mb_plan_fini(&r.plan);
    free(r.chunk);
    free(r.cells);
    return st;
}
