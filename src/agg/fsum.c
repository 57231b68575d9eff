/* fsum.c - exact sums of doubles and of their squares in fixed-point
 * "superaccumulators", rounded once when read. Not a general bignum: the
 * little big-integer arithmetic here (to magnitude, multiply, square,
 * subtract, divide by a word, round) serves mb_fsum_value, _mean and _var
 * only, on fixed-size stack buffers. Layout and rules: fsum.h. */
#include "agg/fsum.h"

#include <assert.h>
#include <math.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define DIGIT_BITS 53
#define RADIX ((int64_t)1 << DIGIT_BITS)
#define DIGIT_MASK (((uint64_t)1 << DIGIT_BITS) - 1)
#define FRAC_MASK (((uint64_t)1 << 52) - 1)
#define HIDDEN ((uint64_t)1 << 52)
#define SIGN_BIT ((uint64_t)1 << 63)
#define EXP_SPECIAL 0x7ffu
#define PACK_VERSION 1
#define DIGIT_BYTES 7
#define MAX_N ((uint64_t)1 << 63)

/* Big magnitudes in 64-bit limbs: the square of a sum (34 limbs) or n times
 * a sum of squares (68 + 1 limbs) fits 72. */
#define MAG_LIMBS 72

/* What distinguishes the two kinds of state. */
typedef struct layout {
    size_t limbs;          /* base-2^53 limbs */
    int unit;              /* binary exponent of one unit */
    unsigned maxbits;      /* bits of the largest single term, in units */
    unsigned char kind;    /* byte-form tag */
    const char *what;      /* for messages */
} layout;

static const layout SUM = {MB_FSUM_LIMBS, -1074, 2098, 'S', "fsum state"};
static const layout SUMSQ = {MB_FSUMSQ_LIMBS, -2148, 4196, 'Q', "fsumsq state"};

/* ---- carries ---- */

/* Brings every limb but the top one into [0, 2^53), carrying upwards; the
 * exact value is unchanged. The division is exact (its operand is a
 * multiple of 2^53), which keeps this portable where >> of a negative
 * number is implementation-defined. */
static void sweep(int64_t *w, size_t limbs)
{
    for (size_t i = 0; i + 1 < limbs; i++) {
        int64_t low = (int64_t)((uint64_t)w[i] & DIGIT_MASK);
        int64_t carry = (w[i] - low) / RADIX;
        w[i] = low;
        w[i + 1] += carry;
    }
}

/* The canonical digits of the exact value: d[0..limbs) all in [0, 2^53),
 * the magnitude's; returns 1 when the value is negative. */
static int canon(const int64_t *w, size_t limbs, int64_t *d)
{
    int neg;

    memcpy(d, w, limbs * sizeof d[0]);
    sweep(d, limbs);
    neg = d[limbs - 1] < 0;
    if (neg) {
        for (size_t i = 0; i < limbs; i++)
            d[i] = -d[i];
        sweep(d, limbs);
    }
    /* A state within its design limits (2^63 values) is far below this. */
    assert(d[limbs - 1] >= 0 && d[limbs - 1] < RADIX);
    return neg;
}

/* ---- magnitudes in 64-bit limbs ---- */

/* mag[0..nmag) := the digits d[0..limbs) shifted left by `shift` bits. */
static void digits_to_mag(const int64_t *d, size_t limbs, unsigned shift, uint64_t *mag,
                          size_t nmag)
{
    memset(mag, 0, nmag * sizeof mag[0]);
    for (size_t i = 0; i < limbs; i++) {
        uint64_t v = (uint64_t)d[i];
        size_t pos = i * DIGIT_BITS + shift;
        size_t k = pos / 64;
        unsigned sh = (unsigned)(pos % 64);

        if (v == 0)
            continue;
        assert(k < nmag);
        mag[k] |= v << sh;
        if (sh + DIGIT_BITS > 64) {
            assert(k + 1 < nmag);
            mag[k + 1] |= v >> (64 - sh);
        }
    }
}

static size_t mag_bitlen(const uint64_t *mag, size_t nmag)
{
    for (size_t i = nmag; i > 0; i--)
        if (mag[i - 1] != 0)
            return (i - 1) * 64 + (size_t)(64 - __builtin_clzll(mag[i - 1]));
    return 0;
}

