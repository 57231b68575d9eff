/* ddsk.c - the quantile sketch of ddsk.h. */
#include "agg/ddsk.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

void mb_ddsk_init(mb_ddsk *d) { memset(d, 0, sizeof *d); }

void mb_ddsk_fini(mb_ddsk *d)
{
    if (!d)
        return;
    free(d->pos.c);
    free(d->neg.c);
    memset(d, 0, sizeof *d);
}

/* The bucket of x > 0, finite: floor(f(x) * MULT), f(x) = e + (m - 1). */
static int32_t bucket(double x)
{
    int e;
    double m = frexp(x, &e);          /* x = m 2^e, 1/2 <= m < 1: exact */
    double f = (double)(e - 1) + (2.0 * m - 1.0);

    return (int32_t)floor(f * MB_DDSK_MULT);
}

/* The value a bucket answers with: the harmonic centre 2 l u / (l + u) of
 * its bounds l = f^-1(i / MULT), u = f^-1((i + 1) / MULT), where
 * f^-1(y) = 2^floor(y) (1 + frac(y)); computed as l times 2r / (1 + r),
 * r = u / l from the two mantissas and exponents, so that nothing
 * overflows at the top of the double range. */
static double centre(int32_t i)
{
    double y0 = (double)i / MB_DDSK_MULT, y1 = (double)(i + 1) / MB_DDSK_MULT;
    double k0 = floor(y0), k1 = floor(y1);
    double m0 = 1.0 + (y0 - k0), m1 = 1.0 + (y1 - k1);
    double r = m1 / m0 * (k1 > k0 ? 2.0 : 1.0);      /* buckets are narrower than 2x */
    double c = ldexp(m0, (int)k0) * (2.0 * r / (1.0 + r));

    return c > DBL_MAX ? DBL_MAX : c;
}

/* Makes s cover buckets lo .. hi (inclusive), keeping its counts. */
static mb_status cover(mb_ddsk_store *s, int32_t lo, int32_t hi)
{
    int32_t nlo, nhi;
    size_t n;
    uint64_t *c;

    if (s->n) {
        int32_t shi = s->lo + (int32_t)s->n - 1;
        if (lo >= s->lo && hi <= shi)
            return MB_OK;
        nlo = lo < s->lo ? lo : s->lo;
        nhi = hi > shi ? hi : shi;
    } else {
        nlo = lo;
        nhi = hi;
    }
    n = (size_t)((int64_t)nhi - nlo + 1);
    if (!(c = mb_calloc(n, sizeof *c)))
        return MB_ENOMEM;
    if (s->n)
        memcpy(c + (s->lo - nlo), s->c, s->n * sizeof *c);
    free(s->c);
    s->c = c;
    s->lo = nlo;
    s->n = n;
    return MB_OK;
}

mb_status mb_ddsk_add(mb_ddsk *d, double x)
{
    mb_ddsk_store *s;
    int32_t i;

    if (!isfinite(x))
        return MB_EDATA;
    if (x == 0.0) {
        d->zero++;
        return MB_OK;
    }
    s = x > 0 ? &d->pos : &d->neg;
    i = bucket(fabs(x));
    if (cover(s, i, i) != MB_OK)
        return MB_ENOMEM;
    s->c[i - s->lo]++;
    return MB_OK;
}

static mb_status merge_store(mb_ddsk_store *dst, const mb_ddsk_store *src)
{
    if (!src->n)
        return MB_OK;
    if (cover(dst, src->lo, src->lo + (int32_t)src->n - 1) != MB_OK)
        return MB_ENOMEM;
    for (size_t k = 0; k < src->n; k++)
        dst->c[(size_t)(src->lo - dst->lo) + k] += src->c[k];
    return MB_OK;
}

mb_status mb_ddsk_merge(mb_ddsk *dst, const mb_ddsk *src)
{
    /* both stores are covered first, so that a failure changes nothing */
    if (src->pos.n && cover(&dst->pos, src->pos.lo, src->pos.lo + (int32_t)src->pos.n - 1))
        return MB_ENOMEM;
    if (src->neg.n && cover(&dst->neg, src->neg.lo, src->neg.lo + (int32_t)src->neg.n - 1))
        return MB_ENOMEM;
    merge_store(&dst->pos, &src->pos);
    merge_store(&dst->neg, &src->neg);
    dst->zero += src->zero;
    return MB_OK;
}

static uint64_t store_count(const mb_ddsk_store *s)
{
    uint64_t n = 0;
    for (size_t k = 0; k < s->n; k++)
        n += s->c[k];
    return n;
}

