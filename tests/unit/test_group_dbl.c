/* test_group_dbl.c - TAP tests for the group table's DOUBLE states
 * (MB_NEED_DBL, group.h): exact sums, min and max over the whole double
 * range, merges in every order giving the same bytes, the byte form's
 * round trip and its checks, merge_one and the memory cap. */
#include "agg/group.h"

#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define NACC 3
static const unsigned needs[NACC] = {MB_NEED_DBL, MB_NEED_DBL | MB_NEED_SUMSQ, MB_NEED_COUNT};

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)    /* xorshift64* */
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return rs * 2685821657736338717ull;
}

/* Doubles from everywhere: any bit pattern (subnormals, inf, NaN with
 * payloads, -0.0) now and then, else values of a few magnitudes. */
static double rnd_double(void)
{
    static const double fixed[] = {1e-300, 1e300, -1e300, 4.9e-324, -0.0, 0.0, 0.1, 1.0,
                                   2.2250738585072009e-308, 1.7976931348623157e308};
    uint64_t u = rnd();
    double d;
    switch (u % 8) {
    case 0:
        memcpy(&d, &u, sizeof d);
        return d;
    case 1:
        return fixed[(u >> 8) % (sizeof fixed / sizeof fixed[0])];
    default:
        return (double)(int64_t)(u >> 20) * 1e-3;
    }
}

static mb_status add_row(mb_groups *g, const char *key, double x, int null)
{
    size_t gi;
    mb_err e = {0};
    mb_status st = mb_groups_get(g, key, strlen(key), mb_groups_hash(key, strlen(key)), &gi, &e);
    if (st != MB_OK)
        return st;
    mb_groups_rec(g, gi)->rows++;
    if (null)
        return MB_OK;
    if ((st = mb_groups_add_dbl(g, gi, 0, x, &e)) != MB_OK ||
        (st = mb_groups_add_dbl(g, gi, 1, x, &e)) != MB_OK)
        return st;
    mb_acc_count(mb_groups_acc(g, gi, 2));
    return MB_OK;
}

/* Whether every group of a is in b with the same packed bytes (the byte
 * form is canonical, so equal bytes are equal states) and vice versa. */
static int tables_same(const mb_groups *a, const mb_groups *b)
{
    mb_buf x, y;
    int same = a->n == b->n;
    mb_buf_init(&x, (size_t)1 << 30);
    mb_buf_init(&y, (size_t)1 << 30);
    for (size_t i = 0; same && i < a->n; i++) {
        const char *k = mb_groups_key(a, i);
        size_t kl = mb_groups_klen(a, i), j;
        mb_err e = {0};
        x.len = y.len = 0;
        same = mb_groups_get((mb_groups *)b, k, kl, mb_groups_hash(k, kl), &j, &e) == MB_OK &&
               b->n == a->n && mb_groups_pack(a, i, &x) == MB_OK &&
               mb_groups_pack(b, j, &y) == MB_OK && x.len == y.len &&
               memcmp(x.p, y.p, x.len) == 0;
    }
    mb_buf_fini(&x);
    mb_buf_fini(&y);
    return same;
}

static mb_status pack_all(const mb_groups *g, mb_buf *b)
{
    mb_status st = MB_OK;
    for (size_t gi = 0; gi < g->n && st == MB_OK; gi++)
        st = mb_groups_pack(g, gi, b);
    return st;
}

static const mb_dstate *state_of(mb_groups *g, const char *key, size_t k)
{
    size_t gi;
    mb_err e = {0};
    if (mb_groups_get(g, key, strlen(key), mb_groups_hash(key, strlen(key)), &gi, &e) != MB_OK)
        return NULL;
    return mb_groups_dbl(g, gi, k);
}

