/* run.c - the drain loop: claim, describe, scatter, aggregate in rounds,
 * checkpoint, reduce, commit, delete. Rank 0 talks to the queue (claim.c)
 * and writes results; all ranks read and aggregate their chunks from
 * shared storage. This file is the orchestration: what every rank does in
 * which order, and what rank 0 decides about the message in hand.
 *
 * Turns. The loop is a sequence of turns, the same on every rank: the
 * ranks OR together their flags (failure, stop request), then rank 0
 * decides the turn's action (EXIT, IDLE, TASK or SCAN) and broadcasts it,
 * and every rank takes the action's step. SCAN is a task whose input is
 * large: every rank first scans its part of the file for the chunk grid,
 * rank 0 joins the parts and broadcasts the task (or that there is none
 * after all), and the turn goes on as for TASK. So every collective of a
 * turn is entered from `turn` in the same order on every rank.
 *
 * Rounds. In round k rank r works on the (k*size + r)-th chunk still to do,
 * then all ranks OR together their flags (failure, stop request, checkpoint
 * due): that one small collective per round is where ranks agree to fail,
 * to checkpoint, or to stop. The flags of a round travel while the next
 * chunk is worked on, so a stop takes effect within two chunks, at the same
 * round on every rank, and no rank waits in a collective another rank will
 * not enter.
 *
 * Failure semantics. A task is committed (results + ledger entry) before
 * its message is deleted, so a crash anywhere leaves the message to be
 * redelivered; a redelivered task that is already in the ledger is
 * acknowledged without reprocessing. Bad data is deterministic, so such a
 * message goes straight to the poison area with the error; a transient
 * failure (input missing or unreadable) releases the message with a delay.
 * Failed deliveries are counted with their causes in a delivery record
 * (delivery.h): a delivery that made progress or stopped on request is not
 * a failure, one that crashed without progress is, and more than
 * --max-dequeue failures send the message to the poison area with all of
 * its causes. The job is at fault, not the file, when the ledger holds the
 * task from another job, or when a column the job names is missing from a
 * file while no file has fit the job yet (in this run or in --out): the run
 * stops with exit 65 and gives the message back uncounted. With
 * --checkpoint-dir, the states of the in-flight task are checkpointed
 * collectively (ckpt.c) and a rerun resumes from them on any number of
 * ranks. */
#include "core/run.h"

#include "csv/chunk.h"
#include "base/digest.h"
#include "base/fault.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "cli/job.h"
#include "csv/partition.h"
#include "csv/reject.h"
#include "azure/preempt.h"
#include "core/claim.h"
#include "core/query.h"
#include "core/results.h"
#include "core/resume.h"
#include "core/status.h"
#include "queue/task.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The action of a turn, the first word of its broadcast (see desc_pack).
 * SKIP ends a SCAN turn whose task rank 0 dealt with after the scan. */
enum { ACT_EXIT = 0, ACT_TASK = 1, ACT_IDLE = 2, ACT_SCAN = 3, ACT_SKIP = 4 };
enum { F_FAIL = 1, F_STOP = 2, F_CKPT = 4 };

/* What every rank needs to work on one task (broadcast by rank 0). */
typedef struct desc {
    uint64_t action;
    char *task_id, *input, *msg_id;
    mb_grid grid;                 /* ranks other than 0: no names; for ACT_SCAN
                                     only data_start and file_size */
    mb_qtask q;                   /* the query bound to this input */
    uint64_t nremain;
    uint64_t *remain;             /* chunks still to do, ascending */
    int resumed;                  /* rank 0: states come from a checkpoint */
    mb_input_id input_id;         /* rank 0: the input as it was when prepared */
    int fd;                       /* rank 0, ACT_SCAN: the input, open; else -1 */
    char grid_digest[MB_SHA256_HEX];
} desc;

typedef struct runner {
    mb_opts *o;
    mb_dist *d;
    mb_plan plan;
    mb_query query;               /* the job's query, parsed */
    mb_resume res;                /* rank 0: checkpoints and lease found at start */
    mb_claim cl;                  /* rank 0: the queue and the message in hand */
    int bound_once;               /* rank 0: the job has fit a file in this run */
    uint64_t tasks_done, bytes_done;
    double t0, last_ckpt, idle_since;
    pid_t ppid;                   /* the launcher, when started by one */
    int first_chunk_logged;
    int stop_unsaved;             /* the stop checkpoint was abandoned: exit 74, not 75 */
    mb_jobstat js;                /* rank 0: the status file */
    double last_count, last_status; /* rank 0: queue counted, status file written */
    int64_t counted_left;         /* rank 0: the last count, and the tasks ended by then */
    uint64_t ended_at_count;
} runner;

#define PROGRESS_S 5              /* between progress lines and status files */
#define QUEUE_COUNT_S 30          /* between approximate queue counts */

/* Rank 0's view of the task in hand, for progress lines. */
typedef struct progress {
    double t_begin;               /* this delivery's rounds began */
    uint64_t bytes_left;          /* of the chunks to do when they began */
    uint64_t bytes_new;           /* of remain[0 .. counted) */
    size_t counted;
    uint64_t rows0, bytes0;       /* rank 0's own chunks */
} progress;

typedef struct u64vec {
    uint64_t *v;
    size_t n, cap;
} u64vec;

