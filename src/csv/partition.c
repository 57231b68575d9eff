/* partition.c - the chunk grid: streams one CSV file in bounded blocks, reads
 * its header record, and snaps fixed-size nominal boundaries forward to
 * record starts with the reader's state machine. It does not split data
 * records into fields, check field counts, or look at values. */
#include "csv/partition.h"

#include "csv/csv_scan.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK ((size_t)1 << 20)

enum { AT_FIELD, IN_PLAIN, IN_QUOTED, AFTER_QUOTE };

void mb_snap_init(mb_snap *s, const mb_csv_dialect *d, uint64_t off, uint64_t want,
                  uint64_t step, uint64_t max_record)
{
    s->d = *d;
    s->state = AT_FIELD;
    s->off = off;
    s->rec_start = off;
    s->max_record = max_record;
    s->want = want;
    s->step = step ? step : 1;
}

static int too_long(const mb_snap *s, uint64_t end)
{
    return s->max_record != 0 && end - s->rec_start > s->max_record;
}

/* Moves want past the record start r in whole steps: the nominal boundaries
 * skipped all lie in (previous start, r], so they snap to r, already taken. */
static void advance_want(mb_snap *s, uint64_t r)
{
    uint64_t k = (r - s->want) / s->step + 1;

    if (k > (UINT64_MAX - s->want) / s->step)
        s->want = UINT64_MAX;
    else
        s->want += k * s->step;
}

/* An LF outside quotes at file offset end - 1: a record ends, one starts. */
static mb_status record_end(mb_snap *s, uint64_t end, uint64_t *out, size_t *nout)
{
    if (too_long(s, end))
        return MB_ELIMIT;
    s->rec_start = end;
    if (end >= s->want) {
        out[(*nout)++] = end;
        advance_want(s, end);
    }
    return MB_OK;
}

#define WIN MB_CSV_SCAN_BLOCK

/* The smallest j in [i, end) holding byte c, or end. */
static size_t find_next(const char *b, size_t i, size_t end, char c)
{
    const char *p = i < end ? memchr(b + i, c, end - i) : NULL;
    return p ? (size_t)(p - b) : end;
}

/* Outside quotes only a quote at a field start changes the state, so jump
 * from quote to quote and visit the LFs in between. */
static mb_status scan_plain(mb_snap *s, const char *b, size_t *i, size_t len,
                            uint64_t *out, size_t *nout, size_t cap)
{
    size_t end = find_next(b, *i, len, s->d.quote), p = *i, lf;

    while (p < end && (lf = find_next(b, p, end, '\n')) < end) {
        p = lf + 1;
        if (record_end(s, s->off + p, out, nout) != MB_OK)
            return MB_ELIMIT;
        if (*nout == cap) {
            s->state = AT_FIELD;
            *i = p;
            return MB_OK;
        }
        /* The records that end before the next nominal boundary lie wholly
         * in this quote-free stretch, so none can be longer than max_record
         * when the stretch is not: jump to the boundary, keeping rec_start
         * (the start of the record the jump lands in) for later checks. */
        if (p < end && s->want > s->off + p &&
            (s->max_record == 0 || end - p <= s->max_record)) {
            uint64_t w = s->want - 1 - s->off;    /* an LF here or later ends it */
            size_t to = w < (uint64_t)end ? (size_t)w : end, k = to;
            while (k > p && b[k - 1] != '\n')
                k--;
            if (k > p)
                s->rec_start = s->off + k;
            p = to;
        }
    }
    if (end > *i)
        s->state = (b[end - 1] == s->d.delim || b[end - 1] == '\n') ? AT_FIELD : IN_PLAIN;
    if (end < len) {
        s->state = s->state == AT_FIELD ? IN_QUOTED : IN_PLAIN;
        end++;
    }
    *i = end;
    return MB_OK;
}

