/* group.h - the group-by hash table: group key -> row count and one exact
 * state per aggregated column.
 *
 * Open addressing with linear probing over a power-of-two slot array of
 * (hash tag, group index) words. Each group is one fixed-size record: hash,
 * row count, key (inline up to MB_KEY_INLINE bytes, else in an arena) and a
 * compact accumulator per column (agg.h), so a lookup that hits touches the
 * slot and one record. A key is the group's fields encoded as (u32 length,
 * bytes) pairs, which makes keys of different field splits distinct
 * ("a,bc" != "ab,c"). The table has a memory cap; it does not spill to
 * disk. No I/O, no MPI. */
#ifndef MB_GROUP_H
#define MB_GROUP_H

#include "agg/agg.h"
#include "agg/fsum.h"
#include "agg/strmm.h"
#include "base/pack.h"

#include <string.h>

#define MB_KEY_INLINE 32

typedef struct mb_grec {
    uint64_t hash;
    uint64_t koff;                 /* arena offset when klen > MB_KEY_INLINE */
    int64_t rows;                  /* count(*) */
    uint32_t klen;
    uint32_t spare;
    char head[MB_KEY_INLINE];      /* the key, or its first bytes; zero-padded */
} mb_grec;

/* The state of an accumulator of DOUBLE values (MB_NEED_DBL): their exact
 * sum, with MB_NEED_SUMSQ that of their squares (an mb_fsumsq in the
 * table's array sqs, sq its index + 1), and the smallest and largest value
 * in the total order of mb_dstate_cmp. Its accumulator's n counts the
 * values, as s.c.n does. */
typedef struct mb_dstate {
    mb_fsum s;
    double min, max;
    size_t sq;
} mb_dstate;

/* The order of min() and max() of DOUBLE: numeric, -0.0 before +0.0 (so
 * that the answer does not depend on which came first; DuckDB, which
 * treats them as equal, gives either) and NaN after everything, as in
 * DuckDB. Every NaN is one value. */
int mb_dstate_cmp(double a, double b);

typedef struct mb_groups {
    size_t nstate;           /* accumulators per group */
    unsigned *needs;         /* per accumulator: MB_NEED_* */
    size_t *acc_off;         /* per accumulator: byte offset in a record */
    size_t stride;           /* bytes per record, a multiple of 16 */
    size_t n;                /* groups */
    size_t gcap;             /* records allocated */
    size_t nslots;           /* power of two */
    uint64_t *slots;         /* 0 empty, else (high 32 bits of the hash << 32) |
                                (group index + 1): most misses end at the slot */
    unsigned char *rec;      /* n records of `stride` bytes */
    char *arena;             /* keys longer than MB_KEY_INLINE */
    size_t arena_len, arena_cap;
    mb_spill spill;          /* states that outgrew 128 bits */
    mb_strmm *strs;          /* string min/max states (MB_NEED_STR): an
                                accumulator's v[0] is its index + 1, 0 none */
    size_t nstrs, strs_cap;
    size_t str_bytes;        /* bytes their strings hold allocated */
    mb_dstate *dbls;         /* DOUBLE states (MB_NEED_DBL): an accumulator's
                                v[0] is its index + 1, 0 none */
    size_t ndbls, dbls_cap;
    mb_fsumsq *sqs;          /* their sums of squares (mb_dstate.sq) */
    size_t nsqs, sqs_cap;
    size_t max_bytes;        /* cap on the memory of the whole table */
} mb_groups;

/* MB_OK, or MB_ENOMEM. `needs` (nstate entries) is copied. */
mb_status mb_groups_init(mb_groups *g, const unsigned *needs, size_t nstate, size_t max_bytes);
void mb_groups_fini(mb_groups *g);

/* Hash of an encoded key: a few multiplies for the short keys of group-by
 * columns, inline because the hot loop calls it once per record. */