static int vec_push(u64vec *a, uint64_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        uint64_t *p = mb_realloc(a->v, cap * sizeof *p);
        if (!p)
            return -1;
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

static void desc_init(desc *t)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

static void desc_fini(desc *t)
{
    free(t->task_id);
    free(t->input);
    free(t->msg_id);
    free(t->remain);
    mb_grid_fini(&t->grid);
    mb_qtask_fini(&t->q);
    if (t->fd >= 0)
        close(t->fd);
    desc_init(t);
}

/* Rank 0: the tasks this run rejected, poisoned by it or by the queue's
 * ceiling on deliveries. */
static uint64_t tasks_rejected(const runner *r)
{
    return mb_claim_rejected(&r->cl);
}

/* A dist tick: rank 0 keeps its lease while it waits for the others. */
static void renew_tick(void *ctx)
{
    runner *r = ctx;
    mb_claim_renew(&r->cl);
}

/* ---- rank 0: preparing a task ----------------------------------------- */

/* Decides which chunks remain: all of them, or those a checkpoint of this
 * task does not cover (when the checkpoint matches the grid). */
static mb_status plan_chunks(runner *r, desc *t)
{
    mb_ckpt_loaded *c = mb_resume_find(&r->res, t->task_id);
    size_t i, n = t->grid.nchunks;
    mb_buf b;
    mb_status st;

    if (mb_sha256_hex(t->grid.bounds, (n + 1) * sizeof *t->grid.bounds, t->grid_digest) !=
        MB_OK)
        return MB_EINTERNAL;
    /* the plan bound to this input's column types is part of the grid's
     * identity: states taken under other types do not resume */
    mb_buf_init(&b, SIZE_MAX / 2);
    st = mb_buf_put(&b, t->grid_digest, strlen(t->grid_digest));
    if (st == MB_OK)
        st = mb_buf_put(&b, t->q.plan->normal, strlen(t->q.plan->normal));
    if (st == MB_OK)
        st = mb_sha256_hex(b.p, b.len, t->grid_digest);
    mb_buf_fini(&b);
    if (st != MB_OK)
        return st == MB_ENOMEM ? MB_ENOMEM : MB_EINTERNAL;
    if (c && (c->meta.nchunks != n || c->meta.file_size != t->grid.file_size ||
              c->meta.chunk_size != r->o->chunk_size ||
              strcmp(c->meta.grid_digest, t->grid_digest) != 0)) {
        mb_warn("checkpoint %s no longer matches %s (file, chunk size or column types "
                "changed); task %s starts over", c->path, t->input, t->task_id);
        mb_resume_finish_task(&r->res, t->task_id);
        c = NULL;
    }
    t->remain = mb_malloc((n + 1) * sizeof *t->remain);
    if (!t->remain)
        return MB_ENOMEM;
    for (i = 0; i < n; i++)
        if (!c || !c->done[i])
            t->remain[t->nremain++] = i;
    assert(t->nremain <= n);
    t->resumed = c != NULL;
    if (c)
        mb_info("task %s: resuming from %s: %llu of %zu chunks already done", t->task_id,
                c->path, (unsigned long long)c->ndone, n);
    return MB_OK;
}

/* Files this large have their grid built by all ranks, one part each;
 * MPIBATCH_PARALLEL_GRID_MIN (bytes) changes it, so tests can use small
 * files. */
static uint64_t par_grid_min(void)
{
    const char *e = getenv("MPIBATCH_PARALLEL_GRID_MIN");
    char *end;
    unsigned long long v;

    if (e && *e) {
        errno = 0;
        v = strtoull(e, &end, 10);
        if (errno == 0 && *end == '\0')
            return (uint64_t)v;
    }
    return (uint64_t)32 << 20;
}

/* Every rank: part `rank` of the grid of the file at `path` whose data
 * start at data_start, gathered on rank 0 as (start, end, ok, n, v...) per
 * rank: *all and *counts as mb_dist_gather_u64. A rank that cannot read the
 * file sends a part that is not ok. */
static mb_status scan_part(runner *r, const char *path, uint64_t data_start, uint64_t size,
                           uint64_t **all, size_t **counts, mb_err *err)
{
    mb_grid head;
    mb_grid_part part;
    uint64_t *msg = NULL;
    mb_status st;
    int fd;

    memset(&head, 0, sizeof head);
    memset(&part, 0, sizeof part);
    head.data_start = data_start;
    head.file_size = size;
    if ((fd = open(path, O_RDONLY)) >= 0) {
        mb_err e2;
        if (mb_grid_part_scan(&head, path, fd, r->o->chunk_size, &r->plan.dialect,
                              (size_t)r->o->max_record, (size_t)r->d->rank,
                              (size_t)r->d->size, &part, &e2) != MB_OK)
            part.ok = 0;
        close(fd);
    }
    msg = mb_malloc((part.n + 4) * sizeof *msg);
    if (msg) {
        msg[0] = part.start;
        msg[1] = part.end;
        msg[2] = (uint64_t)part.ok;
        msg[3] = part.n;
        if (part.n)
            memcpy(msg + 4, part.v, part.n * sizeof *msg);
    }
    st = mb_dist_gather_u64(r->d, msg, msg ? part.n + 4 : 0, all, counts, err);
    free(msg);
    mb_grid_part_fini(&part);
    return st;
}

/* Rank 0: the parts gathered by scan_part joined into g's bounds; 1 when
 * they joined, 0 when the serial build must do it. */
static int join_parts(runner *r, uint64_t *all, const size_t *counts, mb_grid *g)
{
    size_t n = (size_t)r->d->size, at = 0, k;
    mb_grid_part *parts = mb_calloc(n, sizeof *parts);
    int joined = parts != NULL;

    for (k = 0; k < n && joined; k++) {
        uint64_t *m = all + at;
        if (counts[k] < 4 || m[3] != counts[k] - 4) {
            joined = 0;
            break;
        }
        parts[k].start = m[0];
        parts[k].end = m[1];
        parts[k].ok = m[2] == 1;
        parts[k].n = (size_t)m[3];
        parts[k].v = m + 4;       /* borrowed from `all` */
        at += counts[k];
    }
    joined = joined && mb_grid_join(g, parts, n);
    free(parts);
    return joined;
}

/* Rank 0: types t's columns from the head of its input (open as t->fd)
 * and binds the job's query to them. The query's own status when it
 * does not fit (MB_EUSAGE or MB_EJOB), MB_ENOENT when --columns names a
 * column the file does not have. */
static mb_status bind_query(runner *r, desc *t, mb_err *err)
{
    mb_sql_dtype *types = mb_calloc(t->grid.ncols ? t->grid.ncols : 1, sizeof *types);
    mb_status st = types ? MB_OK : mb_err_set(err, MB_ENOMEM, "out of memory");

    if (st == MB_OK && !r->plan.header && mb_query_noheader_names(t->grid.names,
                                                                  t->grid.ncols) != MB_OK)
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    if (st == MB_OK)
        st = mb_query_types(&r->query, &r->plan, t->fd, t->input, &t->grid, types, err);
    if (st == MB_OK)
        st = mb_query_bind(&r->query, t->grid.names, types, t->grid.ncols, &t->q, err);
    free(types);
    return st;
}

/* Rank 0, the grid of t built (st MB_OK; err otherwise): binds the query
 * to the file's columns and plans the chunks to do. Returns 1 with t->action
 * ACT_TASK, 0 when the message was dealt with (poisoned, released; t
 * emptied), -1 when the job itself is at fault (job_err says why; the
 * message was given back). */
static int finish_task(runner *r, desc *t, mb_status st, mb_err *err, mb_err *job_err)
{
    mb_status job_code = MB_EJOB;

    if (st == MB_OK) {
        st = bind_query(r, t, err);
        if (st == MB_EUSAGE || st == MB_EJOB) {
            job_code = st;           /* the query does not fit this input */
            st = MB_ENOENT;
        }
    }
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (st == MB_ENOENT && !r->bound_once && !mb_results_any(r->o->out)) {
        mb_err_prefix(err, "%s: ", t->input);
        mb_err_set(job_err, job_code, "the job does not fit its input: %s; no file has matched "
                   "the job yet (in this run or in --out), so the job is taken to be at fault "
                   "(the message is released, not poisoned): fix the job and run again",
                   err->msg);
        mb_claim_give_back(&r->cl);
        desc_fini(t);
        return -1;
    }
    if (st == MB_EDATA || st == MB_ELIMIT || st == MB_ENOENT) {
        if (strncmp(err->msg, t->input, strlen(t->input)) != 0)
            mb_err_prefix(err, "%s: ", t->input);
        mb_claim_poison(&r->cl, t->task_id, err->msg);
    } else if (st != MB_OK) {
        mb_claim_retry(&r->cl, t->task_id, err->msg);
    }
    if (st == MB_OK)
        r->bound_once = 1;
    if (st == MB_OK && plan_chunks(r, t) != MB_OK) {
        mb_error("task %s: out of memory", t->task_id);
        mb_claim_retry(&r->cl, t->task_id, "out of memory");
        st = MB_ENOMEM;
    }
    if (st != MB_OK) {
        desc_fini(t);
        return 0;
    }
    t->action = ACT_TASK;
    return 1;
}

/* Rank 0, t's input open: its chunk grid. A large file (and more than one
 * rank) gets only its head here, and t->action ACT_SCAN: the rest is
 * scanned by every rank in the turn's SCAN step (scan_grid). Otherwise the
 * grid is built serially and the task finished (finish_task's result). */
static int build_grid(runner *r, desc *t, uint64_t size, mb_err *job_err)
{
    mb_status st = MB_OK;
    mb_err err;

    if (r->d->size > 1 && size >= par_grid_min()) {
        st = mb_grid_head(&t->grid, t->input, t->fd, size, &r->plan.dialect, r->plan.header,
                          (size_t)r->o->max_record, &err);
        if (st == MB_OK && t->grid.data_start < size) {
            t->action = ACT_SCAN;
            return 1;
        }
        mb_grid_fini(&t->grid);     /* no head, or no data after it: no scan */
    }
    if (st == MB_OK)
        st = mb_grid_build(&t->grid, t->input, t->fd, size, r->o->chunk_size, &r->plan.dialect,
                           r->plan.header, (size_t)r->o->max_record, &err);
    return finish_task(r, t, st, &err, job_err);
}

/* Rank 0: prepares the task of the message in hand: parse, ledger check,
 * grid, binding, chunks to do. Returns 1 with t->action ACT_TASK (t
 * filled) or ACT_SCAN (t's grid still to be scanned) when there is work for
 * all ranks, 0 when the message was dealt with here (acknowledged,
 * poisoned, released), -1 when the job itself is at fault (job_err says
 * why; the message was given back). */
static int prepare_task(runner *r, desc *t, mb_err *job_err)
{
    const mb_msg *m = &r->cl.msg;
    mb_task task;
    mb_err err;
    mb_status st;
    mb_commit_state cs;
    struct stat sb;
    int fd;

    if ((st = mb_task_parse(m->body, m->body_len, r->o->data_root, &task, &err)) != MB_OK) {
        /* only a bad body is the message's fault; out of memory may pass */
        if (st == MB_ENOMEM)
            mb_claim_retry(&r->cl, NULL, err.msg);
        else
            mb_claim_poison(&r->cl, NULL, err.msg);
        return 0;
    }
    /* Acknowledged only if this job committed this very input; a ledger
     * entry of another job stops the run (the job is at fault, not the
     * file); a changed input is the file's fault; a damaged entry is
     * overwritten by processing the task again. */
    memset(&t->input_id, 0, sizeof t->input_id);
    if (stat(task.input, &sb) == 0)
        mb_input_id_from_stat(&sb, &t->input_id);
    st = mb_results_check(r->o->out, task.id, r->plan.fingerprint,
                          t->input_id.ino ? &t->input_id : NULL, &cs, &err);
    if (cs == MB_COMMIT_SAME) {
        mb_info("task %s: already committed; acknowledging the redelivered message %s",
                task.id, m->id);
        mb_claim_remove(&r->cl, task.id);
    } else if (cs == MB_COMMIT_OTHER_JOB) {
        *job_err = err;
        mb_claim_give_back(&r->cl);
    } else if (cs == MB_COMMIT_INPUT_CHANGED) {
        mb_claim_poison(&r->cl, task.id, err.msg);
    } else if (st != MB_OK) {
        mb_warn("%s; processing task %s again", err.msg, task.id);
    }
    if (cs == MB_COMMIT_SAME || cs == MB_COMMIT_OTHER_JOB || cs == MB_COMMIT_INPUT_CHANGED) {
        mb_task_fini(&task);
        return cs == MB_COMMIT_OTHER_JOB ? -1 : 0;
    }
    st = mb_fs_open_input(task.input, &fd, &sb, &err);
    if (st != MB_OK) {
        /* A FIFO or directory stays what it is; a missing file may yet come. */
        if (st == MB_EDATA)
            mb_claim_poison(&r->cl, task.id, err.msg);
        else
            mb_claim_retry(&r->cl, task.id, err.msg);
        mb_task_fini(&task);
        return 0;
    }
    t->fd = fd;
    t->input = task.input;          /* t owns it now */
    t->task_id = mb_strdup(task.id);
    t->msg_id = mb_strdup(m->id);
    if (!t->task_id || !t->msg_id) {
        mb_error("task %s: out of memory", task.id);
        mb_claim_retry(&r->cl, task.id, "out of memory");
        desc_fini(t);
        return 0;
    }
    return build_grid(r, t, (uint64_t)sb.st_size, job_err);
}

/* Rank 0: the action of this turn: ACT_TASK or ACT_SCAN with t filled,
 * ACT_IDLE (the queue is empty for now) or ACT_EXIT (empty long enough).
 * Another status (with ACT_EXIT) ends the run: the queue failed, or the job
 * is at fault; err says why. */
static mb_status next_action(runner *r, desc *t, mb_err *err)
{
    for (;;) {
        mb_status st = mb_claim_next(&r->cl, err);
        int ready = st == MB_OK ? prepare_task(r, t, err) : -1;
        if (ready > 0)
            return MB_OK;
        if (ready == 0)
            continue;            /* dealt with: the next message */
        t->action = ACT_EXIT;
        if (st != MB_EAGAIN)     /* the queue failed, or the job is at fault */
            return err->code ? err->code : MB_EQUEUE;
        if (r->idle_since == 0)
            r->idle_since = mb_now_s();
        if (mb_now_s() - r->idle_since < r->o->idle_exit)
            t->action = ACT_IDLE;
        return MB_OK;
    }
}

/* Every rank, ACT_SCAN: scans its part of t's grid. Rank 0 then joins the
 * parts, or builds the grid serially when they do not join, and finishes
 * the task: t->action becomes ACT_TASK, ACT_SKIP (the message was dealt
 * with) or ACT_EXIT with the status that ends the run (the job is at
 * fault). The other ranks learn which from the broadcast that follows. */
static mb_status scan_grid(runner *r, desc *t, mb_err *err)
{
    uint64_t *all = NULL;
    size_t *counts = NULL;
    uint64_t size = t->grid.file_size;
    mb_status st = scan_part(r, t->input, t->grid.data_start, size, &all, &counts, err);
    int joined, ready;
    mb_err e2;

    if (r->d->rank != 0)
        return st == MB_OK ? MB_OK : MB_EINTERNAL;
    joined = st == MB_OK && join_parts(r, all, counts, &t->grid);
    free(all);
    free(counts);
    st = MB_OK;
    if (joined) {
        mb_debug("%s: chunk grid built in %d parts", t->input, r->d->size);
    } else {
        mb_debug("%s: chunk grid parts did not join (a part began inside a field or a "
                 "record is too long); building it serially", t->input);
        mb_grid_fini(&t->grid);
        st = mb_grid_build(&t->grid, t->input, t->fd, size, r->o->chunk_size,
                           &r->plan.dialect, r->plan.header, (size_t)r->o->max_record, &e2);
    }
    ready = finish_task(r, t, st, &e2, err);
    t->action = ready > 0 ? ACT_TASK : ready == 0 ? ACT_SKIP : ACT_EXIT;
    return ready >= 0 ? MB_OK : err->code ? err->code : MB_EQUEUE;
}

/* ---- the turn's broadcast ------------------------------------------- */

/* The wire format of the turn's broadcast, rank 0 to every rank (values in
 * host byte order, strings as u64 length + bytes; base/pack.h):
 *
 *   u64 action                      ACT_EXIT, ACT_IDLE, ACT_SKIP: nothing more
 *   ACT_SCAN: str input, u64 data_start, u64 file_size
 *   ACT_TASK: str task_id, str input, str msg_id,
 *             u64 ncols, u64 nchunks, u64 file_size,
 *             u64 bounds[nchunks + 1], u64 nremain, u64 remain[nremain],
 *             the query's input columns (mb_qtask_pack)
 *
 * ACT_SCAN is followed, after the scan, by a second broadcast with the
 * ACT_TASK (or ACT_SKIP or ACT_EXIT) of the same turn. */
static mb_status desc_pack(const desc *t, mb_buf *b)
{
    mb_status st = mb_buf_put_u64(b, t->action);

    if (t->action == ACT_SCAN) {
        if (st == MB_OK) st = mb_buf_put_str(b, t->input);
        if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.data_start);
        if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.file_size);
        return st;
    }
    if (t->action != ACT_TASK)
        return st;
    if (st == MB_OK) st = mb_buf_put_str(b, t->task_id);
    if (st == MB_OK) st = mb_buf_put_str(b, t->input);
    if (st == MB_OK) st = mb_buf_put_str(b, t->msg_id);
    if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.ncols);
    if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.nchunks);
    if (st == MB_OK) st = mb_buf_put_u64(b, t->grid.file_size);
    if (st == MB_OK)
        st = mb_buf_put(b, t->grid.bounds, (t->grid.nchunks + 1) * sizeof *t->grid.bounds);
    if (st == MB_OK) st = mb_buf_put_u64(b, t->nremain);
    if (st == MB_OK && t->nremain)
        st = mb_buf_put(b, t->remain, t->nremain * sizeof *t->remain);
    if (st == MB_OK)
        st = mb_qtask_pack(&t->q, b);
    return st;
}

