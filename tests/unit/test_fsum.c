/* test_fsum.c - exact sums of doubles: known answers, order and partition
 * independence, mean and variance, the byte form and its validation.
 * `test_fsum --bench` instead times 1e8 adds against a plain `+=`. */
#include "agg/fsum.h"
#include "tap.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__extension__ typedef __int128 i128;

static uint64_t rng = 0x9e3779b97f4a7c15u;

/* splitmix64: seeded, so that every run checks the same cases. */
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

static double from_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

static uint64_t to_bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static int same(double a, double b)
{
    return to_bits(a) == to_bits(b);
}

/* A finite double with a uniformly random exponent field (subnormals too),
 * sign and significand: magnitudes from 2^-1074 to DBL_MAX. */
static double rnd_wide(void)
{
    uint64_t b = rnd();
    uint64_t ef = rnd_below(2047);
    return from_bits((b & 0x800fffffffffffffu) | (ef << 52));
}

/* A mix: a third wide (below 2^477, so that sums of squares and variances
 * stay finite), a third near 1, a third tiny. */
static double rnd_mix(void)
{
    switch (rnd_below(3)) {
    case 0:
        return from_bits((rnd() & 0x800fffffffffffffu) | ((uint64_t)rnd_below(1500) << 52));
    case 1:
        return ldexp((double)(rnd() >> 11), -(int)rnd_below(60)) * (rnd() & 1 ? -1 : 1);
    default:
        return ldexp((double)(rnd() >> 11), -1074 - (int)rnd_below(20) + (int)rnd_below(80));
    }
}

static double sum_of(const double *x, size_t n)
{
    mb_fsum s;
    mb_fsum_init(&s);
    for (size_t i = 0; i < n; i++)
        mb_fsum_add(&s, x[i]);
    return mb_fsum_value(&s);
}

static double sumsq_of(const double *x, size_t n)
{
    mb_fsumsq q;
    mb_fsumsq_init(&q);
    for (size_t i = 0; i < n; i++)
        mb_fsumsq_add(&q, x[i]);
    return mb_fsumsq_value(&q);
}

static double mean_of(const double *x, size_t n)
{
    mb_fsum s;
    mb_fsum_init(&s);
    for (size_t i = 0; i < n; i++)
        mb_fsum_add(&s, x[i]);
    return mb_fsum_mean(&s);
}

static double var_of(const double *x, size_t n, int sample)
{
    mb_fsum s;
    mb_fsumsq q;
    mb_fsum_init(&s);
    mb_fsumsq_init(&q);
    for (size_t i = 0; i < n; i++) {
        mb_fsum_add(&s, x[i]);
        mb_fsumsq_add(&q, x[i]);
    }
    return mb_fsum_var(&s, &q, sample);
}

#define SUM(...) sum_of((const double[]){__VA_ARGS__}, MB_ARRAY_LEN(((const double[]){__VA_ARGS__})))
#define N_OF(...) MB_ARRAY_LEN(((const double[]){__VA_ARGS__}))
#define ARR(...) ((const double[]){__VA_ARGS__}), N_OF(__VA_ARGS__)

static void is_dbl(double got, double want, const char *what)
{
    if (!ok(same(got, want), "%s", what))
        printf("#   got %a (%.17g)\n#   expected %a (%.17g)\n", got, got, want, want);
}