/* Quote-dense data, 64 bytes at a time: if every quote simply toggles
 * between inside and outside (a prefix XOR of the quote bits), the LFs
 * outside are the record ends. That equals the state machine's reading
 * exactly when every quote that opens stands at a field start (after a
 * delimiter, an LF or, for "" inside a field, a closing quote); where one
 * does not, the window is left to the state machine. Returns 1 when it took
 * buf[*i, *i + 64) (or stopped after a record start with *nout == cap), 0 to
 * leave it, -1 on a record over max_record. */
static int snap_window(mb_snap *s, const char *buf, size_t *i, uint64_t *out, size_t *nout,
                       size_t cap)
{
    uint64_t q, n, dl, x, open, close, prev, ends;

    mb_csv_classify(buf + *i, WIN, s->d.delim, s->d.quote, &ends, &q, &n);
    dl = ends & ~n;
    if (q == 0 && s->state != IN_QUOTED)
        return 0;                      /* sparse quotes: scan_plain jumps further */
    x = q;                             /* bit k: inside quotes after byte k */
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    if (s->state == IN_QUOTED)
        x = ~x;
    open = q & x;
    close = q & ~x;
    prev = ((dl | n | close) << 1) | (s->state == AT_FIELD ? 1u : 0u);
    if (open & ~prev)
        return 0;                      /* a quote inside an unquoted field */
    for (ends = n & ~x; ends; ends &= ends - 1) {
        size_t at = *i + (size_t)__builtin_ctzll(ends) + 1;
        if (record_end(s, s->off + at, out, nout) != MB_OK)
            return -1;
        if (*nout == cap) {
            s->state = AT_FIELD;
            *i = at;
            return 1;
        }
    }
    if (x >> 63)
        s->state = IN_QUOTED;
    else if (q >> 63)
        s->state = AFTER_QUOTE;
    else
        s->state = ((dl | n) >> 63) ? AT_FIELD : IN_PLAIN;
    *i += WIN;
    return 1;
}

/* The byte after a quote inside a quoted field: a doubled quote, the end of
 * the field, or (CR or junk) text the reader treats as unquoted. */
static mb_status after_quote(mb_snap *s, char c, uint64_t end, uint64_t *out,
                             size_t *nout)
{
    if (c == s->d.quote)
        s->state = IN_QUOTED;
    else if (c == s->d.delim)
        s->state = AT_FIELD;
    else if (c == '\n') {
        s->state = AT_FIELD;
        return record_end(s, end, out, nout);
    } else
        s->state = IN_PLAIN;
    return MB_OK;
}

mb_status mb_snap_feed(mb_snap *s, const char *buf, size_t len, size_t *used,
                       uint64_t *out, size_t *nout, size_t cap)
{
    size_t i = 0;
    mb_status st = MB_OK;

    while (st == MB_OK && i < len && *nout < cap) {
        if (s->state != AFTER_QUOTE && len - i >= WIN) {
            int w = snap_window(s, buf, &i, out, nout, cap);
            if (w < 0)
                st = MB_ELIMIT;
            if (w != 0)
                continue;
        }
        if (s->state == IN_QUOTED) {
            size_t q = find_next(buf, i, len, s->d.quote);
            i = q < len ? q + 1 : len;
            if (q < len)
                s->state = AFTER_QUOTE;
        } else if (s->state == AFTER_QUOTE) {
            i++;
            st = after_quote(s, buf[i - 1], s->off + i, out, nout);
        } else {
            st = scan_plain(s, buf, &i, len, out, nout, cap);
        }
    }
    *used = i;
    s->off += i;
    if (st == MB_OK && too_long(s, s->off))
        st = MB_ELIMIT;
    return st;
}

/* ---- the builder: file I/O around the snapper ---- */

typedef struct build {
    const char *path;
    int fd;
    uint64_t size;
    mb_csv_dialect d;
    size_t max_record;
    char *blk;             /* BLOCK bytes */
    uint64_t *v;           /* record starts found so far */
    size_t nv, capv;
    mb_err *err;
} build;

