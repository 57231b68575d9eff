/* fuzz_csv.c - libFuzzer harness: the fast CSV scanner (csv_scan.c) against the reference RFC 4180 reader (csv.c). */
/*
 * Input: one byte of dialect and error mode, one of max_cells, one of
 * expect, eight of the projection mask, then the buffer. Both readers (and
 * the projected reader mb_csv_scan_next_cols) read the buffer record by
 * record; any difference in status, cell count, cells (pointer, length,
 * flags), position, error offset or message aborts. The buffer is a heap
 * block of exactly its length, so ASan catches a read past the end.
 */
#include "csv/csv_scan.h"
#include "fuzz.h"

#define MAXC 80

static const char DELIMS[] = {',', ';', '\t', '|'};

typedef struct params {
    mb_csv_dialect d;
    size_t max, expect;
    uint64_t keep;
    int with_err;
} params;

static int same_cell(const mb_cell *a, const mb_cell *b)
{
    return a->p == b->p && a->len == b->len && a->quoted == b->quoted &&
           a->escaped == b->escaped;
}

/* A cell lies in the buffer, and unescaping it gives its bytes with each
 * doubled quote made single. */
static void check_cell(const mb_cell *c, const char *buf, size_t len, char quote)
{
    char out[256];
    size_t n, i, j = 0;

    FZ_CHECK(c->p >= buf && c->len <= len && (size_t)(c->p - buf) <= len - c->len,
             "cell outside the buffer");
    FZ_CHECK(!c->escaped || c->quoted, "an escaped cell that is not quoted");
    n = mb_csv_cell_unescape(c, out, sizeof out);
    if (c->len > sizeof out)
        return;
    FZ_CHECK(n != (size_t)-1 && n <= c->len, "unescape failed on a cell that fits");
    for (i = 0; i < c->len; i++) {
        if (c->escaped && c->p[i] == quote) {
            FZ_CHECK(i + 1 < c->len && c->p[i + 1] == quote, "a lone quote in an escaped cell");
            i++;
        }
        FZ_CHECK(j < n && out[j] == c->p[i], "unescape changed a byte");
        j++;
    }
    FZ_CHECK(j == n, "unescape length");
}

static void differ(const char *what, size_t rec, mb_status rs, mb_status fs)
{
    fz_fail("record %zu differs in %s (reference status %d, fast status %d)", rec, what,
            (int)rs, (int)fs);
}

static void compare(const char *buf, size_t len, const params *pr)
{
    mb_cell rc[MAXC], fc[MAXC], pc[MAXC];
    mb_csv r;
    mb_csv_scan f, pf;
    mb_err re, fe, pe;
    size_t rn = 0, fn = 0, pn = 0, k, rec;
    mb_status rs, fs, ps;

    mb_csv_init(&r, &pr->d, buf, len, 1000);
    mb_csv_scan_init(&f, &pr->d, buf, len, 1000);
    mb_csv_scan_init(&pf, &pr->d, buf, len, 1000);
    for (rec = 0; rec <= len + 1; rec++) {
        memset(&re, 0, sizeof re);
        memset(&fe, 0, sizeof fe);
        memset(&pe, 0, sizeof pe);
        rs = mb_csv_next(&r, rc, pr->max, &rn, pr->expect, pr->with_err ? &re : NULL);
        fs = mb_csv_scan_next(&f, fc, pr->max, &fn, pr->expect, pr->with_err ? &fe : NULL);
        ps = mb_csv_scan_next_cols(&pf, pc, pr->max, &pn, pr->expect, pr->keep,
                                   pr->with_err ? &pe : NULL);
        if (rs != fs || ps != rs)
            differ("status", rec, rs, rs != fs ? fs : ps);
        if (rn != fn || pn != rn)
            differ("cell count", rec, rs, fs);
        if (r.pos != f.pos || pf.pos != r.pos)
            differ("position", rec, rs, fs);
        FZ_CHECK(r.pos <= len, "position past the end");
        if (rs != MB_OK && rs != MB_EAGAIN) {
            if (r.err_off != f.err_off || pf.err_off != r.err_off)
                differ("error offset", rec, rs, fs);
            if (re.code != fe.code || strcmp(re.msg, fe.msg) != 0 || pe.code != re.code ||
                strcmp(pe.msg, re.msg) != 0)
                differ("error message", rec, rs, fs);
            FZ_CHECK(r.err_off >= 1000 && r.err_off <= 1000 + len, "error offset outside");
        }
        if (rs == MB_OK)
            FZ_CHECK(rn > 0 && rn <= pr->max, "MB_OK with %zu cells (max %zu)", rn, pr->max);
        for (k = 0; rs == MB_OK && k < rn; k++) {
            if (!same_cell(&rc[k], &fc[k]))
                differ("a cell", rec, rs, fs);
            if ((k >= 64 || ((pr->keep >> k) & 1)) && !same_cell(&rc[k], &pc[k]))
                differ("a projected cell", rec, rs, fs);
            check_cell(&rc[k], buf, len, pr->d.quote);
        }
        if (rs == MB_EAGAIN) {
            FZ_CHECK(rn == 0, "MB_EAGAIN with cells");
            fs = mb_csv_scan_next(&f, fc, pr->max, &fn, pr->expect, NULL);
            rs = mb_csv_next(&r, rc, pr->max, &rn, pr->expect, NULL);
            FZ_CHECK(fs == MB_EAGAIN && rs == MB_EAGAIN && fn == 0 && rn == 0,
                     "the end is not sticky");
            return;
        }
    }
    fz_fail("no end of the buffer after %zu records", rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t mode = fz_u8(&in);
    params pr;
    const uint8_t *body;
    size_t len;
    char *buf;

    pr.d.delim = DELIMS[mode & 3];
    pr.d.quote = (mode & 4) ? '\'' : '"';
    pr.with_err = !(mode & 8);
    pr.max = fz_u8(&in) % (MAXC + 1);
    pr.expect = fz_u8(&in) % 8;
    pr.keep = fz_u64(&in);
    body = fz_bytes(&in, in.n, &len);
    buf = fz_copy(body, len, 0);
    compare(buf, len, &pr);
    free(buf);
    return 0;
}
