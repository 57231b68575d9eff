/* test_group.c - TAP tests for the group table and its compact
 * accumulators, differentially against full mb_numstate states: random
 * values (wide ones that force a state to spill, every scale, NULL-free),
 * random keys (inline and arena-held), packing and merging, sorting, and
 * the formatting fast paths against the bignum path. */
#include "agg/agg.h"
#include "agg/bigint.h"
#include "agg/group.h"

#include "tap.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define NG 61          /* groups */
#define NCOL 5         /* one column per kind of need */

static const unsigned needs[NCOL] = {
    MB_NEED_COUNT, MB_NEED_SUM, MB_NEED_SUM | MB_NEED_SUMSQ, MB_NEED_MINMAX,
    MB_NEED_SUM | MB_NEED_SUMSQ | MB_NEED_MINMAX};

static uint64_t rng_state = UINT64_C(0x2545F4914F6CDD1D);

static uint64_t rnd(void)    /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* A random decimal as text. Tame: up to 6 digits and 4 decimals, which
 * stays compact. Wild: sometimes 30+ digits (sums outgrow 128 bits and the
 * state spills), any scale up to 12. */
static void rnd_value(char *out, size_t cap, int wild)
{
    size_t len = 0, nd, dot;
    unsigned r = (unsigned)(rnd() % 100);

    if (!wild) {
        nd = 1 + rnd() % 6;
        dot = rnd() % 3 == 0 ? 0 : (size_t)(rnd() % 5);
    } else {
        nd = r < 70 ? 1 + rnd() % 6 : r < 95 ? 7 + rnd() % 12 : 25 + rnd() % 13;
        dot = rnd() % 3 == 0 ? 0 : (size_t)(rnd() % 13);
    }
    if (dot > nd)
        dot = nd;
    if (rnd() % 4 == 0)
        out[len++] = '-';
    for (size_t i = 0; i < nd && len + 3 < cap; i++) {
        if (dot && i == nd - dot)
            out[len++] = '.';
        out[len++] = (char)('0' + rnd() % 10);
    }
    out[len] = '\0';
}

/* Key g: one or two fields, some longer than the inline key. */
static size_t make_key(size_t g, char *out)
{
    char f1[64], f2[64];
    uint32_t l1, l2;
    size_t n = 0;

    l1 = (uint32_t)snprintf(f1, sizeof f1, g % 3 == 0 ? "%zu-a-long-group-name-over-the-inline-cap"
                                                         : "k%zu", g);
    memcpy(out + n, &l1, 4);
    memcpy(out + n + 4, f1, l1);
    n += 4 + l1;
    if (g % 2) {
        l2 = (uint32_t)snprintf(f2, sizeof f2, "%zu", g * 7);
        memcpy(out + n, &l2, 4);
        memcpy(out + n + 4, f2, l2);
        n += 4 + l2;
    }
    return n;
}

static int same_state(const mb_numstate *a, const mb_numstate *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* Feeds `n` random (group, values) records into table t and into the full
 * reference states ref/rows; returns the number of disagreements in status. */
static int feed(mb_groups *t, mb_numstate (*ref)[NCOL], int64_t *rows, size_t n)
{
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        char key[256], val[64];
        size_t g = (size_t)(rnd() % NG), gi, kl = make_key(g, key);
        mb_err e;

        if (mb_groups_get(t, key, kl, mb_groups_hash(key, kl), &gi, &e) != MB_OK)
            return -1;
        mb_groups_rec(t, gi)->rows++;
        rows[g]++;
        for (size_t k = 0; k < NCOL; k++) {
            mb_dec d;
            mb_status s1, s2;
            if (needs[k] == MB_NEED_COUNT) {
                mb_acc_count(mb_groups_acc(t, gi, k));
                mb_num_count(&ref[g][k]);
                continue;
            }
            rnd_value(val, sizeof val, g % 4 == 0);    /* a quarter of the groups */
            switch (rnd() % 16) {                       /* text the fast path refuses */
            case 0: strcat(val, "e1"); break;
            case 1: strcat(val, "0"); break;
            case 2: memmove(val + 1, val, strlen(val) + 1), val[0] = '+'; break;
            case 3: strcat(val, " "); break;
            case 4: strcat(val, "x"); break;
            default: break;
            }
            s2 = mb_dec_parse(val, strlen(val), &d, NULL);
            if (s2 == MB_OK)
                s2 = mb_num_add(&ref[g][k], &d, needs[k], NULL);
            if (rnd() % 2) {                            /* from text, or from an mb_dec */
                s1 = mb_groups_add_text(t, gi, k, val, strlen(val), &e);
            } else {
                s1 = mb_dec_parse(val, strlen(val), &d, &e);
                if (s1 == MB_OK)
                    s1 = mb_groups_add(t, gi, k, &d, &e);
            }
            bad += s1 != s2;
        }
    }
    return bad;
}

