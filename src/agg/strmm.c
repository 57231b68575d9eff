/* strmm.c - min/max state of byte strings (strmm.h). A string is checked
 * to be valid UTF-8 without NUL bytes (base/utf8) when it enters a state,
 * as a group key is when it enters the group table: a value that never
 * becomes a min or max costs a comparison only. */
#include "agg/strmm.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/utf8.h"

int mb_strmm_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

/* Copies p[0..len) into *dst (capacity *cap), growing it when needed. */
static mb_status set(char **dst, uint32_t *dlen, uint32_t *cap, const char *p, size_t len,
                     size_t *grew)
{
    if (len > *cap || !*dst) {
        size_t want = len ? len : 1;
        char *n = mb_realloc(*dst, want);
        if (!n)
            return MB_ENOMEM;
        if (grew)
            *grew += want - *cap;
        *dst = n;
        *cap = (uint32_t)want;
    }
    if (len)
        memcpy(*dst, p, len);
    *dlen = (uint32_t)len;
    return MB_OK;
}

static mb_status failed(mb_status st, size_t len, mb_err *err)
{
    if (st == MB_ELIMIT)
        return mb_err_set(err, st, "a string of %zu bytes passes min()/max()'s cap of %zu MiB",
                          len, MB_STRMM_MAX >> 20);
    return mb_err_set(err, st, "out of memory for a string min()/max()");
}

/* Takes the value into min and/or max. On an allocation failure the
 * state keeps what was taken, or stays empty when it was (never a min
 * without a max); the caller fails the task. */
static mb_status take(mb_strmm *s, const char *minp, size_t minl, const char *maxp,
                      size_t maxl, size_t *grew, mb_err *err)
{
    bool lo, hi;

    if (minl > MB_STRMM_MAX || maxl > MB_STRMM_MAX)
        return failed(MB_ELIMIT, minl > maxl ? minl : maxl, err);
    lo = !s->min || mb_strmm_cmp(minp, minl, s->min, s->minlen) < 0;
    hi = !s->max || mb_strmm_cmp(maxp, maxl, s->max, s->maxlen) > 0;
    if ((lo && mb_utf8_valid_prefix((const unsigned char *)minp, minl) != minl) ||
        (hi && mb_utf8_valid_prefix((const unsigned char *)maxp, maxl) != maxl))
        return mb_err_set(err, MB_EDATA, "a min()/max() string that is not valid UTF-8 or "
                          "holds a NUL byte");
    if (lo && set(&s->min, &s->minlen, &s->mincap, minp, minl, grew) != MB_OK)
        return failed(MB_ENOMEM, 0, err);
    if (hi && set(&s->max, &s->maxlen, &s->maxcap, maxp, maxl, grew) != MB_OK) {
        if (!s->max)
            mb_strmm_fini(s);          /* the first value: back to empty */
        return failed(MB_ENOMEM, 0, err);
    }
    return MB_OK;
}

mb_status mb_strmm_add(mb_strmm *s, const char *p, size_t len, size_t *grew, mb_err *err)
{
    return take(s, p, len, p, len, grew, err);
}

mb_status mb_strmm_merge(mb_strmm *dst, const mb_strmm *src, size_t *grew, mb_err *err)
{
    if (!src->min)
        return MB_OK;
    return take(dst, src->min, src->minlen, src->max, src->maxlen, grew, err);
}

mb_status mb_strmm_pack(const mb_strmm *s, mb_buf *b)
{
    mb_status st;

    if (!s->min || !s->max)
        return MB_EINTERNAL;
    if ((st = mb_buf_reserve(b, 8 + (size_t)s->minlen + s->maxlen)) != MB_OK)
        return st;
    mb_buf_put(b, &s->minlen, sizeof s->minlen);
    mb_buf_put(b, s->min, s->minlen);
    mb_buf_put(b, &s->maxlen, sizeof s->maxlen);
    return mb_buf_put(b, s->max, s->maxlen);
}

mb_status mb_strmm_unpack(mb_rd *r, mb_strmm *v, mb_err *err)
{
    memset(v, 0, sizeof *v);
    mb_rd_get(r, &v->minlen, sizeof v->minlen);
    if (r->bad || v->minlen > MB_STRMM_MAX)
        return r->bad ? MB_EDATA : mb_err_set(err, MB_EDATA, "a string state is too long");
    v->min = (char *)(uintptr_t)mb_rd_ptr(r, v->minlen);
    mb_rd_get(r, &v->maxlen, sizeof v->maxlen);
    if (r->bad || v->maxlen > MB_STRMM_MAX)
        return r->bad ? MB_EDATA : mb_err_set(err, MB_EDATA, "a string state is too long");
    v->max = (char *)(uintptr_t)mb_rd_ptr(r, v->maxlen);
    if (r->bad)
        return MB_EDATA;
    if (!v->min)                 /* a zero-length view: any non-NULL pointer */
        v->min = (char *)(uintptr_t)"";
    if (!v->max)
        v->max = (char *)(uintptr_t)"";
    if (mb_strmm_cmp(v->min, v->minlen, v->max, v->maxlen) > 0)
        return mb_err_set(err, MB_EDATA, "a string state's min is above its max");
    return MB_OK;
}

void mb_strmm_fini(mb_strmm *s)
{
    if (!s)
        return;
    free(s->min);
    free(s->max);
    memset(s, 0, sizeof *s);
}
