/* ddsk.h - a quantile sketch with a relative-error guarantee, for
 * approx_quantile(): logarithmic buckets of counts (as DDSketch), merged by
 * adding counts, so the state depends only on the multiset of values added:
 * any rank count, chunk grid, merge order or restart gives the same bytes
 * and the same answers.
 *
 * A value x != 0 goes to the bucket floor(f(|x|) * MB_DDSK_MULT) of its
 * sign's store, where f(x) = e + (m - 1) for x = m * 2^e, 1 <= m < 2: a
 * piecewise-linear log2, computed with frexp and two exact operations, so
 * the bucket of a value is the same on every machine (no libm log). f
 * grows at least as fast as ln, so a bucket spans a ratio of at most
 * gamma = (1 + alpha) / (1 - alpha); a quantile's answer, the bucket's
 * harmonic centre 2 l u / (l + u), is within alpha (relative) of every
 * value in it, hence of the exact quantile. alpha = 1%: MB_DDSK_MULT is
 * 1 / ln(gamma), rounded up. Zeros are counted apart; subnormals have
 * buckets like any other value (an answer there is rounded to the
 * subnormal grid, whose spacing can pass alpha of the very smallest), and
 * an answer in the top bucket is at most DBL_MAX. NaN and +-inf are refused (the caller
 * decides what they mean).
 *
 * The quantile q in [0, 1] of n values is the value of rank floor(q (n-1))
 * in ascending order (0-based), as quantile_disc: the answer is within
 * alpha of that value. Memory: 8 bytes per bucket between the smallest and
 * the largest magnitude of each sign; about 115 buckets per factor of 10.
 *
 * Status: the state alone, with its unit test (tests/unit/test_ddsk.c);
 * queries cannot call approx_quantile() yet.
 *
 * No I/O, no MPI. The byte form is what goes between ranks and into
 * checkpoints and result files; unpack treats it as untrusted. */
#ifndef MB_DDSK_H
#define MB_DDSK_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb.h"
#include "base/pack.h"

#define MB_DDSK_ALPHA 0.01
#define MB_DDSK_MULT 49.9983332888866   /* >= 1 / ln(1.01 / 0.99) */

typedef struct mb_ddsk_store {
    uint64_t *c;          /* counts of buckets lo .. lo + n - 1; c[0] and
                             c[n - 1] are never 0 */
    int32_t lo;
    size_t n;
} mb_ddsk_store;

typedef struct mb_ddsk {
    mb_ddsk_store pos, neg;   /* neg: by the bucket of -x */
    uint64_t zero;
} mb_ddsk;

void mb_ddsk_init(mb_ddsk *d);
void mb_ddsk_fini(mb_ddsk *d);

/* Adds x. MB_EDATA for NaN and +-inf, MB_ENOMEM; either leaves d
 * unchanged. */
mb_status mb_ddsk_add(mb_ddsk *d, double x);

/* dst += src. MB_ENOMEM leaves dst unchanged. */
mb_status mb_ddsk_merge(mb_ddsk *dst, const mb_ddsk *src);

/* Values added. */
uint64_t mb_ddsk_count(const mb_ddsk *d);

/* The quantile q (0 <= q <= 1) as above; NaN when nothing was added. */
double mb_ddsk_quantile(const mb_ddsk *d, double q);

/* The byte form appended to b: u8 version 1, u8 alpha code 1 (1%), varint
 * zero count, then the negative and the positive store: varint bucket
 * count n, and when n > 0 the zigzag varint of lo and n varint counts
 * (varints LEB128). Equal states give equal bytes. MB_ENOMEM. */
mb_status mb_ddsk_pack(const mb_ddsk *d, mb_buf *b);

/* Reads a byte form into d (initialized; replaced on success); MB_EDATA
 * naming what is wrong (version, alpha, a truncated varint, a zero count
 * at either end of a store, buckets out of range, counts that overflow,
 * trailing bytes), MB_ENOMEM. */
mb_status mb_ddsk_unpack(mb_ddsk *d, const unsigned char *p, size_t len, mb_err *err);

#endif
