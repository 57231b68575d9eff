/* fsum.h - exact, order-independent sums of IEEE-754 doubles and of their
 * squares, for sum(), avg() and var() of DOUBLE expressions.
 *
 * An mb_fsum holds the exact sum of every finite double added, as a
 * fixed-point integer in units of 2^-1074 (the smallest subnormal), wide
 * enough for 2^63 additions of DBL_MAX; an mb_fsumsq holds the exact sum of
 * squares in units of 2^-2148 (the square of that unit). Beside the integer,
 * each state counts the values added, the -0.0s, the +inf, -inf and NaN.
 * Adding and merging are exact, so the final value depends only on the
 * multiset of values added: any rank count, chunk assignment, merge order or
 * restart gives the same bits. Rounding happens once, when a value is read.
 *
 * Deliberately no I/O, no MPI and no allocation; the byte form (pack/unpack)
 * is what goes between ranks and into checkpoints.
 *
 * Representation (in memory): limbs of 64-bit signed integers, each holding
 * a base-2^53 digit, limb i of weight 2^(53 i) units. An add puts the
 * 53-bit significand, shifted to its place, into two limbs (three for a
 * square) without propagating carries; every limb has 10 spare bits, so up
 * to MB_FSUM_LAZY adds can pass before a carry sweep ("normalisation") must
 * bring every limb but the top one back into [0, 2^53). The number is two's
 * complement in that sense: after a sweep the top limb carries the sign.
 * Sizes: sizeof(mb_fsum) = 368 bytes, sizeof(mb_fsumsq) = 688 bytes. The
 * byte form is sign and magnitude, with only the digits in use: 20-40 bytes
 * for values of similar magnitudes, up to 300 (600 for squares) when they
 * range from subnormals to DBL_MAX.
 *
 * Design limit: 2^63 values in all, over every add and merge into one
 * state (counts would wrap beyond 2^64; unpack refuses n > 2^63).
 *
 * Final values follow IEEE-754 for the exact result, rounded to nearest,
 * ties to even:
 *   - any NaN, or both +inf and -inf, give NaN (always the one quiet NaN,
 *     positive, of the NAN macro: payloads are not propagated);
 *   - otherwise any +inf (-inf) gives +inf (-inf);
 *   - otherwise the exact sum correctly rounded, +-inf when it lies beyond
 *     the double range as IEEE rounding would have it (DBL_MAX + 2^970 is
 *     inf). Intermediate overflow cannot happen: DBL_MAX + DBL_MAX - DBL_MAX
 *     is DBL_MAX, where a loop of += would give inf;
 *   - an exact sum of zero is -0.0 when every value added was -0.0 (and at
 *     least one was), as in IEEE arithmetic (-0 + -0 = -0); else +0.0, also
 *     for a state with nothing added (SQL callers return NULL for that). */
#ifndef MB_FSUM_H
#define MB_FSUM_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb.h"

/* Limbs: the sum needs 2098 bits for the range of doubles (2^-1074 up to
 * 2^1024) plus 64 bits of headroom for 2^63 additions: 2162 <= 41 * 53.
 * The sum of squares needs 4196 + 64 = 4260 <= 81 * 53. */
#define MB_FSUM_LIMBS 41
#define MB_FSUMSQ_LIMBS 81

/* Adds between carry sweeps, a power of two (a sweep comes before every add
 * that makes the count a multiple of it): a limb gains less than 2^53 per
 * add and must stay below 2^63 in magnitude with a merge's worth to spare,
 * so anything up to 1022 would do. Measured: a sweep per add is ~15 times
 * slower than this. */
#define MB_FSUM_LAZY 512

/* Upper bounds of the byte forms (3 header bytes, 7 varints of at most
 * 10 bytes, 7 bytes per digit), for sizing buffers. */
#define MB_FSUM_PACK_MAX (3 + 7 * 10 + 7 * MB_FSUM_LIMBS)
#define MB_FSUMSQ_PACK_MAX (3 + 7 * 10 + 7 * MB_FSUMSQ_LIMBS)

/* Counters common to both kinds of state. */
typedef struct mb_fsum_counts {
    uint64_t n;         /* values added (all of them, inf and NaN too) */
    uint64_t negzero;   /* of which -0.0 */
    uint64_t pinf;      /* of which +inf (for squares: +-inf) */
    uint64_t ninf;      /* of which -inf (squares: always 0) */
    uint64_t nan;       /* of which NaN */
} mb_fsum_counts;

