/* group.c - open-addressing hash table of groups with exact states.
 * Grows by doubling (slots at 50% load, records when full); everything it
 * holds counts against max_bytes so that a rank fails cleanly instead of
 * swapping. */
#include "agg/group.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Large tables are probed at random, so every probe would also miss the
 * TLB with 4 KiB pages: arrays of 4 MiB and more are 2 MiB-aligned and
 * asked to be backed by transparent huge pages. */
#define HUGE_MIN ((size_t)4 << 20)
#define HUGE_ALIGN ((size_t)2 << 20)

static void *big_alloc(size_t bytes, int zero)
{
    void *p = NULL;

    if (bytes < HUGE_MIN)
        return zero ? mb_calloc(1, bytes) : mb_malloc(bytes);
    if (posix_memalign(&p, HUGE_ALIGN, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE);   /* a hint: fine if refused */
#endif
    if (zero)
        memset(p, 0, bytes);
    return p;
}

/* realloc for big_alloc's blocks: keeps the first `used` bytes. */
static void *big_realloc(void *old, size_t used, size_t bytes)
{
    void *p;

    if (bytes < HUGE_MIN)
        return mb_realloc(old, bytes);
    if (!(p = big_alloc(bytes, 0)))
        return NULL;
    if (used)
        memcpy(p, old, used);
    free(old);
    return p;
}

mb_status mb_groups_init(mb_groups *g, const unsigned *needs, size_t nstate, size_t max_bytes)
{
    size_t off = sizeof(mb_grec), k;

    memset(g, 0, sizeof *g);
    g->nstate = nstate;
    g->max_bytes = max_bytes;
    g->nslots = 1024;            /* a power of two: slot indices are masked */
    g->slots = mb_calloc(g->nslots, sizeof *g->slots);
    g->needs = mb_malloc((nstate ? nstate : 1) * sizeof *g->needs);
    g->acc_off = mb_malloc((nstate ? nstate : 1) * sizeof *g->acc_off);
    if (!g->slots || !g->needs || !g->acc_off) {
        mb_groups_fini(g);
        return MB_ENOMEM;
    }
    for (k = 0; k < nstate; k++) {
        g->needs[k] = needs[k];
        g->acc_off[k] = off;
        off += mb_acc_size(needs[k]);
    }
    g->stride = off;
    return MB_OK;
}

void mb_groups_fini(mb_groups *g)
{
    if (!g)
        return;
    free(g->slots);
    free(g->needs);
    free(g->acc_off);
    free(g->rec);
    free(g->arena);
    free(g->spill.v);
    for (size_t i = 0; i < g->nstrs; i++)
        mb_strmm_fini(&g->strs[i]);
    free(g->strs);
    free(g->dbls);
    free(g->sqs);
    memset(g, 0, sizeof *g);
}

static size_t bytes_used(const mb_groups *g, size_t gcap, size_t nslots, size_t arena)
{
    return nslots * sizeof(uint64_t) + gcap * g->stride + arena +
           g->spill.cap * sizeof(mb_numstate) + g->strs_cap * sizeof(mb_strmm) + g->str_bytes +
           g->dbls_cap * sizeof(mb_dstate) + g->sqs_cap * sizeof(mb_fsumsq);
}

static uint64_t slot_of(uint64_t h, size_t i)
{
    return (h & 0xffffffff00000000ull) | (uint64_t)(i + 1);
}

static mb_status grow_slots(mb_groups *g)
{
    size_t n = g->nslots * 2, i;
    uint64_t *s;

    if (bytes_used(g, g->gcap, n, g->arena_cap) > g->max_bytes)
        return MB_ELIMIT;
    s = big_alloc(n * sizeof *s, 1);
    if (!s)
        return MB_ENOMEM;
    assert((n & (n - 1)) == 0 && g->n < n / 2);
    for (i = 0; i < g->n; i++) {
        uint64_t h = mb_groups_rec(g, i)->hash;
        size_t j = (size_t)h & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = slot_of(h, i);
    }
    free(g->slots);
    g->slots = s;
    g->nslots = n;
    return MB_OK;
}

static mb_status grow_groups(mb_groups *g)
{
    size_t cap = g->gcap ? g->gcap * 2 : 256, total;
    unsigned char *p;

    if (cap > UINT32_MAX - 1 || mb_size_mul(cap, g->stride, &total) != 0 ||
        bytes_used(g, cap, g->nslots, g->arena_cap) > g->max_bytes)
        return MB_ELIMIT;
    if (!(p = big_realloc(g->rec, g->n * g->stride, total)))   /* aligned for 128-bit fields */
        return MB_ENOMEM;
    g->rec = p;
    g->gcap = cap;
    return MB_OK;
}

static mb_status grow_arena(mb_groups *g, size_t more)
{
    size_t need, cap;
    char *p;

    if (mb_size_add(g->arena_len, more, &need) != 0)
        return MB_ELIMIT;
    if (need <= g->arena_cap)
        return MB_OK;
    cap = g->arena_cap ? g->arena_cap : 65536;
    while (cap < need)
        cap *= 2;
    if (bytes_used(g, g->gcap, g->nslots, cap) > g->max_bytes)
        return MB_ELIMIT;
    p = mb_realloc(g->arena, cap);
    if (!p)
        return MB_ENOMEM;
    g->arena = p;
    g->arena_cap = cap;
    return MB_OK;
}

static mb_status add_group(mb_groups *g, const char *key, size_t len, uint64_t h, size_t slot,
                           size_t *gi)
{
    mb_status st;
    mb_grec *r;
    size_t i;

    if (len > UINT32_MAX)
        return MB_ELIMIT;
    if (g->n == g->gcap && (st = grow_groups(g)) != MB_OK)
        return st;
    if (len > MB_KEY_INLINE && (st = grow_arena(g, len)) != MB_OK)
        return st;
    /* the probe ended at an empty slot; a record is free for the group */
    assert(slot < g->nslots && g->slots[slot] == 0 && g->n < g->gcap);
    i = g->n++;
    r = mb_groups_rec(g, i);
    memset(r, 0, g->stride);        /* rows 0, every accumulator empty */
    r->hash = h;
    r->klen = (uint32_t)len;
    if (len)                        /* the empty key of a global aggregate may be NULL */
        memcpy(r->head, key, len < MB_KEY_INLINE ? len : MB_KEY_INLINE);
    if (len > MB_KEY_INLINE) {
        memcpy(g->arena + g->arena_len, key, len);
        r->koff = g->arena_len;
        g->arena_len += len;
    }
    g->slots[slot] = slot_of(h, i);
    *gi = i;
    if (g->n * 2 > g->nslots)
        return grow_slots(g);
    return MB_OK;
}

static int key_eq(const mb_groups *g, const mb_grec *r, const char *key, size_t len)
{
    if (r->klen != len)
        return 0;
    if (len == 0)                   /* the key of a global aggregate; may be NULL */
        return 1;
    if (len <= MB_KEY_INLINE)
        return memcmp(r->head, key, len) == 0;
    return memcmp(g->arena + r->koff, key, len) == 0;
}

mb_status mb_groups_get(mb_groups *g, const char *key, size_t len, uint64_t h, size_t *gi,
                        mb_err *err)
{
    size_t mask = g->nslots - 1, j = (size_t)h & mask;
    mb_status st;

    /* An empty slot ends every probe: the load stays below one even when
     * growing the slots failed after the last group was added. */
    assert((g->nslots & mask) == 0 && g->n < g->nslots);
    for (;; j = (j + 1) & mask) {
        uint64_t v = g->slots[j];
        size_t s;
        if (!v)
            break;
        if ((v ^ h) >> 32)
            continue;                  /* another hash: no need to look further */
        s = (size_t)(v & 0xffffffffu) - 1;
        assert(s < g->n);
        if (mb_groups_rec(g, s)->hash == h && key_eq(g, mb_groups_rec(g, s), key, len)) {
            *gi = s;
            return MB_OK;
        }
    }
    st = add_group(g, key, len, h, j, gi);
    if (st == MB_ELIMIT)
        return mb_err_set(err, st, "group table passed its memory cap of %zu MiB at %zu groups "
                          "(raise --max-groups-mb)", g->max_bytes >> 20, g->n);
    if (st != MB_OK)
        return mb_err_set(err, st, "out of memory in the group table at %zu groups", g->n);
    return MB_OK;
}

/* Packed form of a group: u32 klen, key, i64 rows, then per column the
 * accumulator's own bytes (mb_acc_size(need)), or, for a spilled state, the
 * 16-byte header (flags MB_ACC_SPILLED) followed by the full mb_numstate. */
mb_status mb_groups_pack(const mb_groups *g, size_t gi, mb_buf *b)
{
    const mb_grec *r;
    uint32_t kl;
    mb_status st;
    size_t k;

    assert(gi < g->n);
    r = mb_groups_rec(g, gi);
    kl = r->klen;

    if ((st = mb_buf_reserve(b, sizeof kl + kl + sizeof(int64_t) + g->stride)) != MB_OK)
        return st;
    mb_buf_put(b, &kl, sizeof kl);
    mb_buf_put(b, mb_groups_key(g, gi), kl);
    mb_buf_put(b, &r->rows, sizeof r->rows);
    for (k = 0; k < g->nstate && st == MB_OK; k++) {
        const mb_acc *a = mb_groups_acc(g, gi, k);
        if (g->needs[k] & MB_NEED_STR) {
            const mb_strmm *ss = mb_groups_str(g, gi, k);
            mb_acc h = {a->n, 0, 0};
            if ((st = mb_buf_put(b, &h, sizeof h)) == MB_OK && a->n > 0)
                st = ss ? mb_strmm_pack(ss, b) : MB_EINTERNAL;
        } else if (g->needs[k] & MB_NEED_DBL) {
            const mb_dstate *d = mb_groups_dbl(g, gi, k);
            mb_acc h = {a->n, 0, 0};
            if ((st = mb_buf_put(b, &h, sizeof h)) == MB_OK && a->n > 0)
                st = d ? mb_dstate_pack(d, mb_groups_dbl_sq(g, d), b) : MB_EINTERNAL;
        } else if (a->flags & MB_ACC_SPILLED) {
            mb_numstate s;
            mb_groups_state(g, gi, k, &s);
            if ((st = mb_buf_put(b, a, sizeof *a)) == MB_OK)
                st = mb_buf_put(b, &s, sizeof s);
        } else {
            st = mb_buf_put(b, a, mb_acc_size(g->needs[k]));
        }
    }
    return st;
}

/* The string state of accumulator a, created empty when it has none. */
static mb_status str_slot(mb_groups *g, mb_acc *a, mb_strmm **out, mb_err *err)
{
    size_t i = (size_t)(uint64_t)a->v[0];

    if (!i) {
        if (g->nstrs == g->strs_cap) {
            size_t cap = g->strs_cap ? g->strs_cap * 2 : 64;
            mb_strmm *v;
            if (bytes_used(g, g->gcap, g->nslots, g->arena_cap) +
                    (cap - g->strs_cap) * sizeof *v > g->max_bytes)
                return mb_err_set(err, MB_ELIMIT, "group table passed its memory cap of %zu "
                                  "MiB with string states (raise --max-groups-mb)",
                                  g->max_bytes >> 20);
            if (!(v = mb_realloc(g->strs, cap * sizeof *v)))
                return mb_err_set(err, MB_ENOMEM, "out of memory for string states");
            g->strs = v;
            g->strs_cap = cap;
        }
        memset(&g->strs[g->nstrs], 0, sizeof g->strs[g->nstrs]);
        i = ++g->nstrs;
        a->v[0] = (mb_i128)i;
    }
    *out = &g->strs[i - 1];
    return MB_OK;
}

/* Merges string state src with n values into accumulator a. */
static mb_status merge_str(mb_groups *g, mb_acc *a, int64_t n, const mb_strmm *src, mb_err *err)
{
    mb_strmm *d = NULL;
    mb_status st;

    if (n < 0 || (n > 0) != (src && mb_strmm_has(src)))
        return mb_err_set(err, MB_EDATA, "corrupt string state (count and strings disagree)");
    if (n == 0)
        return MB_OK;
    if (a->n > INT64_MAX - n)
        return mb_err_set(err, MB_ERANGE, "value count overflows");
    if ((st = str_slot(g, a, &d, err)) != MB_OK ||
        (st = mb_strmm_merge(d, src, &g->str_bytes, err)) != MB_OK)
        return st;
    a->n += n;
    if (bytes_used(g, g->gcap, g->nslots, g->arena_cap) > g->max_bytes)
        return mb_err_set(err, MB_ELIMIT, "group table passed its memory cap of %zu MiB with "
                          "string states (raise --max-groups-mb)", g->max_bytes >> 20);
    return MB_OK;
}

mb_status mb_groups_add_str(mb_groups *g, size_t gi, size_t k, const char *p, size_t len,
                            mb_err *err)
{
    mb_strmm v = {(char *)(uintptr_t)(p ? p : ""), (char *)(uintptr_t)(p ? p : ""),
                  (uint32_t)len, (uint32_t)len, 0, 0};

    assert(g->needs[k] & MB_NEED_STR);
    if (len > MB_STRMM_MAX)
        return mb_err_set(err, MB_ELIMIT, "a string of %zu bytes passes min()/max()'s cap of "
                          "%zu MiB", len, MB_STRMM_MAX >> 20);
    return merge_str(g, mb_groups_acc(g, gi, k), 1, &v, err);
}

mb_status mb_groups_merge_one(mb_groups *g, const char *key, size_t len, int64_t rows,
                              const mb_numstate *src, const mb_strmm *strs,
                              const mb_dbytes *dbls, mb_err *err)
{
    size_t gi, k;
    mb_status st = mb_groups_get(g, key, len, mb_groups_hash(key, len), &gi, err);

    if (st != MB_OK)
        return st;
    mb_groups_rec(g, gi)->rows += rows;
    for (k = 0; k < g->nstate && st == MB_OK; k++) {
        if (g->needs[k] & MB_NEED_STR)
            st = merge_str(g, mb_groups_acc(g, gi, k), src[k].n, strs ? &strs[k] : NULL, err);
        else if (g->needs[k] & MB_NEED_DBL)
            st = mb_groups_merge_dbl(g, gi, k, src[k].n, dbls ? dbls[k].p : NULL,
                                     dbls ? dbls[k].len : 0, err);
        else
            st = mb_acc_merge(mb_groups_acc(g, gi, k), src + k, g->needs[k], &g->spill, err);
    }
    return st;
}

/* ---- DOUBLE states (MB_NEED_DBL) ----------------------------------------- */

int mb_dstate_cmp(double a, double b)
{
    int na = isnan(a) != 0, nb = isnan(b) != 0;

    if (na || nb)
        return na - nb;
    if (a < b)
        return -1;
    if (a > b)
        return 1;
    return (signbit(b) ? 1 : 0) - (signbit(a) ? 1 : 0);   /* -0.0 before +0.0 */
}

mb_status mb_dstate_pack(const mb_dstate *d, const mb_fsumsq *sq, mb_buf *b)
{
    unsigned char tmp[MB_FSUMSQ_PACK_MAX];
    uint32_t len = (uint32_t)mb_fsum_pack(&d->s, tmp, sizeof tmp);
    mb_status st;

    assert(len <= MB_FSUM_PACK_MAX);
    if ((st = mb_buf_put(b, &len, sizeof len)) != MB_OK || (st = mb_buf_put(b, tmp, len)) != MB_OK ||
        (st = mb_buf_put(b, &d->min, sizeof d->min)) != MB_OK ||
        (st = mb_buf_put(b, &d->max, sizeof d->max)) != MB_OK)
        return st;
    len = sq ? (uint32_t)mb_fsumsq_pack(sq, tmp, sizeof tmp) : 0;
    assert(len <= MB_FSUMSQ_PACK_MAX);
    if ((st = mb_buf_put(b, &len, sizeof len)) != MB_OK)
        return st;
    return mb_buf_put(b, tmp, len);
}

/* Steps r over one byte form of mb_dstate_pack (r->bad when it is cut
 * short) and returns its length; the content is checked on merging. */
static size_t dstate_span(mb_rd *r)
{
    size_t at = r->pos;
    uint32_t l = 0;

    mb_rd_get(r, &l, sizeof l);
    (void)mb_rd_ptr(r, l);
    (void)mb_rd_ptr(r, 2 * sizeof(double));
    l = 0;
    mb_rd_get(r, &l, sizeof l);
    (void)mb_rd_ptr(r, l);
    return r->bad ? 0 : r->pos - at;
}

/* The DOUBLE state of accumulator a, created empty when it has none (with
 * an empty sum of squares when `squares`). */
static mb_status dbl_slot(mb_groups *g, mb_acc *a, int squares, mb_dstate **out, mb_err *err)
{
    size_t i = (size_t)(uint64_t)a->v[0];

    if (!i) {
        size_t cap = g->dbls_cap ? g->dbls_cap * 2 : 64;
        size_t qcap = g->sqs_cap ? g->sqs_cap * 2 : 64;
        size_t more = (g->ndbls == g->dbls_cap ? (cap - g->dbls_cap) * sizeof(mb_dstate) : 0) +
                      (squares && g->nsqs == g->sqs_cap
                           ? (qcap - g->sqs_cap) * sizeof(mb_fsumsq) : 0);
        if (more && bytes_used(g, g->gcap, g->nslots, g->arena_cap) + more > g->max_bytes)
            return mb_err_set(err, MB_ELIMIT, "group table passed its memory cap of %zu "
                              "MiB with DOUBLE sums (raise --max-groups-mb)",
                              g->max_bytes >> 20);
        if (g->ndbls == g->dbls_cap) {
            mb_dstate *v = mb_realloc(g->dbls, cap * sizeof *v);
            if (!v)
                return mb_err_set(err, MB_ENOMEM, "out of memory for DOUBLE sums");
            g->dbls = v;
            g->dbls_cap = cap;
        }
        if (squares && g->nsqs == g->sqs_cap) {
            mb_fsumsq *v = mb_realloc(g->sqs, qcap * sizeof *v);
            if (!v)
                return mb_err_set(err, MB_ENOMEM, "out of memory for DOUBLE sums");
            g->sqs = v;
            g->sqs_cap = qcap;
        }
        mb_dstate *d = &g->dbls[g->ndbls];
        mb_fsum_init(&d->s);
        d->min = d->max = 0.0;
        d->sq = 0;
        if (squares) {
            mb_fsumsq_init(&g->sqs[g->nsqs]);
            d->sq = ++g->nsqs;
        }
        i = ++g->ndbls;
        a->v[0] = (mb_i128)i;
    }
    *out = &g->dbls[i - 1];
    return MB_OK;
}

mb_status mb_groups_add_dbl(mb_groups *g, size_t gi, size_t k, double x, mb_err *err)
{
    mb_acc *a = mb_groups_acc(g, gi, k);
    mb_dstate *d;
    mb_status st;

    assert(g->needs[k] & MB_NEED_DBL);
    if (a->n == INT64_MAX)
        return mb_err_set(err, MB_ERANGE, "value count overflows");
    if ((st = dbl_slot(g, a, (g->needs[k] & MB_NEED_SUMSQ) != 0, &d, err)) != MB_OK)
        return st;
    if (isnan(x))
        x = NAN;                    /* one NaN: min/max bytes stay canonical */
    mb_fsum_add(&d->s, x);
    if (d->sq)
        mb_fsumsq_add(&g->sqs[d->sq - 1], x);
    if (a->n == 0 || mb_dstate_cmp(x, d->min) < 0)
        d->min = x;
    if (a->n == 0 || mb_dstate_cmp(x, d->max) > 0)
        d->max = x;
    a->n++;
    return MB_OK;
}

mb_status mb_groups_merge_dbl(mb_groups *g, size_t gi, size_t k, int64_t n, const void *p,
                              size_t len, mb_err *err)
{
    int squares = (g->needs[k] & MB_NEED_SUMSQ) != 0;
    mb_acc *a = mb_groups_acc(g, gi, k);
    mb_fsum s;
    mb_fsumsq q;
    double mn = 0, mx = 0;
    uint32_t sl = 0, ql = 0;
    const unsigned char *sp, *qp = NULL;
    mb_dstate *d;
    mb_status st;
    mb_rd r;

    assert(g->needs[k] & MB_NEED_DBL);
    if (n < 0 || (n > 0) != (len > 0))
        return mb_err_set(err, MB_EDATA, "corrupt DOUBLE state (count and bytes disagree)");
    if (n == 0)
        return MB_OK;
    mb_rd_init(&r, p, len);
    mb_rd_get(&r, &sl, sizeof sl);
    sp = (const unsigned char *)mb_rd_ptr(&r, sl);
    mb_rd_get(&r, &mn, sizeof mn);
    mb_rd_get(&r, &mx, sizeof mx);
    mb_rd_get(&r, &ql, sizeof ql);
    if (ql)
        qp = (const unsigned char *)mb_rd_ptr(&r, ql);
    if (r.bad || r.pos != len || (ql != 0) != squares)
        return mb_err_set(err, MB_EDATA, "corrupt DOUBLE state (malformed, or squares %s)",
                          squares ? "missing" : "where none are kept");
    if ((st = mb_fsum_unpack(&s, sp, sl, err)) != MB_OK ||
        (squares && (st = mb_fsumsq_unpack(&q, qp, ql, err)) != MB_OK))
        return st;
    if (s.c.n != (uint64_t)n || (squares && q.c.n != (uint64_t)n) ||
        mb_dstate_cmp(mn, mx) > 0 || (isnan(mx) != 0) != (s.c.nan > 0) ||
        (isnan(mn) && s.c.nan != s.c.n))
        return mb_err_set(err, MB_EDATA, "corrupt DOUBLE state (counts, min or max disagree)");
    if (a->n > INT64_MAX - n)
        return mb_err_set(err, MB_ERANGE, "value count overflows");
    if ((st = dbl_slot(g, a, squares, &d, err)) != MB_OK)
        return st;
    if (isnan(mn))
        mn = NAN;
    if (isnan(mx))
        mx = NAN;
    mb_fsum_merge(&d->s, &s);
    if (squares)
        mb_fsumsq_merge(&g->sqs[d->sq - 1], &q);
    if (a->n == 0 || mb_dstate_cmp(mn, d->min) < 0)
        d->min = mn;
    if (a->n == 0 || mb_dstate_cmp(mx, d->max) > 0)
        d->max = mx;
    a->n += n;
    return MB_OK;
}

/* Merges the packed states at r into group gi. */
static mb_status unpack_states(mb_groups *g, size_t gi, mb_rd *r, mb_err *err)
{
    /* room for the largest accumulator, aligned for its 128-bit fields */
    union {
        mb_acc a;
        mb_i128 align[1 + 4];
    } tmp;
    mb_status st = MB_OK;

    for (size_t k = 0; k < g->nstate && st == MB_OK; k++) {
        mb_acc *dst = mb_groups_acc(g, gi, k);
        mb_rd_get(r, &tmp.a, sizeof tmp.a);
        if (!r->bad && (g->needs[k] & MB_NEED_STR)) {
            mb_strmm v;
            memset(&v, 0, sizeof v);
            if (tmp.a.scale != 0 || tmp.a.flags != 0)
                return mb_err_set(err, MB_EDATA, "corrupt string state (scale or flags set)");
            if (tmp.a.n > 0 && (st = mb_strmm_unpack(r, &v, err)) != MB_OK && !r->bad)
                return st;
            if (!r->bad)
                st = merge_str(g, dst, tmp.a.n, tmp.a.n > 0 ? &v : NULL, err);
        } else if (!r->bad && (g->needs[k] & MB_NEED_DBL)) {
            size_t at = r->pos, dl;
            if (tmp.a.scale != 0 || tmp.a.flags != 0)
                return mb_err_set(err, MB_EDATA, "corrupt DOUBLE state (scale or flags set)");
            dl = tmp.a.n > 0 ? dstate_span(r) : 0;
            if (!r->bad)
                st = mb_groups_merge_dbl(g, gi, k, tmp.a.n, dl ? r->p + at : NULL, dl, err);
        } else if (!r->bad && (tmp.a.flags & MB_ACC_SPILLED)) {
            mb_numstate s;
            mb_rd_get(r, &s, sizeof s);
            if (!r->bad)
                st = mb_acc_merge(dst, &s, g->needs[k], &g->spill, err);
        } else if (!r->bad) {
            mb_rd_get(r, tmp.a.v, mb_acc_size(g->needs[k]) - sizeof tmp.a);
            if (!r->bad)
                st = mb_acc_merge_acc(dst, &tmp.a, g->needs[k], &g->spill, err);
        }
        if (r->bad)
            return mb_err_set(err, MB_EDATA, "malformed group state data at byte %zu", r->pos);
    }
    return st;
}

/* Skips the packed states at r (as unpack_states reads them). */
static void skip_states(const mb_groups *g, mb_rd *r)
{
    for (size_t k = 0; k < g->nstate && !r->bad; k++) {
        mb_acc h;
        mb_rd_get(r, &h, sizeof h);
        if (!r->bad && (g->needs[k] & MB_NEED_STR)) {
            for (int i = 0; i < 2 && h.n > 0 && !r->bad; i++) {
                uint32_t l = 0;
                mb_rd_get(r, &l, sizeof l);
                (void)mb_rd_ptr(r, l);
            }
        } else if (!r->bad && (g->needs[k] & MB_NEED_DBL)) {
            if (h.n > 0)
                (void)dstate_span(r);
        } else if (!r->bad) {
            (void)mb_rd_ptr(r, (h.flags & MB_ACC_SPILLED) ? sizeof(mb_numstate)
                                                         : mb_acc_size(g->needs[k]) - sizeof h);
        }
    }
}

/* Packed groups are merged in batches, like the chunker's records: the
 * slots of a batch's keys, then the records they point to, are prefetched
 * before the lookups, so that their cache misses overlap. */
#define UNPACK_BATCH 16

typedef struct packed {
    const char *key, *states;
    uint32_t kl;
    int64_t rows;
    size_t slen;
    uint64_t h;
} packed;

mb_status mb_groups_unpack_merge(mb_groups *g, const char *data, size_t len, mb_err *err)
{
    packed b[UNPACK_BATCH];
    mb_status st = MB_OK;
    mb_rd r;

    mb_rd_init(&r, data, len);
    while (st == MB_OK && r.pos < r.len) {
        size_t n = 0, i;
        for (; n < UNPACK_BATCH && r.pos < r.len; n++) {
            packed *e = &b[n];
            size_t at;
            mb_rd_get(&r, &e->kl, sizeof e->kl);
            e->key = mb_rd_ptr(&r, e->kl);
            mb_rd_get(&r, &e->rows, sizeof e->rows);
            at = r.pos;
            skip_states(g, &r);
            if (r.bad || e->rows < 0)
                return mb_err_set(err, MB_EDATA, "malformed group state data at byte %zu",
                                  r.pos);
            e->states = r.p + at;
            e->slen = r.pos - at;
            e->h = mb_groups_hash(e->key, e->kl);
            mb_groups_prefetch_slot(g, e->h);
        }
        for (i = 0; i < n; i++)
            mb_groups_prefetch_rec(g, b[i].h);
        for (i = 0; i < n && st == MB_OK; i++) {
            size_t gi;
            mb_rd sr;
            if ((st = mb_groups_get(g, b[i].key, b[i].kl, b[i].h, &gi, err)) != MB_OK)
                return st;
            mb_groups_rec(g, gi)->rows += b[i].rows;
            mb_rd_init(&sr, b[i].states, b[i].slen);
            st = unpack_states(g, gi, &sr, err);
        }
    }
    return st;
}

/* Field-wise bytewise order of two encoded keys. */
int mb_groups_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;

    while (i + 4 <= alen && j + 4 <= blen) {
        uint32_t la, lb;
        int c;
        memcpy(&la, a + i, 4);
        memcpy(&lb, b + j, 4);
        i += 4;
        j += 4;
        c = memcmp(a + i, b + j, la < lb ? la : lb);
        if (c)
            return c;
        if (la != lb)
            return la < lb ? -1 : 1;
        i += la;
        j += lb;
    }
    return (alen - i > 0) - (blen - j > 0);
}