static void test_known(void)
{
    double tenth[10], ld = 0;
    long double acc = 0;
    double tiny = ldexp(1, -1074);

    is_dbl(SUM(1e100, 1, -1e100), 1.0, "1e100 + 1 - 1e100 = 1");
    is_dbl(SUM(1, 1e100, -1e100), 1.0, "1 + 1e100 - 1e100 = 1");
    for (int i = 0; i < 10; i++) {
        tenth[i] = 0.1;
        acc += 0.1;
        ld += 0.1;
    }
    /* 10 * 0.1 is 1 + 2^-54 exactly, which rounds to 1; the long double
     * sum (exact: 57 bits) rounded once agrees, the naive one does not. */
    is_dbl(sum_of(tenth, 10), 1.0, "0.1 added 10 times is 1.0, correctly rounded");
    is_dbl(sum_of(tenth, 10), (double)acc, "... as the long double sum rounded once");
    ok(ld != 1.0, "... where a plain loop of += gives %.17g", ld);

    is_dbl(SUM(1, ldexp(1, -53)), 1.0, "1 + 2^-53: a tie rounds to even (down)");
    is_dbl(SUM(1 + DBL_EPSILON, ldexp(1, -53)), 1 + 2 * DBL_EPSILON,
           "1 + 2^-52 + 2^-53: a tie rounds to even (up)");
    is_dbl(SUM(1, ldexp(1, -53), tiny), 1 + DBL_EPSILON,
           "1 + 2^-53 + 2^-1074: a bit far below breaks the tie upwards");
    is_dbl(SUM(1, -ldexp(1, -54)), 1.0, "1 - 2^-54: a tie rounds to even (1)");
    is_dbl(SUM(1, -ldexp(1, -54), -tiny), 1 - DBL_EPSILON / 2,
           "1 - 2^-54 - 2^-1074 rounds down to the double below 1");

    is_dbl(SUM(tiny, tiny, tiny), 3 * tiny, "three smallest subnormals");
    is_dbl(SUM(DBL_MIN, -tiny, tiny), DBL_MIN, "DBL_MIN - 2^-1074 + 2^-1074");
    is_dbl(SUM(DBL_MIN - tiny, tiny), DBL_MIN, "the largest subnormal + 2^-1074 = DBL_MIN");
    is_dbl(SUM(-tiny, tiny), 0.0, "2^-1074 - 2^-1074 = +0");
    is_dbl(SUM(ldexp(1, -1074), ldexp(1, 1023), -ldexp(1, 1023)), tiny,
           "2^-1074 survives 2^1023 - 2^1023");

    is_dbl(sum_of(NULL, 0), 0.0, "nothing added: +0");
    is_dbl(SUM(-0.0), -0.0, "-0 alone: -0 (IEEE: -0 + -0 = -0)");
    is_dbl(SUM(-0.0, -0.0, -0.0), -0.0, "-0 three times: -0");
    is_dbl(SUM(-0.0, 0.0), 0.0, "-0 + +0 = +0");
    is_dbl(SUM(0.0, -0.0), 0.0, "+0 + -0 = +0");
    is_dbl(SUM(1, -1), 0.0, "1 - 1 = +0");
    is_dbl(SUM(-1, 1, -0.0), 0.0, "-1 + 1 + -0 = +0");
    is_dbl(SUM(-0.0, -tiny), -tiny, "-0 - 2^-1074");

    is_dbl(SUM(DBL_MAX, DBL_MAX), HUGE_VAL, "DBL_MAX + DBL_MAX = inf");
    is_dbl(SUM(-DBL_MAX, -DBL_MAX), -HUGE_VAL, "-DBL_MAX - DBL_MAX = -inf");
    is_dbl(SUM(DBL_MAX, DBL_MAX, -DBL_MAX), DBL_MAX,
           "DBL_MAX + DBL_MAX - DBL_MAX = DBL_MAX (no intermediate overflow)");
    is_dbl(SUM(DBL_MAX, ldexp(1, 970)), HUGE_VAL, "DBL_MAX + half an ulp rounds to inf");
    is_dbl(SUM(DBL_MAX, ldexp(1, 969)), DBL_MAX, "DBL_MAX + a quarter ulp stays");
    is_dbl(SUM(DBL_MAX, ldexp(1, 970), -tiny), DBL_MAX,
           "DBL_MAX + half an ulp - 2^-1074 stays DBL_MAX");

    ok(isnan(SUM(HUGE_VAL, -HUGE_VAL)), "inf - inf = NaN");
    is_dbl(SUM(HUGE_VAL, 1, HUGE_VAL), HUGE_VAL, "inf + 1 + inf = inf");
    is_dbl(SUM(-HUGE_VAL, -DBL_MAX), -HUGE_VAL, "-inf - DBL_MAX = -inf");
    ok(isnan(SUM(NAN, 1)), "NaN + 1 = NaN");
    ok(isnan(SUM(1, -NAN, HUGE_VAL)), "1 + -NaN + inf = NaN");
    ok(isnan(SUM(HUGE_VAL, NAN, -HUGE_VAL)), "inf + NaN - inf = NaN");
    ok(!signbit(SUM(-NAN)), "the NaN returned is the positive quiet NaN");
}

/* Many additions: carry sweeps, and the headroom of the top limb. */
static void test_many(void)
{
    mb_fsum s;

    mb_fsum_init(&s);
    for (int i = 0; i < 3000; i++)
        mb_fsum_add(&s, DBL_MAX);
    for (int i = 0; i < 2999; i++)
        mb_fsum_add(&s, -DBL_MAX);
    mb_fsum_add(&s, 5);
    is_dbl(mb_fsum_value(&s), DBL_MAX, "3000 DBL_MAX - 2999 DBL_MAX + 5 = DBL_MAX");
    mb_fsum_add(&s, -DBL_MAX);
    is_dbl(mb_fsum_value(&s), 5.0, "... - DBL_MAX = 5");

    mb_fsum_init(&s);
    for (int i = 0; i < 1000000; i++)
        mb_fsum_add(&s, ldexp(1, -1074));
    is_dbl(mb_fsum_value(&s), ldexp(1e6, -1074), "a million 2^-1074");
    for (int i = 0; i < 5000; i++)
        mb_fsum_add(&s, -DBL_MAX);
    for (int i = 0; i < 5000; i++)
        mb_fsum_add(&s, DBL_MAX);
    is_dbl(mb_fsum_value(&s), ldexp(1e6, -1074), "... survive 5000 -DBL_MAX and +DBL_MAX");
}

/* Merges of states just before, at and after a carry sweep, with every add
 * putting the largest digit into one limb: the headroom holds. */
