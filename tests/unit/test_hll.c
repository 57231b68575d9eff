/* test_hll.c - TAP tests for the HyperLogLog sketch (agg/hll.h): the
 * estimate against exact distinct counts over several magnitudes (printed,
 * and held to 3 standard errors), merges that give the same bytes in any
 * order and split, duplicates that change nothing, the sparse and dense
 * forms giving the same estimate for the same registers, byte-form round
 * trips, and malformed byte forms refused. */
#include "agg/hll.h"

#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = UINT64_C(0x2545F4914F6CDD1D);

static uint64_t rnd(void)    /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t hash_of(uint64_t v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "v%llu", (unsigned long long)v);
    return mb_hll_hash(b, (size_t)n);
}

static int same_bytes(const mb_hll *a, const mb_hll *b)
{
    static unsigned char x[MB_HLL_PACK_MAX], y[MB_HLL_PACK_MAX];
    size_t n = mb_hll_pack(a, x, sizeof x), m = mb_hll_pack(b, y, sizeof y);
    return n > 0 && n == m && memcmp(x, y, n) == 0;
}

/* n distinct values (v0 .. v(n-1)), a third of them added again: the
 * relative error of the estimate. */
static double rel_error(uint64_t n)
{
    mb_hll h;
    double e;

    mb_hll_init(&h);
    for (uint64_t i = 0; i < n; i++) {
        mb_hll_add(&h, hash_of(i));
        if (rnd() % 3 == 0)
            mb_hll_add(&h, hash_of(rnd() % (i + 1)));          /* a value seen before */
    }
    e = (mb_hll_estimate(&h) - (double)n) / (double)n;
    mb_hll_fini(&h);
    return e;
}

static void accuracy(void)
{
    static const uint64_t ns[] = {1, 2, 10, 100, 1000, 5000, 20000, 50000, 100000, 300000,
                                  1000000, 3000000};
    const double se = 1.04 / sqrt((double)MB_HLL_M);
    mb_hll h;

    mb_hll_init(&h);
    ok(mb_hll_estimate(&h) == 0.0, "an empty sketch estimates 0");
    mb_hll_fini(&h);
    for (size_t i = 0; i < MB_ARRAY_LEN(ns); i++) {
        double e = rel_error(ns[i]);
        printf("# %8llu distinct: relative error %+.5f (%.2f standard errors)\n",
               (unsigned long long)ns[i], e, fabs(e) / se);
        ok(fabs(e) <= 3 * se, "%llu distinct values: within 3 standard errors (%.2f%%)",
           (unsigned long long)ns[i], 300 * se);
    }
}

/* The same values split over k sketches, merged in two orders and as a
 * tree: the same bytes and estimate as one sketch of them all. */
static void merges(uint64_t n, int k)
{
    mb_hll one, parts[8], left, right, tree;
    int good = 1;

    mb_hll_init(&one);
    for (int i = 0; i < k; i++)
        mb_hll_init(&parts[i]);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t h = hash_of(rnd() % (n + 1));
        good &= mb_hll_add(&one, h) == MB_OK;
        good &= mb_hll_add(&parts[rnd() % (uint64_t)k], h) == MB_OK;
    }
    mb_hll_init(&left);
    mb_hll_init(&right);
    mb_hll_init(&tree);
    for (int i = 0; i < k; i++) {
        good &= mb_hll_merge(&left, &parts[i]) == MB_OK;
        good &= mb_hll_merge(&right, &parts[k - 1 - i]) == MB_OK;
    }
    for (int i = 0; i + 1 < k; i += 2)
        good &= mb_hll_merge(&parts[i], &parts[i + 1]) == MB_OK;
    for (int i = 0; i < k; i += 2)
        good &= mb_hll_merge(&tree, &parts[i]) == MB_OK;
    good &= mb_hll_merge(&tree, &left) == MB_OK;      /* idempotent: merged twice */
    ok(good && same_bytes(&one, &left) && same_bytes(&one, &right) && same_bytes(&one, &tree) &&
           mb_hll_estimate(&one) == mb_hll_estimate(&tree),
       "%llu values over %d sketches: every merge order gives the bytes of one pass",
       (unsigned long long)n, k);
    mb_hll_fini(&one);
    mb_hll_fini(&left);
    mb_hll_fini(&right);
    mb_hll_fini(&tree);
    for (int i = 0; i < k; i++)
        mb_hll_fini(&parts[i]);
}

