/* hll.c - the HyperLogLog sketch of hll.h. */
#include "agg/hll.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define LN2 0.693147180559945309417232121458176568   /* rounded once, by the compiler */
#define FORM_SPARSE 0
#define FORM_DENSE 1

void mb_hll_init(mb_hll *h) { memset(h, 0, sizeof *h); }

void mb_hll_fini(mb_hll *h)
{
    if (!h)
        return;
    free(h->dense);
    free(h->sparse);
    memset(h, 0, sizeof *h);
}

/* The finalizer of SplitMix64: every input bit affects every output bit. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t mb_hll_hash(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = mix(UINT64_C(0x6a09e667f3bcc909) ^ (uint64_t)len);
    size_t i = 0;

    /* little-endian words, assembled byte by byte: the same on any host */
    while (i < len) {
        uint64_t w = 0;
        size_t n = len - i < 8 ? len - i : 8;
        for (size_t k = 0; k < n; k++)
            w |= (uint64_t)b[i + k] << (8 * k);
        h = mix(h ^ w) + UINT64_C(0x9e3779b97f4a7c15);
        i += n;
    }
    return mix(h);
}

static unsigned reg_of(uint64_t hash) { return (unsigned)(hash & (MB_HLL_M - 1)); }

static unsigned rank_of(uint64_t hash)
{
    uint64_t rest = hash >> MB_HLL_P;
    unsigned r = 1;

    while (r < MB_HLL_QMAX && !(rest & 1)) {
        rest >>= 1;
        r++;
    }
    return r;
}