static void test_headroom(void)
{
    const uint64_t m = ((uint64_t)1 << 53) - 1;
    const long ks[] = {1, MB_FSUM_LAZY - 1, MB_FSUM_LAZY, MB_FSUM_LAZY + 1, 2 * MB_FSUM_LAZY - 1,
                       5 * MB_FSUM_LAZY + 7};
    int bad = 0;

    for (size_t t = 0; t < MB_ARRAY_LEN(ks); t++)
        for (int sign = -1; sign <= 1; sign += 2)
            for (int j = 0; j <= 37; j += 37) {
                /* m * 2^(53 j - 1074) sits exactly in limb j (j = 37: 2^935). */
                double v = sign * ldexp((double)m, 53 * j - 1074);
                mb_fsum a, b;
                mb_fsum_init(&a);
                mb_fsum_init(&b);
                for (long i = 0; i < ks[t]; i++) {
                    mb_fsum_add(&a, v);
                    mb_fsum_add(&b, v);
                }
                mb_fsum_merge(&a, &b);
                mb_fsum_merge(&b, &a);
                /* (double)k * m: one correctly rounded product of exact doubles */
                bad += !same(mb_fsum_value(&a),
                             sign * ldexp((double)(2 * ks[t]) * (double)m, 53 * j - 1074)) ||
                       !same(mb_fsum_value(&b),
                             sign * ldexp((double)(3 * ks[t]) * (double)m, 53 * j - 1074));
            }
    ok(bad == 0, "k full digits added to two states, merged: exact around the sweeps (%d wrong)",
       bad);
}

/* A reference independent of fsum: values m * 2^e with e in [-40, 0] sum
 * exactly in a 128-bit integer of units 2^-40, which the compiler converts
 * to double correctly rounded. */
static void test_reference(void)
{
    enum { N = 100000 };
    static double x[N + 3];
    i128 exact = 0;
    int bad = 0;

    for (int round = 0; round < 5; round++) {
        exact = 0;
        for (size_t i = 0; i < N; i++) {
            int64_t m = (int64_t)(rnd() >> 11) * (rnd() & 1 ? -1 : 1);
            int e = -(int)rnd_below(41);
            if (round == 4)
                m = (int64_t)(rnd() >> 11);  /* one sign: a large sum */
            x[i] = ldexp((double)m, e);
            exact += (i128)m * ((i128)1 << (40 + e));
        }
        bad += !same(sum_of(x, N), ldexp((double)exact, -40));
    }
    ok(bad == 0, "5 x 1e5 random values: the correctly rounded exact sum (%d wrong)", bad);

    /* Wide-range values and their negations cancel, leaving a known part. */
    for (size_t i = 0; i < N / 2; i++) {
        x[i] = rnd_mix();
        x[N / 2 + i] = -x[i];
    }
    x[N] = 1.0;
    x[N + 1] = ldexp(1, -40);
    x[N + 2] = ldexp(1, -1074);
    for (size_t i = N + 2; i > 0; i--) {
        size_t j = rnd_below(i + 1);
        double t = x[i];
        x[i] = x[j], x[j] = t;
    }
    is_dbl(sum_of(x, N + 3), 1.0 + ldexp(1, -40),
           "5e4 wide values, their negations, 1, 2^-40, 2^-1074: 1 + 2^-40");
    for (size_t i = 0; i < N + 3; i++)
        if (x[i] == 1.0 || x[i] == ldexp(1, -40))
            x[i] = 0;
    is_dbl(sum_of(x, N + 3), ldexp(1, -1074), "... without 1 and 2^-40: 2^-1074");
}

static void test_squares(void)
{
    double tiny[64];

    is_dbl(sumsq_of(ARR(3, -4)), 25.0, "3^2 + (-4)^2 = 25");
    is_dbl(sumsq_of(ARR(0.1)), 0.1 * 0.1, "0.1^2 as the correctly rounded product");
    is_dbl(sumsq_of(ARR(ldexp(1, 600))), HUGE_VAL, "(2^600)^2 = inf");
    is_dbl(sumsq_of(ARR(ldexp(1, 600), -ldexp(1, 600))), HUGE_VAL, "twice");
    is_dbl(sumsq_of(ARR(ldexp(1, 511))), ldexp(1, 1022), "(2^511)^2 = 2^1022");
    is_dbl(sumsq_of(ARR(-0.0)), 0.0, "(-0)^2 = +0");
    for (int i = 0; i < 64; i++)
        tiny[i] = ldexp(1, -540) * (i & 1 ? -1 : 1);
    is_dbl(sumsq_of(tiny, 64), ldexp(1, -1074),
           "64 x (2^-540)^2 = 2^-1074 exactly (each square alone underflows)");
    is_dbl(sumsq_of(tiny, 32), 0.0, "32 of them: 2^-1075, a tie, rounds to 0");
    is_dbl(sumsq_of(ARR(1 + DBL_EPSILON)), 1 + 2 * DBL_EPSILON,
           "(1 + 2^-52)^2 = 1 + 2^-51 + 2^-104 rounds to 1 + 2^-51");
    is_dbl(sumsq_of(ARR(HUGE_VAL, -HUGE_VAL)), HUGE_VAL, "inf^2 + (-inf)^2 = inf");
    ok(isnan(sumsq_of(ARR(NAN, 1))), "NaN^2 + 1 = NaN");
}

