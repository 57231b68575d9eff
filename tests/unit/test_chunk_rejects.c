/* test_chunk_rejects.c - TAP tests of the chunker under --max-bad-rows
 * (csv/chunk.c, csv/reject.h): a bad record becomes one marker group and
 * touches no real group (no row, no state, no new key); the chunker keeps
 * at most max_bad + 1 rejects and then stops (`over`); split into chunks
 * the same file gives the same rejects; with max_bad 0 the first bad
 * record is an error as always. Reads a temporary file; no MPI. */
#include "csv/chunk.h"
#include "csv/reject.h"
#include "base/fsutil.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[] = "/tmp/mb_test_rejXXXXXX";

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

typedef struct run_out {
    mb_status st;
    size_t groups, rejects;
    int over;
    uint64_t rows;
    int64_t rows_of_a;
    uint64_t reject_offs[16];
    char err[MB_ERR_MAX];
} run_out;

/* Aggregates text (header "k,v") grouped by k with count(*), sum(v), in
 * chunks cut at the byte offsets `cuts` (record starts, ascending, 0-ended). */
static run_out chunk_text(const char *text, uint64_t max_bad, const uint64_t *cuts)
{
    char *names[] = {"k", "v"}, *group[] = {"k"}, *aggs[] = {"count(*)", "sum(v)"};
    mb_plan p;
    mb_binding b;
    mb_chunker c;
    mb_groups g;
    mb_err err;
    run_out o;
    size_t len = strlen(text), i;
    uint64_t at = 4;          /* after "k,v\n" */

    memset(&o, 0, sizeof o);
    mb_fs_write_file(path, text, len, &err);
    mb_plan_from_lists(&p, group, 1, aggs, 2, &err);
    mb_plan_bind(&p, names, 2, &b, &err);
    mb_groups_init(&g, p.needs, p.ncol, SIZE_MAX);
    o.st = mb_chunker_open(&c, &p, &b, NULL, path, 2, 1 << 20, &err);
    c.max_bad = max_bad;
    for (i = 0; o.st == MB_OK && at < len; i++) {
        uint64_t end = cuts && cuts[i] ? cuts[i] : len;
        o.st = mb_chunker_run(&c, at, end, &g, &o.rows, &err);
        at = end;
    }
    if (o.st != MB_OK)
        snprintf(o.err, sizeof o.err, "%s", err.msg);
    o.over = c.over;
    for (i = 0; i < g.n; i++) {
        const char *key = mb_groups_key(&g, i);
        size_t kl = mb_groups_klen(&g, i);
        mb_reject r;
        if (mb_reject_is(key, kl)) {
            if (mb_reject_decode(key, kl, &r) == MB_OK && o.rejects < 16)
                o.reject_offs[o.rejects] = r.rec_off;
            o.rejects++;
        } else {
            o.groups++;
            if (kl == 5 && key[4] == 'a')
                o.rows_of_a = mb_groups_rec(&g, i)->rows;
        }
    }
    qsort(o.reject_offs, o.rejects < 16 ? o.rejects : 16, sizeof *o.reject_offs, u64_cmp);
    mb_chunker_close(&c);
    mb_groups_fini(&g);
    mb_binding_fini(&b);
    mb_plan_fini(&p);
    return o;
}

/* "a" has a good and a bad record: the bad one must not count for it. */
static const char text[] = "k,v\n"        /* 0 */
                           "a,1\n"        /* 4 */
                           "a,x\n"        /* 8: not a number */
                           "b,2,3\n"      /* 12: three fields */
                           "new,y\n"      /* 18: a key seen nowhere else */
                           "\"c\n\",z\n" /* 24: quoted multi-line key, bad value */
                           "b,4\n";       /* 32 */

static void test_skip(void)
{
    static const uint64_t cuts[] = {12, 24, 0}, one[] = {0};
    run_out o = chunk_text(text, 10, one), s = chunk_text(text, 10, cuts);

    ok(o.st == MB_OK && o.rows == 2 && o.rejects == 4 && !o.over,
       "4 bad records are kept as rejects, the 2 good ones are folded (st %d, rows %llu, "
       "rejects %zu)", (int)o.st, (unsigned long long)o.rows, o.rejects);
    ok(o.groups == 2 && o.rows_of_a == 1,
       "a bad record leaves no group behind and no row in its key's group (groups %zu, a %lld)",
       o.groups, (long long)o.rows_of_a);
    ok(o.reject_offs[0] == 8 && o.reject_offs[1] == 12 && o.reject_offs[2] == 18 &&
           o.reject_offs[3] == 24, "the rejects are the records at 8, 12, 18 and 24");
    ok(s.st == MB_OK && s.rejects == 4 && memcmp(s.reject_offs, o.reject_offs,
                                                 sizeof o.reject_offs) == 0 && s.rows == 2,
       "the same in three chunks");
}

static void test_over(void)
{
    run_out o = chunk_text(text, 2, NULL);
    run_out z = chunk_text(text, 0, NULL);

    ok(o.st == MB_OK && o.over && o.rejects == 3 && o.reject_offs[2] == 18,
       "max_bad 2: the third reject is kept, then the chunker stops (over %d, rejects %zu)",
       o.over, o.rejects);
    ok(z.st == MB_EDATA && z.rejects == 0 && strstr(z.err, ":3:3: column 'v': 'x' is not a number"),
       "max_bad 0: the first bad record is an error with line:column (%s)", z.err);
}

int main(void)
{
    int fd = mkstemp(path);
    if (fd >= 0)
        close(fd);
    test_skip();
    test_over();
    unlink(path);
    return tap_done();
}
