/* fuzz_job.c - libFuzzer harness: job files (job.c through inih and cli.c's option table) and the plans built from them. */
/*
 * The input is a job file (kept in a memfd, read by path). Properties:
 *  - loading either works or fails with MB_EJOB and "FILE:LINE:COL: why",
 *    LINE and COL >= 1;
 *  - loaded options are within their documented ranges;
 *  - a plan built from them has trimmed, non-empty group and column names,
 *    distinct columns, each aggregate pointing at its column (count(*) at
 *    none) with that column's needs covering the aggregate's, and a
 *    SHA-256 fingerprint that building again reproduces;
 *  - the plan rebuilt from its own lists (as results are read back) has
 *    the same aggregates, and the same fingerprint for the default dialect.
 */
#include "cli/job.h"
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char path[64];

static void write_job(const uint8_t *p, size_t n)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz_job", 0);
        FZ_CHECK(memfd >= 0, "memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    }
    FZ_CHECK(ftruncate(memfd, 0) == 0 && (n == 0 || pwrite(memfd, p, n, 0) == (ssize_t)n),
             "cannot write the memfd");
}

static void check_load_error(const mb_err *e)
{
    size_t pl = strlen(path);
    unsigned long line = 0, col = 0;
    char colon = 0;

    FZ_CHECK(strncmp(e->msg, path, pl) == 0 && e->msg[pl] == ':',
             "a job-file error does not name the file: %s", e->msg);
    FZ_CHECK(sscanf(e->msg + pl, ":%lu:%lu%c", &line, &col, &colon) == 3 && colon == ':' &&
                 line >= 1 && col >= 1,
             "a job-file error without line and column: %s", e->msg);
}

static void check_opts(const mb_opts *o)
{
    FZ_CHECK(o->delimiter == ',' || o->delimiter == ';' || o->delimiter == '|' ||
                 o->delimiter == '\t',
             "delimiter 0x%02x", (unsigned)(unsigned char)o->delimiter);
    FZ_CHECK(o->header == 0 || o->header == 1, "header %d", o->header);
    FZ_CHECK(o->chunk_size >= 1, "chunk size 0");
    FZ_CHECK(o->checkpoint_interval >= 0 && o->idle_exit >= 0 && o->retry_deadline >= 0,
             "a negative time");
    FZ_CHECK(o->visibility_timeout >= 1 && o->visibility_timeout <= 604800,
             "visibility timeout %llu", (unsigned long long)o->visibility_timeout);
    FZ_CHECK(o->max_dequeue >= 1 && o->max_dequeue <= 1000, "max dequeue");
}

static int trimmed(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && s[0] != ' ' && s[0] != '\t' && s[n - 1] != ' ' && s[n - 1] != '\t';
}

static void check_plan(const mb_plan *p)
{
    size_t i, j;

    FZ_CHECK(p->ngroup >= 1 && p->nagg >= 1, "a plan with %zu groups, %zu aggregates",
             p->ngroup, p->nagg);
    for (i = 0; i < p->ngroup; i++)
        FZ_CHECK(trimmed(p->group[i]), "group name '%s'", p->group[i]);
    for (i = 0; i < p->ncol; i++) {
        FZ_CHECK(trimmed(p->cols[i]), "column name '%s'", p->cols[i]);
        for (j = 0; j < i; j++)
            FZ_CHECK(strcmp(p->cols[i], p->cols[j]) != 0, "column '%s' twice", p->cols[i]);
    }
    for (i = 0; i < p->nagg; i++) {
        const mb_aggspec *a = &p->aggs[i];
        unsigned need = mb_agg_needs(a->kind);

        FZ_CHECK(a->text && a->text[0], "an aggregate without its text");
        if (a->kind == MB_AGG_COUNT_STAR) {
            FZ_CHECK(a->column == NULL && p->agg_col[i] == SIZE_MAX, "count(*) with a column");
            continue;
        }
        FZ_CHECK(a->column && p->agg_col[i] < p->ncol &&
                     strcmp(p->cols[p->agg_col[i]], a->column) == 0,
                 "aggregate %zu does not point at its column", i);
        FZ_CHECK((p->needs[p->agg_col[i]] & need) == need, "aggregate %zu: needs not covered",
                 i);
    }
    FZ_CHECK(strlen(p->fingerprint) == 64 && strspn(p->fingerprint, "0123456789abcdef") == 64,
             "fingerprint '%s'", p->fingerprint);
}

static void check_lists(const mb_plan *p)
{
    char **texts = calloc(p->nagg, sizeof *texts);
    mb_plan q;
    mb_err e;
    size_t i;
    mb_status st;

    FZ_CHECK(texts != NULL, "out of memory");
    for (i = 0; i < p->nagg; i++)
        texts[i] = p->aggs[i].text;
    st = mb_plan_from_lists(&q, p->group, p->ngroup, texts, p->nagg, &e);
    FZ_CHECK(st == MB_OK, "the plan's own lists do not make a plan: %s", e.msg);
    FZ_CHECK(q.nagg == p->nagg && q.ngroup == p->ngroup && q.ncol == p->ncol,
             "the plan from lists has other counts");
    for (i = 0; i < p->nagg; i++)
        FZ_CHECK(q.aggs[i].kind == p->aggs[i].kind &&
                     !q.aggs[i].column == !p->aggs[i].column &&
                     (!q.aggs[i].column || strcmp(q.aggs[i].column, p->aggs[i].column) == 0) &&
                     strcmp(q.aggs[i].text, p->aggs[i].text) == 0,
                 "aggregate '%s' reads back as another", p->aggs[i].text);
    if (p->dialect.delim == ',' && p->header == 1)
        FZ_CHECK(strcmp(q.fingerprint, p->fingerprint) == 0,
                 "the same plan from lists has another fingerprint");
    mb_plan_fini(&q);
    free(texts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mb_opts o;
    mb_plan p, again;
    mb_err e;
    mb_status st;

    write_job(data, size);
    mb_opts_init(&o);
    o.job = strdup(path);
    FZ_CHECK(o.job != NULL, "out of memory");
    memset(&e, 0, sizeof e);
    st = mb_job_load(&o, &e);
    if (st != MB_OK) {
        FZ_CHECK(st == MB_EJOB, "job load: status %d: %s", (int)st, e.msg);
        check_load_error(&e);
        mb_opts_fini(&o);
        return 0;
    }
    check_opts(&o);
    if (o.group_by && o.agg) {
        st = mb_plan_build(&p, &o, &e);
        FZ_CHECK(st == MB_OK || st == MB_EJOB, "plan build: status %d: %s", (int)st, e.msg);
        if (st == MB_OK) {
            /* the job runs as the query its lists stand for */
            FZ_CHECK(p.agg && p.sql && p.ngroup == 0 && p.nagg == 0,
                     "an --agg plan without its lists or query");
            check_plan(p.agg);
            FZ_CHECK(mb_plan_build(&again, &o, &e) == MB_OK &&
                         strcmp(again.fingerprint, p.fingerprint) == 0,
                     "the same options give another fingerprint");
            mb_plan_fini(&again);
            check_lists(p.agg);
            mb_plan_fini(&p);
        }
    }
    mb_opts_fini(&o);
    return 0;
}
