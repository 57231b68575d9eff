/* vmap.h - an exact value -> count map, the state of count(DISTINCT x),
 * sum(DISTINCT x), median, quantile_disc/quantile_cont and mode: every
 * distinct value of a group with how often it came. Merging adds counts,
 * so it is associative and commutative, and the byte form lists the values
 * in order, so equal maps give equal bytes whatever the rank count, chunk
 * grid, merge order or restart.
 *
 * Values are opaque byte strings whose bytewise order (memcmp, a prefix
 * first) is the order of the values: the caller encodes them so (an
 * integer as 8 big-endian bytes with the sign bit flipped, a string as
 * itself, ...). The map grows with the number of distinct values;
 * mb_vmap_bytes says how much memory it holds, for the caller's cap.
 *
 * Status: the state alone, with its unit test (tests/unit/test_vmap.c);
 * queries cannot call these aggregates yet.
 *
 * No I/O, no MPI; unpack treats its input as untrusted. */
#ifndef MB_VMAP_H
#define MB_VMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/mb.h"
#include "base/pack.h"

typedef struct mb_vmap_entry {
    uint64_t off;          /* of the value in the arena */
    uint32_t len;
    uint32_t spare;
    uint64_t count;
    uint64_t hash;
} mb_vmap_entry;

typedef struct mb_vmap {
    mb_vmap_entry *e;      /* in order of arrival */
    size_t n, cap;
    uint32_t *slot;        /* open addressing: entry index + 1, 0 empty */
    size_t nslot;
    char *arena;
    size_t used, acap;
    uint64_t total;        /* the sum of the counts */
    uint32_t *order;       /* entry indices in value order (mb_vmap_sort) */
    uint64_t *below;       /* values (with counts) before order[i] */
    int sorted;
} mb_vmap;

#define MB_VMAP_MAX_VALUE ((size_t)64 << 20)   /* bytes of one value */

void mb_vmap_init(mb_vmap *m);
void mb_vmap_fini(mb_vmap *m);

/* Adds count (>= 1) occurrences of the value p[0..len). MB_ELIMIT when the
 * value passes MB_VMAP_MAX_VALUE, the map 2^32 - 1 values or the count
 * 2^64 - 1; MB_ENOMEM. Either leaves m unchanged. */
mb_status mb_vmap_add(mb_vmap *m, const void *p, size_t len, uint64_t count);

/* dst += src. On an error dst holds part of src: callers that must keep
 * dst whole merge into a copy. */
mb_status mb_vmap_merge(mb_vmap *dst, const mb_vmap *src);

static inline size_t mb_vmap_distinct(const mb_vmap *m) { return m->n; }
static inline uint64_t mb_vmap_total(const mb_vmap *m) { return m->total; }

/* Memory the map holds, in bytes. */
size_t mb_vmap_bytes(const mb_vmap *m);

/* Puts the values in order; needed before the functions below, and again
 * after an add or a merge. MB_ENOMEM. */
mb_status mb_vmap_sort(mb_vmap *m);

/* The i-th distinct value in order (i < mb_vmap_distinct), its length and
 * count. */
const char *mb_vmap_at(const mb_vmap *m, size_t i, size_t *len, uint64_t *count);

/* The index (for mb_vmap_at) of the distinct value holding rank k, 0-based,
 * of all mb_vmap_total values in order (k < mb_vmap_total). */
size_t mb_vmap_rank(const mb_vmap *m, uint64_t k);

/* The index of the most frequent value, the smallest of them on a tie; m
 * not empty. */
size_t mb_vmap_mode(const mb_vmap *m);

/* The byte form appended to b, the map sorted first: varint count of
 * values, then per value in order varint length, the bytes, varint count
 * (varints LEB128). MB_ENOMEM. */
mb_status mb_vmap_pack(mb_vmap *m, mb_buf *b);

/* Reads a byte form into m (initialized; replaced on success): MB_EDATA
 * naming what is wrong (truncated, values not strictly in order, a zero
 * count, counts that overflow, trailing bytes), MB_ELIMIT, MB_ENOMEM. */
mb_status mb_vmap_unpack(mb_vmap *m, const unsigned char *p, size_t len, mb_err *err);

#endif
