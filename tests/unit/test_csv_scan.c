/* test_csv_scan.c - TAP differential test of the fast reader (csv_scan.c)
 * against the reference (csv.c): on fixed, seeded random and adversarial
 * buffers both must give the same sequence of statuses, cells (pointer,
 * length, flags), positions, error offsets and messages. Each buffer ends
 * right before a PROT_NONE page, so a read past len crashes the test.
 * Usage: test_csv_scan [SEED [ROUNDS]]   (MB_SEED also sets the seed)
 *        test_csv_scan bench [MB]        reference vs fast, MB/s. No MPI. */
#include "csv/csv_scan.h"
#include "tap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64          /* cells array size; records have at most 50 fields */
#define ARENA (1u << 22) /* the largest buffer the guarded arena holds */

/* ---- growable byte string ---- */

typedef struct str {
    char *p;
    size_t n, cap;
} str;

static void add(str *s, const void *p, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        size_t cap = (s->n + n + 1) * 2;
        char *q = realloc(s->p, cap);
        if (!q) {
            printf("Bail out! out of memory\n");
            exit(2);
        }
        s->p = q;
        s->cap = cap;
    }
    if (n)
        memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void addc(str *s, char c) { add(s, &c, 1); }

/* ---- seeded generator (splitmix64) ---- */

static uint64_t rng;