static void test_mean(void)
{
    double tiny = ldexp(1, -1074);
    mb_fsum s;

    is_dbl(mean_of(ARR(1, 2)), 1.5, "mean(1, 2) = 1.5");
    is_dbl(mean_of(ARR(1, 1, 2)), 4.0 / 3, "mean(1, 1, 2) = 4/3 correctly rounded");
    is_dbl(mean_of(ARR(0.1, 0.2, 0.3)), 0.2000000000000000111, "mean(0.1, 0.2, 0.3)");
    is_dbl(mean_of(ARR(DBL_MAX, DBL_MAX)), DBL_MAX, "mean(DBL_MAX, DBL_MAX) does not overflow");
    is_dbl(mean_of(ARR(3 * tiny, 0)), 2 * tiny, "mean(3 * 2^-1074, 0): a tie to even (up)");
    is_dbl(mean_of(ARR(tiny, 0)), 0.0, "mean(2^-1074, 0): a tie to even (down)");
    is_dbl(mean_of(ARR(tiny, 0, 0)), 0.0, "mean(2^-1074, 0, 0) rounds down");
    is_dbl(mean_of(ARR(2 * tiny, 0, 0)), tiny, "mean(2 * 2^-1074, 0, 0) rounds up");
    is_dbl(mean_of(ARR(-3 * tiny, 0)), -2 * tiny, "mean(-3 * 2^-1074, 0) = -2 * 2^-1074");
    is_dbl(mean_of(ARR(-0.0, -0.0)), -0.0, "mean(-0, -0) = -0");
    is_dbl(mean_of(ARR(-1, 1)), 0.0, "mean(-1, 1) = +0");
    is_dbl(mean_of(ARR(HUGE_VAL, 1)), HUGE_VAL, "mean(inf, 1) = inf");
    ok(isnan(mean_of(ARR(HUGE_VAL, -HUGE_VAL))), "mean(inf, -inf) = NaN");
    mb_fsum_init(&s);
    ok(isnan(mb_fsum_mean(&s)), "mean of nothing: NaN");
}

static void test_var(void)
{
    enum { N = 1000 };
    static double x[N], y[N];
    int64_t sx = 0, sxx = 0;
    double a = ldexp(1, 520), b = a + ldexp(1, 468), tiny3 = 3 * ldexp(1, -538);
    mb_fsum s;
    mb_fsumsq q;

    for (int i = 0; i < N; i++) {
        int64_t v = (int64_t)rnd_below(2001) - 1000;
        x[i] = (double)v;
        y[i] = 1e15 + (double)v;
        sx += v;
        sxx += v * v;
    }
    /* N sum(x^2) - sum(x)^2 and the denominators are exact doubles here, so
     * one IEEE division gives the correctly rounded variance. */
    is_dbl(var_of(x, N, 1), (double)(N * sxx - sx * sx) / ((double)N * (N - 1)),
           "var_samp of 1000 random integers: correctly rounded");
    is_dbl(var_of(x, N, 0), (double)(N * sxx - sx * sx) / ((double)N * N),
           "var_pop of 1000 random integers: correctly rounded");
    is_dbl(var_of(y, N, 1), var_of(x, N, 1), "... the same with 1e15 added to each value");
    is_dbl(var_of(y, N, 0), var_of(x, N, 0), "... var_pop too");
    is_dbl(var_of(ARR(a, b), 1), ldexp(1, 935), "var_samp(2^520, 2^520 + 2^468) = 2^935");
    is_dbl(var_of(ARR(a, b), 0), ldexp(1, 934),
           "var_pop of the same: 2^934 (where x*x overflows a double)");
    is_dbl(var_of(ARR(0, tiny3), 1), ldexp(1, -1074), "var_samp(0, 3 * 2^-538) = 1.125 * 2^-1074");
    is_dbl(var_of(ARR(0, tiny3), 0), ldexp(1, -1074), "var_pop of the same: 0.5625 * 2^-1074");
    is_dbl(var_of(ARR(0, ldexp(1, -537)), 1), 0.0, "var_samp(0, 2^-537) = 2^-1075: a tie, 0");
    is_dbl(var_of(ARR(DBL_MAX, -DBL_MAX), 0), HUGE_VAL, "var_pop(DBL_MAX, -DBL_MAX) = inf");
    is_dbl(var_of(ARR(0.1, 0.1, 0.1, 0.1, 0.1), 1), 0.0, "var_samp of five 0.1 is exactly 0");
    is_dbl(var_of(ARR(1, 2, 3, 4), 1), 5.0 / 3, "var_samp(1, 2, 3, 4) = 5/3");
    is_dbl(var_of(ARR(1, 2, 3, 4), 0), 1.25, "var_pop(1, 2, 3, 4) = 1.25");
    is_dbl(var_of(ARR(7), 0), 0.0, "var_pop of one value: 0");
    ok(isnan(var_of(ARR(7), 1)), "var_samp of one value: NaN");
    ok(isnan(var_of(NULL, 0, 0)), "var_pop of nothing: NaN");
    ok(isnan(var_of(ARR(1, HUGE_VAL), 1)), "var_samp with an inf: NaN");
    ok(isnan(var_of(ARR(1, NAN, 2), 0)), "var_pop with a NaN: NaN");

    mb_fsum_init(&s);
    mb_fsumsq_init(&q);
    mb_fsum_add(&s, 1);
    mb_fsum_add(&s, 2);
    mb_fsumsq_add(&q, 1);
    ok(isnan(mb_fsum_var(&s, &q, 0)), "states of different counts: NaN");
    mb_fsumsq_add(&q, 0);
    ok(isnan(mb_fsum_var(&s, &q, 0)), "states that were not built together (D < 0): NaN");
}