static mb_status read_at(build *b, uint64_t off, char *dst, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k = pread(b->fd, dst + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return mb_err_set(b->err, MB_EIO, "%s: %s", b->path,
                              k < 0 ? strerror(errno) : "file shrank while reading");
        got += (size_t)k;
    }
    return MB_OK;
}

static mb_status nomem(build *b)
{
    return mb_err_set(b->err, MB_ENOMEM, "%s: out of memory", b->path);
}

/* "path:line:col: msg" for the byte at file offset off. */
static mb_status fail_at(build *b, mb_status code, uint64_t off, const char *msg)
{
    unsigned long line, col;

    if (mb_csv_locate_file(b->path, off, &line, &col) != MB_OK)
        return mb_err_set(b->err, code, "%s: byte %" PRIu64 ": %s", b->path, off, msg);
    return mb_err_set(b->err, code, "%s:%lu:%lu: %s", b->path, line, col, msg);
}

static mb_status grow(build *b)
{
    size_t cap = b->capv ? b->capv : 1024, bytes;
    uint64_t *v;

    if ((b->capv && mb_size_mul(b->capv, 2, &cap) != 0) ||
        mb_size_mul(cap, sizeof *v, &bytes) != 0)
        return mb_err_set(b->err, MB_ENOMEM, "%s: too many chunks", b->path);
    v = mb_realloc(b->v, bytes);
    if (!v)
        return nomem(b);
    b->v = v;
    b->capv = cap;
    return MB_OK;
}

static mb_status snap_fail(build *b, const mb_snap *s)
{
    char msg[96];

    snprintf(msg, sizeof msg, "record longer than %zu bytes", b->max_record);
    return fail_at(b, MB_ELIMIT, s->rec_start, msg);
}

/* Streams the file from s->off until b->v holds `limit` record starts or
 * the file ends. */
static mb_status snap_stream(build *b, mb_snap *s, size_t limit)
{
    while (s->off < b->size && b->nv < limit) {
        uint64_t left = b->size - s->off;
        size_t n = left < BLOCK ? (size_t)left : BLOCK, done = 0, used;
        mb_status st = read_at(b, s->off, b->blk, n);

        while (st == MB_OK && done < n && b->nv < limit) {
            if (b->nv == b->capv)
                st = grow(b);
            if (st == MB_OK) {
                size_t cap = b->capv < limit ? b->capv : limit;
                st = mb_snap_feed(s, b->blk + done, n - done, &used, b->v, &b->nv, cap);
                if (st == MB_ELIMIT)
                    return snap_fail(b, s);
                done += used;
            }
        }
        if (st != MB_OK)
            return st;
    }
    return MB_OK;
}

/* Offset of the first byte at or after `off` that is not part of a blank
 * line (LF or CRLF), as the reader skips them. */
static mb_status skip_blank(build *b, uint64_t off, uint64_t *out)
{
    while (off < b->size) {
        uint64_t left = b->size - off;
        size_t n = left < BLOCK ? (size_t)left : BLOCK, i = 0;
        mb_status st = read_at(b, off, b->blk, n);

        if (st != MB_OK)
            return st;
        for (;;) {
            if (i < n && b->blk[i] == '\n')
                i++;
            else if (i + 1 < n && b->blk[i] == '\r' && b->blk[i + 1] == '\n')
                i += 2;
            else
                break;
        }
        /* Stop unless the block ran out, maybe between a CR and its LF. */
        if (i + 1 < n || off + n == b->size || (i < n && b->blk[i] != '\r')) {
            *out = off + i;
            return MB_OK;
        }
        off += i;
    }
    *out = b->size;
    return MB_OK;
}