static mb_status desc_unpack(const runner *r, const mb_buf *b, desc *t)
{
    mb_rd rd;
    size_t i, nb;
    char **names = NULL;
    mb_sql_dtype *types = NULL;
    mb_status st;
    mb_err e2;

    desc_init(t);
    mb_rd_init(&rd, b->p, b->len);
    t->action = mb_rd_u64(&rd);
    if (rd.bad || t->action > ACT_SKIP)
        return MB_EINTERNAL;
    if (t->action == ACT_SCAN) {
        t->input = mb_rd_str(&rd, 65536);
        t->grid.data_start = mb_rd_u64(&rd);
        t->grid.file_size = mb_rd_u64(&rd);
        return rd.bad || !t->input ? MB_EINTERNAL : MB_OK;
    }
    if (t->action != ACT_TASK)
        return MB_OK;
    t->task_id = mb_rd_str(&rd, MB_TASK_ID_MAX);
    t->input = mb_rd_str(&rd, 65536);
    t->msg_id = mb_rd_str(&rd, 65536);
    t->grid.ncols = (size_t)mb_rd_u64(&rd);
    t->grid.nchunks = (size_t)mb_rd_u64(&rd);
    t->grid.file_size = mb_rd_u64(&rd);
    if (rd.bad || t->grid.nchunks > (SIZE_MAX / 8) - 1)
        return rd.nomem ? MB_ENOMEM : MB_EINTERNAL;
    nb = t->grid.nchunks + 1;
    t->grid.bounds = mb_malloc(nb * sizeof *t->grid.bounds);
    t->remain = mb_malloc(nb * sizeof *t->remain);
    if (!t->grid.bounds || !t->remain)
        return MB_ENOMEM;
    mb_rd_get(&rd, t->grid.bounds, nb * sizeof *t->grid.bounds);
    t->nremain = mb_rd_u64(&rd);
    if (rd.bad || t->nremain > t->grid.nchunks)
        return MB_EINTERNAL;
    mb_rd_get(&rd, t->remain, t->nremain * sizeof *t->remain);
    if (rd.bad)
        return MB_EINTERNAL;
    /* the same names and types give the same plan as on rank 0 */
    st = mb_qtask_unpack(&rd, t->grid.ncols, &names, &types);
    if (st == MB_OK && mb_query_bind(&r->query, names, types, t->grid.ncols, &t->q, &e2) != MB_OK)
        st = e2.code == MB_ENOMEM ? MB_ENOMEM : MB_EINTERNAL;
    for (i = 0; names && i < t->grid.ncols; i++)
        free(names[i]);
    free(names);
    free(types);
    return st;
}