static uint64_t next_u64(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t below(size_t n) { return n ? (size_t)(next_u64() % n) : 0; }
static int chance(unsigned pct) { return below(100) < pct; }

static const char delims[] = {',', ';', '\t', '|'};
/* Lengths on both sides of the 16/32/64-byte SIMD steps. */
static const size_t edges[] = {15, 16, 17, 31, 32, 33, 63, 64, 65};

/* ---- guarded arena: the buffer under test ends at a PROT_NONE page ---- */

static char *arena;      /* ARENA usable bytes, guard pages on both sides */
static size_t pagesz;

static void arena_init(void)
{
    char *m;

    pagesz = (size_t)sysconf(_SC_PAGESIZE);
    m = mmap(NULL, ARENA + 2 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (m == MAP_FAILED || mprotect(m, pagesz, PROT_NONE) != 0 ||
        mprotect(m + pagesz + ARENA, pagesz, PROT_NONE) != 0) {
        printf("Bail out! mmap: %s\n", strerror(errno));
        exit(2);
    }
    arena = m + pagesz;
}

/* Copies `s` so that it ends at the guard page (or, with `at_start`, begins
 * right after the leading one) and returns where it now lives. */
static const char *place(const str *s, int at_start)
{
    char *p;

    if (s->n > ARENA) {
        printf("Bail out! test buffer of %zu bytes exceeds the arena\n", s->n);
        exit(2);
    }
    p = at_start ? arena : arena + ARENA - s->n;
    if (s->n)
        memcpy(p, s->p, s->n);
    return p;
}

/* ---- the differential check ---- */

typedef struct params {
    mb_csv_dialect d;
    size_t max, expect;
    uint64_t base;
    int no_err;          /* pass err = NULL to both readers */
    uint64_t keep;       /* the cells mb_csv_scan_next_cols fills */
} params;

static void dump(const char *buf, size_t len)
{
    size_t i;

    printf("#   buffer (%zu bytes): \"", len);
    for (i = 0; i < len && i < 600; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n')
            printf("\\n");
        else if (ch == '\r')
            printf("\\r");
        else if (ch == '\t')
            printf("\\t");
        else if (ch < 32 || ch >= 127 || ch == '\\')
            printf("\\x%02x", ch);
        else
            putchar(ch);
    }
    printf("%s\"\n", i < len ? "..." : "");
}

static int same_cell(const mb_cell *a, const mb_cell *b)
{
    return a->p == b->p && a->len == b->len && a->quoted == b->quoted &&
           a->escaped == b->escaped;
}

/* Reads `buf` with both readers record by record; returns the number of
 * records compared, or -1 (after printing the first difference). */
static long diff_read(const char *buf, size_t len, const params *pr)
{
    mb_cell rc[MAXC], fc[MAXC], pc[MAXC];
    mb_csv r;
    mb_csv_scan f, pf;
    mb_err re, fe, pe;
    size_t rn, fn, pn, k, step;
    mb_status rs, fs, ps;
    long recs = 0;

    mb_csv_init(&r, &pr->d, buf, len, pr->base);
    mb_csv_scan_init(&f, &pr->d, buf, len, pr->base);
    mb_csv_scan_init(&pf, &pr->d, buf, len, pr->base);
    for (step = 0; step <= len + 2; step++) {
        memset(&re, 0, sizeof re);
        memset(&fe, 0, sizeof fe);
        memset(&pe, 0, sizeof pe);
        rs = mb_csv_next(&r, rc, pr->max, &rn, pr->expect, pr->no_err ? NULL : &re);
        fs = mb_csv_scan_next(&f, fc, pr->max, &fn, pr->expect, pr->no_err ? NULL : &fe);
        /* the projected reader: same answers, only the kept cells filled */
        ps = mb_csv_scan_next_cols(&pf, pc, pr->max, &pn, pr->expect, pr->keep,
                                   pr->no_err ? NULL : &pe);
        const char *why = rs != fs                                        ? "status"
                          : rn != fn                                      ? "cell count"
                          : r.pos != f.pos                                ? "position"
                          : rs != MB_OK && rs != MB_EAGAIN && r.err_off != f.err_off ? "err_off"
                          : rs != MB_OK && rs != MB_EAGAIN && (re.code != fe.code ||
                                                               strcmp(re.msg, fe.msg))
                              ? "error message"
                          : ps != rs || pn != rn || pf.pos != r.pos ? "projected: status/count/pos"
                          : rs != MB_OK && rs != MB_EAGAIN &&
                                  (pf.err_off != r.err_off || pe.code != re.code ||
                                   strcmp(pe.msg, re.msg))
                              ? "projected: error"
                              : NULL;
        for (k = 0; !why && k < rn; k++)
            if (!same_cell(&rc[k], &fc[k]))
                why = "cell";
        for (k = 0; !why && k < rn; k++)
            if ((k >= 64 || ((pr->keep >> k) & 1)) && !same_cell(&rc[k], &pc[k]))
                why = "projected: cell";
        if (why) {
            printf("#   record %ld differs in %s: ref st %d n %zu pos %zu off %" PRIu64
                   " '%s'; fast st %d n %zu pos %zu off %" PRIu64 " '%s'\n",
                   recs, why, (int)rs, rn, r.pos, r.err_off, re.msg, (int)fs, fn, f.pos,
                   f.err_off, fe.msg);
            for (k = 0; k < rn && k < fn; k++)
                if (!same_cell(&rc[k], &fc[k]))
                    printf("#   cell %zu: ref @%td len %zu q%u e%u; fast @%td len %zu q%u e%u\n",
                           k, rc[k].p - buf, rc[k].len, rc[k].quoted, rc[k].escaped,
                           fc[k].p - buf, fc[k].len, fc[k].quoted, fc[k].escaped);
            dump(buf, len);
            printf("#   delim 0x%02x quote 0x%02x max %zu expect %zu\n",
                   (unsigned char)pr->d.delim, (unsigned char)pr->d.quote, pr->max,
                   pr->expect);
            return -1;
        }
        if (rs == MB_EAGAIN) {
            /* The end is sticky for both. */
            fs = mb_csv_scan_next(&f, fc, pr->max, &fn, pr->expect, NULL);
            if (fs != MB_EAGAIN || fn != 0) {
                printf("#   fast reader not sticky at the end\n");
                dump(buf, len);
                return -1;
            }
            return recs;
        }
        recs++;
    }
    printf("#   no end of buffer after %zu steps\n", step);
    dump(buf, len);
    return -1;
}

/* Checks `s` placed at the end of the arena (and sometimes at its start). */
static int diff(const str *s, const params *pr, int both_ends)
{
    if (diff_read(place(s, 0), s->n, pr) < 0)
        return 0;
    return !both_ends || diff_read(place(s, 1), s->n, pr) >= 0;
}

/* ---- fixed cases: the reference's own table plus block-edge shapes ---- */

static void test_fixed(void)
{
    static const char *const cases[] = {
        "a,b\nc,d\n", "a,b\r\nc,d\r\n", "a,b\nc,d", "a\r\nb", "\n\r\na\n\n\r\n\nb\n\n",
        "\n\r\n\n", "", ",,\n", "a,\nb,\r\nc,", ",a\n", "\"a,b\",c\n",
        "\"say \"\"hi\"\"\",x\n", "\"\"\"\"\"\"\n", "\"a\nb\",c\nd\n", "\"a\r\nb\"\r\nc\r\n",
        "\"\n\n\",x\n", "\"\",\"\"\n", "a,\"b\"", "\"b\"\r\n", "ab\"c,d\"\n", "a\"b,c\"d\n",
        " \"a,b\"\n", "a\rb,c\r\n", "a\r", "a\r\r\n", "\r\na\n\r", "a;b,c\n\"x;y\";z\n",
        "a\tb c\n\"x\ty\"\t\n", "a|\"b|c\"\n", "a,b\n1,\"x\ny\n", "\"abc", "x\n\"a\"\"",
        "a,b\n\"x\"y,z\nc,d\n", "\"a\" ,b\n", "x,\"a\"b\"\n,z\nq\n", "\"a\"\rb\nc\n",
        "\"a\"\r", "h\n\"a\nb\"x\nc\n", "\"a\"x,b,\"c\n", "\"", "\"\"", "\r", "\r\r", ",",
        "\n", "a", "\"\"\"", "\"a\"\"\"\"b\"", "\"a\"\"\n",
        /* Structure right at the 16/32/64-byte steps. */
        "aaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb,ccccccccccccccccc\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,b\r\nc\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\"\",b\n",
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"x,b\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,\"",
        "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"
        "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\na\n",
    };
    static const struct {
        size_t max, expect;
    } shapes[] = {{16, 0}, {2, 0}, {1, 0}, {16, 2}, {2, 3}, {16, 1}, {0, 0}};
    size_t i, k, bad = 0;
    str s = {0};

    for (i = 0; i < MB_ARRAY_LEN(cases); i++) {
        for (k = 0; k < MB_ARRAY_LEN(shapes); k++) {
            params pr = {{',', '"'}, shapes[k].max, shapes[k].expect, 1000, k == 6,
                         k % 2 ? ~(uint64_t)0 : UINT64_C(0x5)};
            char dl;
            size_t j;

            s.n = 0;
            add(&s, cases[i], strlen(cases[i]));
            /* The same shapes in the other dialects, delimiter substituted. */
            for (j = 0; j < MB_ARRAY_LEN(delims); j++) {
                dl = delims[j];
                pr.d.delim = dl;
                bad += !diff(&s, &pr, 1);
            }
        }
    }
    ok(bad == 0, "fixed cases x 7 shapes x 4 delimiters: fast reader matches the reference");
    free(s.p);
}

/* ---- random structured CSV ---- */

static size_t pick_len(void)
{
    switch (below(5)) {
    case 0: return 0;
    case 1: return 1 + below(4);
    case 2: return edges[below(MB_ARRAY_LEN(edges))];
    case 3: return below(140);
    default: return 1 + below(10);
    }
}

/* Unquoted text: stray quotes (never first), CRs not before an LF, NULs. */
static void gen_plain(str *s, size_t n, const mb_csv_dialect *d)
{
    static const char alpha[] = "abcxyz 019.-";
    size_t i;

    for (i = 0; i < n; i++) {
        if (i > 0 && chance(4))
            addc(s, d->quote);
        else if (i + 1 < n && chance(2))
            addc(s, '\r');
        else if (chance(1))
            addc(s, '\0');
        else
            addc(s, alpha[below(sizeof alpha - 1)]);
    }
    if (n > 0 && s->p[s->n - n] == d->quote)
        s->p[s->n - n] = 'q';
}

/* Quoted text of about n bytes: delimiters, doubled quotes, LF, CRLF. */
static void gen_quoted(str *s, size_t n, const mb_csv_dialect *d)
{
    size_t at = s->n;

    addc(s, d->quote);
    while (s->n - at < n + 1) {
        switch (below(9)) {
        case 0: addc(s, d->delim); break;
        case 1: addc(s, '\n'); break;
        case 2: add(s, "\r\n", 2); break;
        case 3: addc(s, d->quote); addc(s, d->quote); break;
        case 4: addc(s, '\r'); break;
        default: addc(s, (char)('a' + below(5))); break;
        }
    }
    addc(s, d->quote);
    if (chance(3))
        addc(s, chance(50) ? 'j' : '\r'); /* malformed: text after the closing quote */
}

static void gen_field(str *s, const mb_csv_dialect *d)
{
    if (chance(30))
        gen_quoted(s, pick_len(), d);
    else
        gen_plain(s, pick_len(), d);
}

static void gen_eol(str *s, int crlf)
{
    if (crlf)
        add(s, "\r\n", 2);
    else
        addc(s, '\n');
}

/* A record of exactly `target` bytes (ending included) of plain fields. */
static void gen_sized(str *s, size_t target, size_t nf, int crlf, const mb_csv_dialect *d)
{
    size_t eol = crlf ? 2 : 1, body = target > eol ? target - eol : 0, f, share;

    if (nf > body / 2 + 1)
        nf = body / 2 + 1;
    share = (body - (nf - 1)) / nf; /* the last field takes the remainder */
    for (f = 0; f < nf; f++) {
        if (f)
            addc(s, d->delim);
        gen_plain(s, f + 1 == nf ? body - (nf - 1) - share * (nf - 1) : share, d);
    }
    gen_eol(s, crlf);
}

/* Returns the field count of the records when they all have the same one
 * (0 if they do not), so that expect = N can be tested. */
static size_t gen_structured(str *s, const mb_csv_dialect *d)
{
    size_t r, c, nrec = 1 + below(25);
    size_t ncol = chance(50) ? 1 + below(8) : 1 + below(50);
    int crlf = chance(50), uniform = chance(60);

    for (r = 0; r < nrec; r++) {
        size_t nf = uniform ? ncol : 1 + below(ncol);
        while (chance(8))
            gen_eol(s, crlf != chance(20));
        if (chance(15)) {
            gen_sized(s, edges[below(MB_ARRAY_LEN(edges))], nf, crlf, d);
            uniform = 0;
            continue;
        }
        for (c = 0; c < nf; c++) {
            if (c)
                addc(s, d->delim);
            gen_field(s, d);
        }
        if (r + 1 < nrec || chance(70))
            gen_eol(s, crlf != chance(10));
    }
    if (chance(3)) {
        addc(s, d->quote); /* unterminated at the end */
        gen_plain(s, pick_len(), d);
    }
    return uniform ? ncol : 0;
}

/* Raw bytes from the alphabet that matters to the state machine, plus the
 * other dialects' delimiters (data here) and NUL. */
static void gen_raw(str *s, const mb_csv_dialect *d)
{
    static const char alpha[] = "a\n\n\r ,;|\t";
    size_t i, n = chance(10) ? below(1500) : below(300);

    for (i = 0; i < n; i++) {
        size_t k = below(sizeof alpha + 3);
        addc(s, k < sizeof alpha - 1 ? alpha[k]
                : k < sizeof alpha + 1 ? d->quote
                : k == sizeof alpha + 1 ? d->delim
                                        : '\0');
    }
}

/* Cuts the buffer so that it ends on or next to a block step. */
static void cut_at_step(str *s)
{
    size_t step = (size_t)16 << below(3), n = s->n - s->n % step;

    if (n == 0)
        return;
    n += below(3);
    if (n > 0)
        n--;
    if (n < s->n) {
        s->n = n;
        s->p[n] = '\0';
    }
}

static params pick_params(void)
{
    params pr;

    pr.d.delim = delims[below(MB_ARRAY_LEN(delims))];
    pr.d.quote = chance(85) ? '"' : '\'';
    pr.max = MAXC;
    pr.expect = 0;
    pr.base = chance(50) ? 0 : next_u64() >> 20;
    pr.no_err = chance(5);
    pr.keep = chance(30) ? ~(uint64_t)0 : next_u64() >> below(64);
    return pr;
}

/* Runs one buffer with the full cell array and then with a random shape
 * (expect = N when the records agree on N, max_cells under the count). */
static int check_buffer(const str *s, params pr, size_t uniform)
{
    int both = chance(20);

    pr.max = MAXC;
    pr.expect = 0;
    if (!diff(s, &pr, both))
        return 0;
    pr.max = chance(50) ? MAXC : below(uniform ? uniform + 1 : 12);
    pr.expect = uniform && chance(70) ? uniform : chance(20) ? 1 + below(6) : 0;
    return diff(s, &pr, 0);
}

static void test_random(uint64_t seed, size_t rounds)
{
    size_t i, bad = 0, nraw = 0;
    str s = {0};

    for (i = 0; i < rounds && bad == 0; i++) {
        uint64_t cseed = seed + i * 0x632BE59BD9B4E019ull;
        size_t uniform = 0;
        params pr;

        rng = cseed;
        pr = pick_params();
        s.n = 0;
        if (chance(30)) {
            gen_raw(&s, &pr.d);
            nraw++;
        } else {
            uniform = gen_structured(&s, &pr.d);
        }
        if (chance(20)) {
            cut_at_step(&s);
            uniform = 0;
        }
        if (!check_buffer(&s, pr, uniform)) {
            printf("# case %zu (case seed %" PRIu64 ") failed\n", i, cseed);
            bad++;
        }
    }
    ok(bad == 0, "%zu random buffers (%zu raw): fast reader matches the reference", i, nraw);
    free(s.p);
}

/* ---- bulk data, as in the benchmark; also a large differential case ---- */

static void gen_bulk(str *s, size_t bytes, int quoted)
{
    char t[256];
    uint64_t save = rng;
    size_t r = 0;

    rng = 42;
    while (s->n < bytes) {
        int k;
        if (!quoted)
            k = snprintf(t, sizeof t, "id%03zu,id%03zu,id%010zu,%zu,%zu,%zu,%zu,%zu,%zu.%06zu\n",
                         below(100), below(100), below(1000000), below(5), below(15),
                         below(100), below(5), below(15), below(100), below(1000000));
        else
            k = snprintf(t, sizeof t,
                         "\"Name %zu, Jr.\",\"line one\nline \"\"two\"\", end\",%zu,id%03zu,"
                         "\"%zu.%03zu\"\r\n",
                         below(100000), below(1000), below(100), below(100), below(1000));
        add(s, t, k > 0 ? (size_t)k : 0);
        r++;
    }
    (void)r;
    rng = save;
}

static void test_bulk(void)
{
    str s = {0};
    params pr = {{',', '"'}, MAXC, 0, 0, 0, UINT64_C(0x15)};
    long a, b;

    gen_bulk(&s, 1 << 18, 0);
    a = diff_read(place(&s, 0), s.n, &pr);
    pr.expect = 9;
    ok(a > 1000 && diff_read(place(&s, 0), s.n, &pr) == a,
       "256 KB quote-free table: same %ld records", a);
    s.n = 0;
    gen_bulk(&s, 1 << 18, 1);
    pr.expect = 0;
    b = diff_read(place(&s, 0), s.n, &pr);
    pr.expect = 5;
    ok(b > 1000 && diff_read(place(&s, 1), s.n, &pr) == b,
       "256 KB quote-heavy table: same %ld records", b);
    free(s.p);
}

/* ---- micro-benchmark ---- */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Best of a few passes, in MB/s; *sum keeps the work observable. */
static double bench_one(const char *buf, size_t len, size_t ncols, int fast, size_t *sum)
{
    mb_cell cells[MAXC];
    double best = 0;
    int pass;

    for (pass = 0; pass < 3; pass++) {
        double t0 = now(), dt;
        size_t n, total = 0;
        mb_status st;

        if (fast) {
            mb_csv_scan f;
            mb_csv_scan_init(&f, NULL, buf, len, 0);
            while ((st = mb_csv_scan_next(&f, cells, ncols + 1, &n, ncols, NULL)) == MB_OK)
                total += n + cells[0].len;
        } else {
            mb_csv r;
            mb_csv_init(&r, NULL, buf, len, 0);
            while ((st = mb_csv_next(&r, cells, ncols + 1, &n, ncols, NULL)) == MB_OK)
                total += n + cells[0].len;
        }
        dt = now() - t0;
        if (st != MB_EAGAIN)
            printf("# bench: unexpected status %d\n", (int)st);
        *sum = total;
        if (dt > 0 && (double)len / dt / 1e6 > best)
            best = (double)len / dt / 1e6;
    }
    return best;
}

static int bench(size_t mb)
{
    static const char *const names[] = {"quote-free (9 cols)", "quote-heavy (5 cols)"};
    static const size_t ncols[] = {9, 5};
    int q;

    for (q = 0; q < 2; q++) {
        str s = {0};
        size_t a = 0, b = 0;
        double ref, fast;

        gen_bulk(&s, mb << 20, q);
        ref = bench_one(s.p, s.n, ncols[q], 0, &a);
        fast = bench_one(s.p, s.n, ncols[q], 1, &b);
        printf("%-22s %6.1f MB  reference %7.0f MB/s  fast %7.0f MB/s  x%.2f%s\n", names[q],
               (double)s.n / 1e6, ref, fast, fast / ref, a == b ? "" : "  (MISMATCH)");
        free(s.p);
    }
    return 0;
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end) {
        printf("Bail out! %s must be a decimal number: %s\n", what, s);
        exit(2);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv)
{
    uint64_t seed = 20261201;
    size_t rounds = 30000;
    const char *s = argc >= 2 ? argv[1] : getenv("MB_SEED");

    if (argc >= 2 && strcmp(argv[1], "bench") == 0)
        return bench(argc >= 3 ? (size_t)parse_u64(argv[2], "MB") : 64);
    /* A fixed default keeps CI reproducible; MB_SEED or argv[1] explores. */
    if (s)
        seed = parse_u64(s, "seed");
    if (argc >= 3)
        rounds = (size_t)parse_u64(argv[2], "rounds");
    printf("# seed %" PRIu64 " (rerun: %s %" PRIu64 " %zu)\n", seed, argv[0], seed, rounds);
    arena_init();
    test_fixed();
    test_bulk();
    test_random(seed, rounds);
    return tap_done();
}