/* Counts groups of t whose rows or states differ from the reference. */
static int compare(const mb_groups *t, mb_numstate (*ref)[NCOL], const int64_t *rows)
{
    int bad = 0;

    for (size_t g = 0; g < NG; g++) {
        char key[256];
        size_t kl = make_key(g, key), gi;
        int found = 0;
        for (gi = 0; gi < t->n; gi++)
            if (mb_groups_klen(t, gi) == kl && memcmp(mb_groups_key(t, gi), key, kl) == 0) {
                found = 1;
                break;
            }
        if (!found) {
            bad += rows[g] != 0;
            continue;
        }
        if (mb_groups_rec(t, gi)->rows != rows[g])
            bad++;
        for (size_t k = 0; k < NCOL; k++) {
            mb_numstate s;
            mb_groups_state(t, gi, k, &s);
            bad += !same_state(&s, &ref[g][k]);
        }
    }
    return bad;
}

static void test_accumulators(void)
{
    static mb_numstate ref1[NG][NCOL], ref2[NG][NCOL];
    int64_t rows1[NG] = {0}, rows2[NG] = {0};
    mb_groups a, b;
    mb_buf buf;
    mb_err e;
    int bad;

    for (size_t g = 0; g < NG; g++)
        for (size_t k = 0; k < NCOL; k++)
            mb_num_init(&ref1[g][k]), mb_num_init(&ref2[g][k]);
    ok(mb_groups_init(&a, needs, NCOL, SIZE_MAX) == MB_OK &&
           mb_groups_init(&b, needs, NCOL, SIZE_MAX) == MB_OK,
       "two tables");
    bad = feed(&a, ref1, rows1, 20000);
    ok(bad == 0, "adding: every status agrees with mb_num_add (%d differ)", bad);
    ok(a.spill.n > 0 && a.spill.n < NG * NCOL / 2,
       "some states outgrew 128 bits and spilled, most did not (%zu)", a.spill.n);
    ok(a.n == NG, "%zu groups", a.n);
    bad = compare(&a, ref1, rows1);
    ok(bad == 0, "every accumulator reads back as the full state (%d differ)", bad);

    bad = feed(&b, ref2, rows2, 7000);
    ok(bad == 0, "second table: statuses agree (%d differ)", bad);
    /* a (+) packed b must equal ref1 (+) ref2 */
    mb_buf_init(&buf, SIZE_MAX);
    for (size_t gi = 0; gi < b.n; gi++)
        mb_groups_pack(&b, gi, &buf);
    ok(mb_groups_unpack_merge(&a, buf.p, buf.len, &e) == MB_OK, "unpack and merge");
    for (size_t g = 0; g < NG; g++) {
        rows1[g] += rows2[g];
        for (size_t k = 0; k < NCOL; k++)
            mb_num_merge(&ref1[g][k], &ref2[g][k], needs[k], NULL);
    }
    bad = compare(&a, ref1, rows1);
    ok(bad == 0, "merged packed states equal merged full states (%d differ)", bad);

    /* packing is lossless: a fresh table fed a's packed form equals a */
    {
        mb_groups c;
        mb_buf all;
        mb_buf_init(&all, SIZE_MAX);
        for (size_t gi = 0; gi < a.n; gi++)
            mb_groups_pack(&a, gi, &all);
        mb_groups_init(&c, needs, NCOL, SIZE_MAX);
        ok(mb_groups_unpack_merge(&c, all.p, all.len, &e) == MB_OK &&
               compare(&c, ref1, rows1) == 0,
           "pack then unpack into an empty table is lossless");
        ok(mb_groups_unpack_merge(&c, all.p, all.len - 1, &e) == MB_EDATA,
           "truncated packed data: MB_EDATA");
        mb_groups_fini(&c);
        mb_buf_fini(&all);
    }
    {
        /* a corrupt header (scale out of range) is refused, not merged */
        mb_groups c;
        mb_buf one;
        mb_acc *acc = mb_groups_acc(&b, 0, 1);
        int32_t keep = acc->scale;
        uint32_t keepf = acc->flags;
        mb_buf_init(&one, SIZE_MAX);
        if (!(acc->flags & MB_ACC_SPILLED)) {
            acc->scale = 99;
            mb_groups_pack(&b, 0, &one);
            mb_groups_init(&c, needs, NCOL, SIZE_MAX);
            ok(mb_groups_unpack_merge(&c, one.p, one.len, &e) == MB_EDATA,
               "an accumulator with scale 99 is refused: %s", e.msg);
            mb_groups_fini(&c);
        } else {
            ok(1, "(group 0 spilled: corrupt-header case skipped)");
        }
        acc->scale = keep;
        acc->flags = keepf;
        mb_buf_fini(&one);
    }
    mb_buf_fini(&buf);
    mb_groups_fini(&a);
    mb_groups_fini(&b);
}