/* The turn's broadcast: rank 0's t to every rank. A rank 0 that failed
 * (st), or cannot pack t, sends ACT_EXIT and returns its status; the other
 * ranks get t replaced by what arrived (MB_EINTERNAL when it is
 * malformed). */
static mb_status share(runner *r, desc *t, mb_buf *b, mb_status st, mb_err *err)
{
    b->len = 0;
    if (r->d->rank == 0) {
        if (st == MB_OK && (st = desc_pack(t, b)) != MB_OK)
            mb_err_set(err, st, st == MB_ENOMEM ? "out of memory for the task descriptor"
                                                : "task descriptor too large");
        if (st != MB_OK) {
            b->len = 0;
            (void)mb_buf_put_u64(b, ACT_EXIT);
            t->action = ACT_EXIT;          /* as the others are told */
        }
    }
    if (mb_dist_bcast(r->d, b, err) != MB_OK)
        return MB_EINTERNAL;
    if (r->d->rank != 0) {
        desc_fini(t);
        if ((st = desc_unpack(r, b, t)) != MB_OK)
            return mb_err_set(err, st, st == MB_ENOMEM ? "out of memory for the task descriptor"
                                                       : "malformed task descriptor");
    }
    return st;
}

/* ---- checkpoints ----------------------------------------------------- */

/* Collective: writes this rank's states and covered chunks. */
static mb_status checkpoint(runner *r, const desc *t, const mb_groups *g, const u64vec *mine,
                            mb_err *err)
{
    char dir[4200];
    mb_ckpt_meta meta;
    mb_ckpt_part part;
    mb_buf b;
    mb_status st = MB_OK;
    double secs = 0;
    uint64_t done = 0, total_bytes = 0;
    size_t i;

    mb_buf_init(&b, SIZE_MAX / 2);
    for (i = 0; i < g->n && st == MB_OK; i++)
        st = mb_groups_pack(g, i, &b);
    if (st != MB_OK)
        mb_err_set(err, st, "cannot pack the states for a checkpoint");
    memset(&meta, 0, sizeof meta);
    if (r->d->rank == 0) {
        snprintf(meta.fingerprint, sizeof meta.fingerprint, "%s", r->plan.fingerprint);
        snprintf(meta.task_id, sizeof meta.task_id, "%s", t->task_id);
        snprintf(meta.input, sizeof meta.input, "%s", t->input);
        snprintf(meta.msg_id, sizeof meta.msg_id, "%s", r->cl.msg.id);
        snprintf(meta.receipt, sizeof meta.receipt, "%s", r->cl.msg.receipt);
        snprintf(meta.grid_digest, sizeof meta.grid_digest, "%s", t->grid_digest);
        meta.file_size = t->grid.file_size;
        meta.chunk_size = r->o->chunk_size;
        meta.nchunks = t->grid.nchunks;
        meta.nstate = t->q.rows.nacc;
    }
    snprintf(dir, sizeof dir, "%s/%s", r->o->checkpoint_dir, t->task_id);
    if (r->d->rank == 0)
        meta.seq = mb_ckpt_last_seq(dir) + 1;
    part.states = b.p;
    part.states_len = b.len;
    part.chunks = mine->v;
    part.nchunks = mine->n;
    st = mb_dist_agree(r->d, st, err);
    if (st == MB_OK && (mb_dist_sum_u64(r->d, mine->n, &done) != MB_OK ||
                        mb_dist_sum_u64(r->d, b.len, &total_bytes) != MB_OK))
        st = mb_err_set(err, MB_EINTERNAL, "checkpoint size reduction failed");
    if (st == MB_OK)
        st = mb_ckpt_write(r->d, dir, &meta, &part, &secs, err);
    mb_buf_fini(&b);
    if (st != MB_OK && r->d->rank == 0)
        mb_err_prefix(err, "checkpoint %llu abandoned: ", (unsigned long long)meta.seq);
    if (st == MB_OK && r->d->rank == 0) {
        mb_info("task %s: checkpoint %llu written: %llu of %zu chunks, %.1f kB, %.3f s",
                t->task_id, (unsigned long long)meta.seq, (unsigned long long)done,
                t->grid.nchunks, (double)total_bytes / 1e3, secs);
        r->js.chunks_done = done;   /* exact, for the status file */
        /* Progress of this delivery: chunks beyond those it started with. */
        uint64_t before = t->grid.nchunks - t->nremain;
        mb_claim_note_progress(&r->cl, done > before ? done - before : 0);
    }
    r->last_ckpt = mb_now_s();
    return st;
}

