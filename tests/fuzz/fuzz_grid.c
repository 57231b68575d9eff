/* fuzz_grid.c - libFuzzer harness: the chunk grid (partition.c) against record starts found with the reference reader. */
/*
 * Input: dialect byte, chunk size (2 bytes), flags (header, parts, cap),
 * a record cap byte, a feeding seed byte, then the file. Properties:
 *  - grid bounds start at data_start, end at the file size, strictly ascend,
 *    and are exactly the nominal offsets snapped forward to record starts
 *    (record starts found independently by reading the file with csv.c);
 *  - the records read chunk by chunk are the records of one serial read
 *    (same statuses, cells and error offsets, cell for cell);
 *  - the snapper fed in random pieces finds the same record starts;
 *  - a record cap fails exactly when some record is longer, at its start;
 *  - the grid built in parts and joined is the serial grid.
 * The file lives in a memfd, so no file system is touched.
 */
#include "csv/partition.h"
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#define MAXCELLS 512
#define STARTS_MAX 8192

static const char DELIMS[] = {',', ';', '\t', '|'};
static int memfd = -1;
static char path[64];

typedef struct tc {
    const char *buf;
    size_t len;
    mb_csv_dialect d;
    int header;
    uint64_t chunk;
    size_t maxrec;
    size_t nparts;
    uint32_t seed;
} tc;

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* is[p] = 1 when a reader started at p reads what the serial read from
 * `from` reads from there on: p == from, p == len, or p follows an LF that
 * is not inside a record the serial read saw (blank lines in front of a
 * record are outside it). */
static unsigned char *record_starts(const tc *t, size_t from)
{
    static mb_cell cells[MAXCELLS];
    unsigned char *is = calloc(t->len + 1, 1);
    size_t p, n, s, a;
    mb_csv r;

    FZ_CHECK(is != NULL, "out of memory");
    for (p = from + 1; p <= t->len; p++)
        is[p] = t->buf[p - 1] == '\n';
    is[from] = 1;
    is[t->len] = 1;
    mb_csv_init(&r, &t->d, t->buf + from, t->len - from, from);
    for (;;) {
        a = r.pos;
        if (mb_csv_next(&r, cells, MAXCELLS, &n, 0, NULL) == MB_EAGAIN)
            break;
        s = mb_csv_skip_blank(t->buf + from, a, t->len - from) + from;
        for (p = s + 1; p < r.pos + from; p++)
            is[p] = 0;
    }
    return is;
}

static void check_bounds(const tc *t, const mb_grid *g)
{
    unsigned char *is = record_starts(t, (size_t)g->data_start);
    size_t *next = malloc((t->len + 2) * sizeof *next), k = 1, p, maxc = 0;
    uint64_t nominal, last = g->data_start;

    FZ_CHECK(next != NULL, "out of memory");
    next[t->len + 1] = t->len;
    for (p = t->len + 1; p-- > 0;)
        next[p] = is[p] ? p : next[p + 1];
    FZ_CHECK(g->bounds[0] == g->data_start && g->bounds[g->nchunks] == t->len,
             "first or last bound");
    for (p = 0; p < g->nchunks; p++) {
        FZ_CHECK(g->bounds[p] < g->bounds[p + 1], "bounds do not strictly ascend at %zu", p);
        FZ_CHECK(is[g->bounds[p]], "bound %zu (%llu) is not a record start", p,
                 (unsigned long long)g->bounds[p]);
        if (g->bounds[p + 1] - g->bounds[p] > maxc)
            maxc = (size_t)(g->bounds[p + 1] - g->bounds[p]);
    }
    FZ_CHECK(maxc == g->max_chunk, "max_chunk %zu, want %zu", g->max_chunk, maxc);
    for (nominal = g->data_start + t->chunk; nominal < t->len; nominal += t->chunk) {
        p = next[nominal];
        if (p == t->len || p == last)
            continue;
        FZ_CHECK(k < g->nchunks && g->bounds[k] == p,
                 "bound %zu is not nominal offset %llu snapped to a record start", k,
                 (unsigned long long)nominal);
        last = p;
        k++;
    }
    FZ_CHECK(k == g->nchunks || (g->nchunks == 0 && k == 1), "%zu chunks, want %zu",
             g->nchunks, k);
    free(next);
    free(is);
}

/* data_start, ncols and the names as the reader sees the first record
 * (st is the build's status, MB_OK or the error it gave). */
