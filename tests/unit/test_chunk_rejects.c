/* test_chunk_rejects.c - TAP tests of the chunker under --max-bad-rows
 * (csv/chunk.c, csv/reject.h), driving the query `SELECT k, count(*),
 * sum(v) ... GROUP BY k` as a rank does: a bad record becomes one marker
 * group and touches no real group (no row, no state, no new key); the
 * chunker keeps at most max_bad + 1 rejects and then stops (`over`); split
 * into chunks the same file gives the same rejects; with max_bad 0 the
 * first bad record is an error as always; a group key that is not valid
 * UTF-8 or holds a NUL is an error at its record. Reads a temporary file;
 * no MPI. */
#include "csv/chunk.h"
#include "csv/reject.h"
#include "base/fsutil.h"
#include "sql/ast.h"
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

static char *names[] = {"k", "v"};
static const mb_sql_column cols[] = {{"k", {MB_SQL_T_VARCHAR, 0, 0}},
                                     {"v", {MB_SQL_T_BIGINT, 0, 0}}};

/* A chunker over `path` (header "k,v"): the query bound to k VARCHAR and
 * v BIGINT, its row layer, and an empty group table. */
typedef struct setup {
    mb_plan p;
    mb_sql_query *q;
    mb_sql_plan *sp;
    mb_sql_rows r;
    mb_groups g;
    mb_chunker c;
} setup;

static mb_status setup_open(setup *s, uint64_t max_bad, mb_err *err)
{
    const char *sql = "SELECT k, count(*), sum(v) FROM input GROUP BY k";
    mb_status st;

    memset(s, 0, sizeof *s);
    s->c.fd = -1;
    s->p.dialect.delim = ',';
    s->p.dialect.quote = '"';
    s->p.header = 1;
    if ((st = mb_sql_parse(sql, "--sql", &s->q, err)) != MB_OK ||
        (st = mb_sql_bind(s->q, cols, 2, &s->sp, err)) != MB_OK ||
        (st = mb_sql_rows_init(&s->r, s->sp, err)) != MB_OK ||
        (st = mb_groups_init(&s->g, s->r.needs, s->r.nacc, SIZE_MAX)) != MB_OK)
        return st;
    st = mb_chunker_open(&s->c, &s->p, &s->r, path, 2, 1 << 20, err);
    s->c.sqlnames = names;
    s->c.max_bad = max_bad;
    return st;
}

static void setup_close(setup *s)
{
    mb_chunker_close(&s->c);
    mb_groups_fini(&s->g);
    mb_sql_rows_fini(&s->r);
    mb_sql_plan_free(s->sp);
    mb_sql_query_free(s->q);
}

/* Aggregates text (header "k,v") in chunks cut at the byte offsets `cuts`
 * (record starts, ascending, 0-ended). */
static run_out chunk_text(const char *text, uint64_t max_bad, const uint64_t *cuts)
{
    setup s;
    mb_groups *g = &s.g;
    mb_err err;
    run_out o;
    size_t len = strlen(text), i;
    uint64_t at = 4;          /* after "k,v\n" */

    memset(&o, 0, sizeof o);
    mb_fs_write_file(path, text, len, &err);
    o.st = setup_open(&s, max_bad, &err);
    for (i = 0; o.st == MB_OK && at < len; i++) {
        uint64_t end = cuts && cuts[i] ? cuts[i] : len;
        o.st = mb_chunker_run(&s.c, at, end, g, &o.rows, &err);
        at = end;
    }
    if (o.st != MB_OK)
        snprintf(o.err, sizeof o.err, "%s", err.msg);
    o.over = s.c.over;
    for (i = 0; i < g->n; i++) {
        const char *key = mb_groups_key(g, i);
        size_t kl = mb_groups_klen(g, i);
        mb_reject r;
        if (mb_reject_is(key, kl)) {
            if (mb_reject_decode(key, kl, &r) == MB_OK && o.rejects < 16)
                o.reject_offs[o.rejects] = r.rec_off;
            o.rejects++;
        } else {
            o.groups++;
            if (kl == 5 && key[4] == 'a')
                o.rows_of_a = mb_groups_rec(g, i)->rows;
        }
    }
    qsort(o.reject_offs, o.rejects < 16 ? o.rejects : 16, sizeof *o.reject_offs, u64_cmp);
    setup_close(&s);
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
    ok(z.st == MB_EDATA && z.rejects == 0 && strstr(z.err, ":3:3: column 'v': 'x' is not a BIGINT"),
       "max_bad 0: the first bad record is an error with line:column (%s)", z.err);
}

/* Aggregates `len` bytes of text (header "k,v", may hold NUL bytes) in
 * one chunk without --max-bad-rows; the status, and the message in err. */
static mb_status chunk_file(const char *data, size_t len, mb_err *err)
{
    setup s;
    uint64_t rows = 0;
    mb_status st;

    mb_fs_write_file(path, data, len, err);
    st = setup_open(&s, 0, err);
    if (st == MB_OK)
        st = mb_chunker_run(&s.c, 4, len, &s.g, &rows, err);
    setup_close(&s);
    return st;
}

#define TEXT(s) s, sizeof s - 1     /* a literal that may hold NUL bytes */

static void test_keys(void)
{
    static const struct {
        const char *text;
        size_t len;
        const char *want, *what;
    } cases[] = {
        {TEXT("k,v\na,1\nb,2\nx\0y,3\n"), ":4:1: a NUL byte in a group key", "a NUL byte in a key"},
        {TEXT("k,v\na,1\n\"q\xe9\",2\n"), ":3:1: a group key that is not valid UTF-8",
         "Latin-1 in a quoted key"},
        {TEXT("k,v\nab\xc0\xaf,1\n"), ":2:1: a group key that is not valid UTF-8",
         "an overlong UTF-8 form"},
        {TEXT("k,v\n\xed\xa0\x80,1\n"), ":2:1: a group key that is not valid UTF-8",
         "a UTF-16 surrogate"},
        {TEXT("k,v\n\xe2\x82,1\n"), ":2:1: a group key that is not valid UTF-8",
         "a truncated sequence"},
        {TEXT("k,v\na,1\na,2\nb\xff,3\n"), ":4:1: a group key that is not valid UTF-8",
         "an invalid byte in a later new group"},
    };
    mb_err err;
    mb_status st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st = chunk_file(cases[i].text, cases[i].len, &err);
        ok(st == MB_EDATA && strstr(err.msg, cases[i].want),
           "%s: a data error at its record's line:column (%s)", cases[i].what, err.msg);
    }
    st = chunk_file(TEXT("k,v\n\xc3\xa4,1\n\"\xe2\x82\xacx\"\"\",2\n\xf0\x9f\x98\x80,3\n"), &err);
    ok(st == MB_OK, "valid UTF-8 keys (2, 3 and 4 bytes, quoted and escaped) pass (%s)",
       st == MB_OK ? "ok" : err.msg);
}

int main(void)
{
    int fd = mkstemp(path);
    if (fd >= 0)
        close(fd);
    test_skip();
    test_over();
    test_keys();
    unlink(path);
    return tap_done();
}
