/* fuzz_agg.c - libFuzzer harness: decimal parsing, exact accumulators and big integers (agg.c, bigint.c), fast paths against general ones. */
/*
 * Input: a byte of needs, a byte that assigns values to three parts, eight
 * bytes of a raw double, then values separated by LF. Properties:
 *  - mb_dec_parse's short-number path and its general path (forced by a
 *    leading blank) agree; a parsed value printed and parsed again is the
 *    same decimal;
 *  - a compact accumulator fed text (mb_acc_add_text), one fed decimals
 *    (mb_acc_add) and a full state (mb_num_add) hold the same state after
 *    every value, and fail on the same values;
 *  - states merge associatively and commutatively, bit for bit, into the
 *    state of adding everything in order, also through mb_acc_merge and
 *    mb_acc_merge_acc; formatted results agree and fit exactly;
 *  - mb_format_double is the shortest text that reads back, as a printf
 *    loop finds it, laid out as DuckDB does; mb_format_i64 printf's PRId64;
 *  - big integers: ratio of products is exact, subtraction agrees with
 *    comparison, decimal text of 64-bit values is printf's.
 */
#include "agg/agg.h"
#include "agg/bigint.h"
#include "fuzz.h"

#include <inttypes.h>
#include <stdlib.h>

#define MAXV 64
#define TEXT_MAX 80
#define ALL_NEEDS (MB_NEED_SUM | MB_NEED_SUMSQ | MB_NEED_MINMAX)

static const mb_agg_kind KINDS[] = {MB_AGG_COUNT, MB_AGG_SUM, MB_AGG_MEAN, MB_AGG_MIN,
                                    MB_AGG_MAX,   MB_AGG_VAR, MB_AGG_STDDEV};

typedef struct value {
    char text[TEXT_MAX + 1];
    size_t len;
    mb_status st;
    mb_dec d;
} value;

/* An accumulator with room for every field, 16-byte aligned. */
typedef struct acc_box {
    _Alignas(16) unsigned char bytes[sizeof(mb_acc) + 4 * sizeof(mb_i128)];
} acc_box;

static mb_acc *acc_of(acc_box *b)
{
    memset(b->bytes, 0, sizeof b->bytes);
    return (mb_acc *)(void *)b->bytes;
}

/* The decimal text of m * 10^-scale (m's digits, a point inserted). */
static void dec_text(const mb_dec *d, char *out, size_t cap)
{
    char dig[48];
    size_t n = 0, o = 0, i;
    mb_u128 mag = d->m < 0 ? -(mb_u128)d->m : (mb_u128)d->m;

    do {
        dig[n++] = (char)('0' + (int)(mag % 10));
        mag /= 10;
    } while (mag);
    while (n <= (size_t)d->scale)
        dig[n++] = '0';
    if (d->m < 0)
        out[o++] = '-';
    for (i = n; i-- > 0;) {
        out[o++] = dig[i];
        if (i == (size_t)d->scale && i > 0)
            out[o++] = '.';
    }
    FZ_CHECK(o < cap, "decimal text too long");
    out[o] = '\0';
}

/* An independent look at the value: strtod's double of the text and the
 * parsed m * 10^-scale agree to well within double rounding. */
static void check_magnitude(const value *v)
{
    char *end;
    double want = strtod(v->text, &end), got = (double)v->d.m, tol;
    int32_t k;

    for (k = 0; k < v->d.scale; k++)
        got /= 10;
    tol = 1e-12 * (want < 0 ? -want : want);
    FZ_CHECK(got - want <= tol && want - got <= tol,
             "'%s' parsed as %.17g (m %s0, scale %d), strtod says %.17g", v->text, got,
             v->d.m == 0 ? "=" : "!", (int)v->d.scale, want);
}

