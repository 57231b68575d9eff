/* chunk.c - read, parse and aggregate one chunk of a CSV file through the
 * job's query. The hot path of the program: one pread per chunk, zero-copy
 * cells, batches of records through the batch program (sql/vec.h), the
 * row layer (sql/rows.h) where it gives up. */
#include "csv/chunk.h"

#include "base/utf8.h"

#include "csv/reject.h"

#include "csv/csv_scan.h"
#include "base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

mb_status mb_chunker_open(mb_chunker *c, const mb_plan *p, mb_sql_rows *sql, const char *path,
                          size_t ncols, size_t max_record, mb_err *err)
{
    size_t nc = sql->plan->ncolumns;
    mb_status st;
    struct stat sb;

    memset(c, 0, sizeof *c);
    c->plan = p;
    c->sql = sql;
    c->path = path;
    c->ncols = ncols;
    c->fd = -1;
    /* the cap the --agg batches' keys had: a record's key stays far below */
    mb_buf_init(&c->key, max_record > SIZE_MAX / MB_BATCH ? SIZE_MAX : max_record * MB_BATCH);
    mb_buf_init(&c->rej, (size_t)4 << 10);
    for (size_t k = 0; k < nc && k < 64; k++)
        c->keep |= sql->plan->used[k] ? (uint64_t)1 << k : 0;
    if (!(c->cells = mb_calloc(ncols + 1, sizeof *c->cells)) ||
        !(c->sqlcols = mb_calloc(nc ? nc : 1, sizeof *c->sqlcols)) ||
        !(c->bcells = mb_calloc(MB_BATCH * (nc ? nc : 1), sizeof *c->bcells)) ||
        !(c->bat = mb_calloc(MB_BATCH, sizeof *c->bat)) ||
        !(c->brs = mb_calloc(MB_BATCH, sizeof *c->brs)) ||
        !(c->bre = mb_calloc(MB_BATCH, sizeof *c->bre)))
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    for (size_t k = 0; k < nc; k++)
        if (sql->plan->used[k])
            c->sqlcols[c->nsqlcols++] = k;
    if ((st = mb_sql_vec_new(sql, &c->vec, err)) != MB_OK)
        return st;
    st = mb_fs_open_input(path, &c->fd, &sb, err);
    /* Rank 0 saw a regular file; anything else now is a replaced input. */
    if (st == MB_ENOENT)
        st = err->code = MB_EIO;
    return st;
}

void mb_chunker_close(mb_chunker *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    free(c->cells);
    free(c->sqlcols);
    free(c->bcells);
    free(c->bat);
    free(c->brs);
    free(c->bre);
    mb_sql_vec_free(c->vec);
    c->sqlcols = NULL;
    c->bcells = NULL;
    c->bat = NULL;
    c->brs = NULL;
    c->bre = NULL;
    c->vec = NULL;
    mb_buf_fini(&c->key);
    mb_buf_fini(&c->rej);
    c->buf = NULL;
    c->cells = NULL;
    c->cap = 0;
}

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

/* A bad record (buf[c->rs, c->re), the error at file offset `at`): an
 * error as data_error reports it, or under --max-bad-rows a reject kept in
 * g (MB_OK; c->over once there are too many). */
static mb_status bad_record(mb_chunker *c, mb_groups *g, uint64_t base, uint64_t at,
                            mb_status code, const char *what, mb_err *err)
{
    size_t gi;
    mb_status st;

    if (!c->max_bad)
        return data_error(c->path, at, code, err, what);
    if (mb_reject_key(&c->rej, base + c->rs, at, c->buf + c->rs, c->re - c->rs, what) != MB_OK)
        return mb_err_set(err, MB_ENOMEM, "%s: out of memory for a rejected record", c->path);
    st = mb_groups_get(g, c->rej.p, c->rej.len, mb_groups_hash(c->rej.p, c->rej.len), &gi, err);
    if (st != MB_OK)
        return st;
    if (++c->nbad > c->max_bad)
        c->over = 1;
    return MB_OK;
}