static inline uint64_t mb_groups_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull), w = 0;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    /* The tail as fixed-size loads (overlapping the bytes before it when
     * needed): a variable-length copy would stall the load that follows. */
    if (i < len) {
        if (len >= 8) {
            memcpy(&w, p + len - 8, 8);
        } else if (len >= 4) {
            uint32_t a, b;
            memcpy(&a, p, 4);
            memcpy(&b, p + len - 4, 4);
            w = (uint64_t)a << 32 | b;
        } else {
            w = (uint64_t)p[0] << 16 | (uint64_t)p[len / 2] << 8 | p[len - 1];
        }
        h = (h ^ w) * 0x94d049bb133111ebull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

/* Finds the group with `key` (hash h), adding it (rows 0, states empty)
 * when missing. MB_ELIMIT when the memory cap would be passed. */
mb_status mb_groups_get(mb_groups *g, const char *key, size_t len, uint64_t h, size_t *gi,
                        mb_err *err);

static inline mb_grec *mb_groups_rec(const mb_groups *g, size_t gi)
{
    return (mb_grec *)(void *)(g->rec + gi * g->stride);
}

/* A lookup of hash h in two steps ahead of it, so that a batch of lookups
 * overlaps its cache misses: first the slot h starts at, then (once that
 * slot is cached) the record it points to, when its tag matches. */
static inline void mb_groups_prefetch_slot(const mb_groups *g, uint64_t h)
{
    mb_prefetch(&g->slots[h & (g->nslots - 1)]);
}

static inline void mb_groups_prefetch_rec(const mb_groups *g, uint64_t h)
{
    uint64_t v = g->slots[h & (g->nslots - 1)];

    if (v && !((v ^ h) >> 32)) {
        const char *r = (const char *)mb_groups_rec(g, (size_t)(v & 0xffffffffu) - 1);
        mb_prefetch(r);
        mb_prefetch(r + 64);
    }
}

static inline mb_acc *mb_groups_acc(const mb_groups *g, size_t gi, size_t k)
{
    return (mb_acc *)(void *)(g->rec + gi * g->stride + g->acc_off[k]);
}

static inline const char *mb_groups_key(const mb_groups *g, size_t gi)
{
    const mb_grec *r = mb_groups_rec(g, gi);
    return r->klen <= MB_KEY_INLINE ? r->head : g->arena + r->koff;
}

static inline size_t mb_groups_klen(const mb_groups *g, size_t gi)
{
    return mb_groups_rec(g, gi)->klen;
}

/* The full exact state of accumulator k of group gi. */
static inline void mb_groups_state(const mb_groups *g, size_t gi, size_t k, mb_numstate *out)
{
    mb_acc_get(mb_groups_acc(g, gi, k), g->needs[k], &g->spill, out);
}

/* Whether a value of accumulator k of group gi had a fraction or exponent. */
static inline int mb_groups_nonint(const mb_groups *g, size_t gi, size_t k)
{
    const mb_acc *a = mb_groups_acc(g, gi, k);
    if (a->flags & MB_ACC_SPILLED)
        return g->spill.v[(size_t)(uint64_t)a->v[0]].nonint != 0;
    return (a->flags & MB_ACC_NONINT) != 0;
}

/* Parses and adds a value to accumulator k of group gi (mb_acc_add_text). */
static inline mb_status mb_groups_add_text(mb_groups *g, size_t gi, size_t k, const char *p,
                                           size_t len, mb_err *err)
{
    return mb_acc_add_text(mb_groups_acc(g, gi, k), p, len, g->needs[k], &g->spill, err);
}

/* Adds value v to accumulator k of group gi (mb_acc_add). */
static inline mb_status mb_groups_add(mb_groups *g, size_t gi, size_t k, const mb_dec *v,
                                      mb_err *err)
{
    return mb_acc_add(mb_groups_acc(g, gi, k), v, g->needs[k], &g->spill, err);
}

/* Adds the string p[0..len) to accumulator k (need MB_NEED_STR) of group
 * gi: counts it and keeps it when it is a new min or max. MB_ELIMIT when a
 * string passes MB_STRMM_MAX or the table its memory cap, MB_ENOMEM. */
mb_status mb_groups_add_str(mb_groups *g, size_t gi, size_t k, const char *p, size_t len,
                            mb_err *err);

/* The strings of accumulator k (MB_NEED_STR) of group gi, or NULL when it
 * saw no value. Valid until the table changes. */
static inline const mb_strmm *mb_groups_str(const mb_groups *g, size_t gi, size_t k)
{
    const mb_acc *a = mb_groups_acc(g, gi, k);
    size_t i = (size_t)(uint64_t)a->v[0];
    return i ? &g->strs[i - 1] : NULL;
}

/* Adds the double x to accumulator k (need MB_NEED_DBL) of group gi: to
 * the exact sum (and that of squares), min and max. MB_ELIMIT when the
 * table passes its memory cap, MB_ENOMEM. Any double is accepted. */
mb_status mb_groups_add_dbl(mb_groups *g, size_t gi, size_t k, double x, mb_err *err);

/* The DOUBLE state of accumulator k (MB_NEED_DBL) of group gi, or NULL
 * when it saw no value; mb_groups_dbl_sq: its sum of squares, NULL when
 * the accumulator does not keep it. Valid until the table changes. */
static inline const mb_dstate *mb_groups_dbl(const mb_groups *g, size_t gi, size_t k)
{
    const mb_acc *a = mb_groups_acc(g, gi, k);
    size_t i = (size_t)(uint64_t)a->v[0];
    return i ? &g->dbls[i - 1] : NULL;
}

/* Prefetches what mb_groups_add_dbl(g, gi, k, x) will touch of an existing
 * DOUBLE state: its counts, the digits x lands in, and min/max. */
static inline void mb_groups_prefetch_dbl(const mb_groups *g, size_t gi, size_t k, double x)
{
    const mb_dstate *d = mb_groups_dbl(g, gi, k);
    uint64_t bits;

    if (!d)
        return;
    memcpy(&bits, &x, sizeof bits);
    mb_prefetch(d);
    mb_prefetch(&d->s.w[((bits >> 52) & 0x7ff) / 53]);
    mb_prefetch(&d->min);
}

static inline const mb_fsumsq *mb_groups_dbl_sq(const mb_groups *g, const mb_dstate *d)
{
    return d && d->sq ? &g->sqs[d->sq - 1] : NULL;
}

/* Appends the byte form of a DOUBLE state (d not NULL, sq its sum of
 * squares or NULL) to b: u32 length + mb_fsum_pack bytes, f64 min, f64 max
 * (host byte order), u32 length + mb_fsumsq_pack bytes (length 0 without
 * squares). Canonical: equal states give equal bytes. This is what group
 * packs, checkpoints and result files hold. */
mb_status mb_dstate_pack(const mb_dstate *d, const mb_fsumsq *sq, mb_buf *b);

/* Merges n values given as a byte form p[0..len) (mb_dstate_pack; len 0
 * and p NULL when n is 0) into accumulator k (MB_NEED_DBL) of group gi.
 * The bytes are untrusted: MB_EDATA (nothing merged) when they are
 * malformed, do not hold n values, or hold squares exactly when the
 * accumulator does not keep them. */
mb_status mb_groups_merge_dbl(mb_groups *g, size_t gi, size_t k, int64_t n, const void *p,
                              size_t len, mb_err *err);

/* Appends group gi as (u32 klen, key, i64 rows, nstate full states) to b. */
mb_status mb_groups_pack(const mb_groups *g, size_t gi, mb_buf *b);

/* Merges every packed group in data[0..len) into g. MB_EDATA when the data
 * is malformed, MB_ERANGE on exact-arithmetic overflow. */
mb_status mb_groups_unpack_merge(mb_groups *g, const char *data, size_t len, mb_err *err);

/* A DOUBLE state's byte form (mb_dstate_pack) as a view: p[0..len). */
typedef struct mb_dbytes {
    const void *p;
    size_t len;
} mb_dbytes;

/* Merges the states of one group into g (adding the group if new): src
 * has one state per accumulator; for an accumulator of MB_NEED_STR its n
 * counts the values and strs[k] holds its strings (strs may be NULL when
 * no accumulator is one); for one of MB_NEED_DBL, its n likewise and
 * dbls[k] its byte form (dbls may be NULL when no accumulator is one). */
mb_status mb_groups_merge_one(mb_groups *g, const char *key, size_t len, int64_t rows,
                              const mb_numstate *src, const mb_strmm *strs,
                              const mb_dbytes *dbls, mb_err *err);

/* Group indices ordered by key: field by field, bytewise, a shorter field
 * first when one is a prefix of the other. Caller frees. NULL on ENOMEM. */
size_t *mb_groups_sorted(const mb_groups *g);

/* The order of mb_groups_sorted: encoded keys compared field by field,
 * each bytewise, a shorter field (or key) first. */
int mb_groups_key_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Splits an encoded key into fields: calls fn for each (bytes, length). */
typedef void (*mb_key_field_fn)(void *ctx, size_t i, const char *p, size_t len);
void mb_groups_key_fields(const char *key, size_t len, mb_key_field_fn fn, void *ctx);

#endif