/* ---- rank 0: commit ------------------------------------------------- */

/* Rank 0, after the reduction: takes the records skipped under
 * --max-bad-rows (marker groups, csv/reject.h) out of `result` and writes
 * the rejects file's bytes to `csv`, in file order, with their lines and
 * columns. More than max_bad_rows is the task's failure (MB_EDATA), naming
 * the first one too many in file order: every chunker kept its earliest
 * rejects in file order, so that one is the same on any rank count. */
static mb_status take_rejects(runner *r, const desc *t, mb_groups *result, mb_buf *csv,
                              uint64_t *nrej, mb_err *err)
{
    size_t n = 0, k = 0, i;
    mb_reject *v = NULL;
    uint64_t *offs = NULL;
    unsigned long *lines = NULL, *cols = NULL;
    mb_groups clean;
    mb_buf b;
    mb_status st = MB_OK;
    uint64_t max = r->plan.max_bad_rows;

    *nrej = 0;
    for (i = 0; i < result->n; i++)
        n += mb_reject_is(mb_groups_key(result, i), mb_groups_klen(result, i));
    if (n == 0)
        return MB_OK;
    v = mb_calloc(n, sizeof *v);
    offs = mb_calloc(n, sizeof *offs);
    lines = mb_calloc(n, sizeof *lines);
    cols = mb_calloc(n, sizeof *cols);
    if (!v || !offs || !lines || !cols) {
        st = mb_err_set(err, MB_ENOMEM, "out of memory for %zu rejected records", n);
        goto out;
    }
    for (i = 0; i < result->n; i++) {
        const char *key = mb_groups_key(result, i);
        size_t len = mb_groups_klen(result, i);
        if (mb_reject_is(key, len) && mb_reject_decode(key, len, &v[k++]) != MB_OK) {
            st = mb_err_set(err, MB_EINTERNAL, "a rejected record's key is malformed");
            goto out;
        }
    }
    qsort(v, n, sizeof *v, mb_reject_cmp);
    for (i = 0; i < n; i++)
        offs[i] = v[i].err_off;
    /* Over the limit, only the first one too many is located. */
    if (mb_csv_locate_file_many(t->input, n > max ? &offs[max] : offs, n > max ? 1 : n,
                                n > max ? &lines[max] : lines, n > max ? &cols[max] : cols) !=
        MB_OK) {
        st = mb_err_set(err, MB_EIO, "%s: cannot read it again to locate rejected records",
                        t->input);
        goto out;
    }
    if (n > max) {
        st = mb_err_set(err, MB_EDATA, "%s:%lu:%lu: %.*s (bad record %llu, more than "
                        "--max-bad-rows %llu)", t->input, lines[max], cols[max],
                        (int)v[max].reason_len, v[max].reason, (unsigned long long)max + 1,
                        (unsigned long long)max);
        goto out;
    }
    for (i = 0; i < n; i++) {
        v[i].line = lines[i];
        v[i].col = cols[i];
    }
    if ((st = mb_reject_csv(csv, t->input, v, n)) != MB_OK) {
        mb_err_set(err, st, "out of memory for the rejects file");
        goto out;
    }
    /* The result without the marker groups. */
    mb_buf_init(&b, SIZE_MAX / 2);
    st = mb_groups_init(&clean, result->needs, result->nstate, result->max_bytes);
    for (i = 0; i < result->n && st == MB_OK; i++)
        if (!mb_reject_is(mb_groups_key(result, i), mb_groups_klen(result, i)))
            st = mb_groups_pack(result, i, &b);
    if (st == MB_OK)
        st = mb_groups_unpack_merge(&clean, b.p, b.len, err);
    mb_buf_fini(&b);
    if (st != MB_OK) {
        mb_groups_fini(&clean);
        st = mb_err_set(err, st == MB_ELIMIT ? MB_ELIMIT : MB_ENOMEM,
                        "out of memory taking the rejected records out of the result");
        goto out;
    }
    mb_groups_fini(result);
    *result = clean;
    *nrej = n;
out:
    free(v);
    free(offs);
    free(lines);
    free(cols);
    return st;
}

static mb_status commit(runner *r, const desc *t, mb_groups *result, double t_start,
                        mb_err *err)
{
    mb_task_info info;
    mb_status st;
    double secs = mb_now_s() - t_start;
    uint64_t rows = 0, nrej = 0;
    mb_buf rej;

    mb_buf_init(&rej, SIZE_MAX / 2);
    if ((st = take_rejects(r, t, result, &rej, &nrej, err)) != MB_OK) {
        mb_buf_fini(&rej);
        return st;
    }
    for (size_t i = 0; i < result->n; i++)
        rows += (uint64_t)mb_groups_rec(result, i)->rows;
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
    info.input_id = t->input_id.ino ? &t->input_id : NULL;
    info.query = &t->q;
    info.rejected = nrej;
    info.rejects = rej.p;
    info.rejects_len = rej.len;
    st = mb_results_commit(r->o->out, &r->plan, result, &info, err);
    mb_buf_fini(&rej);
    if (st != MB_OK)
        return st;
    mb_fault_point("after-commit");
    mb_claim_remove(&r->cl, t->task_id);
    r->tasks_done++;
    r->bytes_done += t->grid.file_size;
    mb_info("task %s: committed %llu rows, %zu groups, %llu bad rows skipped, %.1f MB in "
            "%.2f s (%.0f MB/s); %llu tasks done, %.0f MB/s overall",
            t->task_id, (unsigned long long)rows, result->n, (unsigned long long)nrej,
            (double)t->grid.file_size / 1e6,
            secs, secs > 0 ? (double)t->grid.file_size / 1e6 / secs : 0.0,
            (unsigned long long)r->tasks_done,
            (double)r->bytes_done / 1e6 / (mb_now_s() - r->t0 > 0 ? mb_now_s() - r->t0 : 1));
    return MB_OK;
}

/* A failed task, as agreed by all ranks: rank 0 decides about the message.
 * Returns the status that should end the run, or MB_OK to go on. */
static mb_status task_failed(runner *r, const desc *t, mb_status st, mb_err *err)
{
    /* Bad data is deterministic: poison. An I/O error may pass: retry
     * later. Either way the run goes on; anything else ends it. */
    int bad_data = st == MB_EDATA || st == MB_ERANGE || st == MB_ELIMIT;

    if (r->d->rank != 0)
        return bad_data || st == MB_EIO ? MB_OK : st;
    if (bad_data) {
        mb_claim_poison(&r->cl, t->task_id, err->msg);
        return MB_OK;
    }
    if (st == MB_EIO) {
        mb_claim_retry(&r->cl, t->task_id, err->msg);
        return MB_OK;
    }
    mb_error("task %s: %s", t->task_id, err->msg);
    mb_claim_retry(&r->cl, t->task_id, "internal error");
    return st;
}