/* Bits [pos, pos + 53) of mag. */
static uint64_t mag_bits53(const uint64_t *mag, size_t nmag, size_t pos)
{
    size_t k = pos / 64;
    unsigned sh = (unsigned)(pos % 64);
    uint64_t v = 0;

    if (k < nmag)
        v = mag[k] >> sh;
    if (sh != 0 && k + 1 < nmag)
        v |= mag[k + 1] << (64 - sh);
    return v & DIGIT_MASK;
}

/* Whether any bit below position pos is set. */
static int mag_any_below(const uint64_t *mag, size_t nmag, size_t pos)
{
    size_t k = pos / 64;
    unsigned sh = (unsigned)(pos % 64);

    for (size_t i = 0; i < k && i < nmag; i++)
        if (mag[i] != 0)
            return 1;
    return k < nmag && sh != 0 && (mag[k] & (((uint64_t)1 << sh) - 1)) != 0;
}

/* mag := mag / d (d != 0); returns whether the remainder is nonzero. */
static int mag_div(uint64_t *mag, size_t nmag, uint64_t d)
{
    uint64_t r = 0;

    assert(d != 0);
    for (size_t i = nmag; i > 0; i--) {
        u128 cur = ((u128)r << 64) | mag[i - 1];
        mag[i - 1] = (uint64_t)(cur / d);
        r = (uint64_t)(cur % d);
    }
    return r != 0;
}

/* The double nearest to (-1)^neg * (mag + e) * 2^unit, ties to even, where
 * 0 <= e < 1 and e > 0 exactly when sticky. Correct only when bit 0 of mag
 * lies strictly below the result's rounding bit, or when sticky is 0:
 * unit <= -1075 guarantees the first, unit = -1074 with sticky 0 the
 * second (every caller is one of these). */
static double mag_round(const uint64_t *mag, size_t nmag, int unit, int neg, int sticky)
{
    size_t bl = mag_bitlen(mag, nmag);
    long msb, u;
    size_t k;
    uint64_t m;
    double r;

    if (bl == 0)
        return neg ? -0.0 : 0.0;
    msb = unit + (long)bl - 1;
    if (msb > 1023)
        return neg ? -HUGE_VAL : HUGE_VAL;
    u = msb - 52 < -1074 ? -1074 : msb - 52;    /* exponent of the result's ulp */
    assert(u >= unit && (u > unit || !sticky));
    k = (size_t)(u - unit);
    m = mag_bits53(mag, nmag, k);
    if (k > 0) {
        size_t g = (k - 1) / 64;
        int guard = g < nmag && ((mag[g] >> ((k - 1) % 64)) & 1);
        sticky = sticky || mag_any_below(mag, nmag, k - 1);
        if (guard && (sticky || (m & 1)))
            m++;
    }
    if (m >> DIGIT_BITS) {                      /* rounded up to 2^53 */
        m >>= 1;
        u++;
    }
    if (u > 971)
        return neg ? -HUGE_VAL : HUGE_VAL;
    r = ldexp((double)m, (int)u);               /* exact: m < 2^53, u >= -1074 */
    return neg ? -r : r;
}

/* ---- the common engine ---- */

static void counts_add(mb_fsum_counts *dst, const mb_fsum_counts *src)
{
    dst->n += src->n;
    dst->negzero += src->negzero;
    dst->pinf += src->pinf;
    dst->ninf += src->ninf;
    dst->nan += src->nan;
}

static void merge(mb_fsum_counts *dc, int64_t *dw, const mb_fsum_counts *sc, const int64_t *sw,
                  size_t limbs)
{
    /* dst swept is below 2^53 per limb, src below (MB_FSUM_LAZY + 1) * 2^53:
     * the sum keeps within the 10 spare bits, and is swept at once. */
    sweep(dw, limbs);
    for (size_t i = 0; i < limbs; i++)
        dw[i] += sw[i];
    sweep(dw, limbs);
    counts_add(dc, sc);
}

/* Stores NaN or +-inf and returns 1 when the counts decide the value. */
static int special_value(const mb_fsum_counts *c, double *out)
{
    if (c->nan > 0 || (c->pinf > 0 && c->ninf > 0)) {
        *out = NAN;
        return 1;
    }
    if (c->pinf > 0 || c->ninf > 0) {
        *out = c->pinf > 0 ? HUGE_VAL : -HUGE_VAL;
        return 1;
    }
    return 0;
}

/* The sign of an exact zero: -0.0 only when every value added was -0.0. */
static double zero_of(const mb_fsum_counts *c)
{
    return c->n > 0 && c->negzero == c->n ? -0.0 : 0.0;
}