static void check_head(const tc *t, const mb_grid *g, mb_status st)
{
    size_t bom = mb_csv_bom_len(t->buf, t->len), ncap = 1, n = 0, i, k;
    mb_cell *cells;
    mb_csv r;
    mb_status rs;
    char want[32];

    if (st == MB_ELIMIT)
        return;
    for (i = bom; i < t->len; i++)
        ncap += t->buf[i] == t->d.delim;
    cells = malloc(ncap * sizeof *cells);
    FZ_CHECK(cells != NULL, "out of memory");
    mb_csv_init(&r, &t->d, t->buf + bom, t->len - bom, bom);
    rs = mb_csv_next(&r, cells, ncap, &n, 0, NULL);
    if (rs == MB_EAGAIN) {
        FZ_CHECK(st == MB_OK && g->data_start == t->len && g->ncols == 0 && g->nchunks == 0,
                 "a file without records");
    } else if (rs != MB_OK) {
        FZ_CHECK(st == rs, "the build says %d about the first record, the reader %d", (int)st,
                 (int)rs);
    } else {
        FZ_CHECK(st == MB_OK, "the build fails (%d) on a first record the reader reads",
                 (int)st);
        FZ_CHECK(g->data_start == (t->header ? bom + r.pos : bom), "data_start %llu",
                 (unsigned long long)g->data_start);
        FZ_CHECK(g->ncols == n, "ncols %zu, the reader %zu", g->ncols, n);
        for (k = 0; k < n; k++) {
            const char *name = g->names[k];
            if (!t->header) {
                snprintf(want, sizeof want, "%zu", k + 1);
                FZ_CHECK(strcmp(name, want) == 0, "column name %zu", k);
                continue;
            }
            FZ_CHECK(strlen(name) <= cells[k].len, "column name %zu too long", k);
        }
    }
    free(cells);
}

/* The serial read and the chunked read, record by record. */
static void check_chunks(const tc *t, const mb_grid *g)
{
    static mb_cell sc[MAXCELLS], cc[MAXCELLS];
    size_t ds = (size_t)g->data_start, ci = 0, sn, cn, k;
    mb_csv s, c;
    mb_status ss, cs;

    mb_csv_init(&s, &t->d, t->buf + ds, t->len - ds, ds);
    if (g->nchunks)
        mb_csv_init(&c, &t->d, t->buf + ds, (size_t)(g->bounds[1] - ds), ds);
    for (;;) {
        ss = mb_csv_next(&s, sc, MAXCELLS, &sn, 0, NULL);
        cs = MB_EAGAIN;
        cn = 0;
        while (ci < g->nchunks &&
               (cs = mb_csv_next(&c, cc, MAXCELLS, &cn, 0, NULL)) == MB_EAGAIN) {
            if (++ci < g->nchunks)
                mb_csv_init(&c, &t->d, t->buf + g->bounds[ci],
                            (size_t)(g->bounds[ci + 1] - g->bounds[ci]), g->bounds[ci]);
        }
        FZ_CHECK(ss == cs, "chunked read: status %d, serial %d", (int)cs, (int)ss);
        if (ss == MB_EAGAIN)
            return;
        FZ_CHECK(sn == cn, "chunked read: %zu cells, serial %zu", cn, sn);
        if (ss != MB_OK)
            FZ_CHECK(s.err_off == c.err_off, "chunked read: error offset");
        for (k = 0; ss == MB_OK && k < sn; k++)
            FZ_CHECK(sc[k].p == cc[k].p && sc[k].len == cc[k].len &&
                         sc[k].quoted == cc[k].quoted && sc[k].escaped == cc[k].escaped,
                     "chunked read: cell %zu differs", k);
    }
}

/* Every record start from offset 0 (want 1, step 1), uncapped. */
static size_t all_starts(const tc *t, uint64_t *v, size_t cap)
{
    mb_snap s;
    size_t used, n = 0;

    mb_snap_init(&s, &t->d, 0, 1, 1, 0);
    mb_snap_feed(&s, t->buf, t->len, &used, v, &n, cap);
    return n;
}

static void check_split_feed(const tc *t)
{
    static uint64_t one[STARTS_MAX], many[STARTS_MAX];
    size_t n1 = 0, n2 = 0, used, at = 0, piece, cap;
    uint32_t rs = t->seed;
    mb_snap s;

    mb_snap_init(&s, &t->d, 0, 1, t->chunk, 0);
    FZ_CHECK(mb_snap_feed(&s, t->buf, t->len, &used, one, &n1, STARTS_MAX) == MB_OK,
             "uncapped snap failed");
    mb_snap_init(&s, &t->d, 0, 1, t->chunk, 0);
    while (at < t->len && n2 < STARTS_MAX) {
        piece = 1 + next_rand(&rs) % (next_rand(&rs) % 2 ? 3 : 70);
        if (piece > t->len - at)
            piece = t->len - at;
        cap = n2 + 1 + next_rand(&rs) % 3;
        if (cap > STARTS_MAX)
            cap = STARTS_MAX;
        FZ_CHECK(mb_snap_feed(&s, t->buf + at, piece, &used, many, &n2, cap) == MB_OK,
                 "piecewise snap failed");
        FZ_CHECK(used <= piece, "used more than fed");
        at += used;
    }
    FZ_CHECK(n1 == n2 && (n1 == 0 || memcmp(one, many, n1 * sizeof *one) == 0),
             "fed in pieces, the snapper finds other record starts (%zu vs %zu)", n2, n1);
}

