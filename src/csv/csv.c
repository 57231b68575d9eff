/* csv.c - the reference RFC 4180 reader: splits an in-memory buffer into
 * zero-copy cells, plus offset -> line:column lookup. Kept deliberately plain
 * (a byte loop, memchr inside quotes, no SIMD, no allocation) because the
 * fast scanner and the partition snapper are tested against it. */
#include "csv/csv.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOCATE_BLOCK ((size_t)1 << 16)

void mb_csv_init(mb_csv *r, const mb_csv_dialect *d, const char *buf, size_t len,
                 uint64_t base)
{
    static const mb_csv_dialect def = MB_CSV_DIALECT_DEFAULT;

    r->d = d ? *d : def;
    /* A delimiter or quote that is also a line-ending byte, or a delimiter
     * equal to the quote, makes the grammar ambiguous; callers validate. */
    assert(r->d.delim != r->d.quote);
    assert(r->d.delim != '\n' && r->d.delim != '\r');
    assert(r->d.quote != '\n' && r->d.quote != '\r');
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    r->base = base;
    r->err_off = base;
}

size_t mb_csv_bom_len(const char *buf, size_t len)
{
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
        (unsigned char)buf[2] == 0xBF)
        return 3;
    return 0;
}

/* Only the first error of a record is reported: later ones are usually
 * consequences of the first, and a stable choice keeps the fast scanner and
 * the chunked parse comparable with this reader. */
static void fail(mb_csv *r, mb_status *st, mb_err *err, size_t at, mb_status code,
                 const char *msg)
{
    if (*st != MB_OK)
        return;
    r->err_off = r->base + at;
    *st = mb_err_set(err, code, "%s", msg);
}

/* Index of the delimiter or LF that ends an unquoted field, or len. */
static size_t plain_end(const char *b, size_t i, size_t len, char delim)
{
    while (i < len && b[i] != delim && b[i] != '\n')
        i++;
    return i;
}

static size_t plain_field(const mb_csv *r, size_t i, mb_cell *c)
{
    const char *b = r->buf;
    size_t end = plain_end(b, i, r->len, r->d.delim);

    c->p = b + i;
    c->len = end - i;
    /* The CR of a CRLF belongs to the line ending, not to the last field. */
    if (end < r->len && b[end] == '\n' && c->len > 0 && b[end - 1] == '\r')
        c->len--;
    return end;
}

/* Scans the quoted field opening at b[i]; returns the index of the byte that
 * ends it (delimiter, LF, or len). After a malformed closing the rest of the
 * field is skipped as if unquoted, which is also what the snapper assumes. */
static size_t quoted_field(mb_csv *r, size_t i, mb_cell *c, mb_status *st, mb_err *err)
{
    const char *b = r->buf;
    size_t len = r->len, j = i + 1, k;
    const char *hit;

    c->quoted = 1;
    c->p = b + j;
    for (;;) {
        hit = memchr(b + j, r->d.quote, len - j);
        if (!hit) {
            c->len = len - (i + 1);
            fail(r, st, err, i, MB_EDATA, "unterminated quoted field");
            return len;
        }
        j = (size_t)(hit - b);
        if (j + 1 < len && b[j + 1] == r->d.quote) {
            c->escaped = 1;
            j += 2;
            continue;
        }
        break;
    }
    c->len = j - (i + 1);
    k = j + 1;
    if (k == len || b[k] == r->d.delim || b[k] == '\n')
        return k;
    if (b[k] == '\r' && k + 1 < len && b[k + 1] == '\n')
        return k + 1;
    fail(r, st, err, k, MB_EDATA, "unexpected text after closing quote");
    return plain_end(b, k, len, r->d.delim);
}

mb_status mb_csv_next(mb_csv *r, mb_cell *cells, size_t max_cells, size_t *ncells,
                      size_t expect, mb_err *err)
{
    const char *b = r->buf;
    size_t len = r->len, i = mb_csv_skip_blank(b, r->pos, len), rec = i, n = 0;
    mb_status st = MB_OK;

    *ncells = 0;
    if (i >= len) {
        r->pos = len;
        return MB_EAGAIN;
    }
    for (;;) {
        mb_cell c = {NULL, 0, 0, 0};
        size_t start = i;

        if (n == max_cells)
            fail(r, &st, err, start, MB_ELIMIT, "too many fields");
        if (i < len && b[i] == r->d.quote)
            i = quoted_field(r, i, &c, &st, err);
        else
            i = plain_field(r, i, &c);
        if (n < max_cells)
            cells[n] = c;
        n++;
        if (i < len && b[i] == r->d.delim) {
            i++;
            continue;
        }
        break; /* at the LF or the end of the buffer */
    }
    r->pos = i < len ? i + 1 : len;
    *ncells = n < max_cells ? n : max_cells;
    if (st == MB_OK && expect != 0 && n != expect) {
        r->err_off = r->base + rec;
        st = mb_err_set(err, MB_EDATA, "expected %zu fields, found %zu", expect, n);
    }
    return st;
}