/* One value, then two, into empty states: the text path must give exactly
 * the state mb_dec_parse + mb_num_add give (scale without the fraction's
 * trailing zeros, flags, n), where later values cannot hide a wrong scale. */
static void test_text_exact(void)
{
    static const char *const texts[] = {"1.50", "2.500", "-0.0", "0.000", "100", "7.", ".5",
                                        "+3.10", "-12.3400", "0", "99999999999999999.9",
                                        "1234567890123456789", "0.0000000000000000001"};
    size_t bad = 0, nt = sizeof texts / sizeof texts[0];

    for (size_t i = 0; i < nt; i++)
        for (size_t j = 0; j < nt; j++)
            for (size_t k = 1; k < NCOL; k++) {
                mb_groups t;
                mb_numstate ref, got;
                mb_dec d;
                size_t gi;
                mb_err e;
                mb_groups_init(&t, needs, NCOL, SIZE_MAX);
                mb_groups_get(&t, "\0\0\0\0", 4, mb_groups_hash("\0\0\0\0", 4), &gi, &e);
                mb_num_init(&ref);
                mb_dec_parse(texts[i], strlen(texts[i]), &d, NULL);
                mb_num_add(&ref, &d, needs[k], NULL);
                mb_groups_add_text(&t, gi, k, texts[i], strlen(texts[i]), &e);
                mb_groups_state(&t, gi, k, &got);
                bad += !same_state(&got, &ref);
                mb_dec_parse(texts[j], strlen(texts[j]), &d, NULL);
                mb_num_add(&ref, &d, needs[k], NULL);
                mb_groups_add_text(&t, gi, k, texts[j], strlen(texts[j]), &e);
                mb_groups_state(&t, gi, k, &got);
                bad += !same_state(&got, &ref);
                mb_groups_fini(&t);
            }
    ok(bad == 0, "text values into empty states give exactly the full states (%zu differ)", bad);
}