static double value(const mb_fsum_counts *c, const int64_t *w, const layout *l)
{
    int64_t d[MB_FSUMSQ_LIMBS];
    uint64_t mag[MAG_LIMBS];
    double r;
    int neg;

    if (special_value(c, &r))
        return r;
    neg = canon(w, l->limbs, d);
    digits_to_mag(d, l->limbs, 0, mag, MAG_LIMBS);
    if (mag_bitlen(mag, MAG_LIMBS) == 0)
        return zero_of(c);
    return mag_round(mag, MAG_LIMBS, l->unit, neg, 0);
}

/* ---- byte form ---- */

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static size_t pack(const mb_fsum_counts *c, const int64_t *w, const layout *l,
                   unsigned char *out, size_t cap)
{
    unsigned char buf[MB_FSUMSQ_PACK_MAX];
    int64_t d[MB_FSUMSQ_LIMBS];
    size_t len = 0, lo = 0, hi = 0;
    int neg = canon(w, l->limbs, d);

    for (size_t i = 0; i < l->limbs; i++)
        if (d[i] != 0) {
            if (hi == 0)
                lo = i;
            hi = i + 1;
        }
    if (hi == 0)
        neg = 0;
    buf[len++] = PACK_VERSION;
    buf[len++] = l->kind;
    buf[len++] = (unsigned char)neg;
    len += put_varint(buf + len, c->n);
    len += put_varint(buf + len, c->negzero);
    len += put_varint(buf + len, c->pinf);
    len += put_varint(buf + len, c->ninf);
    len += put_varint(buf + len, c->nan);
    len += put_varint(buf + len, lo);
    len += put_varint(buf + len, hi - lo);
    for (size_t i = lo; i < hi; i++)
        for (unsigned b = 0; b < DIGIT_BYTES; b++)
            buf[len++] = (unsigned char)((uint64_t)d[i] >> (8 * b));
    assert(len <= sizeof buf);
    if (len <= cap)
        memcpy(out, buf, len);
    return len;
}

typedef struct reader {
    const unsigned char *p;
    size_t len, pos;
    size_t at;              /* where the field being read starts, for messages */
    const layout *l;
    mb_err *err;
} reader;

static mb_status bad(reader *r, const char *why)
{
    return mb_err_set(r->err, MB_EDATA, "%s: offset %zu of %zu bytes: %s", r->l->what, r->at, r->len,
                      why);
}

static mb_status get_u8(reader *r, unsigned *v)
{
    r->at = r->pos;
    if (r->pos >= r->len)
        return bad(r, "truncated");
    *v = r->p[r->pos++];
    return MB_OK;
}

/* An unsigned LEB128 of at most 64 bits in its shortest encoding, so that
 * every state has exactly one byte form. */
static mb_status get_varint(reader *r, uint64_t *v, const char *name)
{
    uint64_t x = 0;
    size_t start = r->pos;

    for (unsigned i = 0;; i++) {
        unsigned b = 0;
        if (get_u8(r, &b) != MB_OK)
            return MB_EDATA;
        r->at = start;
        if (i == 9 && b > 1)
            return bad(r, name);
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return bad(r, name);
            *v = x;
            return MB_OK;
        }
        if (i == 9)
            return bad(r, name);
    }
}

static unsigned bitlen64(uint64_t v)
{
    return v == 0 ? 0 : (unsigned)(64 - __builtin_clzll(v));
}

static mb_status check_counts(reader *r, const mb_fsum_counts *c)
{
    uint64_t rest = c->n;

    if (c->n > MAX_N)
        return bad(r, "more than 2^63 values");
    const uint64_t part[] = {c->negzero, c->pinf, c->ninf, c->nan};

    for (size_t i = 0; i < MB_ARRAY_LEN(part); i++) {
        if (part[i] > rest)
            return bad(r, "the counts of -0, inf and NaN exceed the count of values");
        rest -= part[i];
    }
    if (r->l->kind == 'Q' && (c->negzero != 0 || c->ninf != 0))
        return bad(r, "a sum of squares with -0.0 or -inf");
    return MB_OK;
}