uint64_t mb_ddsk_count(const mb_ddsk *d)
{
    return store_count(&d->neg) + d->zero + store_count(&d->pos);
}

double mb_ddsk_quantile(const mb_ddsk *d, double q)
{
    uint64_t n = mb_ddsk_count(d), rank, seen = 0;

    if (n == 0 || !(q >= 0.0 && q <= 1.0))
        return NAN;
    rank = (uint64_t)floor(q * (double)(n - 1));
    for (size_t k = d->neg.n; k-- > 0;) {           /* the most negative first */
        seen += d->neg.c[k];
        if (seen > rank)
            return -centre(d->neg.lo + (int32_t)k);
    }
    seen += d->zero;
    if (seen > rank)
        return 0.0;
    for (size_t k = 0; k < d->pos.n; k++) {
        seen += d->pos.c[k];
        if (seen > rank)
            return centre(d->pos.lo + (int32_t)k);
    }
    return centre(d->pos.lo + (int32_t)d->pos.n - 1); /* not reached: n counted them */
}

static mb_status put_store(mb_buf *b, const mb_ddsk_store *s)
{
    mb_status st = mb_buf_put_varint(b, s->n);
    uint32_t zz = ((uint32_t)s->lo << 1) ^ (uint32_t)(s->lo >> 31);

    if (st == MB_OK && s->n)
        st = mb_buf_put_varint(b, zz);
    for (size_t k = 0; st == MB_OK && k < s->n; k++)
        st = mb_buf_put_varint(b, s->c[k]);
    return st;
}

mb_status mb_ddsk_pack(const mb_ddsk *d, mb_buf *b)
{
    unsigned char head[2] = {1, 1};
    mb_status st = mb_buf_put(b, head, 2);

    if (st == MB_OK)
        st = mb_buf_put_varint(b, d->zero);
    if (st == MB_OK)
        st = put_store(b, &d->neg);
    if (st == MB_OK)
        st = put_store(b, &d->pos);
    return st;
}

/* The most buckets a store may have: every finite magnitude's bucket. */
#define MAX_BUCKETS ((size_t)110000)

static const char *get_store(mb_rd *r, mb_ddsk_store *s, uint64_t *total)
{
    uint64_t n = mb_rd_varint(r), zz;
    int64_t lo;

    if (r->bad)
        return "a truncated store";
    if (n == 0)
        return NULL;
    if (n > MAX_BUCKETS)
        return "more buckets than finite doubles have";
    zz = mb_rd_varint(r);
    if (r->bad || zz > 2 * (uint64_t)MAX_BUCKETS)
        return "buckets out of range";
    lo = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
    if (lo + (int64_t)n > (int64_t)MAX_BUCKETS)
        return "buckets out of range";
    if (!(s->c = mb_calloc((size_t)n, sizeof *s->c)))
        return "";
    s->lo = (int32_t)lo;
    s->n = (size_t)n;
    for (size_t k = 0; k < s->n; k++) {
        s->c[k] = mb_rd_varint(r);
        if (r->bad)
            return "a truncated store";
        if (s->c[k] > UINT64_MAX - *total)
            return "counts that overflow";
        *total += s->c[k];
    }
    if (s->c[0] == 0 || s->c[s->n - 1] == 0)
        return "an empty bucket at the end of a store";
    return NULL;
}

mb_status mb_ddsk_unpack(mb_ddsk *d, const unsigned char *p, size_t len, mb_err *err)
{
    mb_rd r;
    mb_ddsk t;
    uint64_t total;
    const char *why = NULL;

    if (len < 2 || p[0] != 1)
        return mb_err_set(err, MB_EDATA, "quantile sketch: unknown version");
    if (p[1] != 1)
        return mb_err_set(err, MB_EDATA, "quantile sketch: unknown accuracy code %u", p[1]);
    mb_rd_init(&r, p + 2, len - 2);
    mb_ddsk_init(&t);
    total = t.zero = mb_rd_varint(&r);
    if (r.bad)
        why = "a truncated zero count";
    if (!why)
        why = get_store(&r, &t.neg, &total);
    if (!why)
        why = get_store(&r, &t.pos, &total);
    if (!why && r.pos != r.len)
        why = "trailing bytes";
    if (why) {
        mb_ddsk_fini(&t);
        return *why ? mb_err_set(err, MB_EDATA, "quantile sketch: %s", why)
                    : mb_err_set(err, MB_ENOMEM, "out of memory for a quantile sketch");
    }
    mb_ddsk_fini(d);
    *d = t;
    return MB_OK;
}