static void test_values(void)
{
    mb_groups g;
    const mb_dstate *d;
    mb_groups_init(&g, needs, NACC, SIZE_MAX);
    add_row(&g, "big", 1e300, 0);
    add_row(&g, "big", 1.0, 0);
    add_row(&g, "big", -1e300, 0);
    add_row(&g, "big", 1e-300, 0);
    d = state_of(&g, "big", 0);
    ok(d && mb_fsum_value(&d->s) == 1.0 + 1e-300 && d->min == -1e300 && d->max == 1e300,
       "1e300 + 1 - 1e300 + 1e-300 is exactly 1 (rounded), min and max kept");
    ok(d && !mb_groups_dbl_sq(&g, d) && mb_groups_dbl_sq(&g, state_of(&g, "big", 1)),
       "only the accumulator that needs squares keeps them");
    add_row(&g, "nz", -0.0, 0);
    add_row(&g, "nz", -0.0, 0);
    d = state_of(&g, "nz", 0);
    ok(d && mb_fsum_value(&d->s) == 0.0 && signbit(mb_fsum_value(&d->s)) && signbit(d->min) &&
           signbit(d->max),
       "a sum of -0.0s is -0.0, and so are min and max");
    add_row(&g, "nz", 0.0, 0);
    d = state_of(&g, "nz", 0);
    ok(d && signbit(d->min) && !signbit(d->max) && !signbit(mb_fsum_value(&d->s)),
       "-0.0 sorts before +0.0; with a +0.0 the sum is +0.0");
    add_row(&g, "nan", 1.0, 0);
    add_row(&g, "nan", -NAN, 0);
    add_row(&g, "nan", INFINITY, 0);
    add_row(&g, "nan", -INFINITY, 0);
    d = state_of(&g, "nan", 0);
    ok(d && isnan(mb_fsum_value(&d->s)) && isnan(d->max) && !signbit(d->max) &&
           d->min == -INFINITY,
       "NaN is the largest value (one positive NaN), -inf the smallest");
    add_row(&g, "inf", INFINITY, 0);
    add_row(&g, "inf", 5.0, 0);
    d = state_of(&g, "inf", 0);
    ok(d && mb_fsum_value(&d->s) == INFINITY && d->max == INFINITY && d->min == 5.0,
       "a sum with +inf is +inf");
    add_row(&g, "null", 0, 1);
    ok(!state_of(&g, "null", 0) && !state_of(&g, "null", 1),
       "a group with only NULLs has no DOUBLE state");
    ok(mb_dstate_cmp(NAN, INFINITY) > 0 && mb_dstate_cmp(-NAN, NAN) == 0 &&
           mb_dstate_cmp(-0.0, 0.0) < 0 && mb_dstate_cmp(0.0, -0.0) > 0 &&
           mb_dstate_cmp(-INFINITY, -1e308) < 0 && mb_dstate_cmp(1.0, 1.0) == 0,
       "the order of min/max: NaN last, -0.0 before +0.0");
    mb_groups_fini(&g);
}

static void test_merge_orders(void)
{
    mb_groups one, part[4], fwd, rev, tree, ab, cd;
    mb_buf b;
    mb_err e = {0};
    int bad = 0;

    mb_groups_init(&one, needs, NACC, SIZE_MAX);
    for (int i = 0; i < 4; i++)
        mb_groups_init(&part[i], needs, NACC, SIZE_MAX);
    mb_groups_init(&fwd, needs, NACC, SIZE_MAX);
    mb_groups_init(&rev, needs, NACC, SIZE_MAX);
    mb_groups_init(&tree, needs, NACC, SIZE_MAX);
    mb_groups_init(&ab, needs, NACC, SIZE_MAX);
    mb_groups_init(&cd, needs, NACC, SIZE_MAX);
    for (int i = 0; i < 20000; i++) {
        char key[8];
        double x = rnd_double();
        int null = rnd() % 7 == 0;
        snprintf(key, sizeof key, "k%d", (int)(rnd() % 13));
        if (strcmp(key, "k0") == 0)
            x = (double)(rnd() % 1000) / 10;     /* one group of plain values */
        bad += add_row(&one, key, x, null) != MB_OK;
        bad += add_row(&part[rnd() % 4], key, x, null) != MB_OK;
    }
    ok(bad == 0, "20000 doubles into one table and into four parts");
    mb_buf_init(&b, (size_t)1 << 30);
    for (int i = 0; i < 4; i++) {
        b.len = 0;
        bad += pack_all(&part[i], &b) != MB_OK;
        bad += mb_groups_unpack_merge(&fwd, b.p, b.len, &e) != MB_OK;
    }
    for (int i = 3; i >= 0; i--) {
        b.len = 0;
        bad += pack_all(&part[i], &b) != MB_OK;
        bad += mb_groups_unpack_merge(&rev, b.p, b.len, &e) != MB_OK;
    }
    /* (p0 + p2) + (p3 + p1), as a reduction tree would */
    for (int i = 0; i < 4; i++) {
        static const int to[4] = {0, 1, 0, 1};
        b.len = 0;
        bad += pack_all(&part[i], &b) != MB_OK;
        bad += mb_groups_unpack_merge(to[i] ? &cd : &ab, b.p, b.len, &e) != MB_OK;
    }
    b.len = 0;
    bad += pack_all(&cd, &b) != MB_OK || pack_all(&ab, &b) != MB_OK;
    bad += mb_groups_unpack_merge(&tree, b.p, b.len, &e) != MB_OK;
    ok(bad == 0, "parts packed and merged in three orders (%s)", e.msg);
    ok(tables_same(&one, &fwd) && tables_same(&fwd, &one), "forward merge = one pass, bytewise");
    ok(tables_same(&one, &rev), "reverse merge = one pass, bytewise");
    ok(tables_same(&one, &tree), "tree merge = one pass, bytewise");
    {
        const mb_dstate *d = state_of(&one, "k0", 0);
        ok(d && mb_fsum_value(&d->s) == mb_fsum_value(&state_of(&tree, "k0", 0)->s),
           "a group's sum is the same after merging");
    }
    mb_buf_fini(&b);
    for (int i = 0; i < 4; i++)
        mb_groups_fini(&part[i]);
    mb_groups_fini(&fwd);
    mb_groups_fini(&rev);
    mb_groups_fini(&tree);
    mb_groups_fini(&ab);
    mb_groups_fini(&cd);
    mb_groups_fini(&one);
}

