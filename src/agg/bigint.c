/* bigint.c - fixed-capacity unsigned big integers and correctly rounded ratios.
 * Deliberately not a general bignum library: no signs, no allocation, no
 * arbitrary division; only what exact result formatting needs. */
#include "agg/bigint.h"

#include <assert.h>
#include <math.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

#define LIMBS MB_BIGINT_LIMBS
#define POW10_19 UINT64_C(10000000000000000000)

static void trim(mb_bigint *a)
{
    while (a->len > 0 && a->w[a->len - 1] == 0)
        a->len--;
}

void mb_bigint_set_limbs(mb_bigint *a, const uint64_t *w, size_t n)
{
    assert(n <= LIMBS);
    memset(a, 0, sizeof *a);
    memcpy(a->w, w, n * sizeof w[0]);
    a->len = n;
    trim(a);
}

void mb_bigint_set_u64(mb_bigint *a, uint64_t v)
{
    mb_bigint_set_limbs(a, &v, 1);
}

int mb_bigint_mul_u64(mb_bigint *a, uint64_t f)
{
    uint64_t carry = 0;
    uint64_t tmp[LIMBS];

    for (size_t i = 0; i < a->len; i++) {
        u128 t = (u128)a->w[i] * f + carry;
        tmp[i] = (uint64_t)t;
        carry = (uint64_t)(t >> 64);
    }
    if (carry != 0 && a->len == LIMBS)
        return -1;
    memcpy(a->w, tmp, a->len * sizeof tmp[0]);
    if (carry != 0)
        a->w[a->len++] = carry;
    if (f == 0)
        a->len = 0, memset(a->w, 0, sizeof a->w);
    return 0;
}

int mb_bigint_mul_pow10(mb_bigint *a, unsigned k)
{
    static const uint64_t small[] = {
        1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
        1000000000u, UINT64_C(10000000000), UINT64_C(100000000000),
        UINT64_C(1000000000000), UINT64_C(10000000000000), UINT64_C(100000000000000),
        UINT64_C(1000000000000000), UINT64_C(10000000000000000),
        UINT64_C(100000000000000000), UINT64_C(1000000000000000000), POW10_19};
    mb_bigint t = *a;

    while (k > 0) {
        unsigned step = k < 19 ? k : 19;
        if (mb_bigint_mul_u64(&t, small[step]) != 0)
            return -1;
        k -= step;
    }
    *a = t;
    return 0;
}