static size_t packed(const mb_fsum *s, unsigned char *buf)
{
    size_t n = mb_fsum_pack(s, buf, MB_FSUM_PACK_MAX);
    assert(n <= MB_FSUM_PACK_MAX);
    return n;
}

static size_t packed_sq(const mb_fsumsq *q, unsigned char *buf)
{
    size_t n = mb_fsumsq_pack(q, buf, MB_FSUMSQ_PACK_MAX);
    assert(n <= MB_FSUMSQ_PACK_MAX);
    return n;
}

/* Every order and every split into merged parts gives the same bytes. */
static void test_order(int full)
{
    enum { N = 100000, PERM = 20, PARTS = 100 };
    static double x[N];
    static mb_fsum part[PARTS];
    static mb_fsumsq partq[PARTS];
    unsigned char ref[MB_FSUM_PACK_MAX], got[MB_FSUM_PACK_MAX];
    unsigned char refq[MB_FSUMSQ_PACK_MAX], gotq[MB_FSUMSQ_PACK_MAX];
    size_t nref = 0, nrefq = 0;
    double vref = 0, qref = 0, varref = 0;
    int bad_order = 0, bad_split = 0;
    mb_fsum s;
    mb_fsumsq q;

    const char *what = full ? "1e5 values of the full range" : "1e5 mixed values";

    for (size_t i = 0; i < N; i++)
        x[i] = full ? rnd_wide() : rnd_mix();
    for (size_t i = 0; i < N / 4; i++)   /* cancellation: the result is not dominated */
        x[N / 2 + i] = -x[i];
    for (int p = 0; p <= PERM; p++) {
        if (p > 0)
            for (size_t i = N - 1; i > 0; i--) {
                size_t j = rnd_below(i + 1);
                double t = x[i];
                x[i] = x[j], x[j] = t;
            }
        mb_fsum_init(&s);
        mb_fsumsq_init(&q);
        for (size_t i = 0; i < N; i++) {
            mb_fsum_add(&s, x[i]);
            mb_fsumsq_add(&q, x[i]);
        }
        if (p == 0) {
            nref = packed(&s, ref);
            nrefq = packed_sq(&q, refq);
            vref = mb_fsum_value(&s);
            qref = mb_fsumsq_value(&q);
            varref = mb_fsum_var(&s, &q, 1);
            continue;
        }
        bad_order += packed(&s, got) != nref || memcmp(got, ref, nref) != 0 ||
                     packed_sq(&q, gotq) != nrefq || memcmp(gotq, refq, nrefq) != 0 ||
                     !same(mb_fsum_value(&s), vref) || !same(mb_fsumsq_value(&q), qref) ||
                     !same(mb_fsum_var(&s, &q, 1), varref);
    }
    ok(bad_order == 0, "%s in 20 random orders: the same bytes and values (%d differ)", what,
       bad_order);
    if (full)
        ok(nref > 250 && isinf(vref), "... whose sum spans %zu bytes and overflows", nref);
    else
        ok(vref != 0 && isfinite(vref) && varref > 0 && isfinite(varref),
           "... and a nontrivial sum %.17g, variance %.17g", vref, varref);
    printf("# sum packs to %zu bytes, sum of squares to %zu\n", nref, nrefq);

    for (int round = 0; round < 20; round++) {
        size_t k = 1 + rnd_below(PARTS), live = k;
        for (size_t j = 0; j < k; j++) {
            mb_fsum_init(&part[j]);
            mb_fsumsq_init(&partq[j]);
        }
        for (size_t i = 0; i < N; i++) {
            size_t j = rnd_below(k);
            mb_fsum_add(&part[j], x[i]);
            mb_fsumsq_add(&partq[j], x[i]);
        }
        /* A random merge tree: any two live parts, the second into the first. */
        while (live > 1) {
            size_t a = rnd_below(live), b = rnd_below(live - 1);
            if (b >= a)
                b++;
            mb_fsum_merge(&part[a], &part[b]);
            mb_fsumsq_merge(&partq[a], &partq[b]);
            part[b] = part[live - 1];
            partq[b] = partq[live - 1];
            live--;
        }
        bad_split += packed(&part[0], got) != nref || memcmp(got, ref, nref) != 0 ||
                     packed_sq(&partq[0], gotq) != nrefq || memcmp(gotq, refq, nrefq) != 0 ||
                     !same(mb_fsum_var(&part[0], &partq[0], 1), varref);
    }
    ok(bad_split == 0, "%s, 20 random splits into up to 100 parts merged in random trees: "
       "same bytes (%d differ)", what, bad_split);
}