static mb_status read_range(mb_chunker *c, uint64_t a, size_t n, mb_err *err)
{
    size_t got = 0;

    if (n > c->cap) {
        char *p = mb_realloc(c->buf, n);
        if (!p)
            return mb_err_set(err, MB_ENOMEM, "out of memory for a %zu-byte chunk", n);
        c->buf = p;
        c->cap = n;
    }
    while (got < n) {
        ssize_t k = pread(c->fd, c->buf + got, n - got, (off_t)(a + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return mb_err_set(err, MB_EIO, "%s: read at byte %llu: %s", c->path,
                              (unsigned long long)(a + got),
                              k == 0 ? "file shrank while being processed" : strerror(errno));
        got += (size_t)k;
    }
    return MB_OK;
}

/* Whether every field of an encoded key is valid UTF-8 without NUL (or,
 * with `nulls`, the NULL marker of the query engine, one 0x00 byte). */
static int key_text_ok(const char *key, size_t len, int nulls)
{
    size_t at = 0;
    uint32_t flen;

    while (at + sizeof flen <= len) {
        memcpy(&flen, key + at, sizeof flen);
        at += sizeof flen;
        if (nulls && flen == 1 && at < len && key[at] == '\0') {
            at++;
            continue;
        }
        if (flen > len - at || mb_utf8_valid_prefix((const unsigned char *)key + at, flen) != flen)
            return 0;
        at += flen;
    }
    return 1;
}

static mb_status sql_error(mb_chunker *c, mb_groups *g, const mb_cell *cells, long col,
                           uint64_t at, uint64_t base, mb_status st, bool folding,
                           const mb_err *e2, mb_err *err);

/* A --sql job: one record (c->cells, starting at file offset `at`)
 * through the row layer and, when WHERE keeps it, into g. A cell that is
 * not of its column's type is reported at the cell, any other error (an
 * overflow, a key that is not valid UTF-8) at the record. */
static mb_status sql_record(mb_chunker *c, mb_groups *g, uint64_t at, uint64_t base,
                            uint64_t *rows, mb_err *err)
{
    mb_sql_rows *r = c->sql;
    bool keep, folding = false;
    mb_err e2;
    mb_status st;

    c->key.len = 0;
    st = mb_sql_rows_apply(r, c->cells, &keep, &c->key, &e2);
    /* Under --max-bad-rows the key is checked before the fold, so that a
     * skipped record leaves no group behind. */
    if (st == MB_OK && keep && c->max_bad && !key_text_ok(c->key.p, c->key.len, 1))
        st = mb_err_set(&e2, MB_EDATA, "a group key that is not valid UTF-8");
    if (st == MB_OK && keep) {
        size_t ng = g->n;
        folding = true;
        st = mb_sql_rows_fold(r, g, c->key.p, c->key.len, &e2);
        if (st == MB_OK && g->n != ng && !key_text_ok(c->key.p, c->key.len, 1))
            st = mb_err_set(&e2, MB_EDATA, "a group key that is not valid UTF-8");
        if (st == MB_OK)
            (*rows)++;
    }
    if (st == MB_OK)
        return MB_OK;
    return sql_error(c, g, c->cells, r->col, at, base, st, folding, &e2, err);
}

/* Reports error e2 (status st) of a --sql record at file offset `at`: at
 * its cell cells[col] when col >= 0 (a cell not of its column's type), at
 * the record otherwise. Under --max-bad-rows a record whose error came
 * before its fold (`folding` false) is kept as a reject instead. */
static mb_status sql_error(mb_chunker *c, mb_groups *g, const mb_cell *cells, long col,
                           uint64_t at, uint64_t base, mb_status st, bool folding,
                           const mb_err *e2, mb_err *err)
{
    char what[MB_ERR_MAX];

    if (st == MB_ENOMEM || st == MB_ELIMIT)
        return mb_err_set(err, st, "%s: %s", c->path, e2->msg);
    if (col >= 0) {
        const mb_cell *cell = &cells[col];
        snprintf(what, sizeof what, "column '%s': %s", c->sqlnames ? c->sqlnames[col] : "?",
                 e2->msg);
        at = base + (uint64_t)(cell->p - c->buf) - (cell->quoted ? 1 : 0);
    } else {
        snprintf(what, sizeof what, "%s", e2->msg);
    }
    /* A fold that failed half way (an accumulator out of its exact range)
     * cannot be undone: that stays an error of the task. */
    if (folding || (st != MB_EDATA && st != MB_ERANGE))
        return data_error(c->path, at, st == MB_ERANGE ? MB_ERANGE : MB_EDATA, err, what);
    return bad_record(c, g, base, at, st == MB_ERANGE ? MB_ERANGE : MB_EDATA, what, err);
}

/* Under --max-bad-rows a record whose key is not valid UTF-8 is a reject,
 * which the batch program cannot skip: such a batch goes record by record
 * (nothing of it is folded yet). Without the option the fold reports it. */
static bool keys_ok(const mb_chunker *c)
{
    for (size_t j = 0; c->max_bad && j < mb_sql_vec_kept(c->vec); j++) {
        size_t len;
        const char *key = mb_sql_vec_key(c->vec, j, &len);
        if (!key_text_ok(key, len, 1))
            return false;
    }
    return true;
}

/* A --sql job: the batch of records in c->bcells through the batch
 * program and into g, in input order; when the program meets an error in
 * any record, the batch goes through the row layer record by record
 * instead (nothing of it was folded yet), which reports the error the row
 * path reports, at the record or cell where it always did. */
static mb_status sql_flush(mb_chunker *c, mb_groups *g, uint64_t base, uint64_t *rows,
                           mb_err *err)
{
    size_t n = c->nb, stride = c->sql->plan->ncolumns;
    mb_err e2;
    mb_status st;

    c->nb = 0;
    if (n == 0)
        return MB_OK;
    if (mb_sql_vec_apply(c->vec, c->bcells, stride, n, &e2) == MB_OK && keys_ok(c)) {
        size_t kept = mb_sql_vec_kept(c->vec);
        /* every group first, then every fold: the states' cache misses of
         * a batch overlap (a failed lookup fails the task, so no fold of
         * the records before it is missed) */
        mb_sql_vec_prefetch(c->vec, g);
        for (size_t j = 0; j < kept; j++) {
            size_t ng = g->n, len;
            const char *key = mb_sql_vec_key(c->vec, j, &len);
            st = mb_sql_vec_locate(c->vec, j, g, &e2);
            if (st == MB_OK && g->n != ng && !key_text_ok(key, len, 1))
                st = mb_err_set(&e2, MB_EDATA, "a group key that is not valid UTF-8");
            if (st != MB_OK)
                return sql_error(c, g, c->cells, -1, c->bat[mb_sql_vec_record(c->vec, j)], base,
                                 st, true, &e2, err);
        }
        for (size_t j = 0; j < kept; j++) {
            if ((st = mb_sql_vec_fold(c->vec, j, g, &e2)) != MB_OK)
                return sql_error(c, g, c->cells, -1, c->bat[mb_sql_vec_record(c->vec, j)], base,
                                 st, true, &e2, err);
            (*rows)++;
        }
        return MB_OK;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < c->nsqlcols; k++)
            c->cells[c->sqlcols[k]] = c->bcells[i * stride + c->sqlcols[k]];
        c->rs = c->brs[i];
        c->re = c->bre[i];
        if ((st = sql_record(c, g, c->bat[i], base, rows, err)) != MB_OK || c->over)
            return st;
    }
    return MB_OK;
}

mb_status mb_chunker_run(mb_chunker *c, uint64_t a, uint64_t b, mb_groups *g, uint64_t *rows,
                         mb_err *err)
{
    const mb_plan *p = c->plan;
    size_t n = 0;
    mb_csv_scan csv;           /* the fast reader, tested against csv.c */
    mb_status st, fst;
    mb_err e2;

    if (b < a || b - a > SIZE_MAX)
        return mb_err_set(err, MB_EINTERNAL, "bad chunk range");
    if ((st = read_range(c, a, (size_t)(b - a), err)) != MB_OK)
        return st;
    mb_csv_scan_init(&csv, &p->dialect, c->buf, (size_t)(b - a), a);
    c->nb = 0;
    if (c->over)
        return MB_OK;          /* too many rejects: the task has failed */
    for (;;) {
        size_t rs = mb_csv_skip_blank(c->buf, csv.pos, (size_t)(b - a)), re;
        uint64_t at = a + rs;
        st = mb_csv_scan_next_cols(&csv, c->cells, c->ncols + 1, &n, c->ncols, c->keep, &e2);
        re = csv.pos;
        if (st != MB_OK) {
            /* the records before an error are folded first, so that their
             * own errors and rejects come in file order */
            if (c->vec && (fst = sql_flush(c, g, a, rows, err)) != MB_OK)
                return fst;
            if (st == MB_EAGAIN || c->over)
                return MB_OK;
            /* MB_ELIMIT is "too many fields": more than ncols + 1, a wrong
             * field count like any other (the reader is past the record) */
            if (st != MB_EDATA && st != MB_ELIMIT)
                return data_error(c->path, csv.err_off, MB_EDATA, err, e2.msg);
            c->rs = rs;
            c->re = re;
            if ((st = bad_record(c, g, a, csv.err_off, MB_EDATA, e2.msg, err)) != MB_OK ||
                c->over)
                return st;
            continue;
        }
        if (!c->vec) {
            c->rs = rs;
            c->re = re;
            if ((st = sql_record(c, g, at, a, rows, err)) != MB_OK || c->over)
                return st;
            continue;
        }
        {
            size_t stride = c->sql->plan->ncolumns;
            for (size_t k = 0; k < c->nsqlcols; k++)
                c->bcells[c->nb * stride + c->sqlcols[k]] = c->cells[c->sqlcols[k]];
            c->brs[c->nb] = rs;
            c->bre[c->nb] = re;
            c->bat[c->nb++] = at;
        }
        if (c->nb == MB_BATCH && ((st = sql_flush(c, g, a, rows, err)) != MB_OK || c->over))
            return st;
    }
}