static void check_parse(value *v)
{
    char spaced[TEXT_MAX + 3], again[64];
    mb_dec g, r;
    mb_err e;
    mb_status gs;

    memset(&v->d, 0, sizeof v->d);
    memset(&g, 0, sizeof g);
    v->st = mb_dec_parse(v->text, v->len, &v->d, &e);
    snprintf(spaced, sizeof spaced, " %s ", v->text);
    gs = mb_dec_parse(spaced, v->len + 2, &g, NULL);
    FZ_CHECK(gs == v->st, "'%s': the short path says %d, the general one %d", v->text,
             (int)v->st, (int)gs);
    FZ_CHECK(v->st == MB_OK || v->st == MB_EDATA || v->st == MB_ERANGE,
             "'%s': status %d", v->text, (int)v->st);
    if (v->st != MB_OK) {
        FZ_CHECK(e.msg[0] != '\0', "'%s': an error without a message", v->text);
        return;
    }
    FZ_CHECK(g.m == v->d.m && g.scale == v->d.scale && !g.nonint == !v->d.nonint,
             "'%s': the short and general paths parse different numbers", v->text);
    FZ_CHECK(v->d.scale >= 0 && v->d.scale <= MB_DEC_MAX_SCALE, "'%s': scale %d", v->text,
             (int)v->d.scale);
    check_magnitude(v);
    dec_text(&v->d, again, sizeof again);
    FZ_CHECK(mb_dec_parse(again, strlen(again), &r, NULL) == MB_OK && r.m == v->d.m &&
                 r.scale == v->d.scale,
             "'%s' printed as '%s' parses to another number", v->text, again);
}

static int same_state(const mb_numstate *a, const mb_numstate *b)
{
    return a->n == b->n && a->scale == b->scale && !a->nonint == !b->nonint &&
           memcmp(&a->sum, &b->sum, sizeof a->sum) == 0 &&
           memcmp(&a->sumsq, &b->sumsq, sizeof a->sumsq) == 0 &&
           memcmp(&a->min, &b->min, sizeof a->min) == 0 &&
           memcmp(&a->max, &b->max, sizeof a->max) == 0;
}

/* The fields `need` maintains (the others are not defined). */
static void mask_state(mb_numstate *s, unsigned need)
{
    if (!(need & (MB_NEED_SUM | MB_NEED_SUMSQ)))
        memset(&s->sum, 0, sizeof s->sum);
    if (!(need & MB_NEED_SUMSQ))
        memset(&s->sumsq, 0, sizeof s->sumsq);
    if (!(need & MB_NEED_MINMAX) || s->n == 0) {
        memset(&s->min, 0, sizeof s->min);
        memset(&s->max, 0, sizeof s->max);
    }
}

static void expect_same(const mb_numstate *a, const mb_numstate *b, unsigned need,
                        const char *what)
{
    mb_numstate x = *a, y = *b;

    mask_state(&x, need);
    mask_state(&y, need);
    FZ_CHECK(same_state(&x, &y), "%s: the states differ (n %" PRId64 "/%" PRId64
             ", scale %d/%d)", what, x.n, y.n, (int)x.scale, (int)y.scale);
}

/* Adds every value three ways; returns 1 when no add failed. */
static int check_adds(value *v, size_t nv, unsigned need, mb_numstate *all)
{
    acc_box bt, bd;
    mb_acc *at = acc_of(&bt), *ad = acc_of(&bd);
    mb_spill st_sp = {0}, sd_sp = {0};
    mb_numstate gt, gd;
    mb_status s1, s2, s3;
    size_t i;
    int clean = 1;

    mb_num_init(all);
    for (i = 0; i < nv; i++) {
        s1 = mb_acc_add_text(at, v[i].text, v[i].len, need, &st_sp, NULL);
        if (v[i].st != MB_OK) {
            FZ_CHECK(s1 == v[i].st, "'%s': add_text says %d, parsing %d", v[i].text, (int)s1,
                     (int)v[i].st);
            continue;
        }
        s2 = mb_acc_add(ad, &v[i].d, need, &sd_sp, NULL);
        s3 = mb_num_add(all, &v[i].d, need, NULL);
        FZ_CHECK(s1 == s3 && s2 == s3, "'%s': add_text %d, acc_add %d, num_add %d", v[i].text,
                 (int)s1, (int)s2, (int)s3);
        clean &= s3 == MB_OK;
        mb_acc_get(at, need, &st_sp, &gt);
        mb_acc_get(ad, need, &sd_sp, &gd);
        expect_same(&gt, all, need, "accumulator fed text vs full state");
        expect_same(&gd, all, need, "accumulator fed decimals vs full state");
    }
    free(st_sp.v);
    free(sd_sp.v);
    return clean;
}

/* dst := a (+) b; 1 when it worked. */
static int merged(mb_numstate *dst, const mb_numstate *a, const mb_numstate *b, unsigned need)
{
    *dst = *a;
    return mb_num_merge(dst, b, need, NULL) == MB_OK;
}

