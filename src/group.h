/* group.h - the group-by hash table: group key -> row count and one exact
 * state per aggregated column.
 *
 * Open addressing with linear probing over a power-of-two slot array that
 * stores group indices; keys live in one arena, states in one array, so a
 * table is a handful of allocations however many groups it holds. A key is
 * the group's fields encoded as (u32 length, bytes) pairs, which makes keys
 * of different field splits distinct ("a,bc" != "ab,c"). The table has a
 * memory cap; it does not spill. No I/O, no MPI. */
#ifndef MB_GROUP_H
#define MB_GROUP_H

#include "agg.h"
#include "pack.h"

typedef struct mb_groups {
    size_t nstate;           /* states per group */
    size_t n;                /* groups */
    size_t gcap;             /* capacity of the per-group arrays */
    size_t nslots;           /* power of two */
    uint64_t *slots;         /* 0 empty, else (high 32 bits of the hash << 32) |
                                (group index + 1): most misses end at the slot
                                without touching the group's arrays */
    uint64_t *hash;          /* per group */
    uint64_t *koff;          /* per group: key offset in arena */
    uint32_t *klen;          /* per group: key length */
    int64_t *rows;           /* per group: count(*) */
    mb_numstate *st;         /* n * nstate */
    char *arena;
    size_t arena_len, arena_cap;
    size_t max_bytes;        /* cap on the memory of the whole table */
} mb_groups;

/* MB_OK, or MB_ENOMEM. */
mb_status mb_groups_init(mb_groups *g, size_t nstate, size_t max_bytes);
void mb_groups_fini(mb_groups *g);

uint64_t mb_groups_hash(const void *key, size_t len);

/* Finds the group with `key` (hash h), adding it (rows 0, states
 * initialized) when missing. MB_ELIMIT when the memory cap would be passed. */
mb_status mb_groups_get(mb_groups *g, const char *key, size_t len, uint64_t h, size_t *gi,
                        mb_err *err);

static inline mb_numstate *mb_groups_state(const mb_groups *g, size_t gi)
{
    return g->st + gi * g->nstate;
}

static inline const char *mb_groups_key(const mb_groups *g, size_t gi)
{
    return g->arena + g->koff[gi];
}

/* Appends group gi as (u32 klen, key, i64 rows, states) to b. */
mb_status mb_groups_pack(const mb_groups *g, size_t gi, mb_buf *b);

/* Merges every packed group in data[0..len) into g. MB_EDATA when the data
 * is malformed, MB_ERANGE on exact-arithmetic overflow. */
mb_status mb_groups_unpack_merge(mb_groups *g, const char *data, size_t len,
                                 const unsigned *needs, mb_err *err);

/* Merges state `src` of one group into g (adding the group if new). */
mb_status mb_groups_merge_one(mb_groups *g, const char *key, size_t len, int64_t rows,
                              const mb_numstate *src, const unsigned *needs, mb_err *err);

/* Group indices ordered by key: field by field, bytewise, a shorter field
 * first when one is a prefix of the other. Caller frees. NULL on ENOMEM. */
size_t *mb_groups_sorted(const mb_groups *g);

/* Splits an encoded key into fields: calls fn for each (bytes, length). */
typedef void (*mb_key_field_fn)(void *ctx, size_t i, const char *p, size_t len);
void mb_groups_key_fields(const char *key, size_t len, mb_key_field_fn fn, void *ctx);

#endif