/* The header: version, kind, flags (returned in *flags) and counts. */
static mb_status read_header(reader *r, unsigned *flags, mb_fsum_counts *c)
{
    const layout *l = r->l;
    unsigned version = 0, kind = 0;
    mb_status st;

    if ((st = get_u8(r, &version)) != MB_OK)
        return st;
    if (version != PACK_VERSION)
        return bad(r, "unsupported version");
    if ((st = get_u8(r, &kind)) != MB_OK)
        return st;
    if (kind != l->kind)
        return bad(r, "not this kind of state");
    if ((st = get_u8(r, flags)) != MB_OK)
        return st;
    if (*flags > (l->kind == 'S' ? 1u : 0u))
        return bad(r, "unknown flags");
    if ((st = get_varint(r, &c->n, "bad count")) != MB_OK ||
        (st = get_varint(r, &c->negzero, "bad count of -0")) != MB_OK ||
        (st = get_varint(r, &c->pinf, "bad count of +inf")) != MB_OK ||
        (st = get_varint(r, &c->ninf, "bad count of -inf")) != MB_OK ||
        (st = get_varint(r, &c->nan, "bad count of NaN")) != MB_OK)
        return st;
    return check_counts(r, c);
}

/* The digits, to the end of the bytes, into w (zeroed first); *top is
 * the bit length of the magnitude. */
static mb_status read_digits(reader *r, int neg, int64_t *w, uint64_t *top)
{
    const layout *l = r->l;
    uint64_t lo = 0, nd = 0;
    mb_status st;

    if ((st = get_varint(r, &lo, "bad digit index")) != MB_OK ||
        (st = get_varint(r, &nd, "bad digit count")) != MB_OK)
        return st;
    if (lo > l->limbs || nd > l->limbs - lo)
        return bad(r, "digits out of range");
    if (nd == 0 && (lo != 0 || neg))
        return bad(r, "a zero sum with a sign or an index");
    r->at = r->pos;
    if (r->len - r->pos != nd * DIGIT_BYTES)
        return bad(r, r->len - r->pos < nd * DIGIT_BYTES ? "truncated" : "trailing bytes");
    memset(w, 0, l->limbs * sizeof w[0]);
    *top = 0;
    for (size_t i = 0; i < nd; i++) {
        uint64_t v = 0;
        r->at = r->pos;
        for (unsigned b = 0; b < DIGIT_BYTES; b++)
            v |= (uint64_t)r->p[r->pos++] << (8 * b);
        if (v > DIGIT_MASK)
            return bad(r, "digit out of range");
        if (v == 0 && (i == 0 || i + 1 == nd))
            return bad(r, "zero digit at an end of the digits");
        w[lo + i] = neg ? -(int64_t)v : (int64_t)v;
        *top = DIGIT_BITS * (lo + i) + bitlen64(v);
    }
    return MB_OK;
}

/* Reads a whole byte form into counts and limbs (swept), checking
 * everything fsum.h promises. */
static mb_status unpack(reader *r, mb_fsum_counts *c, int64_t *w)
{
    unsigned flags = 0;
    uint64_t bits = 0, nz;
    mb_status st;

    if ((st = read_header(r, &flags, c)) != MB_OK ||
        (st = read_digits(r, (int)(flags & 1), w, &bits)) != MB_OK)
        return st;
    /* nz finite nonzero values, each below 2^maxbits units, sum to less
     * than nz * 2^maxbits: at most maxbits + bitlen(nz - 1) bits. */
    nz = c->n - c->negzero - c->pinf - c->ninf - c->nan;
    if (bits > 0 && (nz == 0 || bits > r->l->maxbits + bitlen64(nz - 1))) {
        r->at = 3;
        return bad(r, "a sum too large for the count of values");
    }
    sweep(w, r->l->limbs);
    return MB_OK;
}

/* ---- mb_fsum ---- */

void mb_fsum_init(mb_fsum *s)
{
    memset(s, 0, sizeof *s);
}

/* The fast path: exponent field ef, significand m, value m * 2^(b - 1074)
 * with b = ef - 1 for normal numbers and 0 for subnormals. Its digit index
 * is b / 53; the 53-bit significand shifted by b % 53 spans two digits. A
 * negative value subtracts both (two's complement negation, branch-free). */