static mb_status set_names(build *b, mb_grid *g, const mb_cell *cells, int header)
{
    size_t i;

    g->names = mb_calloc(g->ncols, sizeof *g->names);
    if (!g->names)
        return nomem(b);
    for (i = 0; i < g->ncols; i++) {
        size_t cap = header ? cells[i].len + 1 : 24;
        char *s = mb_malloc(cap);

        if (!s)
            return nomem(b);
        g->names[i] = s;
        if (header)
            s[mb_csv_cell_unescape(&cells[i], s, cap - 1)] = '\0';
        else
            snprintf(s, cap, "%zu", i + 1);
    }
    return MB_OK;
}

/* Parses the record [start, end) that holds the header (or first record). */
static mb_status parse_first(build *b, mb_grid *g, uint64_t start, uint64_t end,
                             int header)
{
    size_t len, ncap = 1, n, i, bytes;
    char *rec;
    mb_cell *cells = NULL;
    mb_csv r;
    mb_err e;
    mb_status st;

    if (end - start > SIZE_MAX - 1)
        return fail_at(b, MB_ELIMIT, start, "first record too large for memory");
    len = (size_t)(end - start); /* > 0: the record is not blank */
    if (!(rec = mb_malloc(len)))
        return nomem(b);
    if ((st = read_at(b, start, rec, len)) != MB_OK)
        goto out;
    for (i = 0; i < len; i++)
        ncap += (size_t)(rec[i] == b->d.delim); /* bounds the field count */
    if (mb_size_mul(ncap, sizeof *cells, &bytes) != 0 || !(cells = mb_malloc(bytes))) {
        st = nomem(b);
        goto out;
    }
    mb_csv_init(&r, &b->d, rec, len, start);
    st = mb_csv_next(&r, cells, ncap, &n, 0, &e);
    if (st == MB_OK) {
        g->ncols = n;
        st = set_names(b, g, cells, header);
    } else if (st == MB_EAGAIN) {
        st = mb_err_set(b->err, MB_EINTERNAL, "%s: first record vanished", b->path);
    } else {
        st = fail_at(b, st, r.err_off, e.msg);
    }
out:
    free(cells);
    free(rec);
    return st;
}

/* Finds and parses the first record; sets ncols, names and data_start. */
static mb_status read_head(build *b, mb_grid *g, int header)
{
    char bom[3];
    uint64_t blen = 0, start, end;
    mb_snap s;
    mb_status st;

    if (b->size >= 3) {
        if ((st = read_at(b, 0, bom, 3)) != MB_OK)
            return st;
        blen = mb_csv_bom_len(bom, 3);
    }
    if ((st = skip_blank(b, blen, &start)) != MB_OK)
        return st;
    if (start == b->size) {
        g->data_start = b->size;
        return MB_OK;
    }
    mb_snap_init(&s, &b->d, start, start + 1, 1, b->max_record);
    if ((st = snap_stream(b, &s, 1)) != MB_OK)
        return st;
    end = b->nv ? b->v[0] : b->size;
    b->nv = 0;
    g->data_start = header ? end : blen;
    return parse_first(b, g, start, end, header);
}

/* bounds = data_start, the snapped record starts before EOF, file_size. */
static mb_status set_bounds(build *b, mb_grid *g)
{
    size_t n = b->nv, i, bytes;

    if (n && b->v[n - 1] >= b->size)
        n--;
    if (g->data_start < b->size)
        n++;
    if (mb_size_mul(n + 1, sizeof *g->bounds, &bytes) == 0)
        g->bounds = mb_malloc(bytes);
    if (!g->bounds)
        return nomem(b);
    g->bounds[0] = g->data_start;
    for (i = 1; i < n; i++)
        g->bounds[i] = b->v[i - 1];
    g->bounds[n] = b->size;
    g->nchunks = n;
    for (i = 0; i < n; i++) {
        uint64_t w = g->bounds[i + 1] - g->bounds[i];
        assert(g->bounds[i] < g->bounds[i + 1]);   /* strictly increasing, as promised */
        if (w > SIZE_MAX)
            return fail_at(b, MB_ELIMIT, g->bounds[i], "chunk too large for memory");
        if (w > g->max_chunk)
            g->max_chunk = (size_t)w;
    }
    return MB_OK;
}