static mb_fsum fsum_of(const double *x, size_t n)
{
    mb_fsum s;
    mb_fsum_init(&s);
    for (size_t i = 0; i < n; i++)
        mb_fsum_add(&s, x[i]);
    return s;
}

static void test_pack(void)
{
    const double tiny = ldexp(1, -1074);
    struct { const char *name; mb_fsum s; } c[12];
    unsigned char buf[MB_FSUM_PACK_MAX], again[MB_FSUM_PACK_MAX], small[8];
    unsigned char qbuf[MB_FSUMSQ_PACK_MAX];
    double v[1000];
    size_t nc = 0, len;
    int bad = 0;
    mb_fsum s, t;
    mb_fsumsq q, q2;
    mb_err err;

    mb_fsum_init(&s);
    c[nc].name = "empty", c[nc++].s = s;
    c[nc].name = "-0", c[nc++].s = fsum_of(ARR(-0.0));
    c[nc].name = "1", c[nc++].s = fsum_of(ARR(1));
    c[nc].name = "-1", c[nc++].s = fsum_of(ARR(-1));
    c[nc].name = "inf, -inf, NaN", c[nc++].s = fsum_of(ARR(HUGE_VAL, -HUGE_VAL, NAN, 2));
    c[nc].name = "-DBL_MAX x 3", c[nc++].s = fsum_of(ARR(-DBL_MAX, -DBL_MAX, -DBL_MAX));
    c[nc].name = "-2^-1074", c[nc++].s = fsum_of(ARR(-tiny, 0.0));
    c[nc].name = "1e300 - 1e-300", c[nc++].s = fsum_of(ARR(1e300, -1e-300));
    for (size_t i = 0; i < 1000; i++)
        v[i] = rnd_mix();
    c[nc].name = "1000 mixed", c[nc++].s = fsum_of(v, 1000);
    for (size_t i = 0; i < nc; i++) {
        len = packed(&c[i].s, buf);
        memset(&t, 0xa5, sizeof t);
        if (mb_fsum_unpack(&t, buf, len, &err) != MB_OK) {
            printf("# %s: %s\n", c[i].name, err.msg);
            bad++;
            continue;
        }
        bad += packed(&t, again) != len || memcmp(again, buf, len) != 0 ||
               !same(mb_fsum_value(&t), mb_fsum_value(&c[i].s)) ||
               !same(mb_fsum_mean(&t), mb_fsum_mean(&c[i].s));
    }
    ok(bad == 0, "%zu states survive pack and unpack: same bytes, value and mean", nc);

    /* An unpacked state goes on accumulating like the original. */
    s = fsum_of(v, 500);
    len = packed(&s, buf);
    ok(mb_fsum_unpack(&t, buf, len, &err) == MB_OK, "half of the values, packed and unpacked");
    for (size_t i = 500; i < 1000; i++)
        mb_fsum_add(&t, v[i]);
    len = packed(&t, buf);
    ok(len == packed(&c[8].s, again) && memcmp(buf, again, len) == 0,
       "... plus the other half: the bytes of all of them");

    for (size_t i = 0; i < 1000; i++)
        v[i] = (double)rnd_below(1000000) / 1000;
    s = fsum_of(v, 1000);
    len = packed(&s, buf);
    ok(len <= 32, "1000 values of 0..1000 with 3 decimals pack to %zu bytes", len);
    memset(small, 0x5a, sizeof small);
    ok(mb_fsum_pack(&s, small, sizeof small) == len && small[0] == 0x5a && small[7] == 0x5a,
       "pack into too small a buffer: the size, nothing written");
    ok(mb_fsum_pack(&s, NULL, 0) == len, "pack into NULL, 0: the size");

    mb_fsumsq_init(&q);
    for (size_t i = 0; i < 1000; i++)
        mb_fsumsq_add(&q, v[i] * (i & 1 ? -1 : 1));
    mb_fsumsq_add(&q, ldexp(1, -1074));
    mb_fsumsq_add(&q, HUGE_VAL);
    len = packed_sq(&q, qbuf);
    ok(mb_fsumsq_unpack(&q2, qbuf, len, &err) == MB_OK && packed_sq(&q2, again) == len &&
           memcmp(again, qbuf, len) == 0,
       "a sum of squares survives pack and unpack (%zu bytes)", len);
    ok(mb_fsum_unpack(&t, qbuf, len, &err) == MB_EDATA && strstr(err.msg, "kind") != NULL,
       "a sum of squares is not a sum: %s", err.msg);
    len = packed(&s, buf);
    ok(mb_fsumsq_unpack(&q2, buf, len, &err) == MB_EDATA, "a sum is not a sum of squares");
}

