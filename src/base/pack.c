/* pack.c - capped growable buffers and checked readers for serialized data.
 * It never trusts a length it reads: every read is checked against what is
 * left. */
#include "base/pack.h"

#include <stdlib.h>
#include <string.h>

void mb_buf_init(mb_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void mb_buf_fini(mb_buf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

mb_status mb_buf_reserve(mb_buf *b, size_t more)
{
    size_t need, cap;
    char *p;

    if (mb_size_add(b->len, more, &need) != 0 || need > b->max)
        return MB_ELIMIT;
    if (need <= b->cap)
        return MB_OK;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    p = mb_realloc(b->p, cap);
    if (!p)
        return MB_ENOMEM;
    b->p = p;
    b->cap = cap;
    return MB_OK;
}

mb_status mb_buf_put(mb_buf *b, const void *p, size_t len)
{
    mb_status st = mb_buf_reserve(b, len);
    if (st != MB_OK)
        return st;
    if (len)
        memcpy(b->p + b->len, p, len);
    b->len += len;
    return MB_OK;
}

mb_status mb_buf_put_u64(mb_buf *b, uint64_t v)
{
    return mb_buf_put(b, &v, sizeof v);
}

mb_status mb_buf_put_varint(mb_buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;

    do {
        t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return mb_buf_put(b, t, n);
}

mb_status mb_buf_put_str(mb_buf *b, const char *s)
{
    size_t n = strlen(s);
    mb_status st = mb_buf_put_u64(b, (uint64_t)n);
    return st != MB_OK ? st : mb_buf_put(b, s, n);
}

void mb_rd_init(mb_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->bad = 0;
    r->nomem = 0;
}

const char *mb_rd_ptr(mb_rd *r, size_t len)
{
    const char *p;
    if (r->bad || len > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    p = r->p + r->pos;
    r->pos += len;
    return p;
}

int mb_rd_get(mb_rd *r, void *out, size_t len)
{
    const char *p = mb_rd_ptr(r, len);
    if (!p)
        return 0;
    if (len)
        memcpy(out, p, len);
    return 1;
}

uint64_t mb_rd_u64(mb_rd *r)
{
    uint64_t v = 0;
    mb_rd_get(r, &v, sizeof v);
    return v;
}

uint64_t mb_rd_varint(mb_rd *r)
{
    uint64_t v = 0;

    for (unsigned sh = 0; sh < 64 && !r->bad; sh += 7) {
        if (r->pos >= r->len)
            break;
        unsigned char c = (unsigned char)r->p[r->pos++];
        if (sh == 63 && (c & 0x7e))
            break;                          /* past 64 bits */
        v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) {
            if (sh && !c)
                break;                      /* not the shortest form */
            return v;
        }
    }
    r->bad = 1;
    return 0;
}

char *mb_rd_str(mb_rd *r, size_t max)
{
    uint64_t n = mb_rd_u64(r);
    const char *p;
    char *s;

    if (r->bad || n > max) {
        r->bad = 1;
        return NULL;
    }
    p = mb_rd_ptr(r, (size_t)n);
    if (!p)
        return NULL;
    s = mb_malloc((size_t)n + 1);
    if (!s) {
        r->bad = r->nomem = 1;
        return NULL;
    }
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    return s;
}
