/* test_ddsk.c - TAP tests for the quantile sketch (agg/ddsk.h): the answer
 * for q in {0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} within alpha (relative) of the
 * exact value of that rank on seeded data (uniform, Zipf, log-normal, many
 * duplicates, negatives and zeros, subnormals and huge values; the largest
 * error measured is printed), merges that give the bytes of one pass in any
 * order and split, byte-form round trips, malformed forms refused. */
#include "agg/ddsk.h"

#include "tap.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = UINT64_C(0x853C49E6748FEA9B);

static uint64_t rnd(void)    /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static double unif(void) { return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0; }

static double gauss(void)
{
    return sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif());
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { UNIFORM, ZIPF, LOGNORMAL, DUPLICATES, SIGNED, EXTREME, NKIND };
static const char *const kind_name[] = {"uniform", "Zipf", "log-normal", "many duplicates",
                                        "negatives and zeros", "subnormal to huge"};

static double draw(int kind)
{
    switch (kind) {
    case UNIFORM: return 1000.0 * unif();
    case ZIPF: return floor(1.0 / pow(unif(), 1.0 / 1.1));      /* a Pareto tail, 1, 2, ... */
    case LOGNORMAL: return exp(2.0 * gauss());
    case DUPLICATES: return (double)(rnd() % 7) * 1.5 + 3.0;
    case SIGNED: return rnd() % 5 == 0 ? 0.0 : 100.0 * gauss();
    default: return ldexp(unif(), (int)(rnd() % 2090) - 1070) * (rnd() % 2 ? 1 : -1);
    }
}

static void accuracy(int kind, size_t n)
{
    static const double qs[] = {0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0};
    double *v = malloc(n * sizeof *v), worst = 0.0;
    mb_ddsk d;
    int good = v != NULL;

    mb_ddsk_init(&d);
    for (size_t i = 0; good && i < n; i++) {
        v[i] = draw(kind);
        good &= mb_ddsk_add(&d, v[i]) == MB_OK;
    }
    if (good)
        qsort(v, n, sizeof *v, cmp_dbl);
    for (size_t k = 0; good && k < MB_ARRAY_LEN(qs); k++) {
        double exact = v[(size_t)floor(qs[k] * (double)(n - 1))];
        double got = mb_ddsk_quantile(&d, qs[k]);
        double err = exact == 0.0 ? fabs(got) : fabs(got - exact) / fabs(exact);
        if (err > worst)
            worst = err;
        if (exact == 0.0 ? got != 0.0 : !(err <= MB_DDSK_ALPHA * (1 + 1e-9))) {
            good = 0;
            printf("# q %g: got %.17g, exact %.17g\n", qs[k], got, exact);
        }
    }
    printf("# %s, %zu values: largest relative error %.5f (alpha %.2f)\n", kind_name[kind], n,
           worst, MB_DDSK_ALPHA);
    ok(good && mb_ddsk_count(&d) == n, "%s, %zu values: every quantile within alpha",
       kind_name[kind], n);
    mb_ddsk_fini(&d);
    free(v);
}

static int same_bytes(const mb_ddsk *a, const mb_ddsk *b)
{
    mb_buf x, y;
    int same;

    mb_buf_init(&x, (size_t)1 << 24);
    mb_buf_init(&y, (size_t)1 << 24);
    same = mb_ddsk_pack(a, &x) == MB_OK && mb_ddsk_pack(b, &y) == MB_OK && x.len == y.len &&
           memcmp(x.p, y.p, x.len) == 0;
    mb_buf_fini(&x);
    mb_buf_fini(&y);
    return same;
}

static void merges(int kind, size_t n, int k)
{
    mb_ddsk one, parts[8], left, right;
    int good = 1;

    mb_ddsk_init(&one);
    mb_ddsk_init(&left);
    mb_ddsk_init(&right);
    for (int i = 0; i < k; i++)
        mb_ddsk_init(&parts[i]);
    for (size_t i = 0; i < n; i++) {
        double x = draw(kind);
        good &= mb_ddsk_add(&one, x) == MB_OK;
        good &= mb_ddsk_add(&parts[rnd() % (uint64_t)k], x) == MB_OK;
    }
    for (int i = 0; i < k; i++) {
        good &= mb_ddsk_merge(&left, &parts[i]) == MB_OK;
        good &= mb_ddsk_merge(&right, &parts[k - 1 - i]) == MB_OK;
    }
    ok(good && same_bytes(&one, &left) && same_bytes(&one, &right) &&
           mb_ddsk_quantile(&one, 0.5) == mb_ddsk_quantile(&right, 0.5),
       "%s, %zu values over %d sketches: any merge order gives the bytes of one pass",
       kind_name[kind], n, k);
    mb_ddsk_fini(&one);
    mb_ddsk_fini(&left);
    mb_ddsk_fini(&right);
    for (int i = 0; i < k; i++)
        mb_ddsk_fini(&parts[i]);
}

static void bytes(void)
{
    mb_ddsk d, t;
    mb_buf b;
    mb_err e = {0};

    mb_ddsk_init(&d);
    mb_ddsk_init(&t);
    mb_buf_init(&b, (size_t)1 << 24);
    for (int i = 0; i < 5000; i++)
        mb_ddsk_add(&d, draw(SIGNED));
    ok(mb_ddsk_add(&d, NAN) == MB_EDATA && mb_ddsk_add(&d, -INFINITY) == MB_EDATA &&
           mb_ddsk_count(&d) == 5000,
       "NaN and infinities are refused and change nothing");
    mb_ddsk_pack(&d, &b);
    ok(mb_ddsk_unpack(&t, (const unsigned char *)b.p, b.len, &e) == MB_OK && same_bytes(&d, &t),
       "the byte form (%zu bytes for 5000 values) reads back to the same state", b.len);
    ok(mb_ddsk_unpack(&t, (const unsigned char *)b.p, b.len - 1, &e) == MB_EDATA,
       "a truncated form is refused: %s", e.msg);
    ((unsigned char *)b.p)[0] = 9;
    ok(mb_ddsk_unpack(&t, (const unsigned char *)b.p, b.len, &e) == MB_EDATA,
       "another version is refused: %s", e.msg);
    ((unsigned char *)b.p)[0] = 1;
    mb_buf_put(&b, "", 1);
    ok(mb_ddsk_unpack(&t, (const unsigned char *)b.p, b.len, &e) == MB_EDATA,
       "trailing bytes are refused: %s", e.msg);
    {   /* a store whose last bucket is empty is not canonical */
        unsigned char f[] = {1, 1, 0, 0, 2, 4, 1, 0};
        ok(mb_ddsk_unpack(&t, f, sizeof f, &e) == MB_EDATA, "an empty end bucket is refused: %s",
           e.msg);
    }
    ok(mb_ddsk_count(&t) == 5000, "a refused form leaves the state as it was");
    mb_ddsk_fini(&t);
    mb_ddsk_init(&t);
    ok(isnan(mb_ddsk_quantile(&t, 0.5)) && isnan(mb_ddsk_quantile(&d, 1.5)),
       "no values, or q outside [0, 1]: NaN");
    mb_buf_fini(&b);
    mb_ddsk_fini(&d);
    mb_ddsk_fini(&t);
}

int main(void)
{
    for (int kind = 0; kind < NKIND; kind++) {
        accuracy(kind, 1000);
        accuracy(kind, 1000000);
    }
    accuracy(SIGNED, 1);
    merges(LOGNORMAL, 100000, 5);
    merges(SIGNED, 50000, 8);
    merges(EXTREME, 20000, 3);
    bytes();
    return tap_done();
}