/* A group to sort: the first 16 bytes of its first field, big-endian and
 * zero-padded, decide most comparisons without touching the key. Zero is
 * the smallest byte, so prefixes that differ order as the fields do. */
typedef struct sort_ent {
    uint64_t p0, p1;
    size_t gi;
} sort_ent;

static const mb_groups *sort_g;

static uint64_t load_be(const char *p, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | (i < len ? (unsigned char)p[i] : 0u);
    return v;
}

static int cmp_ent(const void *x, const void *y)
{
    const sort_ent *a = x, *b = y;

    if (a->p0 != b->p0)
        return a->p0 < b->p0 ? -1 : 1;
    if (a->p1 != b->p1)
        return a->p1 < b->p1 ? -1 : 1;
    return mb_groups_key_cmp(mb_groups_key(sort_g, a->gi), mb_groups_klen(sort_g, a->gi),
                   mb_groups_key(sort_g, b->gi), mb_groups_klen(sort_g, b->gi));
}

/* Byte `b` (0 = least significant) of the 128-bit prefix (p0, p1). */
static unsigned prefix_byte(const sort_ent *x, unsigned b)
{
    return (unsigned)((b < 8 ? x->p1 >> (8 * b) : x->p0 >> (8 * (b - 8))) & 0xff);
}

