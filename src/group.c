/* group.c - open-addressing hash table of groups with exact states.
 * Grows by doubling (slots at 50% load); everything it holds counts
 * against max_bytes so that a rank fails cleanly instead of swapping. */
#include "group.h"

#include <stdlib.h>
#include <string.h>

mb_status mb_groups_init(mb_groups *g, size_t nstate, size_t max_bytes)
{
    memset(g, 0, sizeof *g);
    g->nstate = nstate;
    g->max_bytes = max_bytes;
    g->nslots = 1024;
    g->slots = calloc(g->nslots, sizeof *g->slots);
    return g->slots ? MB_OK : MB_ENOMEM;
}

void mb_groups_fini(mb_groups *g)
{
    if (!g)
        return;
    free(g->slots);
    free(g->hash);
    free(g->koff);
    free(g->klen);
    free(g->rows);
    free(g->st);
    free(g->arena);
    memset(g, 0, sizeof *g);
}

uint64_t mb_groups_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, p + i, len - i);
        h = (h ^ w) * 0x94d049bb133111ebull;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static size_t bytes_used(const mb_groups *g, size_t gcap, size_t nslots, size_t arena)
{
    size_t per = sizeof(uint64_t) * 2 + sizeof(uint32_t) + sizeof(int64_t) +
                 g->nstate * sizeof(mb_numstate);
    return nslots * sizeof(uint64_t) + gcap * per + arena;
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
    s = calloc(n, sizeof *s);
    if (!s)
        return MB_ENOMEM;
    for (i = 0; i < g->n; i++) {
        size_t j = (size_t)g->hash[i] & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = slot_of(g->hash[i], i);
    }
    free(g->slots);
    g->slots = s;
    g->nslots = n;
    return MB_OK;
}

#define GROW(ptr, cap)                                                   \
    do {                                                                 \
        void *np_ = realloc((ptr), (cap) * sizeof *(ptr));               \
        if (!np_)                                                        \
            return MB_ENOMEM;                                            \
        (ptr) = np_;                                                     \
    } while (0)

static mb_status grow_groups(mb_groups *g)
{
    size_t cap = g->gcap ? g->gcap * 2 : 256, total;

    if (cap > UINT32_MAX - 1 || mb_size_mul(cap, g->nstate, &total) != 0 ||
        bytes_used(g, cap, g->nslots, g->arena_cap) > g->max_bytes)
        return MB_ELIMIT;
    GROW(g->hash, cap);
    GROW(g->koff, cap);
    GROW(g->klen, cap);
    GROW(g->rows, cap);
    if (g->nstate) {
        void *np = realloc(g->st, total * sizeof *g->st);
        if (!np)
            return MB_ENOMEM;
        g->st = np;
    }
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
    p = realloc(g->arena, cap);
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
    size_t i, k;

    if (len > UINT32_MAX)
        return MB_ELIMIT;
    if (g->n == g->gcap && (st = grow_groups(g)) != MB_OK)
        return st;
    if ((st = grow_arena(g, len)) != MB_OK)
        return st;
    i = g->n++;
    memcpy(g->arena + g->arena_len, key, len);
    g->koff[i] = g->arena_len;
    g->klen[i] = (uint32_t)len;
    g->arena_len += len;
    g->hash[i] = h;
    g->rows[i] = 0;
    for (k = 0; k < g->nstate; k++)
        mb_num_init(&g->st[i * g->nstate + k]);
    g->slots[slot] = slot_of(h, i);
    *gi = i;
    if (g->n * 2 > g->nslots)
        return grow_slots(g);
    return MB_OK;
}

mb_status mb_groups_get(mb_groups *g, const char *key, size_t len, uint64_t h, size_t *gi,
                        mb_err *err)
{
    size_t mask = g->nslots - 1, j = (size_t)h & mask;
    mb_status st;

    for (;; j = (j + 1) & mask) {
        uint64_t v = g->slots[j];
        size_t s;
        if (!v)
            break;
        if ((v ^ h) >> 32)
            continue;                  /* another hash: no need to look further */
        s = (size_t)(v & 0xffffffffu) - 1;
        if (g->hash[s] == h && g->klen[s] == len && memcmp(g->arena + g->koff[s], key, len) == 0) {
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

mb_status mb_groups_pack(const mb_groups *g, size_t gi, mb_buf *b)
{
    uint32_t kl = g->klen[gi];
    mb_status st;

    if ((st = mb_buf_reserve(b, sizeof kl + kl + sizeof(int64_t) +
                                    g->nstate * sizeof(mb_numstate))) != MB_OK)
        return st;
    mb_buf_put(b, &kl, sizeof kl);
    mb_buf_put(b, mb_groups_key(g, gi), kl);
    mb_buf_put(b, &g->rows[gi], sizeof g->rows[gi]);
    return mb_buf_put(b, mb_groups_state(g, gi), g->nstate * sizeof(mb_numstate));
}

mb_status mb_groups_merge_one(mb_groups *g, const char *key, size_t len, int64_t rows,
                              const mb_numstate *src, const unsigned *needs, mb_err *err)
{
    size_t gi, k;
    mb_status st = mb_groups_get(g, key, len, mb_groups_hash(key, len), &gi, err);

    if (st != MB_OK)
        return st;
    g->rows[gi] += rows;
    for (k = 0; k < g->nstate && st == MB_OK; k++)
        st = mb_num_merge(mb_groups_state(g, gi) + k, src + k, needs[k], err);
    return st;
}

mb_status mb_groups_unpack_merge(mb_groups *g, const char *data, size_t len,
                                 const unsigned *needs, mb_err *err)
{
    size_t ssz = g->nstate * sizeof(mb_numstate);
    mb_numstate *tmp = g->nstate ? malloc(ssz) : NULL;
    mb_status st = MB_OK;
    mb_rd r;

    if (g->nstate && !tmp)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    mb_rd_init(&r, data, len);
    while (st == MB_OK && r.pos < r.len) {
        uint32_t kl = 0;
        int64_t rows = 0;
        const char *key;
        mb_rd_get(&r, &kl, sizeof kl);
        key = mb_rd_ptr(&r, kl);
        mb_rd_get(&r, &rows, sizeof rows);
        if (ssz)
            mb_rd_get(&r, tmp, ssz);
        if (r.bad || rows < 0) {
            st = mb_err_set(err, MB_EDATA, "malformed group state data at byte %zu", r.pos);
            break;
        }
        st = mb_groups_merge_one(g, key, kl, rows, tmp, needs, err);
    }
    free(tmp);
    return st;
}

static const mb_groups *sort_g;

/* Field-wise bytewise order of two encoded keys. */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
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

static int cmp_idx(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    return key_cmp(mb_groups_key(sort_g, a), sort_g->klen[a], mb_groups_key(sort_g, b),
                   sort_g->klen[b]);
}

size_t *mb_groups_sorted(const mb_groups *g)
{
    size_t *idx = malloc((g->n ? g->n : 1) * sizeof *idx), i;

    if (!idx)
        return NULL;
    for (i = 0; i < g->n; i++)
        idx[i] = i;
    sort_g = g;     /* qsort has no context argument in C11 */
    qsort(idx, g->n, sizeof *idx, cmp_idx);
    sort_g = NULL;
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