/* Expects p[0..len) to be refused, with a message and t unchanged. */
static int refused(const unsigned char *p, size_t len, const char *want)
{
    mb_fsum t, before;
    mb_err err;
    mb_status st;

    memset(&t, 0x3c, sizeof t);
    before = t;
    err.msg[0] = 0;
    st = mb_fsum_unpack(&t, p, len, &err);
    if (st == MB_EDATA && err.code == MB_EDATA && memcmp(&t, &before, sizeof t) == 0 &&
        (want == NULL || strstr(err.msg, want) != NULL))
        return 1;
    printf("#   status %d, message '%s', expected '%s'\n", (int)st, err.msg, want ? want : "");
    return 0;
}

static void test_refuse(void)
{
    unsigned char buf[MB_FSUM_PACK_MAX], m[MB_FSUM_PACK_MAX + 4];
    size_t len;
    int bad = 0;
    mb_fsum s = fsum_of(ARR(1e300, 1, -3.5e-200));
    mb_err err;

    len = packed(&s, buf);
    for (size_t k = 0; k < len; k++)
        bad += !refused(buf, k, NULL);
    ok(bad == 0, "every proper prefix of a %zu-byte state is refused", len);
    memcpy(m, buf, len);
    m[len] = 0;
    ok(refused(m, len + 1, "trailing"), "a trailing byte is refused");
    memcpy(m, buf, len), m[0] = 2;
    ok(refused(m, len, "version"), "version 2 is refused");
    memcpy(m, buf, len), m[1] = 'X';
    ok(refused(m, len, "kind"), "an unknown kind is refused");
    memcpy(m, buf, len), m[2] = 2;
    ok(refused(m, len, "flags"), "unknown flags are refused");
    ok(refused((const unsigned char[]){1, 'S', 1, 0, 0, 0, 0, 0, 0, 0}, 10, "zero sum"),
       "a negative zero sum is refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 0x81, 0x00, 0, 0, 0, 0, 0, 0}, 11, "count"),
       "an overlong varint is refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                       0x80, 0x01, 0, 0, 0, 0, 0, 0},
               19, "2^63"),
       "n = 2^63 + 1 is refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0x02, 0, 0, 0, 0, 0, 0},
               19, "count"),
       "a varint beyond 64 bits is refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 2, 1, 1, 1, 0, 0, 0}, 10, "exceed"),
       "counts of -0, inf, NaN beyond n are refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 1, 0, 0, 0, 0, 40, 2, 1, 0, 0, 0, 0, 0, 0, 1, 0,
                                       0, 0, 0, 0, 0},
               24, "range"),
       "digits past the top limb are refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 1, 0, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0x20}, 17,
               "digit out of range"),
       "a digit of 2^53 is refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 1, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0,
                                       0, 0, 0, 0, 0},
               24, "zero digit"),
       "a zero lowest digit is refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 1, 0, 0, 0, 0, 40, 1, 1, 0, 0, 0, 0, 0, 0}, 17,
               "too large"),
       "a sum of 2^2120 units from one value is refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0}, 17,
               "too large"),
       "a nonzero sum of one -0.0 is refused");
    ok(refused((const unsigned char[]){1, 'S', 0, 1, 0, 0, 0, 0, 39, 1, 0, 0, 0, 0x80, 0, 0, 0}, 17,
               "too large"),
       "a sum of 2^1024 from one value is refused");
    ok(mb_fsum_unpack(&s, (const unsigned char[]){1, 'S', 0, 1, 0, 0, 0, 0, 39, 1, 0, 0, 0, 0x40,
                                                   0, 0, 0},
                      17, &err) == MB_OK &&
           same(mb_fsum_value(&s), ldexp(1, 1023)),
       "... while 2^1023 from one value is accepted");
    ok(mb_fsum_unpack(&s, (const unsigned char[]){1, 'S', 0, 2, 0, 0, 0, 0, 39, 1, 0, 0, 0, 0x80,
                                                   0, 0, 0},
                      17, &err) == MB_OK &&
           same(mb_fsum_value(&s), HUGE_VAL),
       "... and 2^1024 from two values");
    ok(mb_fsum_unpack(&s, NULL, 0, &err) == MB_EDATA, "nothing at all is refused");
    ok(mb_fsum_unpack(&s, (const unsigned char[]){0}, 1, NULL) == MB_EDATA,
       "refused with a NULL error report");
    ok(mb_fsumsq_unpack(&(mb_fsumsq){0}, (const unsigned char[]){1, 'Q', 1, 1, 0, 0, 0, 0, 0, 1,
                                                                 1, 0, 0, 0, 0, 0, 0},
                        17, &err) == MB_EDATA,
       "a negative sum of squares is refused: %s", err.msg);
    ok(mb_fsumsq_unpack(&(mb_fsumsq){0}, (const unsigned char[]){1, 'Q', 0, 1, 0, 0, 1, 0, 0, 0},
                        10, &err) == MB_EDATA,
       "a sum of squares with -inf is refused: %s", err.msg);
}