/* Rank 0 after the stop checkpoint: the message becomes visible again at
 * once (an Azure eviction notice is approved later, as the run ends). */
static void stop_task(runner *r, const desc *t)
{
    char why[256];

    mb_info("task %s: stopping on request (%s)", t->task_id,
            mb_preempt_reason(why, sizeof why));
    mb_claim_give_back(&r->cl);
}

/* ---- rank 0: progress and the status file ------------------------- */

static uint64_t chunk_bytes(const desc *t, uint64_t c)
{
    return t->grid.bounds[c + 1] - t->grid.bounds[c];
}

/* Rank 0: the tasks this run has ended, committed or rejected. */
static uint64_t tasks_ended(const runner *r)
{
    return r->tasks_done + tasks_rejected(r);
}

/* Rank 0: an approximate queue count, at most every QUEUE_COUNT_S (it is
 * a directory scan or a request); a failed count keeps the last one. */
static void count_queue(runner *r)
{
    int64_t left = 0, poisoned = 0;
    mb_err err;

    if (!r->cl.q || (r->last_count > 0 && mb_now_s() - r->last_count < QUEUE_COUNT_S))
        return;
    r->last_count = mb_now_s();
    if (mb_claim_count(&r->cl, &left, &poisoned, &err) != MB_OK) {
        mb_debug("progress: cannot count the queue: %s", err.msg);
        return;
    }
    r->counted_left = left;
    r->ended_at_count = tasks_ended(r);
    r->js.queue_poisoned = poisoned;
}

/* Rank 0: what is left, from the last count less the tasks this run ended
 * since (their messages are gone), so that it does not lag 30 s. */
static int64_t queue_left(const runner *r)
{
    uint64_t since = tasks_ended(r) - r->ended_at_count;

    if (r->last_count == 0 || r->counted_left < 0)
        return -1;
    return since >= (uint64_t)r->counted_left ? 0 : r->counted_left - (int64_t)since;
}

/* Rank 0: the status file with the run-wide figures brought up to date. */
static void status_write(runner *r, mb_jobstat_state state)
{
    r->js.state = state;
    r->js.tasks_done = r->tasks_done;
    r->js.tasks_rejected = tasks_rejected(r);
    r->js.queue_left = queue_left(r);
    r->last_status = mb_now_s();
    mb_jobstat_write(&r->js);
}

/* Rank 0: a task is about to be worked on. */
static void status_task(runner *r, const desc *t, progress *p)
{
    size_t i;

    memset(p, 0, sizeof *p);
    p->t_begin = mb_now_s();
    for (i = 0; i < t->nremain; i++)
        p->bytes_left += chunk_bytes(t, t->remain[i]);
    snprintf(r->js.task, sizeof r->js.task, "%s", t->task_id);
    snprintf(r->js.input, sizeof r->js.input, "%s", t->input);
    r->js.chunks_total = t->grid.nchunks;
    r->js.chunks_done = t->grid.nchunks - t->nremain;
    r->js.bytes_total = t->grid.file_size;
    r->js.bytes_done = t->grid.file_size - p->bytes_left;
    r->js.rows_per_s = r->js.mb_per_s = 0;
    r->js.eta_s = -1;
    count_queue(r);
    status_write(r, MB_JOBSTAT_RUNNING);
}

/* Rank 0, every PROGRESS_S: a progress line and the status file. Rank 0
 * knows only that the others are at most a round behind it, so the chunks
 * of rounds up to this one count as done (`done_new` of the remaining).
 * Rows are counted per rank and rank 0 knows only its own: the total is
 * estimated from its rows per byte times the bytes of the chunks done,
 * rather than with a collective for a log line. The rates are this
 * delivery's so far, and the ETA assumes they hold. */
static void progress_tick(runner *r, const desc *t, progress *p, size_t done_new)
{
    char eta[32], left[32], poisoned[32];
    double secs = mb_now_s() - p->t_begin, bps, rows;
    uint64_t todo;

    while (p->counted < done_new && p->counted < t->nremain)
        p->bytes_new += chunk_bytes(t, t->remain[p->counted++]);
    bps = secs > 0 ? (double)p->bytes_new / secs : 0;
    rows = p->bytes0 ? (double)p->rows0 / (double)p->bytes0 * (double)p->bytes_new : 0;
    todo = p->bytes_left > p->bytes_new ? p->bytes_left - p->bytes_new : 0;
    r->js.chunks_done = t->grid.nchunks - t->nremain + p->counted;
    r->js.bytes_done = t->grid.file_size - todo;
    r->js.mb_per_s = bps / 1e6;
    r->js.rows_per_s = secs > 0 ? rows / secs : 0;
    r->js.eta_s = bps > 0 ? (double)todo / bps : -1;
    count_queue(r);
    status_write(r, MB_JOBSTAT_RUNNING);
    mb_jobstat_fmt_eta(r->js.eta_s, eta, sizeof eta);
    snprintf(left, sizeof left, r->js.queue_left < 0 ? "?" : "~%lld",
             (long long)r->js.queue_left);
    snprintf(poisoned, sizeof poisoned, r->js.queue_poisoned < 0 ? "?" : "%lld",
             (long long)r->js.queue_poisoned);
    mb_info("task %s: %llu/%llu chunks, %.1f/%.1f MB, %.0f rows/s, %.1f MB/s, ETA %s; "
            "run: %llu tasks done, %llu rejected; queue: %s left, %s poisoned",
            t->task_id, (unsigned long long)r->js.chunks_done,
            (unsigned long long)r->js.chunks_total, (double)r->js.bytes_done / 1e6,
            (double)r->js.bytes_total / 1e6, r->js.rows_per_s, r->js.mb_per_s, eta,
            (unsigned long long)r->js.tasks_done, (unsigned long long)r->js.tasks_rejected,
            left, poisoned);
}

/* Rank 0, the queue empty for now: the status file says so, refreshed
 * every PROGRESS_S so that a long --idle-exit does not look stale. */
static void status_idle(runner *r)
{
    if (r->js.state == MB_JOBSTAT_IDLE && mb_now_s() - r->last_status < PROGRESS_S)
        return;
    r->js.task[0] = r->js.input[0] = '\0';
    r->js.chunks_done = r->js.chunks_total = r->js.bytes_done = r->js.bytes_total = 0;
    r->js.rows_per_s = r->js.mb_per_s = 0;
    r->js.eta_s = -1;
    count_queue(r);
    status_write(r, MB_JOBSTAT_IDLE);
}

/* Flags this rank contributes to a round, or to the agreement that opens
 * a turn (which acts on failure and stop only). */
static unsigned round_flags(runner *r, mb_status st, mb_err *err, mb_status *stp)
{
    unsigned f = 0;

    if (r->ppid > 1 && getppid() != r->ppid && st == MB_OK) {
        *stp = mb_err_set(err, MB_EINTERNAL, "the launcher (mpirun or srun) is gone; "
                          "stopping without committing");
        st = *stp;
    }
    if (st != MB_OK)
        f |= F_FAIL;
    if (mb_preempt_requested())
        f |= F_STOP;
    if (r->d->rank == 0 && r->o->checkpoint_dir &&
        mb_now_s() - r->last_ckpt >= r->o->checkpoint_interval)
        f |= F_CKPT;
    return f;
}