static void check_format(const mb_numstate *a, const mb_numstate *b, unsigned need)
{
    char x[160], y[160];
    size_t i, n;
    int ic;

    for (i = 0; i < MB_ARRAY_LEN(KINDS); i++) {
        unsigned kneed = mb_agg_needs(KINDS[i]);
        if ((kneed & need) != kneed)
            continue;
        for (ic = 0; ic <= (a->nonint ? 0 : 1); ic++) {
            FZ_CHECK(mb_num_format(a, KINDS[i], ic, x, sizeof x) == MB_OK &&
                         mb_num_format(b, KINDS[i], ic, y, sizeof y) == MB_OK,
                     "format of kind %d failed", (int)KINDS[i]);
            FZ_CHECK(strcmp(x, y) == 0, "kind %d formats as '%s' and '%s'", (int)KINDS[i], x,
                     y);
            n = strlen(x);
            FZ_CHECK(mb_num_format(a, KINDS[i], ic, y, n + 1) == MB_OK && strcmp(x, y) == 0,
                     "kind %d: '%s' does not fit %zu bytes", (int)KINDS[i], x, n + 1);
            if (n > 0)
                FZ_CHECK(mb_num_format(a, KINDS[i], ic, y, n) == MB_ELIMIT,
                         "kind %d: '%s' claims to fit %zu bytes", (int)KINDS[i], x, n);
        }
    }
}

/* The compact merges: acc of p (+) state q, and acc (+) acc. */
static void check_acc_merge(const mb_numstate *p, const mb_numstate *q, const mb_numstate *want,
                            value *v, size_t nv, const uint8_t *part, uint8_t which,
                            unsigned need)
{
    acc_box ba, bb;
    mb_acc *a = acc_of(&ba), *b = acc_of(&bb);
    mb_spill sa = {0}, sb = {0};
    mb_numstate got;
    size_t i;
    mb_status st;

    for (i = 0; i < nv; i++)
        if (v[i].st == MB_OK &&
            mb_acc_add(part[i] == which ? a : b, &v[i].d, need, part[i] == which ? &sa : &sb,
                       NULL) != MB_OK)
            goto out; /* a partial sum overflowed where the whole did not */
    mb_acc_get(a, need, &sa, &got);
    expect_same(&got, p, need, "accumulator of one part vs its full state");
    if (!(b->flags & MB_ACC_SPILLED)) {
        st = mb_acc_merge_acc(a, b, need, &sa, NULL);
        FZ_CHECK(st == MB_OK, "merge_acc failed (%d) where the full merge did not", (int)st);
        mb_acc_get(a, need, &sa, &got);
        expect_same(&got, want, need, "acc (+) acc vs full merge");
    } else {
        st = mb_acc_merge(a, q, need, &sa, NULL);
        FZ_CHECK(st == MB_OK, "acc_merge failed (%d) where the full merge did not", (int)st);
        mb_acc_get(a, need, &sa, &got);
        expect_same(&got, want, need, "acc (+) state vs full merge");
    }
out:
    free(sa.v);
    free(sb.v);
}

static void check_merges(value *v, size_t nv, const uint8_t *part, unsigned need,
                         const mb_numstate *all)
{
    mb_numstate p[3], ab, bc, ca, l, r, c;
    size_t i;

    for (i = 0; i < 3; i++)
        mb_num_init(&p[i]);
    for (i = 0; i < nv; i++)
        if (v[i].st == MB_OK && mb_num_add(&p[part[i]], &v[i].d, need, NULL) != MB_OK)
            return;
    if (!merged(&ab, &p[0], &p[1], need) || !merged(&l, &ab, &p[2], need) ||
        !merged(&bc, &p[1], &p[2], need) || !merged(&r, &p[0], &bc, need) ||
        !merged(&ca, &p[2], &p[0], need) || !merged(&c, &ca, &p[1], need))
        return; /* an intermediate overflowed: orders may differ then */
    expect_same(&l, &r, need, "(a+b)+c vs a+(b+c)");
    expect_same(&l, &c, need, "(a+b)+c vs (c+a)+b");
    expect_same(&l, all, need, "merged parts vs everything added in order");
    check_format(&l, &r, need);
    check_acc_merge(&p[0], &bc, &l, v, nv, part, 0, need);
}

static void check_doubles(double d)
{
    char mine[64], ref[64], buf[40];
    int prec, exp;

    if (mb_format_double(d, mine, sizeof mine) != MB_OK)
        fz_fail("format_double failed on %a", d);
    if (d != d || d - d != 0)
        return;                         /* nan, inf: fixed words */
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    exp = (int)strtol(strchr(buf, 'e') + 1, NULL, 10);
    if (exp < -4 || exp >= 16)
        snprintf(ref, sizeof ref, "%s", buf);
    else
        snprintf(ref, sizeof ref, "%.*f", prec - 1 - exp > 1 ? prec - 1 - exp : 1, d);
    FZ_CHECK(strcmp(mine, ref) == 0, "%a formats as '%s', printf says '%s'", d, mine, ref);
}