/* Random and mutated bytes: refused, or accepted only as the canonical
 * form of a state that behaves (re-packs to the same bytes, merges). */
static void test_fuzz(long rounds)
{
    mb_fsum good[4], s, t;
    unsigned char base[4][MB_FSUM_PACK_MAX], m[MB_FSUM_PACK_MAX + 8], again[MB_FSUM_PACK_MAX];
    unsigned char qb[MB_FSUMSQ_PACK_MAX];
    size_t blen[4], len;
    long accepted = 0, bad = 0;
    mb_fsumsq q;
    mb_err err;

    good[0] = fsum_of(ARR(1e300, 1, -3.5e-200));
    good[1] = fsum_of(ARR(-0.0, -0.0));
    good[2] = fsum_of(ARR(HUGE_VAL, 2, ldexp(1, -1074)));
    good[3] = fsum_of(ARR(-DBL_MAX, 0.25));
    for (int i = 0; i < 4; i++)
        blen[i] = packed(&good[i], base[i]);
    for (long r = 0; r < rounds; r++) {
        int which = (int)rnd_below(4);
        if (r % 3 == 0) {           /* random bytes behind a plausible header */
            len = rnd_below(sizeof m);
            for (size_t i = 0; i < len; i++)
                m[i] = (unsigned char)(rnd_below(4) == 0 ? rnd_below(3) : rnd());
            if (len > 2 && rnd_below(2)) {
                m[0] = 1;
                m[1] = 'S';
                m[2] = (unsigned char)rnd_below(2);
            }
        } else {                    /* a valid state with a few bytes changed */
            len = blen[which];
            memcpy(m, base[which], len);
            for (int k = 1 + (int)rnd_below(3); k > 0; k--) {
                size_t at = rnd_below(len);
                unsigned v = rnd_below(2) ? (unsigned)rnd() : m[at] ^ (1u << rnd_below(8));
                m[at] = (unsigned char)v;
            }
            if (rnd_below(8) == 0)
                len = rnd_below(len + 1);
        }
        if (mb_fsum_unpack(&s, m, len, &err) == MB_OK) {
            accepted++;
            t = s;
            mb_fsum_merge(&t, &s);
            mb_fsum_add(&t, 1.5);
            (void)mb_fsum_value(&t);
            (void)mb_fsum_mean(&t);
            bad += packed(&s, again) != len || memcmp(again, m, len) != 0;
        } else if (err.code != MB_EDATA || err.msg[0] == 0) {
            bad++;
        }
        if (mb_fsumsq_unpack(&q, m, len, &err) == MB_OK) {
            mb_fsumsq_merge(&q, &q);
            (void)mb_fsumsq_value(&q);
            bad += packed_sq(&q, qb) == 0;
        }
    }
    ok(bad == 0, "%ld random and mutated byte forms: refused, or accepted (%ld) as canonical",
       rounds, accepted);
}

/* CPU time of this thread: on a shared machine, less noisy than the wall. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double bench_loop(const double *x, size_t nx, long adds, int kind, double *out)
{
    mb_fsum s;
    mb_fsumsq q;
    double naive = 0, t0;

    mb_fsum_init(&s);
    mb_fsumsq_init(&q);
    t0 = cpu_s();
    for (long done = 0; done < adds; done += (long)nx)
        for (size_t i = 0; i < nx; i++) {
            if (kind == 0)
                naive += x[i];
            else if (kind == 1)
                mb_fsum_add(&s, x[i]);
            else
                mb_fsumsq_add(&q, x[i]);
        }
    t0 = cpu_s() - t0;
    *out = kind == 0 ? naive : kind == 1 ? mb_fsum_value(&s) : mb_fsumsq_value(&q);
    return t0 * 1e9 / (double)adds;
}

static int bench(void)
{
    enum { NX = 1 << 16 };
    static double x[NX];
    const long adds = 100000000;
    const char *kind[] = {"naive +=", "mb_fsum_add", "mb_fsumsq_add"};
    double r;

    for (int set = 0; set < 2; set++) {
        for (size_t i = 0; i < NX; i++)
            x[i] = set == 0 ? (double)rnd_below(1000000) / 1000 : rnd_mix();
        printf("# %s values, %ld adds:\n", set == 0 ? "0..1000 (3 decimals)" : "mixed wide",
               adds);
        for (int k = 0; k < 3; k++) {
            double ns = bench_loop(x, NX, adds, k, &r);
            printf("#   %-14s %6.2f ns/add (result %.17g)\n", kind[k], ns, r);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench();
    test_known();
    test_many();
    test_headroom();
    test_reference();
    test_squares();
    test_mean();
    test_var();
    test_order(0);
    test_order(1);
    test_pack();
    test_refuse();
    test_fuzz(argc > 1 && strcmp(argv[1], "--quick") == 0 ? 20000 : 300000);
    return tap_done();
}