/* Index of the first sparse entry whose register is >= reg. */
static size_t find(const mb_hll *h, unsigned reg)
{
    size_t lo = 0, hi = h->nsparse;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((h->sparse[mid] >> 8) < reg)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The registers of a sparse h as a new dense array, or NULL. */
static uint8_t *to_dense(const mb_hll *h)
{
    uint8_t *d = mb_calloc(MB_HLL_M, 1);

    for (size_t i = 0; d && i < h->nsparse; i++)
        d[h->sparse[i] >> 8] = (uint8_t)(h->sparse[i] & 0xff);
    return d;
}

mb_status mb_hll_add(mb_hll *h, uint64_t hash)
{
    unsigned reg = reg_of(hash), rank = rank_of(hash);
    size_t at;

    if (h->dense) {
        if (h->dense[reg] < rank)
            h->dense[reg] = (uint8_t)rank;
        return MB_OK;
    }
    at = find(h, reg);
    if (at < h->nsparse && (h->sparse[at] >> 8) == reg) {
        if ((h->sparse[at] & 0xff) < rank)
            h->sparse[at] = (uint32_t)reg << 8 | rank;
        return MB_OK;
    }
    if (h->nsparse + 1 >= MB_HLL_SPARSE_MAX) {
        uint8_t *d = to_dense(h);
        if (!d)
            return MB_ENOMEM;
        d[reg] = (uint8_t)rank;
        free(h->sparse);
        h->sparse = NULL;
        h->nsparse = h->capsparse = 0;
        h->dense = d;
        return MB_OK;
    }
    if (h->nsparse == h->capsparse) {
        size_t cap = h->capsparse ? h->capsparse * 2 : 4;
        uint32_t *v = mb_realloc(h->sparse, cap * sizeof *v);
        if (!v)
            return MB_ENOMEM;
        h->sparse = v;
        h->capsparse = cap;
    }
    memmove(h->sparse + at + 1, h->sparse + at, (h->nsparse - at) * sizeof *h->sparse);
    h->sparse[at] = (uint32_t)reg << 8 | rank;
    h->nsparse++;
    return MB_OK;
}

mb_status mb_hll_merge(mb_hll *dst, const mb_hll *src)
{
    if (src->dense || dst->dense) {
        uint8_t *d = dst->dense ? dst->dense : to_dense(dst);
        if (!d)
            return MB_ENOMEM;
        if (src->dense) {
            for (size_t r = 0; r < MB_HLL_M; r++)
                if (d[r] < src->dense[r])
                    d[r] = src->dense[r];
        } else {
            for (size_t i = 0; i < src->nsparse; i++) {
                unsigned r = src->sparse[i] >> 8, k = src->sparse[i] & 0xff;
                if (d[r] < k)
                    d[r] = (uint8_t)k;
            }
        }
        if (!dst->dense) {
            free(dst->sparse);
            dst->sparse = NULL;
            dst->nsparse = dst->capsparse = 0;
            dst->dense = d;
        }
        return MB_OK;
    }
    /* both sparse: a merge of two sorted lists */
    size_t n = dst->nsparse + src->nsparse, i = 0, j = 0, k = 0;
    uint32_t *v = mb_malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return MB_ENOMEM;
    while (i < dst->nsparse || j < src->nsparse) {
        uint32_t a = i < dst->nsparse ? dst->sparse[i] : UINT32_MAX;
        uint32_t b = j < src->nsparse ? src->sparse[j] : UINT32_MAX;
        if ((a >> 8) == (b >> 8)) {
            v[k++] = a > b ? a : b;
            i++;
            j++;
        } else if ((a >> 8) < (b >> 8)) {
            v[k++] = a;
            i++;
        } else {
            v[k++] = b;
            j++;
        }
    }
    if (k >= MB_HLL_SPARSE_MAX) {
        mb_hll t = {NULL, v, k, n};
        uint8_t *d = to_dense(&t);
        free(v);
        if (!d)
            return MB_ENOMEM;
        free(dst->sparse);
        dst->sparse = NULL;
        dst->nsparse = dst->capsparse = 0;
        dst->dense = d;
        return MB_OK;
    }
    free(dst->sparse);
    dst->sparse = v;
    dst->nsparse = k;
    dst->capsparse = n ? n : 1;
    return MB_OK;
}

/* Ertl's sigma and tau (section 4 of the paper): series summed until the
 * sum no longer changes. */
static double sigma(double x)
{
    double y = 1.0, z = x, zp;

    if (x == 1.0)
        return INFINITY;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (z != zp);
    return z;
}

static double tau(double x)
{
    double y = 1.0, z = 1.0 - x, zp;

    if (x == 0.0 || x == 1.0)
        return 0.0;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != zp);
    return z / 3.0;
}

double mb_hll_estimate(const mb_hll *h)
{
    uint64_t c[MB_HLL_QMAX + 1] = {0};   /* registers per value, 0..q+1 */
    const double m = (double)MB_HLL_M;
    double z;

    if (h->dense) {
        for (size_t r = 0; r < MB_HLL_M; r++)
            c[h->dense[r]]++;
    } else {
        c[0] = MB_HLL_M - h->nsparse;
        for (size_t i = 0; i < h->nsparse; i++)
            c[h->sparse[i] & 0xff]++;
    }
    if (c[0] == MB_HLL_M)
        return 0.0;
    /* q = 64 - p hash bits rank a register, whose values are 0..q+1 */
    z = m * tau(1.0 - (double)c[MB_HLL_QMAX] / m);
    for (int k = MB_HLL_QMAX - 1; k >= 1; k--)
        z = 0.5 * (z + (double)c[k]);
    z += m * sigma((double)c[0] / m);
    return m * m / (2.0 * LN2) / z;
}

static size_t nset(const mb_hll *h)
{
    size_t n = 0;

    if (!h->dense)
        return h->nsparse;
    for (size_t r = 0; r < MB_HLL_M; r++)
        n += h->dense[r] != 0;
    return n;
}