static void check_i64(int64_t x)
{
    char mine[32], ref[32];

    FZ_CHECK(mb_format_i64(x, mine, sizeof mine) == MB_OK, "format_i64 failed");
    snprintf(ref, sizeof ref, "%" PRId64, x);
    FZ_CHECK(strcmp(mine, ref) == 0, "%s formats as '%s'", ref, mine);
}

static void bigint_of(mb_bigint *b, mb_i128 m)
{
    mb_u128 mag = m < 0 ? -(mb_u128)m : (mb_u128)m;
    uint64_t w[2] = {(uint64_t)mag, (uint64_t)(mag >> 64)};

    mb_bigint_set_limbs(b, w, 2);
}

static void check_bigint(mb_i128 x, mb_i128 y, unsigned k)
{
    mb_bigint a, b, ab, r, back;
    char mine[64], ref[64];
    double q;

    bigint_of(&a, x);
    bigint_of(&b, y);
    if (a.len <= 1) {
        FZ_CHECK(mb_bigint_format(&a, x < 0, mine, sizeof mine) == 0, "bigint format failed");
        snprintf(ref, sizeof ref, "%s%" PRIu64, x < 0 && a.len ? "-" : "", a.len ? a.w[0] : 0);
        FZ_CHECK(strcmp(mine, ref) == 0, "bigint %s formats as '%s'", ref, mine);
    }
    FZ_CHECK((mb_bigint_sub(&r, &a, &b) == 0) == (mb_bigint_cmp(&a, &b) >= 0),
             "subtraction and comparison disagree");
    if (b.len == 0 || mb_bigint_mul(&ab, &a, &b) != 0)
        return;
    if (mb_bigint_mul_pow10(&ab, k) != 0 || mb_bigint_mul_pow10(&b, k) != 0)
        return;
    q = mb_bigint_ratio(&ab, &b);
    /* a*b*10^k / (b*10^k) is a, exactly: the ratio is a correctly rounded. */
    FZ_CHECK(q == mb_bigint_ratio(&a, &(mb_bigint){1, {1}}), "a*b/b is not a (%a)", q);
    if (a.len <= 1 && a.w[0] < ((uint64_t)1 << 53))
        FZ_CHECK(q == (double)a.w[0], "a*b/b rounds %" PRIu64 " to %a", a.w[0], q);
    if (mb_bigint_sub(&back, &ab, &ab) == 0)
        FZ_CHECK(back.len == 0, "x - x is not 0");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static value v[MAXV];
    static uint8_t part[MAXV];
    fz_in in = {data, size};
    unsigned need = fz_u8(&in) & ALL_NEEDS;
    uint8_t sel = fz_u8(&in);
    uint64_t bits = fz_u64(&in);
    double d;
    size_t nv = 0, i;
    mb_numstate all;

    memcpy(&d, &bits, sizeof d);
    check_doubles(d);
    check_i64((int64_t)bits);
    while (in.n && nv < MAXV) {
        const uint8_t *nl = memchr(in.p, '\n', in.n);
        size_t len = nl ? (size_t)(nl - in.p) : in.n, take;
        const uint8_t *p = fz_bytes(&in, len, &take);

        fz_u8(&in); /* the LF */
        if (take > TEXT_MAX || memchr(p, '\0', take))
            continue;
        memcpy(v[nv].text, p, take);
        v[nv].text[take] = '\0';
        v[nv].len = take;
        part[nv] = (uint8_t)((sel + nv * 7 + (take ? p[0] : 0)) % 3);
        check_parse(&v[nv]);
        if (v[nv].st == MB_OK && v[nv].d.m > -((mb_i128)1 << 100) &&
            v[nv].d.m < ((mb_i128)1 << 100))
            check_doubles((double)v[nv].d.m / 7.0);
        nv++;
    }
    if (check_adds(v, nv, need, &all))
        check_merges(v, nv, part, need, &all);
    for (i = 0; i + 1 < nv; i++)
        if (v[i].st == MB_OK && v[i + 1].st == MB_OK)
            check_bigint(v[i].d.m, v[i + 1].d.m, (unsigned)(v[i].d.scale % 40));
    return 0;
}