/* Field-wise order written out plainly, as the test's oracle. */
static int oracle_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t i = 0, j = 0;
    while (i < al && j < bl) {
        uint32_t la, lb;
        size_t m;
        int c;
        memcpy(&la, a + i, 4);
        memcpy(&lb, b + j, 4);
        m = la < lb ? la : lb;
        c = memcmp(a + i + 4, b + j + 4, m);
        if (c)
            return c < 0 ? -1 : 1;
        if (la != lb)
            return la < lb ? -1 : 1;
        i += 4 + la;
        j += 4 + lb;
    }
    return (i < al) - (j < bl);
}

static void test_sort(void)
{
    static const unsigned one = MB_NEED_COUNT;
    mb_groups t;
    size_t *idx, bad = 0;
    mb_err e;

    mb_groups_init(&t, &one, 1, SIZE_MAX);
    for (int i = 0; i < 3000; i++) {
        char key[80];
        size_t n = 0, gi;
        int nf = 1 + (int)(rnd() % 2);
        for (int f = 0; f < nf; f++) {
            /* short alphabets and shared prefixes make ties past 16 bytes */
            uint32_t l = (uint32_t)(rnd() % 24);
            memcpy(key + n, &l, 4);
            for (uint32_t c = 0; c < l; c++)
                key[n + 4 + c] = c < 14 ? 'p' : (char)("\0\1ab\377"[rnd() % 5]);
            n += 4 + l;
        }
        mb_groups_get(&t, key, n, mb_groups_hash(key, n), &gi, &e);
    }
    idx = mb_groups_sorted(&t);
    ok(idx != NULL, "sorted %zu groups", t.n);
    for (size_t i = 1; idx && i < t.n; i++)
        bad += oracle_cmp(mb_groups_key(&t, idx[i - 1]), mb_groups_klen(&t, idx[i - 1]),
                          mb_groups_key(&t, idx[i]), mb_groups_klen(&t, idx[i])) >= 0;
    ok(bad == 0, "every neighbour pair is in field-wise order (%zu out of order)", bad);
    free(idx);
    mb_groups_fini(&t);
}

/* The quotient fast path of mb_num_format gives the bignum path's text. */
/* The reference for mb_format_double, written another way: the fewest
 * digits printf's "%.*e" needs to read back, then "%.*f" with as many
 * places (at least one) in DuckDB's positional range, else "%.*e" as is. */
static void ref_shortest(double d, char *out, size_t cap)
{
    char buf[40];
    int prec, exp;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    exp = (int)strtol(strchr(buf, 'e') + 1, NULL, 10);
    if (exp < -4 || exp >= 16)
        snprintf(out, cap, "%s", buf);
    else
        snprintf(out, cap, "%.*f", prec - 1 - exp > 1 ? prec - 1 - exp : 1, d);
}

static void test_format(void)
{
    size_t bad = 0, n = 0;

    for (int i = 0; i < 20000; i++) {
        mb_numstate s;
        mb_bigint num, den;
        char got[64], want[64];
        int64_t x = (int64_t)(rnd() >> (11 + rnd() % 40));
        uint64_t cnt = 1 + rnd() % (i % 2 ? 1000 : UINT64_C(1) << 40);
        int32_t scale = (int32_t)(rnd() % 12);
        double d;

        if (rnd() % 2)
            x = -x;
        mb_num_init(&s);
        s.n = (int64_t)cnt;
        s.scale = scale;
        memset(s.sum.w, x < 0 ? 0xff : 0, sizeof s.sum.w);
        s.sum.w[0] = (uint64_t)x;
        if (mb_num_format(&s, MB_AGG_MEAN, 0, got, sizeof got) != MB_OK) {
            bad++;
            continue;
        }
        mb_bigint_set_u64(&num, (uint64_t)(x < 0 ? -x : x));
        mb_bigint_set_u64(&den, cnt);
        mb_bigint_mul_pow10(&den, (unsigned)scale);
        d = mb_bigint_ratio(&num, &den);
        ref_shortest(x < 0 ? -d : d, want, sizeof want);
        bad += strcmp(got, want) != 0;
        n++;
    }
    ok(bad == 0 && n > 0, "mean: fast and bignum paths agree on %zu quotients (%zu differ)", n,
       bad);
}