static int dialect_ok(const mb_csv_dialect *d)
{
    return d->delim != d->quote && d->delim != '\n' && d->delim != '\r' &&
           d->quote != '\n' && d->quote != '\r';
}

/* Sets b up to read `path`: the dialect checked, one block allocated. */
static mb_status build_open(build *b, const char *path, int fd, uint64_t size,
                            const mb_csv_dialect *d, size_t max_record, mb_err *err)
{
    static const mb_csv_dialect def = MB_CSV_DIALECT_DEFAULT;

    memset(b, 0, sizeof *b);
    b->path = path;
    b->fd = fd;
    b->size = size;
    b->d = d ? *d : def;
    b->max_record = max_record;
    b->err = err;
    if (!dialect_ok(&b->d))
        return mb_err_set(err, MB_EUSAGE, "%s: invalid CSV dialect", path);
    if (!(b->blk = mb_malloc(BLOCK)))
        return mb_err_set(err, MB_ENOMEM, "%s: out of memory", path);
    return MB_OK;
}

static void build_close(build *b)
{
    free(b->blk);
    free(b->v);
    b->blk = NULL;
    b->v = NULL;
}

/* Snaps [start, b->size) from a record start at `start`: appends to b->v
 * the record starts for the nominal boundaries ds + k * chunk past start. */
static mb_status snap_range(build *b, uint64_t ds, uint64_t start, uint64_t chunk, mb_snap *s)
{
    uint64_t q = (start - ds) / chunk + 1;
    uint64_t want = q > (UINT64_MAX - ds) / chunk ? UINT64_MAX : ds + q * chunk;

    mb_snap_init(s, &b->d, start, want, chunk, b->max_record);
    return snap_stream(b, s, SIZE_MAX);
}

mb_status mb_grid_build(mb_grid *g, const char *path, int fd, uint64_t size,
                        uint64_t chunk_size, const mb_csv_dialect *d, int header,
                        size_t max_record, mb_err *err)
{
    build b;
    mb_snap s;
    mb_status st;

    memset(g, 0, sizeof *g);
    g->file_size = size;
    if (chunk_size == 0)
        return mb_err_set(err, MB_EUSAGE, "%s: chunk size must be >= 1", path);
    st = build_open(&b, path, fd, size, d, max_record, err);
    if (st == MB_OK)
        st = read_head(&b, g, header);
    if (st == MB_OK && g->data_start < size)
        st = snap_range(&b, g->data_start, g->data_start, chunk_size, &s);
    if (st == MB_OK)
        st = set_bounds(&b, g);
    build_close(&b);
    if (st != MB_OK)
        mb_grid_fini(g);
    return st;
}

void mb_grid_fini(mb_grid *g)
{
    size_t i;

    if (!g)
        return;
    for (i = 0; g->names && i < g->ncols; i++)
        free(g->names[i]);
    free(g->names);
    free(g->bounds);
    memset(g, 0, sizeof *g);
}

/* ---- the grid in parts ---- */

mb_status mb_grid_head(mb_grid *g, const char *path, int fd, uint64_t size,
                       const mb_csv_dialect *d, int header, size_t max_record, mb_err *err)
{
    build b;
    mb_status st;

    memset(g, 0, sizeof *g);
    g->file_size = size;
    st = build_open(&b, path, fd, size, d, max_record, err);
    if (st == MB_OK)
        st = read_head(&b, g, header);
    build_close(&b);
    if (st != MB_OK)
        mb_grid_fini(g);
    return st;
}