static void note_first_chunk(runner *r, const desc *t)
{
    if (r->d->rank != 0 || r->first_chunk_logged)
        return;
    r->first_chunk_logged = 1;
    if (t->resumed)
        mb_info("task %s: first new chunk done %.3f s after start", t->task_id,
                mb_now_s() - r->t0);
}

/* Acts on the flags every rank sent for a round: failure, checkpoint,
 * stop. Returns 1 when the rounds end here (same answer on every rank). */
static int round_end(runner *r, desc *t, mb_groups *local, u64vec *mine, unsigned all,
                     mb_status *st, mb_err *err)
{
    if (all & F_FAIL) {
        *st = mb_dist_agree(r->d, *st, err);
        return 1;
    }
    if ((all & (F_CKPT | F_STOP)) && r->o->checkpoint_dir) {
        /* Every rank gets the same status: the write agrees on it. The
         * work goes on without the checkpoint (the next one may succeed);
         * a stop still stops, but may not claim a complete checkpoint. */
        if (checkpoint(r, t, local, mine, err) != MB_OK) {
            r->stop_unsaved = (all & F_STOP) != 0;
            if (r->d->rank == 0)
                mb_warn("task %s: %s; %s", t->task_id, err->msg,
                        r->stop_unsaved ? "stopping without it"
                                        : "the task goes on, the previous checkpoint stays");
        }
    }
    if (all & F_STOP) {
        *st = *st == MB_OK ? mb_err_set(err, MB_ESTOP, "stopped on request") : *st;
        return 1;
    }
    return 0;
}

/* The aggregation rounds of one task on this rank; on success `local`
 * holds this rank's states. Round k: every rank does chunk k*size + rank
 * of the remaining ones. The
 * flags of round k travel while round k+1's chunk is worked on, and are
 * acted on after it, so a slow chunk on one rank does not stall the other
 * every round; a stop or failure still takes effect within two chunks, at
 * the same round on every rank. */
static mb_status rounds(runner *r, desc *t, mb_groups *local, u64vec *mine, mb_err *err)
{
    size_t size = (size_t)r->d->size, rank = (size_t)r->d->rank, k, nround;
    mb_chunker ck;
    mb_status st;
    uint64_t rows = 0;
    double last_log = mb_now_s();
    unsigned all = 0;
    int done = 0;
    progress prog;

    if (rank == 0)
        status_task(r, t, &prog);
    nround = (size_t)(t->nremain + size - 1) / size;
    st = mb_chunker_open(&ck, &r->plan, &t->q.rows, t->input, t->grid.ncols,
                         (size_t)r->o->max_record, err);
    ck.sqlnames = t->q.names;
    ck.max_bad = r->plan.max_bad_rows;
    for (k = 0; !done && (k < nround || (k == 0 && nround == 0)); k++) {
        size_t i = k * size + rank;
        unsigned flags;
        if (st == MB_OK && i < t->nremain) {
            uint64_t c = t->remain[i];
            assert(t->nremain <= t->grid.nchunks && c < t->grid.nchunks);
            st = mb_chunker_run(&ck, t->grid.bounds[c], t->grid.bounds[c + 1], local, &rows,
                                err);
            if (st == MB_OK && vec_push(mine, c) != 0)
                st = mb_err_set(err, MB_ENOMEM, "out of memory");
            if (st == MB_OK)
                note_first_chunk(r, t);
            if (rank == 0) {
                prog.rows0 = rows;
                prog.bytes0 += chunk_bytes(t, c);
            }
            mb_fault_point("after-chunk");
            mb_fault_sleep();
            if (rank == 0)
                mb_claim_renew(&r->cl);   /* a busy rank 0 must not let its lease lapse */
        }
        if (rank == 0 && mb_now_s() - last_log > PROGRESS_S) {
            last_log = mb_now_s();
            progress_tick(r, t, &prog, (k + 1) * size);
        }
        flags = round_flags(r, st, err, &st);
        if (mb_dist_flags_pending(r->d)) {
            if (mb_dist_flags_wait(r->d, &all, rank == 0 ? renew_tick : NULL, r, err) != MB_OK)
                st = MB_EINTERNAL;
            if ((done = round_end(r, t, local, mine, all, &st, err)) != 0)
                break;
        }
        if (mb_dist_flags_post(r->d, flags, err) != MB_OK)
            st = MB_EINTERNAL;
    }
    if (!done && mb_dist_flags_pending(r->d)) {
        if (mb_dist_flags_wait(r->d, &all, rank == 0 ? renew_tick : NULL, r, err) != MB_OK)
            st = MB_EINTERNAL;
        (void)round_end(r, t, local, mine, all, &st, err);
    }
    mb_chunker_close(&ck);
    return st;
}

static mb_status run_task(runner *r, desc *t, mb_err *err)
{
    mb_groups local, result;
    mb_status st = MB_OK;
    u64vec mine = {NULL, 0, 0};
    double t_start = mb_now_s();
    size_t cap = (size_t)r->o->max_groups_mb << 20;

    memset(&result, 0, sizeof result);
    /* agreed on below with the rest: a rank that returned alone would
     * leave the others waiting in the task's first collective */
    if (mb_groups_init(&local, t->q.rows.needs, t->q.rows.nacc, cap) != MB_OK)
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    if (r->d->rank == 0 && t->resumed) {
        mb_ckpt_loaded *c = mb_resume_find(&r->res, t->task_id);
        if (st == MB_OK)
            st = mb_groups_unpack_merge(&local, c->states, c->states_len, err);
        for (size_t i = 0; st == MB_OK && i < c->meta.nchunks; i++)
            if (c->done[i] && vec_push(&mine, i) != 0)
                st = mb_err_set(err, MB_ENOMEM, "out of memory");
        mb_resume_drop(&r->res, t->task_id);
    }
    r->last_ckpt = mb_now_s();
    r->first_chunk_logged = 0;
    st = mb_dist_agree(r->d, st, err);
    if (st == MB_OK)
        st = rounds(r, t, &local, &mine, err);
    free(mine.v);
    if (st == MB_ESTOP) {
        if (r->d->rank == 0)
            stop_task(r, t);
        mb_groups_fini(&local);
        return st;
    }
    if (st != MB_OK) {
        mb_groups_fini(&local);
        return task_failed(r, t, st, err);
    }
    double t_red = mb_now_s();
    size_t nlocal = local.n;
    st = mb_dist_reduce(r->d, &local, cap, &result, err);
    mb_debug("task %s: reduce of %zu local groups: %.3f s", t->task_id, nlocal, mb_now_s() - t_red);
    mb_groups_fini(&local);
    if (st != MB_OK) {
        mb_groups_fini(&result);
        return task_failed(r, t, st, err);
    }
    if (r->d->rank == 0) {
        mb_claim_renew(&r->cl);
        st = commit(r, t, &result, t_start, err);
        /* the answer is bad data too (a DECIMAL sum past 38 digits): it
         * would be the same on every try */
        if (st == MB_EDATA || st == MB_ERANGE) {
            st = task_failed(r, t, st, err);
        } else if (st != MB_OK) {
            mb_error("task %s: cannot commit the result: %s", t->task_id, err->msg);
            mb_claim_retry(&r->cl, t->task_id, "commit failed");
        }
    }
    mb_groups_fini(&result);
    /* A commit failure on rank 0 ends the run on every rank. */
    return mb_dist_agree(r->d, st, err);
}

