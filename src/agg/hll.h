/* hll.h - a HyperLogLog sketch of distinct values, for
 * approx_count_distinct(): a mergeable state whose estimate depends only on
 * the set of values added, never on their order, on how they were split
 * between states, or on how often a value came.
 *
 * A value is added by its 64-bit hash (the caller hashes the value's
 * canonical bytes with mb_hll_hash). The low MB_HLL_P bits of the hash pick
 * one of MB_HLL_M registers, the rank of the rest (1 + the number of its
 * trailing zero bits, at most 65 - MB_HLL_P) is kept when it is larger than
 * the register's. Merging takes the larger register, so it is associative,
 * commutative and idempotent: any rank count, chunk grid, merge order or
 * restart gives the same registers, hence the same estimate, bit for bit.
 *
 * Representation: sparse, a sorted array of (register, rank) entries, while
 * fewer than MB_HLL_SPARSE_MAX registers are set (a few bytes for a group
 * with few distinct values); dense, one byte per register (16 KiB), beyond.
 * Both represent the same registers, and the estimate is computed from
 * their histogram alone, so the representation never shows in a result.
 *
 * The estimate is Ertl's improved raw estimator ("New cardinality
 * estimation algorithms for HyperLogLog sketches", 2017), which needs no
 * empirical bias tables and is unbiased from 0 to far beyond 2^50 distinct
 * values; it uses only +, *, / and sqrt, which IEEE-754 rounds exactly, so
 * the same registers give the same double on every machine. Standard error:
 * 1.04 / sqrt(MB_HLL_M) = 0.81% for MB_HLL_P 14.
 *
 * Status: the state alone, with its unit test (tests/unit/test_hll.c);
 * queries cannot call approx_count_distinct() yet.
 *
 * No I/O, no MPI. The byte form (pack/unpack) is what goes between ranks
 * and into checkpoints and result files; unpack treats its input as
 * untrusted. */
#ifndef MB_HLL_H
#define MB_HLL_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb.h"

#define MB_HLL_P 14
#define MB_HLL_M ((size_t)1 << MB_HLL_P)
#define MB_HLL_QMAX (65 - MB_HLL_P)          /* the largest rank */
/* Sparse entries (4 bytes each) up to a quarter of the dense size. */
#define MB_HLL_SPARSE_MAX (MB_HLL_M / 16)

typedef struct mb_hll {
    uint8_t *dense;          /* MB_HLL_M registers, or NULL while sparse */
    uint32_t *sparse;        /* sorted by register: reg << 8 | rank */
    size_t nsparse, capsparse;
} mb_hll;

void mb_hll_init(mb_hll *h);
void mb_hll_fini(mb_hll *h);

/* The hash a value is added by: of its canonical bytes p[0..len),
 * fixed for all time (results and checkpoints keep the registers it
 * gives), the same on every platform. */
uint64_t mb_hll_hash(const void *p, size_t len);

/* Adds a hash. MB_ENOMEM leaves h unchanged. */
mb_status mb_hll_add(mb_hll *h, uint64_t hash);

/* dst = the register-wise max of dst and src. MB_ENOMEM leaves dst
 * unchanged. */
mb_status mb_hll_merge(mb_hll *dst, const mb_hll *src);

/* The estimated number of distinct values (0 for an empty sketch). */
double mb_hll_estimate(const mb_hll *h);

/* The byte form, appended to out (cap bytes; returns the length, or 0 when
 * cap is too small; at most MB_HLL_PACK_MAX): u8 version 1, u8 MB_HLL_P,
 * u8 form (0 sparse, 1 dense); sparse: u16 count (little-endian), then
 * per set register in ascending order u16 register delta from the previous
 * one (the first from 0) and u8 rank; dense: the MB_HLL_M registers. The
 * form is sparse exactly when fewer than MB_HLL_SPARSE_MAX registers are
 * set, so equal registers always give equal bytes. */
#define MB_HLL_PACK_MAX (3 + MB_HLL_M)
size_t mb_hll_pack(const mb_hll *h, unsigned char *out, size_t cap);

/* Reads a byte form into h (initialized; replaced on success). Malformed
 * bytes (another version or precision, a rank past MB_HLL_QMAX, registers
 * out of order or out of range, a form that does not match its count, a
 * length that does not match) are MB_EDATA with err saying what. */
mb_status mb_hll_unpack(mb_hll *h, const unsigned char *p, size_t len, mb_err *err);

#endif
