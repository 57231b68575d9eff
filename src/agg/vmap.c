/* vmap.c - the value -> count map of vmap.h. */
#include "agg/vmap.h"

#include <stdlib.h>
#include <string.h>

#include "agg/hll.h"
#include "base/mem.h"

void mb_vmap_init(mb_vmap *m) { memset(m, 0, sizeof *m); }

void mb_vmap_fini(mb_vmap *m)
{
    if (!m)
        return;
    free(m->e);
    free(m->slot);
    free(m->arena);
    free(m->order);
    free(m->below);
    memset(m, 0, sizeof *m);
}

size_t mb_vmap_bytes(const mb_vmap *m)
{
    return m->cap * sizeof *m->e + m->nslot * sizeof *m->slot + m->acap +
           (m->order ? m->cap * (sizeof *m->order + sizeof *m->below) : 0);
}

static const char *value(const mb_vmap *m, const mb_vmap_entry *e)
{
    return m->arena ? m->arena + e->off : "";    /* only empty values so far */
}

/* The slot of value p (hash h): its entry's, or the empty one it goes to. */
static size_t probe(const mb_vmap *m, const void *p, size_t len, uint64_t h)
{
    size_t mask = m->nslot - 1, i = (size_t)h & mask;

    for (;; i = (i + 1) & mask) {
        uint32_t s = m->slot[i];
        if (!s)
            return i;
        const mb_vmap_entry *e = &m->e[s - 1];
        if (e->hash == h && e->len == len && memcmp(value(m, e), p, len) == 0)
            return i;
    }
}

static mb_status grow_slots(mb_vmap *m)
{
    size_t n = m->nslot ? m->nslot * 2 : 16;
    uint32_t *s = mb_calloc(n, sizeof *s);

    if (!s)
        return MB_ENOMEM;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = (size_t)m->e[k].hash & (n - 1);
        while (s[i])
            i = (i + 1) & (n - 1);
        s[i] = (uint32_t)(k + 1);
    }
    free(m->slot);
    m->slot = s;
    m->nslot = n;
    return MB_OK;
}

mb_status mb_vmap_add(mb_vmap *m, const void *p, size_t len, uint64_t count)
{
    uint64_t h = mb_hll_hash(p, len);
    size_t i;

    if (len > MB_VMAP_MAX_VALUE)
        return MB_ELIMIT;
    if ((m->n + 1) * 4 > m->nslot * 3 && grow_slots(m) != MB_OK)
        return MB_ENOMEM;
    i = probe(m, p, len, h);
    if (m->total > UINT64_MAX - count)
        return MB_ELIMIT;
    if (m->slot[i]) {
        m->e[m->slot[i] - 1].count += count;
        m->total += count;
        return MB_OK;
    }
    if (m->n >= UINT32_MAX - 1)
        return MB_ELIMIT;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        mb_vmap_entry *e = mb_realloc(m->e, cap * sizeof *e);
        if (!e)
            return MB_ENOMEM;
        m->e = e;
        m->cap = cap;
    }
    if (m->used + len > m->acap) {
        size_t cap = m->acap ? m->acap : 256;
        while (cap < m->used + len)
            cap *= 2;
        char *a = mb_realloc(m->arena, cap);
        if (!a)
            return MB_ENOMEM;
        m->arena = a;
        m->acap = cap;
    }
    if (len)
        memcpy(m->arena + m->used, p, len);
    m->e[m->n] = (mb_vmap_entry){m->used, (uint32_t)len, 0, count, h};
    m->used += len;
    m->slot[i] = (uint32_t)(++m->n);
    m->total += count;
    m->sorted = 0;
    return MB_OK;
}

mb_status mb_vmap_merge(mb_vmap *dst, const mb_vmap *src)
{
    mb_status st = MB_OK;

    for (size_t k = 0; k < src->n && st == MB_OK; k++)
        st = mb_vmap_add(dst, value(src, &src->e[k]), src->e[k].len, src->e[k].count);
    return st;
}