static void roundtrip(uint64_t n)
{
    static unsigned char b[MB_HLL_PACK_MAX], c[MB_HLL_PACK_MAX];
    mb_hll h, back, forced;
    mb_err e = {0};
    size_t len;

    mb_hll_init(&h);
    mb_hll_init(&back);
    for (uint64_t i = 0; i < n; i++)
        mb_hll_add(&h, hash_of(i * 7 + 3));
    len = mb_hll_pack(&h, b, sizeof b);
    ok(len > 0 && mb_hll_unpack(&back, b, len, &e) == MB_OK && same_bytes(&h, &back) &&
           mb_hll_estimate(&h) == mb_hll_estimate(&back),
       "%llu values: the byte form (%zu bytes, %s) reads back to the same state",
       (unsigned long long)n, len, len == 3 + MB_HLL_M ? "dense" : "sparse");
    ok(mb_hll_pack(&h, c, len - 1) == 0, "... and does not fit one byte less");
    /* the same registers held dense: the same estimate and bytes */
    mb_hll_init(&forced);
    if (!h.dense && h.nsparse) {
        forced.dense = calloc(MB_HLL_M, 1);
        for (size_t i = 0; forced.dense && i < h.nsparse; i++)
            forced.dense[h.sparse[i] >> 8] = (uint8_t)(h.sparse[i] & 0xff);
        ok(forced.dense && mb_hll_estimate(&forced) == mb_hll_estimate(&h) &&
               same_bytes(&forced, &h),
           "... the same registers held dense give the same estimate and bytes");
    }
    mb_hll_fini(&forced);
    mb_hll_fini(&h);
    mb_hll_fini(&back);
}

static void malformed(void)
{
    static unsigned char b[MB_HLL_PACK_MAX];
    mb_hll h, t;
    mb_err e = {0};
    size_t len;

    mb_hll_init(&h);
    mb_hll_init(&t);
    for (uint64_t i = 0; i < 50; i++)
        mb_hll_add(&h, hash_of(i));
    len = mb_hll_pack(&h, b, sizeof b);
    b[0] = 2;
    ok(mb_hll_unpack(&t, b, len, &e) == MB_EDATA, "another version is refused: %s", e.msg);
    b[0] = 1;
    b[1] = MB_HLL_P + 1;
    ok(mb_hll_unpack(&t, b, len, &e) == MB_EDATA, "another precision is refused: %s", e.msg);
    b[1] = MB_HLL_P;
    ok(mb_hll_unpack(&t, b, len - 1, &e) == MB_EDATA, "a short form is refused: %s", e.msg);
    b[5 + 3 * 4] = 0;                     /* entry 4's delta low byte */
    b[5 + 3 * 4 + 1] = 0;
    ok(mb_hll_unpack(&t, b, len, &e) == MB_EDATA, "a register out of order is refused: %s",
       e.msg);
    mb_hll_pack(&h, b, sizeof b);
    b[5 + 3 * 7 + 2] = MB_HLL_QMAX + 1;
    ok(mb_hll_unpack(&t, b, len, &e) == MB_EDATA, "a rank past the largest is refused: %s",
       e.msg);
    b[2] = 7;
    ok(mb_hll_unpack(&t, b, len, &e) == MB_EDATA, "an unknown form is refused: %s", e.msg);
    ok(t.nsparse == 0 && !t.dense, "a refused form leaves the state as it was");
    mb_hll_fini(&h);
    mb_hll_fini(&t);
}

int main(void)
{
    ok(mb_hll_hash("abc", 3) == mb_hll_hash("abc", 3) &&
           mb_hll_hash("abc", 3) != mb_hll_hash("abd", 3) &&
           mb_hll_hash("", 0) != mb_hll_hash("\0", 1),
       "the hash is a function of the bytes and their length");
    /* pinned: results and checkpoints keep registers this hash gives */
    ok(mb_hll_hash("mpibatch", 8) == UINT64_C(0x6d5e5c425be4c353) &&
           mb_hll_hash("", 0) == UINT64_C(0x8359fff62713a185),
       "the hash gives the values it has always given");
    accuracy();
    merges(100, 3);
    merges(5000, 8);
    merges(200000, 5);
    roundtrip(0);
    roundtrip(7);
    roundtrip(900);
    roundtrip(100000);
    malformed();
    return tap_done();
}