size_t mb_csv_cell_unescape(const mb_cell *c, char *out, size_t cap)
{
    size_t i, n = 0;
    char q;

    if (!c->escaped) {
        if (c->len > cap)
            return (size_t)-1;
        if (c->len)
            memcpy(out, c->p, c->len);
        return c->len;
    }
    /* The cell carries no dialect, but a quoted cell starts right after its
     * opening quote, so that byte tells which quote character is doubled. */
    q = c->p[-1];
    for (i = 0; i < c->len; i++) {
        if (n == cap)
            return (size_t)-1;
        out[n++] = c->p[i];
        if (c->p[i] == q) /* inside an escaped cell every quote is doubled */
            i++;
    }
    return n;
}

/* Line counting shared by the in-memory and the on-disk lookup. */
typedef struct loc {
    unsigned long line;
    uint64_t line_start;   /* file offset of the first byte of `line` */
} loc;

static void loc_feed(loc *l, const char *b, size_t n, uint64_t base)
{
    const char *p = b, *e = b + n;

    while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        p++;
        l->line++;
        l->line_start = base + (uint64_t)(p - b);
    }
}

/* Editors do not show the BOM, so columns on line 1 start after it. */
static unsigned long loc_col(const loc *l, uint64_t off, size_t bom)
{
    uint64_t start = l->line_start;

    if (start == 0 && off >= bom)
        start = bom;
    return (unsigned long)(off - start + 1);
}

void mb_csv_locate(const char *buf, size_t len, uint64_t off, unsigned long *line,
                   unsigned long *col)
{
    loc l = {1, 0};
    size_t end = off < len ? (size_t)off : len;

    loc_feed(&l, buf, end, 0);
    *line = l.line;
    *col = loc_col(&l, end, mb_csv_bom_len(buf, len));
}

static ssize_t read_full(int fd, char *b, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k = read(fd, b + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

mb_status mb_csv_locate_file_many(const char *path, const uint64_t *offs, size_t n,
                                  unsigned long *lines, unsigned long *cols)
{
    loc l = {1, 0};
    uint64_t pos = 0;
    size_t bom = 0, i;
    char *b = mb_malloc(LOCATE_BLOCK);
    int fd = open(path, O_RDONLY | O_NONBLOCK);   /* never wait on a FIFO */
    mb_status st = MB_OK;
    int eof = 0;

    for (i = 0; i < n; i++)
        lines[i] = cols[i] = 0;
    if (!b || fd < 0) {
        st = b ? MB_EIO : MB_ENOMEM;
        goto out;
    }
    {
        /* the BOM is known before the first offset, however close to 0 */
        ssize_t k = pread(fd, b, 3, 0);
        bom = k > 0 ? mb_csv_bom_len(b, (size_t)k) : 0;
    }
    for (i = 0; i < n; i++) {
        if (i > 0 && offs[i] < offs[i - 1]) {
            st = MB_EINTERNAL;
            goto out;
        }
        while (!eof && pos < offs[i]) {
            uint64_t left = offs[i] - pos;
            size_t want = left < LOCATE_BLOCK ? (size_t)left : LOCATE_BLOCK;
            ssize_t k = read_full(fd, b, want);
            if (k < 0) {
                st = MB_EIO;
                goto out;
            }
            loc_feed(&l, b, (size_t)k, pos);
            pos += (uint64_t)k;
            eof = (size_t)k < want;   /* offsets past the end are clamped to it */
        }
        lines[i] = l.line;
        cols[i] = loc_col(&l, pos, bom);
    }
out:
    if (fd >= 0)
        close(fd);
    free(b);
    return st;
}

mb_status mb_csv_locate_file(const char *path, uint64_t off, unsigned long *line,
                             unsigned long *col)
{
    loc l = {1, 0};
    uint64_t pos = 0;
    size_t bom = 0;
    char *b = mb_malloc(LOCATE_BLOCK);
    int fd = open(path, O_RDONLY | O_NONBLOCK);   /* never wait on a FIFO */
    mb_status st = MB_OK;

    *line = 0;
    *col = 0;
    if (!b || fd < 0) {
        st = b ? MB_EIO : MB_ENOMEM;
        goto out;
    }
    while (pos < off) {
        uint64_t left = off - pos;
        size_t want = left < LOCATE_BLOCK ? (size_t)left : LOCATE_BLOCK;
        ssize_t k = read_full(fd, b, want);
        if (k < 0) {
            st = MB_EIO;
            goto out;
        }
        if (pos == 0)
            bom = mb_csv_bom_len(b, (size_t)k);
        loc_feed(&l, b, (size_t)k, pos);
        pos += (uint64_t)k;
        if ((size_t)k < want)
            break; /* an offset past the end is clamped to the end */
    }
    *line = l.line;
    *col = loc_col(&l, pos, bom);
out:
    if (fd >= 0)
        close(fd);
    free(b);
    return st;
}