static int cmp_entries(const mb_vmap *m, uint32_t a, uint32_t b)
{
    const mb_vmap_entry *x = &m->e[a], *y = &m->e[b];
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(value(m, x), value(m, y), n) : 0;

    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* A merge sort of idx[0..n) by value, through tmp (no qsort: it has no
 * context pointer in C11). */
static void sort_idx(const mb_vmap *m, uint32_t *idx, uint32_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2, i = 0, j = h, k = 0;
    sort_idx(m, idx, tmp, h);
    sort_idx(m, idx + h, tmp, n - h);
    while (i < h && j < n)
        tmp[k++] = cmp_entries(m, idx[i], idx[j]) <= 0 ? idx[i++] : idx[j++];
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

mb_status mb_vmap_sort(mb_vmap *m)
{
    uint32_t *o, *tmp;
    uint64_t *b, seen = 0;

    if (m->sorted)
        return MB_OK;
    o = mb_realloc(m->order, (m->cap ? m->cap : 1) * sizeof *o);
    if (o)
        m->order = o;
    b = mb_realloc(m->below, (m->cap ? m->cap : 1) * sizeof *b);
    if (b)
        m->below = b;
    tmp = mb_malloc((m->n ? m->n : 1) * sizeof *tmp);
    if (!o || !b || !tmp) {
        free(tmp);
        return MB_ENOMEM;
    }
    for (size_t k = 0; k < m->n; k++)
        o[k] = (uint32_t)k;
    sort_idx(m, o, tmp, m->n);
    free(tmp);
    for (size_t k = 0; k < m->n; k++) {
        b[k] = seen;
        seen += m->e[o[k]].count;
    }
    m->sorted = 1;
    return MB_OK;
}

const char *mb_vmap_at(const mb_vmap *m, size_t i, size_t *len, uint64_t *count)
{
    const mb_vmap_entry *e = &m->e[m->order[i]];

    *len = e->len;
    *count = e->count;
    return value(m, e);
}

size_t mb_vmap_rank(const mb_vmap *m, uint64_t k)
{
    size_t lo = 0, hi = m->n;      /* the last i with below[i] <= k */

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->below[mid] <= k)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

size_t mb_vmap_mode(const mb_vmap *m)
{
    size_t best = 0;

    for (size_t i = 1; i < m->n; i++)      /* in order: the first maximum is the smallest */
        if (m->e[m->order[i]].count > m->e[m->order[best]].count)
            best = i;
    return best;
}

mb_status mb_vmap_pack(mb_vmap *m, mb_buf *b)
{
    mb_status st = mb_vmap_sort(m);

    if (st == MB_OK)
        st = mb_buf_put_varint(b, m->n);
    for (size_t i = 0; st == MB_OK && i < m->n; i++) {
        const mb_vmap_entry *e = &m->e[m->order[i]];
        st = mb_buf_put_varint(b, e->len);
        if (st == MB_OK)
            st = mb_buf_put(b, value(m, e), e->len);
        if (st == MB_OK)
            st = mb_buf_put_varint(b, e->count);
    }
    return st;
}

mb_status mb_vmap_unpack(mb_vmap *m, const unsigned char *p, size_t len, mb_err *err)
{
    mb_vmap t;
    mb_rd r;
    uint64_t n, vl, c;
    const char *prev = NULL, *v;
    size_t prevlen = 0;
    mb_status st = MB_OK;
    const char *why = NULL;

    mb_rd_init(&r, p, len);
    mb_vmap_init(&t);
    n = mb_rd_varint(&r);
    if (r.bad)
        why = "a truncated count of values";
    for (uint64_t i = 0; !why && st == MB_OK && i < n; i++) {
        vl = mb_rd_varint(&r);
        if (!r.bad && vl > MB_VMAP_MAX_VALUE) {
            st = mb_err_set(err, MB_ELIMIT, "value map: a value of %llu bytes",
                            (unsigned long long)vl);
            break;
        }
        if (r.bad || !(v = mb_rd_ptr(&r, (size_t)vl))) {
            why = "a truncated value";
            break;
        }
        if (prev) {
            size_t k = prevlen < vl ? prevlen : (size_t)vl;
            int d = k ? memcmp(prev, v, k) : 0;
            if (d > 0 || (d == 0 && prevlen >= vl))
                why = "values not strictly in order";
        }
        prev = v;
        prevlen = (size_t)vl;
        c = mb_rd_varint(&r);
        if (!why && (r.bad || c == 0))
            why = "a missing or zero count";
        else if (!why && (st = mb_vmap_add(&t, v, (size_t)vl, c)) != MB_OK)
            st = st == MB_ELIMIT ? mb_err_set(err, MB_EDATA, "value map: counts that overflow")
                                 : mb_err_set(err, st, "out of memory for a value map");
    }
    if (!why && st == MB_OK && r.pos != r.len)
        why = "trailing bytes";
    if (why)
        st = mb_err_set(err, MB_EDATA, "value map: %s", why);
    if (st != MB_OK) {
        mb_vmap_fini(&t);
        return st;
    }
    mb_vmap_fini(m);
    *m = t;
    return MB_OK;
}