/* Sorts by the 128-bit prefixes with a stable LSD radix sort (a byte that
 * is the same everywhere costs one counting pass), then puts each run of
 * equal prefixes in full key order. Returns 0 when out of memory. */
static int radix_sort(sort_ent *e, size_t n)
{
    sort_ent *tmp = mb_malloc((n ? n : 1) * sizeof *tmp), *src = e, *dst = tmp;
    size_t cnt[256], i, j;

    if (!tmp)
        return 0;
    for (unsigned b = 0; b < 16; b++) {
        size_t sum = 0;
        memset(cnt, 0, sizeof cnt);
        for (i = 0; i < n; i++)
            cnt[prefix_byte(&src[i], b)]++;
        if (n == 0 || cnt[prefix_byte(&src[0], b)] == n)
            continue;                       /* nothing to reorder on this byte */
        for (i = 0; i < 256; i++) {
            size_t c = cnt[i];
            cnt[i] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++)
            dst[cnt[prefix_byte(&src[i], b)]++] = src[i];
        sort_ent *t = src;
        src = dst;
        dst = t;
    }
    if (src != e)
        memcpy(e, src, n * sizeof *e);
    free(tmp);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && e[j].p0 == e[i].p0 && e[j].p1 == e[i].p1; j++)
            ;
        if (j - i > 1)
            qsort(e + i, j - i, sizeof *e, cmp_ent);
    }
    return 1;
}

