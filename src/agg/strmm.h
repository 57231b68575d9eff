/* strmm.h - the exact, mergeable state of min() and max() over strings:
 * the smallest and the largest byte string seen, compared bytewise (memcmp,
 * a prefix before the longer string) as DuckDB compares VARCHAR, which for
 * valid UTF-8 is code point order. Merging keeps the smaller min and the
 * larger max, so it is associative and commutative byte for byte and the
 * answer does not depend on how the work was split. The count of values is
 * not kept here: the accumulator that holds the state counts them.
 *
 * A state holds its own copies of the two strings, each at most
 * MB_STRMM_MAX bytes (longer values are refused, not cut). Packed form (a
 * checkpoint's or a message's bytes): u32 min length, min bytes, u32 max
 * length, max bytes, host byte order. No I/O, no MPI. */
#ifndef MB_STRMM_H
#define MB_STRMM_H

#include "base/mb.h"
#include "base/pack.h"

#include <stdbool.h>

/* The longest string a state keeps: the row layer's cap on a record's
 * values, which bounds every value a record can give. */
#define MB_STRMM_MAX ((size_t)64 << 20)

typedef struct mb_strmm {
    char *min, *max;            /* NULL: no value yet (then both are) */
    uint32_t minlen, maxlen;
    uint32_t mincap, maxcap;    /* bytes allocated */
} mb_strmm;

/* Bytewise order of two strings, a prefix first: <0, 0, >0. */
int mb_strmm_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Whether the state holds a value. */
static inline bool mb_strmm_has(const mb_strmm *s) { return s->min != NULL; }

/* Adds p[0..len) to the state. MB_ELIMIT (with message) past MB_STRMM_MAX,
 * MB_ENOMEM; the state is then unchanged. *grew (may be NULL) gets the
 * bytes newly allocated, for the caller's memory cap. */
mb_status mb_strmm_add(mb_strmm *s, const char *p, size_t len, size_t *grew, mb_err *err);

/* dst := dst (+) src: the smaller min, the larger max. src may be a view
 * (mb_strmm_unpack); errors as mb_strmm_add. */
mb_status mb_strmm_merge(mb_strmm *dst, const mb_strmm *src, size_t *grew, mb_err *err);

/* Appends the packed form of a state that holds a value. */
mb_status mb_strmm_pack(const mb_strmm *s, mb_buf *b);

/* Reads a packed state as a view into r's data (no copies: caps are 0 and
 * the view must not be freed or added to). r->bad on short data; MB_EDATA
 * when a length passes MB_STRMM_MAX or min > max. */
mb_status mb_strmm_unpack(mb_rd *r, mb_strmm *view, mb_err *err);

void mb_strmm_fini(mb_strmm *s);     /* NULL-safe; leaves an empty state */

#endif