/* mb_format_double against the printf reference (ref_shortest): random
 * bit patterns, values near powers of ten and the range edges, and short
 * binary fractions whose decimal expansions end exactly half-way between
 * two 15-, 16- or 17-digit results, powers of two and their neighbours;
 * and every text reads back. */
static void test_double_format(void)
{
    size_t bad = 0, n = 0;

    for (int i = 0; i < 600000; i++) {
        double d;
        char got[64], want[64];
        uint64_t b = rnd();
        switch (i % 7) {
        case 6: {                             /* powers of two and their neighbours:
                                               * the ulp below is half the one above */
            double p = ldexp(1.0, (int)(rnd() % 80) - 20);
            d = (b & 3) == 0 ? p : nextafter(p, (b & 1) ? 0.0 : 1e300);
            break;
        }
        case 0:                               /* any finite double */
            memcpy(&d, &b, sizeof d);
            if (d != d || d - d != 0)
                continue;
            break;
        case 1:                               /* the positional range */
            d = ldexp((double)(b >> 11), (int)(rnd() % 120) - 80);
            break;
        case 2: {                             /* around powers of ten */
            double p = pow(10.0, (double)((int)(rnd() % 24) - 6));
            d = nextafter(p, (b & 1) ? 0.0 : 1e300);
            if (b & 2)
                d = p;
            break;
        }
        case 3:                               /* exact ties: short binary fractions */
            d = ldexp((double)(b % 1000003), -(int)(rnd() % 70));
            break;
        case 4:                               /* 17+ digit integers and their halves */
            d = (double)(b >> (10 + rnd() % 20)) / ((b & 1) ? 2.0 : 1.0);
            break;
        default:                              /* what means look like */
            d = (double)(int64_t)(b >> 12) / (double)(1 + rnd() % 100000) / 1e6;
            break;
        }
        if (rnd() & 1)
            d = -d;
        ref_shortest(d, want, sizeof want);
        if (mb_format_double(d, got, sizeof got) != MB_OK || strcmp(got, want) != 0 ||
            strtod(got, NULL) != d) {
            if (bad++ < 5)
                printf("# %a: got '%s', printf '%s'\n", d, got, want);
        }
        n++;
    }
    ok(bad == 0, "shortest round trip agrees with the printf reference on %zu doubles (%zu differ)",
       n, bad);
    {
        static const struct { double d; const char *t; } fixed[] = {
            {417.1, "417.1"}, {100.0, "100.0"}, {-0.0, "-0.0"}, {0.0001, "0.0001"},
            {0.00001, "1e-05"}, {1e15, "1000000000000000.0"}, {1e16, "1e+16"},
            {1.5e16, "1.5e+16"}, {0.1 + 0.2, "0.30000000000000004"}, {-2.5, "-2.5"},
            {1.0 / 3.0, "0.3333333333333333"}, {5e-324, "5e-324"}, {INFINITY, "inf"},
            {-INFINITY, "-inf"}, {NAN, "nan"}};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
            char got[64];
            ok(mb_format_double(fixed[i].d, got, sizeof got) == MB_OK &&
                   strcmp(got, fixed[i].t) == 0,
               "%s prints as %s (got %s)", fixed[i].t, fixed[i].t, got);
        }
    }
    {
        char small[4];
        ok(mb_format_double(123.25, small, sizeof small) == MB_ELIMIT && small[0] == '\0',
           "too small a buffer: MB_ELIMIT, emptied");
    }
}

int main(void)
{
    test_accumulators();
    test_text_exact();
    test_sort();
    test_format();
    test_double_format();
    printf("1..%d\n", tap_n);
    return tap_failed != 0;
}