/* The offset just past the first LF at or after `from`, or the file size. */
static mb_status after_lf(build *b, uint64_t from, uint64_t *out)
{
    while (from < b->size) {
        size_t n = b->size - from < BLOCK ? (size_t)(b->size - from) : BLOCK;
        const char *lf;
        mb_status st = read_at(b, from, b->blk, n);
        if (st != MB_OK)
            return st;
        if ((lf = memchr(b->blk, '\n', n)) != NULL) {
            *out = from + (uint64_t)(lf - b->blk) + 1;
            return MB_OK;
        }
        from += n;
    }
    *out = b->size;
    return MB_OK;
}

mb_status mb_grid_part_scan(const mb_grid *g, const char *path, int fd, uint64_t chunk_size,
                            const mb_csv_dialect *d, size_t max_record, size_t k,
                            size_t nparts, mb_grid_part *out, mb_err *err)
{
    build b;
    uint64_t ds = g->data_start, size = g->file_size, span = size > ds ? size - ds : 0;
    mb_status st;
    mb_snap s;

    memset(out, 0, sizeof *out);
    if (chunk_size == 0 || nparts == 0 || k >= nparts)
        return mb_err_set(err, MB_EUSAGE, "%s: bad grid part request", path);
    if ((st = build_open(&b, path, fd, size, d, max_record, err)) != MB_OK)
        return st;
    /* span * k / nparts without overflow: nparts is a rank count */
    out->start = ds;
    if (k > 0)
        st = after_lf(&b, ds + span / nparts * k + span % nparts * k / nparts, &out->start);
    out->end = size;
    if (st == MB_OK && k + 1 < nparts)
        st = after_lf(&b, ds + span / nparts * (k + 1) + span % nparts * (k + 1) / nparts,
                      &out->end);
    if (st == MB_OK && out->start >= out->end) {
        out->ok = 1;                   /* nothing here: the neighbours meet */
    } else if (st == MB_OK) {
        b.size = out->end;             /* snap up to where the next part starts */
        st = snap_range(&b, ds, out->start, chunk_size, &s);
        out->ok = st == MB_OK && (k + 1 == nparts ||
                                  (s.state == AT_FIELD && s.rec_start == out->end));
        if (st == MB_ELIMIT)
            st = MB_OK;                /* the serial build says where */
        out->v = b.v;
        out->n = b.nv;
        b.v = NULL;
    }
    build_close(&b);
    if (st != MB_OK)
        mb_grid_part_fini(out);
    return st;
}

void mb_grid_part_fini(mb_grid_part *p)
{
    if (!p)
        return;
    free(p->v);
    memset(p, 0, sizeof *p);
}

int mb_grid_join(mb_grid *g, const mb_grid_part *parts, size_t nparts)
{
    mb_err err;
    build b = {"", -1, g->file_size, MB_CSV_DIALECT_DEFAULT, 0, NULL, NULL, 0, 0, &err};
    size_t k, total = 0;
    uint64_t last = g->data_start;

    if (nparts == 0 || g->bounds || parts[0].start != g->data_start ||
        parts[nparts - 1].end != g->file_size)
        return 0;
    for (k = 0; k < nparts; k++) {
        if (!parts[k].ok || (k > 0 && parts[k].start != parts[k - 1].end))
            return 0;
        for (size_t i = 0; i < parts[k].n; i++) {
            if (parts[k].v[i] <= last)
                return 0;              /* not strictly increasing: not ours */
            last = parts[k].v[i];
        }
        total += parts[k].n;
    }
    if (total && !(b.v = mb_malloc(total * sizeof *b.v)))
        return 0;
    for (k = 0; k < nparts; k++) {
        if (parts[k].n)
            memcpy(b.v + b.nv, parts[k].v, parts[k].n * sizeof *b.v);
        b.nv += parts[k].n;
    }
    if (set_bounds(&b, g) != MB_OK) {
        free(g->bounds);
        g->bounds = NULL;
        g->nchunks = 0;
        g->max_chunk = 0;
        free(b.v);
        return 0;
    }
    free(b.v);
    return 1;
}