static void test_round_trip(void)
{
    mb_groups g, again, m;
    mb_buf b, one;
    mb_err e = {0};
    int bad = 0;
    size_t gi;

    mb_groups_init(&g, needs, NACC, SIZE_MAX);
    mb_groups_init(&again, needs, NACC, SIZE_MAX);
    for (int i = 0; i < 3000; i++) {
        char key[8];
        snprintf(key, sizeof key, "r%d", (int)(rnd() % 5));
        bad += add_row(&g, key, rnd_double(), rnd() % 9 == 0) != MB_OK;
    }
    add_row(&g, "nulls", 0, 1);
    mb_buf_init(&b, (size_t)1 << 30);
    bad += pack_all(&g, &b) != MB_OK;
    ok(bad == 0 && mb_groups_unpack_merge(&again, b.p, b.len, &e) == MB_OK &&
           tables_same(&g, &again) && tables_same(&again, &g),
       "pack round trip (%s)", e.msg);
    mb_groups_fini(&again);
    mb_groups_init(&again, needs, NACC, SIZE_MAX);
    ok(mb_groups_unpack_merge(&again, b.p, b.len - 1, &e) == MB_EDATA,
       "a pack cut short is refused");

    /* one group's state bytes: flip its count, or a byte of min */
    mb_buf_init(&one, (size_t)1 << 30);
    mb_groups_get(&g, "r1", 2, mb_groups_hash("r1", 2), &gi, &e);
    mb_groups_pack(&g, gi, &one);
    {
        size_t at = 4 + 2 + 8;                  /* klen, key, rows: accumulator 0 */
        int64_t n;
        memcpy(&n, one.p + at, sizeof n);
        n++;
        memcpy(one.p + at, &n, sizeof n);
        mb_groups_fini(&again);
        mb_groups_init(&again, needs, NACC, SIZE_MAX);
        ok(mb_groups_unpack_merge(&again, one.p, one.len, &e) == MB_EDATA,
           "a count that disagrees with the sum's is refused (%s)", e.msg);
    }
    {
        const mb_dstate *d = mb_groups_dbl(&g, gi, 0);
        mb_buf s;
        mb_dbytes db[NACC] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
        mb_numstate src[NACC];
        size_t mi;
        mb_buf_init(&s, 1 << 20);
        memset(src, 0, sizeof src);
        mb_dstate_pack(d, NULL, &s);
        mb_groups_init(&m, needs, NACC, SIZE_MAX);
        src[0].n = mb_groups_acc(&g, gi, 0)->n;
        db[0].p = s.p;
        db[0].len = s.len;
        ok(mb_groups_merge_one(&m, "x", 1, 3, src, NULL, db, &e) == MB_OK &&
               mb_groups_merge_one(&m, "x", 1, 3, src, NULL, db, &e) == MB_OK &&
               mb_groups_get(&m, "x", 1, mb_groups_hash("x", 1), &mi, &e) == MB_OK &&
               mb_groups_acc(&m, mi, 0)->n == 2 * src[0].n && !mb_groups_dbl(&m, mi, 1),
           "merge_one merges the byte form of a DOUBLE state (%s)", e.msg);
        src[1].n = src[0].n;
        db[1] = db[0];
        ok(mb_groups_merge_one(&m, "x", 1, 3, src, NULL, db, &e) == MB_EDATA,
           "a state without squares is refused where squares are kept (%s)", e.msg);
        src[1].n = 0;
        db[1].p = NULL;
        db[1].len = 0;
        src[0].n++;
        ok(mb_groups_merge_one(&m, "x", 1, 3, src, NULL, db, &e) == MB_EDATA,
           "a byte form holding another count is refused");
        mb_buf_fini(&s);
        mb_groups_fini(&m);
    }
    mb_buf_fini(&one);
    mb_buf_fini(&b);
    mb_groups_fini(&again);
    mb_groups_fini(&g);
}

static void test_cap(void)
{
    mb_groups g;
    mb_status st = MB_OK;
    int i;
    mb_groups_init(&g, needs, NACC, (size_t)1 << 20);
    for (i = 0; i < 100000 && st == MB_OK; i++) {
        char key[16];
        snprintf(key, sizeof key, "c%d", i);
        st = add_row(&g, key, 1.5, 0);
    }
    ok(st == MB_ELIMIT && i < 2000,
       "the DOUBLE states count against the memory cap (ELIMIT after %d groups)", i);
    mb_groups_fini(&g);
    mb_groups_fini(NULL);
}

int main(void)
{
    test_values();
    test_merge_orders();
    test_round_trip();
    test_cap();
    printf("1..%d\n", tap_n);
    return tap_failed != 0;
}