int mb_bigint_mul(mb_bigint *r, const mb_bigint *a, const mb_bigint *b)
{
    assert(r != a && r != b);
    memset(r, 0, sizeof *r);
    if (a->len == 0 || b->len == 0)
        return 0;
    if (a->len + b->len > LIMBS + 1)
        return -1;
    for (size_t i = 0; i < a->len; i++) {
        uint64_t carry = 0;
        for (size_t j = 0; j < b->len; j++) {
            if (i + j >= LIMBS) {
                if (carry != 0 || (a->w[i] != 0 && b->w[j] != 0))
                    return -1;
                continue;
            }
            u128 t = (u128)a->w[i] * b->w[j] + r->w[i + j] + carry;
            r->w[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        if (carry != 0) {
            if (i + b->len >= LIMBS)
                return -1;
            r->w[i + b->len] = carry;
        }
    }
    r->len = LIMBS;
    trim(r);
    return 0;
}

int mb_bigint_sub(mb_bigint *r, const mb_bigint *a, const mb_bigint *b)
{
    uint64_t borrow = 0;
    mb_bigint t;

    if (mb_bigint_cmp(a, b) < 0)
        return -1;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < a->len; i++) {
        uint64_t bi = i < b->len ? b->w[i] : 0;
        uint64_t d = a->w[i] - bi - borrow;
        borrow = (a->w[i] < bi || (a->w[i] == bi && borrow)) ? 1u : 0u;
        t.w[i] = d;
    }
    t.len = a->len;
    trim(&t);
    *r = t;
    return 0;
}

int mb_bigint_cmp(const mb_bigint *a, const mb_bigint *b)
{
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    for (size_t i = a->len; i-- > 0;)
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

static unsigned bitlen64(uint64_t v)
{
    return v ? 64u - (unsigned)__builtin_clzll(v) : 0u;
}

size_t mb_bigint_bitlen(const mb_bigint *a)
{
    return a->len ? (a->len - 1) * 64 + bitlen64(a->w[a->len - 1]) : 0;
}

/* a := a << bits. Returns -1 on overflow. */
static int shl(mb_bigint *a, size_t bits)
{
    size_t limbs = bits / 64, r = bits % 64;
    mb_bigint t;

    if (a->len == 0)
        return 0;
    if (mb_bigint_bitlen(a) + bits > LIMBS * 64)
        return -1;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < a->len; i++) {
        t.w[i + limbs] |= a->w[i] << r;
        if (r != 0 && i + limbs + 1 < LIMBS)
            t.w[i + limbs + 1] = a->w[i] >> (64 - r);
    }
    t.len = LIMBS;
    trim(&t);
    *a = t;
    return 0;
}

/* The up to 128 bits of a starting at bit `from`. */
static u128 bits_from(const mb_bigint *a, size_t from)
{
    size_t limb = from / 64, r = from % 64;
    u128 v = 0;

    for (size_t i = 0; i < 3 && limb + i < a->len; i++) {
        u128 w = a->w[limb + i];
        if (i == 0)
            v |= w >> r;
        else if (64 * i - r < 128)
            v |= w << (64 * i - r);
    }
    return v;
}

/* Trailing zero bits (a != 0). */
static size_t ctz(const mb_bigint *a)
{
    size_t i = 0;
    while (a->w[i] == 0)
        i++;
    return i * 64 + (size_t)__builtin_ctzll(a->w[i]);
}

/* Exact double of a when it has at most 53 significant bits, else -1.0. */
static double exact_double(const mb_bigint *a)
{
    size_t tz, bl = mb_bigint_bitlen(a);

    if (bl == 0)
        return 0.0;
    tz = ctz(a);
    if (bl - tz > 53)
        return -1.0;
    return ldexp((double)(uint64_t)bits_from(a, tz), (int)tz);
}

/* q := floor(x / y) and whether a remainder is left, given that the
 * quotient is below 2^57. The top 64 bits of y estimate q to within one;
 * one exact multiply-and-compare then fixes it. */
static uint64_t div_small_quot(const mb_bigint *x, const mb_bigint *y, int *sticky)
{
    size_t ly = mb_bigint_bitlen(y), s = ly > 64 ? ly - 64 : 0;
    uint64_t ytop = (uint64_t)bits_from(y, s);
    uint64_t q = (uint64_t)(bits_from(x, s) / ytop);
    mb_bigint p = *y, r = {0, {0}};

    if (mb_bigint_mul_u64(&p, q) != 0 || mb_bigint_cmp(&p, x) > 0) {
        q--;
        p = *y;
        (void)mb_bigint_mul_u64(&p, q);    /* smaller than before: fits */
    }
    (void)mb_bigint_sub(&r, x, &p);
    if (mb_bigint_cmp(&r, y) >= 0) {
        q++;
        (void)mb_bigint_sub(&r, &r, y);
    }
    assert(mb_bigint_cmp(&r, y) < 0);
    *sticky = r.len != 0;
    return q;
}

/* Scales the operands so that the quotient has 55 or 56 bits, then rounds
 * it to 53 using the dropped bits and the remainder (sticky bit). */
static double ratio_slow(const mb_bigint *num, const mb_bigint *den)
{
    mb_bigint x = *num, y = *den;
    long bn = (long)mb_bigint_bitlen(num), bd = (long)mb_bigint_bitlen(den);
    long k = 55 + bd - bn;    /* value = (x / y) * 2^-k after scaling */
    int sticky, shift, rc;
    uint64_t q, mant, dropped, half;

    rc = k >= 0 ? shl(&x, (size_t)k) : shl(&y, (size_t)-k);
    assert(rc == 0);
    (void)rc;
    q = div_small_quot(&x, &y, &sticky);
    shift = (int)bitlen64(q) - 53;    /* 2 or 3 */
    mant = q >> shift;
    dropped = q & ((UINT64_C(1) << shift) - 1);
    half = UINT64_C(1) << (shift - 1);
    if (dropped > half || (dropped == half && (sticky || (mant & 1))))
        mant++;
    return ldexp((double)mant, shift - (int)k);
}

double mb_bigint_ratio(const mb_bigint *num, const mb_bigint *den)
{
    double a, b;

    assert(den->len != 0);
    if (num->len == 0)
        return 0.0;
    a = exact_double(num);
    b = exact_double(den);
    if (a >= 0.0 && b > 0.0)
        return a / b;    /* both exact: IEEE division rounds correctly */
    return ratio_slow(num, den);
}

/* a := a / d, returning the remainder. */
static uint64_t divmod_u64(mb_bigint *a, uint64_t d)
{
    u128 rem = 0;

    for (size_t i = a->len; i-- > 0;) {
        u128 cur = (rem << 64) | a->w[i];
        a->w[i] = (uint64_t)(cur / d);
        rem = cur % d;
    }
    trim(a);
    return (uint64_t)rem;
}

int mb_bigint_format(const mb_bigint *a, int neg, char *out, size_t cap)
{
    char tmp[LIMBS * 20 + 2];
    size_t pos = sizeof tmp, len;
    mb_bigint t = *a;

    tmp[--pos] = '\0';
    do {
        uint64_t chunk = divmod_u64(&t, POW10_19);
        for (int i = 0; i < 19 && (t.len != 0 || chunk != 0 || i == 0); i++) {
            tmp[--pos] = (char)('0' + chunk % 10);
            chunk /= 10;
        }
    } while (t.len != 0);
    if (neg && a->len != 0)
        tmp[--pos] = '-';
    len = sizeof tmp - pos;
    if (len > cap) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    memcpy(out, tmp + pos, len);
    return 0;
}
