/* test_vmap.c - TAP tests for the exact value -> count map (agg/vmap.h):
 * distinct counts, totals, the order of values, the value of every rank
 * and the mode (ties to the smallest value) against a sorted copy of the
 * input; merges that give the bytes of one pass in any order and split;
 * byte-form round trips; malformed forms refused. */
#include "agg/vmap.h"

#include "tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = UINT64_C(0xDA942042E4DD58B5);

static uint64_t rnd(void)    /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* An int64 as 8 bytes whose bytewise order is the numeric order. */
static void enc_i64(int64_t v, unsigned char out[8])
{
    uint64_t u = (uint64_t)v ^ UINT64_C(0x8000000000000000);
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(u >> (56 - 8 * i));
}

typedef struct val {
    unsigned char b[16];
    size_t len;
} val;

static int cmp_val(const void *a, const void *b)
{
    const val *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->b, y->b, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* n values: integers in -r..r, or strings of 0..5 letters of "ab" when
 * strings (prefixes, the empty string). */
static void draw(val *v, int strings, int64_t r)
{
    if (strings) {
        v->len = (size_t)(rnd() % 6);
        for (size_t i = 0; i < v->len; i++)
            v->b[i] = (unsigned char)("ab"[rnd() % 2]);
    } else {
        enc_i64((int64_t)(rnd() % (uint64_t)(2 * r + 1)) - r, v->b);
        v->len = 8;
    }
}

static void against_sorted(size_t n, int strings, int64_t r)
{
    val *v = malloc((n ? n : 1) * sizeof *v);
    mb_vmap m;
    size_t distinct = 0, i, bad = 0;
    int good = v != NULL;

    mb_vmap_init(&m);
    for (i = 0; good && i < n; i++) {
        draw(&v[i], strings, r);
        good &= mb_vmap_add(&m, v[i].b, v[i].len, 1) == MB_OK;
    }
    if (!good || mb_vmap_sort(&m) != MB_OK) {
        ok(0, "the map is built");
        free(v);
        return;
    }
    qsort(v, n, sizeof *v, cmp_val);
    for (i = 0; i < n; i++)
        distinct += i == 0 || cmp_val(&v[i - 1], &v[i]) != 0;
    ok(mb_vmap_distinct(&m) == distinct && mb_vmap_total(&m) == n,
       "%zu %s: %zu distinct values, %zu in all", n, strings ? "strings" : "integers", distinct,
       n);
    /* every rank's value is the sorted copy's */
    for (uint64_t k = 0; k < n; k++) {
        size_t len;
        uint64_t c;
        const char *p = mb_vmap_at(&m, mb_vmap_rank(&m, k), &len, &c);
        val got = {{0}, len};
        memcpy(got.b, p, len);
        bad += cmp_val(&got, &v[k]) != 0;
    }
    ok(bad == 0, "... the value of every rank is that of the sorted input (%zu wrong)", bad);
    if (n) {   /* the mode: the longest run of the sorted copy, the first on a tie */
        size_t best = 0, bestrun = 0, run = 0, len;
        uint64_t c;
        for (i = 0; i < n; i++) {
            run = i && cmp_val(&v[i - 1], &v[i]) == 0 ? run + 1 : 1;
            if (run > bestrun) {
                bestrun = run;
                best = i;
            }
        }
        const char *p = mb_vmap_at(&m, mb_vmap_mode(&m), &len, &c);
        val got = {{0}, len};
        memcpy(got.b, p, len);
        ok(c == bestrun && cmp_val(&got, &v[best]) == 0,
           "... the mode is the most frequent value, the smallest on a tie (%zu times)",
           bestrun);
    }
    mb_vmap_fini(&m);
    free(v);
}

static int same_bytes(mb_vmap *a, mb_vmap *b)
{
    mb_buf x, y;
    int same;

    mb_buf_init(&x, (size_t)1 << 26);
    mb_buf_init(&y, (size_t)1 << 26);
    same = mb_vmap_pack(a, &x) == MB_OK && mb_vmap_pack(b, &y) == MB_OK && x.len == y.len &&
           memcmp(x.p, y.p, x.len) == 0;
    mb_buf_fini(&x);
    mb_buf_fini(&y);
    return same;
}

static void merges(size_t n, int strings, int k)
{
    mb_vmap one, parts[8], left, right;
    int good = 1;

    mb_vmap_init(&one);
    mb_vmap_init(&left);
    mb_vmap_init(&right);
    for (int i = 0; i < k; i++)
        mb_vmap_init(&parts[i]);
    for (size_t i = 0; i < n; i++) {
        val v;
        draw(&v, strings, 1000);
        good &= mb_vmap_add(&one, v.b, v.len, 1) == MB_OK;
        good &= mb_vmap_add(&parts[rnd() % (uint64_t)k], v.b, v.len, 1) == MB_OK;
    }
    for (int i = 0; i < k; i++) {
        good &= mb_vmap_merge(&left, &parts[i]) == MB_OK;
        good &= mb_vmap_merge(&right, &parts[k - 1 - i]) == MB_OK;
    }
    ok(good && same_bytes(&one, &left) && same_bytes(&one, &right),
       "%zu %s over %d maps: any merge order gives the bytes of one pass", n,
       strings ? "strings" : "integers", k);
    mb_vmap_fini(&one);
    mb_vmap_fini(&left);
    mb_vmap_fini(&right);
    for (int i = 0; i < k; i++)
        mb_vmap_fini(&parts[i]);
}

static void bytes(void)
{
    mb_vmap m, t;
    mb_buf b;
    mb_err e = {0};

    mb_vmap_init(&m);
    mb_vmap_init(&t);
    mb_buf_init(&b, (size_t)1 << 20);
    mb_vmap_add(&m, "b", 1, 2);
    mb_vmap_add(&m, "", 0, 1);
    mb_vmap_add(&m, "ab", 2, 300);
    mb_vmap_pack(&m, &b);
    ok(b.len == 11 && memcmp(b.p, "\x03\x00\x01\x02" "ab" "\xac\x02\x01" "b" "\x02", 11) == 0,
       "the byte form lists the values in order with their counts");
    ok(mb_vmap_unpack(&t, (const unsigned char *)b.p, b.len, &e) == MB_OK && same_bytes(&m, &t) &&
           mb_vmap_total(&t) == 303,
       "... and reads back to the same map");
    {
        const unsigned char order[] = {2, 1, 'b', 1, 1, 'a', 1};
        const unsigned char dup[] = {2, 1, 'a', 1, 1, 'a', 1};
        const unsigned char zero[] = {1, 1, 'a', 0};
        const unsigned char trunc[] = {2, 1, 'a', 1, 5, 'b'};
        const unsigned char trail[] = {1, 1, 'a', 1, 0};
        ok(mb_vmap_unpack(&t, order, sizeof order, &e) == MB_EDATA,
           "values out of order are refused: %s", e.msg);
        ok(mb_vmap_unpack(&t, dup, sizeof dup, &e) == MB_EDATA,
           "a value twice is refused: %s", e.msg);
        ok(mb_vmap_unpack(&t, zero, sizeof zero, &e) == MB_EDATA,
           "a zero count is refused: %s", e.msg);
        ok(mb_vmap_unpack(&t, trunc, sizeof trunc, &e) == MB_EDATA,
           "a truncated value is refused: %s", e.msg);
        ok(mb_vmap_unpack(&t, trail, sizeof trail, &e) == MB_EDATA,
           "trailing bytes are refused: %s", e.msg);
        ok(mb_vmap_total(&t) == 303, "a refused form leaves the map as it was");
    }
    mb_buf_fini(&b);
    mb_vmap_fini(&m);
    mb_vmap_fini(&t);
}

int main(void)
{
    against_sorted(0, 0, 10);
    against_sorted(1, 1, 10);
    against_sorted(1000, 0, 10);
    against_sorted(1000, 1, 0);
    against_sorted(100000, 0, 1000000);
    against_sorted(50000, 0, INT64_MAX / 2);
    merges(20000, 0, 5);
    merges(5000, 1, 8);
    bytes();
    return tap_done();
}