static void check_max_record(const tc *t)
{
    static uint64_t all[STARTS_MAX], capped[STARTS_MAX], plain[STARTS_MAX];
    uint64_t m = t->maxrec, prev = 0, bad_at = UINT64_MAX, end;
    size_t na = all_starts(t, all, STARTS_MAX), nc = 0, np = 0, used, i;
    mb_snap s;
    mb_status st;

    if (na == STARTS_MAX || m == 0)
        return;
    for (i = 0; i <= na && bad_at == UINT64_MAX; i++) {
        end = i < na ? all[i] : t->len;
        if (end - prev > m)
            bad_at = prev;
        prev = end;
    }
    mb_snap_init(&s, &t->d, 0, 1, t->chunk, m);
    st = mb_snap_feed(&s, t->buf, t->len, &used, capped, &nc, STARTS_MAX);
    if (nc == STARTS_MAX)
        return;
    FZ_CHECK((st == MB_ELIMIT) == (bad_at != UINT64_MAX),
             "record cap %llu: status %d, longest-record check says %s", (unsigned long long)m,
             (int)st, bad_at != UINT64_MAX ? "too long" : "fine");
    if (st == MB_ELIMIT) {
        FZ_CHECK(s.rec_start == bad_at, "record cap: error at the wrong record");
        return;
    }
    mb_snap_init(&s, &t->d, 0, 1, t->chunk, 0);
    mb_snap_feed(&s, t->buf, t->len, &used, plain, &np, STARTS_MAX);
    FZ_CHECK(np == nc && (np == 0 || memcmp(plain, capped, np * sizeof *plain) == 0),
             "record cap: other boundaries than without one");
}

static void check_parts(const tc *t, const mb_grid *serial, mb_status serial_st)
{
    mb_grid head;
    mb_grid_part parts[4];
    mb_err e;
    size_t k;
    int all_ok = 1;

    if (mb_grid_head(&head, path, memfd, t->len, &t->d, t->header, t->maxrec, &e) != MB_OK) {
        FZ_CHECK(serial_st != MB_OK, "parts: the head fails where the serial build does not");
        return;
    }
    memset(parts, 0, sizeof parts);
    for (k = 0; k < t->nparts; k++)
        if (mb_grid_part_scan(&head, path, memfd, t->chunk, &t->d, t->maxrec, k, t->nparts,
                              &parts[k], &e) != MB_OK)
            all_ok = 0;
    FZ_CHECK(all_ok, "parts: a part failed on a readable file: %s", e.msg);
    if (head.data_start < t->len && mb_grid_join(&head, parts, t->nparts)) {
        FZ_CHECK(serial_st == MB_OK, "parts: joined where the serial build fails");
        FZ_CHECK(head.nchunks == serial->nchunks && head.max_chunk == serial->max_chunk &&
                     memcmp(head.bounds, serial->bounds,
                            (serial->nchunks + 1) * sizeof *head.bounds) == 0,
                 "parts: the joined bounds differ from the serial grid");
    }
    for (k = 0; k < t->nparts; k++)
        mb_grid_part_fini(&parts[k]);
    mb_grid_fini(&head);
}

static void write_file(const tc *t)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz_grid", 0);
        FZ_CHECK(memfd >= 0, "memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    }
    FZ_CHECK(ftruncate(memfd, 0) == 0 &&
                 (t->len == 0 || pwrite(memfd, t->buf, t->len, 0) == (ssize_t)t->len),
             "cannot write the memfd");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    uint8_t dl = fz_u8(&in), c0 = fz_u8(&in), c1 = fz_u8(&in), flags = fz_u8(&in);
    uint8_t cap = fz_u8(&in), seed = fz_u8(&in);
    const uint8_t *body;
    tc t;
    mb_grid g;
    mb_err e;
    mb_status st;
    char *buf;

    t.d.delim = DELIMS[dl & 3];
    t.d.quote = '"';
    t.chunk = 1 + ((uint64_t)c0 | (uint64_t)c1 << 8) % 512;
    t.header = flags & 1;
    t.nparts = 1 + (size_t)((flags >> 1) & 3);
    t.maxrec = (flags & 8) ? 1 + (size_t)cap : 0;
    t.seed = seed;
    body = fz_bytes(&in, in.n, &t.len);
    buf = fz_copy(body, t.len, 0);
    t.buf = buf;
    write_file(&t);

    st = mb_grid_build(&g, path, memfd, t.len, t.chunk, &t.d, t.header, t.maxrec, &e);
    check_head(&t, &g, st);
    if (st == MB_OK) {
        FZ_CHECK(g.file_size == t.len && g.data_start <= t.len, "grid sizes");
        check_bounds(&t, &g);
        check_chunks(&t, &g);
    } else {
        FZ_CHECK(st == MB_EDATA || st == MB_ELIMIT, "grid build failed with %d: %s", (int)st,
                 e.msg);
        FZ_CHECK(strncmp(e.msg, path, strlen(path)) == 0, "the error does not name the file");
    }
    check_parts(&t, &g, st);
    if (st == MB_OK)
        mb_grid_fini(&g);
    check_split_feed(&t);
    check_max_record(&t);
    free(buf);
    return 0;
}