/* ---- the loop ------------------------------------------------------- */

static mb_status setup(runner *r, mb_opts *o, mb_dist *d, mb_err *err)
{
    mb_preempt_opts po;
    mb_status st;

    memset(r, 0, sizeof *r);
    r->o = o;
    r->d = d;
    r->t0 = mb_now_s();
    /* Under a launcher, a changed parent means the launcher died: orphaned
     * ranks must not go on working beside a rerun. */
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("SLURM_STEP_ID"))
        r->ppid = getppid();
    memset(&po, 0, sizeof po);
    po.watch_events = mb_dist_node_leader(d);
    st = mb_plan_build(&r->plan, o, err);
    if (st == MB_OK)
        st = mb_query_open(&r->query, &r->plan, err);
    if (st == MB_OK)
        st = mb_preempt_init(&po, err);
    if (st == MB_OK && d->rank == 0) {
        st = mb_results_prepare(o->out, err);
        if (st == MB_OK)
            mb_delivery_sweep(o->out);
        if (st == MB_OK)
            st = mb_resume_open(&r->res, o->checkpoint_dir, r->plan.fingerprint, o->out,
                                o->fresh, err);
        if (st == MB_OK) {
            mb_err e2;
            if (mb_jobstat_init(&r->js, o->checkpoint_dir, o->out, o->queue, d->size, &e2) !=
                MB_OK)
                mb_warn("no status file: %s", e2.msg);
            status_write(r, MB_JOBSTAT_RUNNING);
        }
        if (st == MB_OK)
            st = mb_claim_open(&r->cl, o, &r->res, err);
    }
    return st;
}

/* One turn of the loop on every rank: the flags agreement, rank 0's
 * action broadcast, and the action's step, in the same order on every
 * rank. Returns MB_OK to go on, MB_EAGAIN when the run is over, or the
 * status that ends it. */
static mb_status turn(runner *r, mb_buf *b, mb_err *err)
{
    unsigned all = 0;
    mb_status st = MB_OK;
    uint64_t act;
    desc t;

    if (mb_dist_or_flags(r->d, round_flags(r, MB_OK, err, &st), &all, err) != MB_OK)
        return MB_EINTERNAL;
    if (all & F_FAIL)
        return mb_dist_agree(r->d, st, err);
    if (all & F_STOP)
        return mb_err_set(err, MB_ESTOP, "stopped on request");
    desc_init(&t);
    if (r->d->rank == 0)
        st = next_action(r, &t, err);
    st = share(r, &t, b, st, err);
    if (st == MB_OK && t.action == ACT_SCAN) {
        /* A rank whose gather failed leaves at once: MB_EINTERNAL aborts
         * the job, so rank 0 is not left waiting in the broadcast. */
        st = scan_grid(r, &t, err);
        if (st == MB_OK || r->d->rank == 0)
            st = share(r, &t, b, st, err);      /* the task, or that there is none */
    }
    /* A rank that could not decode the task says so before the task's
     * first collective, which the others would otherwise wait in. */
    if (t.action == ACT_TASK && (st = mb_dist_agree(r->d, st, err)) != MB_OK) {
        st = task_failed(r, &t, st, err);
    } else if (st == MB_OK && t.action == ACT_TASK) {
        r->idle_since = 0;
        st = run_task(r, &t, err);
    } else if (st == MB_OK && t.action == ACT_IDLE && r->d->rank == 0) {
        struct timespec ts = {0, 250000000};
        status_idle(r);
        nanosleep(&ts, NULL);
    }
    act = t.action;
    desc_fini(&t);
    if (st == MB_OK && act == ACT_EXIT)
        return MB_EAGAIN;
    return st;
}

/* Rank 0, the run over: the status file keeps the outcome. A run that
 * only rejected some tasks (exit 65) still drained the queue: done. */
static void status_end(runner *r, mb_status st, const mb_err *err)
{
    mb_jobstat_state state = MB_JOBSTAT_FAILED;

    if (st == MB_OK || (st == MB_EDATA && tasks_rejected(r)))
        state = MB_JOBSTAT_DONE;
    else if (st == MB_ESTOP || r->stop_unsaved)
        state = MB_JOBSTAT_STOPPED;
    if (state == MB_JOBSTAT_FAILED)
        snprintf(r->js.error, sizeof r->js.error, "%s", err->msg);
    if (state == MB_JOBSTAT_DONE) {
        r->js.task[0] = r->js.input[0] = '\0';
        r->js.chunks_done = r->js.chunks_total = r->js.bytes_done = r->js.bytes_total = 0;
    }
    r->js.rows_per_s = r->js.mb_per_s = 0;
    r->js.eta_s = -1;
    if (st != MB_EQUEUE) {     /* an unreachable queue would only retry again */
        r->last_count = 0;
        count_queue(r);
    }
    r->js.state = state;
    r->js.tasks_done = r->tasks_done;
    r->js.tasks_rejected = tasks_rejected(r);
    r->js.queue_left = queue_left(r);
    mb_jobstat_write(&r->js);
}

mb_status mb_run(mb_opts *o, mb_dist *d, mb_err *err)
{
    runner r;
    mb_status st = setup(&r, o, d, err);
    mb_buf b;
    char why[256];

    st = mb_dist_agree(d, st, err);
    mb_buf_init(&b, (size_t)1 << 30);
    if (st == MB_OK && d->rank == 0)
        mb_info("run: queue %s, %d ranks, out %s, job %s%s%s", o->queue, d->size, o->out,
                o->name ? o->name : (o->job ? o->job : "(command line)"),
                o->checkpoint_dir ? ", checkpoints in " : "",
                o->checkpoint_dir ? o->checkpoint_dir : "");
    while (st == MB_OK)
        st = turn(&r, &b, err);
    if (st == MB_EAGAIN)
        st = MB_OK;
    if (st == MB_ESTOP && r.stop_unsaved)
        st = mb_err_set(err, MB_EIO, "stopped on request (%s), but the stop checkpoint was "
                        "abandoned; exit 74: a rerun resumes from the previous checkpoint, if "
                        "any", mb_preempt_reason(why, sizeof why));
    if (d->rank == 0) {
        if (st == MB_OK || st == MB_ESTOP)
            mb_info("run: %s: %llu tasks committed, %llu rejected, %.1f MB in %.1f s",
                    st == MB_OK ? "done" : "stopped", (unsigned long long)r.tasks_done,
                    (unsigned long long)tasks_rejected(&r), (double)r.bytes_done / 1e6,
                    mb_now_s() - r.t0);
        if (st == MB_ESTOP)
            mb_err_set(err, MB_ESTOP, "stopped on request (%s); exit 75: requeue me",
                       mb_preempt_reason(why, sizeof why));
        if (st == MB_OK && tasks_rejected(&r))
            st = mb_err_set(err, MB_EDATA, "%llu task(s) rejected (bad data, or too many failed "
                            "deliveries); see the poison area of %s",
                            (unsigned long long)tasks_rejected(&r), o->queue);
        status_end(&r, st, err);
    }
    if (st == MB_ESTOP)
        mb_preempt_approve();
    mb_preempt_fini();
    mb_buf_fini(&b);
    mb_claim_fini(&r.cl);
    mb_resume_fini(&r.res);
    mb_jobstat_fini(&r.js);
    mb_query_fini(&r.query);
    mb_plan_fini(&r.plan);
    return st;
}
