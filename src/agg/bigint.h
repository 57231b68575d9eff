/* bigint.h - fixed-capacity unsigned big integers for exact result formatting.
 *
 * Just what turning an exact aggregate state into text needs: build from
 * limbs, multiply, subtract, compare, the correctly rounded double of a
 * ratio, and decimal text. Deliberately no signs, no general division, no
 * heap and no use on the per-value hot path (agg.c keeps its own inline
 * 128-bit arithmetic there). Capacity is fixed at MB_BIGINT_LIMBS limbs;
 * every operation that could exceed it reports overflow instead. */
#ifndef MB_BIGINT_H
#define MB_BIGINT_H

#include <stddef.h>
#include <stdint.h>

/* 768 bits: the widest value formatting builds is n * sumsq < 2^575, and
 * the correctly rounded ratio shifts operands by at most 56 more bits. It
 * is also far below 2^1022, so a ratio of two such numbers is always a
 * normal double: no subnormal or infinite result can arise. */
#define MB_BIGINT_LIMBS 12

typedef struct mb_bigint {
    size_t len;                     /* used limbs: w[len-1] != 0; 0 for zero */
    uint64_t w[MB_BIGINT_LIMBS];    /* little-endian; limbs >= len are zero */
} mb_bigint;

/* a := the n little-endian limbs w (n <= MB_BIGINT_LIMBS). */
void mb_bigint_set_limbs(mb_bigint *a, const uint64_t *w, size_t n);

/* a := v. */
void mb_bigint_set_u64(mb_bigint *a, uint64_t v);

/* a := a * f. Returns 0, or -1 on overflow with a unchanged. */
int mb_bigint_mul_u64(mb_bigint *a, uint64_t f);

/* a := a * 10^k. Returns 0, or -1 on overflow with a unchanged. */
int mb_bigint_mul_pow10(mb_bigint *a, unsigned k);

/* r := a * b (r may alias neither). Returns 0, or -1 on overflow. */
int mb_bigint_mul(mb_bigint *r, const mb_bigint *a, const mb_bigint *b);

/* r := a - b (r may alias a or b). Returns 0, or -1 when a < b. */
int mb_bigint_sub(mb_bigint *r, const mb_bigint *a, const mb_bigint *b);

/* -1, 0 or 1 as a <, == or > b. */
int mb_bigint_cmp(const mb_bigint *a, const mb_bigint *b);

/* Number of significant bits (0 for zero). */
size_t mb_bigint_bitlen(const mb_bigint *a);

/* The double nearest to num / den, ties to even (den != 0). */
double mb_bigint_ratio(const mb_bigint *num, const mb_bigint *den);

/* Writes the decimal text of a (preceded by '-' when neg and a != 0) into
 * out[0..cap) with a terminating NUL. Returns 0, or -1 if cap is too small
 * (out is then the empty string when cap > 0). */
int mb_bigint_format(const mb_bigint *a, int neg, char *out, size_t cap);

#endif