size_t mb_hll_pack(const mb_hll *h, unsigned char *out, size_t cap)
{
    size_t n = nset(h), len, at = 3;
    unsigned prev = 0;

    len = n < MB_HLL_SPARSE_MAX ? 5 + 3 * n : 3 + MB_HLL_M;
    if (cap < len)
        return 0;
    out[0] = 1;
    out[1] = MB_HLL_P;
    if (n >= MB_HLL_SPARSE_MAX) {
        out[2] = FORM_DENSE;
        memcpy(out + 3, h->dense, MB_HLL_M);
        return len;
    }
    out[2] = FORM_SPARSE;
    out[at++] = (unsigned char)(n & 0xff);
    out[at++] = (unsigned char)(n >> 8);
    for (size_t r = 0, i = 0; i < n; r++) {
        unsigned reg, rank;
        if (h->dense) {
            if (!h->dense[r])
                continue;
            reg = (unsigned)r;
            rank = h->dense[r];
        } else {
            reg = h->sparse[i] >> 8;
            rank = h->sparse[i] & 0xff;
        }
        out[at++] = (unsigned char)((reg - prev) & 0xff);
        out[at++] = (unsigned char)((reg - prev) >> 8);
        out[at++] = (unsigned char)rank;
        prev = reg;
        i++;
    }
    return at;
}

mb_status mb_hll_unpack(mb_hll *h, const unsigned char *p, size_t len, mb_err *err)
{
    mb_hll t;
    size_t n;

    if (len < 3 || p[0] != 1)
        return mb_err_set(err, MB_EDATA, "HyperLogLog state: unknown version");
    if (p[1] != MB_HLL_P)
        return mb_err_set(err, MB_EDATA, "HyperLogLog state: precision %u, not %u", p[1],
                          MB_HLL_P);
    mb_hll_init(&t);
    if (p[2] == FORM_DENSE) {
        if (len != 3 + MB_HLL_M)
            return mb_err_set(err, MB_EDATA, "HyperLogLog state: %zu bytes for a dense form",
                              len);
        for (size_t r = 0; r < MB_HLL_M; r++)
            if (p[3 + r] > MB_HLL_QMAX)
                return mb_err_set(err, MB_EDATA, "HyperLogLog state: rank %u past %u",
                                  p[3 + r], MB_HLL_QMAX);
        if (!(t.dense = mb_malloc(MB_HLL_M)))
            return mb_err_set(err, MB_ENOMEM, "out of memory for a HyperLogLog state");
        memcpy(t.dense, p + 3, MB_HLL_M);
        if (nset(&t) < MB_HLL_SPARSE_MAX) {
            mb_hll_fini(&t);
            return mb_err_set(err, MB_EDATA, "HyperLogLog state: a dense form of few registers");
        }
    } else if (p[2] == FORM_SPARSE) {
        unsigned reg = 0;
        if (len < 5 || (n = (size_t)p[3] | (size_t)p[4] << 8) >= MB_HLL_SPARSE_MAX ||
            len != 5 + 3 * n)
            return mb_err_set(err, MB_EDATA, "HyperLogLog state: a malformed sparse form");
        if (n && !(t.sparse = mb_malloc(n * sizeof *t.sparse)))
            return mb_err_set(err, MB_ENOMEM, "out of memory for a HyperLogLog state");
        t.capsparse = n;
        for (size_t i = 0; i < n; i++) {
            const unsigned char *e = p + 5 + 3 * i;
            unsigned d = (unsigned)e[0] | (unsigned)e[1] << 8, rank = e[2];
            if ((i && d == 0) || reg + d >= MB_HLL_M || rank == 0 || rank > MB_HLL_QMAX) {
                mb_hll_fini(&t);
                return mb_err_set(err, MB_EDATA, "HyperLogLog state: register entry %zu is out "
                                  "of order or range", i);
            }
            reg += d;
            t.sparse[t.nsparse++] = (uint32_t)reg << 8 | rank;
        }
    } else {
        return mb_err_set(err, MB_EDATA, "HyperLogLog state: unknown form %u", p[2]);
    }
    mb_hll_fini(h);
    *h = t;
    return MB_OK;
}