void mb_fsum_add(mb_fsum *s, double x)
{
    uint64_t bits, m, lo, hi;
    unsigned ef, i, sh;
    int64_t neg;

    /* A sweep before every MB_FSUM_LAZY-th add, whatever kind of value:
     * at most that many adds since the last one, as the headroom needs. */
    if ((++s->c.n & (MB_FSUM_LAZY - 1)) == 0)
        sweep(s->w, MB_FSUM_LIMBS);
    memcpy(&bits, &x, sizeof bits);
    ef = (unsigned)(bits >> 52) & EXP_SPECIAL;
    m = bits & FRAC_MASK;
    if (ef == EXP_SPECIAL) {
        if (m != 0)
            s->c.nan++;
        else if (bits & SIGN_BIT)
            s->c.ninf++;
        else
            s->c.pinf++;
        return;
    }
    if (ef == 0 && m == 0) {         /* +-0 adds nothing but its sign */
        s->c.negzero += bits >> 63;
        return;
    }
    if (ef != 0) {
        m |= HIDDEN;
        ef--;
    }
    i = ef / DIGIT_BITS;
    sh = ef % DIGIT_BITS;
    lo = (m << sh) & DIGIT_MASK;
    hi = m >> (DIGIT_BITS - sh);
    neg = -(int64_t)(bits >> 63);
    s->w[i] += ((int64_t)lo ^ neg) - neg;
    s->w[i + 1] += ((int64_t)hi ^ neg) - neg;
}

void mb_fsum_merge(mb_fsum *dst, const mb_fsum *src)
{
    merge(&dst->c, dst->w, &src->c, src->w, MB_FSUM_LIMBS);
}

double mb_fsum_value(const mb_fsum *s)
{
    return value(&s->c, s->w, &SUM);
}

double mb_fsum_mean(const mb_fsum *s)
{
    int64_t d[MB_FSUM_LIMBS];
    uint64_t mag[MB_FSUM_LIMBS * DIGIT_BITS / 64 + 2];
    double r;
    int neg, sticky;

    if (s->c.n == 0)
        return NAN;
    if (special_value(&s->c, &r))
        return r;
    neg = canon(s->w, MB_FSUM_LIMBS, d);
    /* 64 extra low bits put the rounding bit inside the quotient even for a
     * subnormal mean, so that the remainder only matters as sticky. */
    digits_to_mag(d, MB_FSUM_LIMBS, 64, mag, MB_ARRAY_LEN(mag));
    if (mag_bitlen(mag, MB_ARRAY_LEN(mag)) == 0)
        return zero_of(&s->c);
    sticky = mag_div(mag, MB_ARRAY_LEN(mag), s->c.n);
    return mag_round(mag, MB_ARRAY_LEN(mag), SUM.unit - 64, neg, sticky);
}

size_t mb_fsum_pack(const mb_fsum *s, unsigned char *out, size_t cap)
{
    return pack(&s->c, s->w, &SUM, out, cap);
}

mb_status mb_fsum_unpack(mb_fsum *s, const unsigned char *p, size_t len, mb_err *err)
{
    reader r = {p, len, 0, 0, &SUM, err};
    mb_fsum t;
    mb_status st;

    mb_fsum_init(&t);
    if ((st = unpack(&r, &t.c, t.w)) != MB_OK)
        return st;
    *s = t;
    return MB_OK;
}

/* ---- mb_fsumsq ---- */

void mb_fsumsq_init(mb_fsumsq *q)
{
    memset(q, 0, sizeof *q);
}

/* As mb_fsum_add for m^2 * 2^(2b - 2148): the 106-bit square shifted by
 * 2b % 53 spans three digits, all added (a square is never negative). */
void mb_fsumsq_add(mb_fsumsq *q, double x)
{
    uint64_t bits, m;
    unsigned ef, i, sh;
    u128 m2;

    if ((++q->c.n & (MB_FSUM_LAZY - 1)) == 0)
        sweep(q->w, MB_FSUMSQ_LIMBS);
    memcpy(&bits, &x, sizeof bits);
    ef = (unsigned)(bits >> 52) & EXP_SPECIAL;
    m = bits & FRAC_MASK;
    if (ef == EXP_SPECIAL) {
        if (m != 0)
            q->c.nan++;
        else
            q->c.pinf++;
        return;
    }
    if (ef != 0) {
        m |= HIDDEN;
        ef--;
    }
    m2 = (u128)m * m;
    i = 2 * ef / DIGIT_BITS;
    sh = 2 * ef % DIGIT_BITS;
    q->w[i] += (int64_t)(((uint64_t)m2 << sh) & DIGIT_MASK);
    q->w[i + 1] += (int64_t)((uint64_t)(m2 >> (DIGIT_BITS - sh)) & DIGIT_MASK);
    q->w[i + 2] += (int64_t)(uint64_t)(m2 >> (2 * DIGIT_BITS - sh));
}