/* The exact sum of doubles. Plain data; copy it with = or memcpy. */
typedef struct mb_fsum {
    mb_fsum_counts c;
    int64_t w[MB_FSUM_LIMBS];         /* units of 2^-1074, base 2^53 */
} mb_fsum;

/* The exact sum of squares of doubles. */
typedef struct mb_fsumsq {
    mb_fsum_counts c;
    int64_t w[MB_FSUMSQ_LIMBS];       /* units of 2^-2148, base 2^53 */
} mb_fsumsq;

/* An empty state: nothing added, exact sum 0. */
void mb_fsum_init(mb_fsum *s);
void mb_fsumsq_init(mb_fsumsq *q);

/* Adds x (mb_fsumsq_add: x*x, exactly, even where x*x as a double would
 * overflow or underflow). Any double is accepted; inf and NaN are counted.
 * The common case touches two limbs (three for a square) and a counter. */
void mb_fsum_add(mb_fsum *s, double x);
void mb_fsumsq_add(mb_fsumsq *q, double x);

/* dst := dst + src, exactly. Associative and commutative bit for bit (in
 * the sense of every value and byte form read from the result). */
void mb_fsum_merge(mb_fsum *dst, const mb_fsum *src);
void mb_fsumsq_merge(mb_fsumsq *dst, const mb_fsumsq *src);

/* The exact sum, correctly rounded (rules at the top of this file). */
double mb_fsum_value(const mb_fsum *s);
double mb_fsumsq_value(const mb_fsumsq *q);

/* The mean: the exact sum divided by the number of values added, rounded
 * once to nearest-even. NaN when nothing was added; non-finite values as
 * in mb_fsum_value (inf / n = inf); -0.0 when every value was -0.0. */
double mb_fsum_mean(const mb_fsum *s);

/* The variance of the values added to both s (x) and q (x*x): with n values,
 * D = n * sum(x^2) - sum(x)^2 is computed exactly (an integer in units of
 * 2^-2148), then D / (n * (n - 1)) (sample != 0, var_samp) or D / n^2
 * (var_pop) is rounded once to nearest-even; overflow gives +inf. So the
 * result is the correctly rounded variance of the exact values, whatever
 * their magnitudes or offset. NaN when n is 0 (or 1 for the sample
 * variance), when any value was inf or NaN, or when s and q do not describe
 * the same values (different counts, or D < 0: states that were not built
 * together). stddev is then sqrt() of this double: deterministic, though
 * not always the correctly rounded root of the exact variance. */
double mb_fsum_var(const mb_fsum *s, const mb_fsumsq *q, int sample);

/* Writes the byte form of s into out[0..cap) when it fits, and returns its
 * size either way (nothing is written when that is more than cap; out may be
 * NULL when cap is 0). The form is canonical - two states with the same
 * counts and exact sum have the same bytes - and independent of the host's
 * byte order. Version 1 layout:
 *   u8  version = 1
 *   u8  kind: 'S' (mb_fsum) or 'Q' (mb_fsumsq)
 *   u8  flags: bit 0 = the exact sum is negative; other bits 0
 *   varint n, negzero, pinf, ninf, nan      (LEB128, minimal encodings)
 *   varint lo, nd    the digits held: indices lo .. lo+nd-1 (both 0 for a
 *                    zero sum; else the first and last digit are nonzero)
 *   nd x 7 bytes     digits d_lo .. d_(lo+nd-1), each < 2^53, little-endian
 * The exact sum is (-1)^neg * sum d_j 2^(53 j) units (2^-1074 for 'S',
 * 2^-2148 for 'Q'). Only the digits in use are written: a sum of values of
 * similar size takes 2 or 3 digits. */
size_t mb_fsum_pack(const mb_fsum *s, unsigned char *out, size_t cap);
size_t mb_fsumsq_pack(const mb_fsumsq *q, unsigned char *out, size_t cap);

/* Reads a byte form written by the matching pack function. The bytes are
 * untrusted (checkpoints, other ranks): everything is checked - version,
 * kind, flags, encodings, counts (n <= 2^63, the parts <= n), digit
 * ranges, that the magnitude is reachable by n finite values, that exactly
 * len bytes are used - and anything else is MB_EDATA with a message, s
 * unchanged. */
mb_status mb_fsum_unpack(mb_fsum *s, const unsigned char *p, size_t len, mb_err *err);
mb_status mb_fsumsq_unpack(mb_fsumsq *q, const unsigned char *p, size_t len, mb_err *err);

#endif