size_t *mb_groups_sorted(const mb_groups *g)
{
    size_t *idx = mb_malloc((g->n ? g->n : 1) * sizeof *idx), i;
    sort_ent *e = mb_malloc((g->n ? g->n : 1) * sizeof *e);

    if (!idx || !e) {
        free(idx);
        free(e);
        return NULL;
    }
    for (i = 0; i < g->n; i++) {
        const char *k = mb_groups_key(g, i);
        size_t kl = mb_groups_klen(g, i), fl = 0;
        uint32_t l32;
        if (kl >= 4) {
            memcpy(&l32, k, 4);
            fl = l32 < kl - 4 ? l32 : kl - 4;
        }
        e[i].p0 = load_be(k + 4, fl);
        e[i].p1 = fl > 8 ? load_be(k + 12, fl - 8) : 0;
        e[i].gi = i;
    }
    sort_g = g;     /* qsort has no context argument in C11 */
    if (!radix_sort(e, g->n))
        qsort(e, g->n, sizeof *e, cmp_ent);
    sort_g = NULL;
    for (i = 0; i < g->n; i++) {
        assert(e[i].gi < g->n);
        idx[i] = e[i].gi;
    }
    free(e);
    return idx;
}

void mb_groups_key_fields(const char *key, size_t len, mb_key_field_fn fn, void *ctx)
{
    size_t i = 0, k = 0;

    while (i + 4 <= len) {
        uint32_t l;
        memcpy(&l, key + i, 4);
        i += 4;
        if (l > len - i)
            return;
        fn(ctx, k++, key + i, l);
        i += l;
    }
}