void mb_fsumsq_merge(mb_fsumsq *dst, const mb_fsumsq *src)
{
    merge(&dst->c, dst->w, &src->c, src->w, MB_FSUMSQ_LIMBS);
}

double mb_fsumsq_value(const mb_fsumsq *q)
{
    return value(&q->c, q->w, &SUMSQ);
}

size_t mb_fsumsq_pack(const mb_fsumsq *q, unsigned char *out, size_t cap)
{
    return pack(&q->c, q->w, &SUMSQ, out, cap);
}

mb_status mb_fsumsq_unpack(mb_fsumsq *q, const unsigned char *p, size_t len, mb_err *err)
{
    reader r = {p, len, 0, 0, &SUMSQ, err};
    mb_fsumsq t;
    mb_status st;

    mb_fsumsq_init(&t);
    if ((st = unpack(&r, &t.c, t.w)) != MB_OK)
        return st;
    *q = t;
    return MB_OK;
}

/* ---- variance ---- */

/* r[0..nr) := a[0..na) * f. */
static void mag_mul_u64(uint64_t *r, size_t nr, const uint64_t *a, size_t na, uint64_t f)
{
    uint64_t carry = 0;

    memset(r, 0, nr * sizeof r[0]);
    for (size_t i = 0; i < na; i++) {
        u128 t = (u128)a[i] * f + carry;
        assert(i < nr);
        r[i] = (uint64_t)t;
        carry = (uint64_t)(t >> 64);
    }
    if (carry != 0) {
        assert(na < nr);
        r[na] = carry;
    }
}

/* r[0..nr) := a[0..na)^2 (2 * na <= nr). */
static void mag_square(uint64_t *r, size_t nr, const uint64_t *a, size_t na)
{
    assert(2 * na <= nr);
    memset(r, 0, nr * sizeof r[0]);
    for (size_t i = 0; i < na; i++) {
        uint64_t carry = 0;
        if (a[i] == 0)
            continue;
        for (size_t j = 0; j < na; j++) {
            u128 t = (u128)a[i] * a[j] + r[i + j] + carry;
            r[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        r[i + na] = carry;
    }
}

/* a := a - b; returns the borrow (1 when b > a). */
static int mag_sub(uint64_t *a, const uint64_t *b, size_t n)
{
    uint64_t borrow = 0;

    for (size_t i = 0; i < n; i++) {
        uint64_t ai = a[i], bi = b[i];
        a[i] = ai - bi - borrow;
        borrow = (ai < bi) || (ai - bi < borrow);
    }
    return borrow != 0;
}

double mb_fsum_var(const mb_fsum *s, const mb_fsumsq *q, int sample)
{
    int64_t ds[MB_FSUM_LIMBS], dq[MB_FSUMSQ_LIMBS];
    uint64_t sm[MB_FSUM_LIMBS * DIGIT_BITS / 64 + 1];
    uint64_t qm[MB_FSUMSQ_LIMBS * DIGIT_BITS / 64 + 1];
    uint64_t num[MAG_LIMBS], sq[MAG_LIMBS];
    uint64_t n = s->c.n;
    int sticky;

    if (n == 0 || (sample && n == 1) || q->c.n != n)
        return NAN;
    if (s->c.nan || s->c.pinf || s->c.ninf || q->c.nan || q->c.pinf)
        return NAN;
    (void)canon(s->w, MB_FSUM_LIMBS, ds);       /* the sign vanishes in the square */
    digits_to_mag(ds, MB_FSUM_LIMBS, 0, sm, MB_ARRAY_LEN(sm));
    if (canon(q->w, MB_FSUMSQ_LIMBS, dq))
        return NAN;
    digits_to_mag(dq, MB_FSUMSQ_LIMBS, 0, qm, MB_ARRAY_LEN(qm));
    /* D = n * sum(x^2) - sum(x)^2, both in units of 2^-2148. */
    mag_mul_u64(num, MAG_LIMBS, qm, MB_ARRAY_LEN(qm), n);
    mag_square(sq, MAG_LIMBS, sm, MB_ARRAY_LEN(sm));
    if (mag_sub(num, sq, MAG_LIMBS))
        return NAN;
    /* floor(floor(D / a) / b) = floor(D / (a b)), and the remainder of the
     * whole is zero exactly when both remainders are. */
    sticky = mag_div(num, MAG_LIMBS, n);
    sticky |= mag_div(num, MAG_LIMBS, sample ? n - 1 : n);
    return mag_round(num, MAG_LIMBS, SUMSQ.unit, 0, sticky);
}
