/* agg.c - aggregate lists, exact decimal parsing and exact mergeable states.
 * Deliberately no I/O, no MPI and no floating point until mb_num_format:
 * every state is exact integers, so adding and merging in any order give
 * the same bytes; rounding happens once, when a result is printed. */
#include "agg/agg.h"

#include "agg/bigint.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* ---- aggregate lists ------------------------------------------------- */

static const struct {
    const char *name;
    mb_agg_kind kind;
} agg_names[] = {
    {"count", MB_AGG_COUNT}, {"sum", MB_AGG_SUM}, {"mean", MB_AGG_MEAN},
    {"avg", MB_AGG_MEAN},    {"min", MB_AGG_MIN}, {"max", MB_AGG_MAX},
    {"var", MB_AGG_VAR},     {"stddev", MB_AGG_STDDEV},
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t skip_space(const char *t, size_t i)
{
    while (is_space(t[i]))
        i++;
    return i;
}

static char *dup_range(const char *p, size_t len)
{
    size_t size;
    char *s;

    if (mb_size_add(len, 1, &size) != 0 || (s = mb_malloc(size)) == NULL)
        return NULL;
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* A syntax error at byte `at` (0-based) of the list: the 1-based column
 * goes into err->col and, for callers that only print the message, into
 * its text ("column 5: expected ')'"). */
static mb_status list_error(mb_err *err, size_t at, const char *fmt, ...) MB_PRINTF(3, 4);

static mb_status list_error(mb_err *err, size_t at, const char *fmt, ...)
{
    char why[MB_ERR_MAX];
    long col = at < (size_t)LONG_MAX ? (long)at + 1 : 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return mb_err_set_at(err, MB_EJOB, col, "column %ld: %s", col, why);
}

static int lookup_kind(const char *name, size_t len, mb_agg_kind *kind)
{
    for (size_t i = 0; i < MB_ARRAY_LEN(agg_names); i++) {
        const char *n = agg_names[i].name;
        size_t j = 0;
        while (j < len && n[j] && tolower((unsigned char)name[j]) == n[j])
            j++;
        if (j == len && n[j] == '\0') {
            *kind = agg_names[i].kind;
            return 0;
        }
    }
    return -1;
}

/* Parses the name and the '(' of one item starting at t[*i]. */
static mb_status parse_name(const char *t, size_t *i, mb_agg_kind *kind, mb_err *err)
{
    size_t start = *i, end = start, open;
    int namelen;

    while (isalnum((unsigned char)t[end]) || t[end] == '_')
        end++;
    if (end == start)
        return list_error(err, start, "expected an aggregate name");
    namelen = (int)(end - start > 64 ? 64 : end - start);
    if (lookup_kind(t + start, end - start, kind) != 0)
        return list_error(err, start, "unknown aggregate '%.*s'", namelen, t + start);
    open = skip_space(t, end);
    if (t[open] != '(')
        return list_error(err, open, "expected '(' after '%.*s'", namelen, t + start);
    *i = open + 1;
    return MB_OK;
}

/* Parses "name ( arg )" at t[*i] into a; leaves *i after the ')'. */
static mb_status parse_item(const char *t, size_t *i, mb_aggspec *a, mb_err *err)
{
    size_t start = *i, open, arg, close, argend;
    mb_status st = parse_name(t, i, &a->kind, err);

    if (st != MB_OK)
        return st;
    open = *i - 1;
    arg = skip_space(t, *i);
    close = arg;
    while (t[close] && t[close] != ')' && t[close] != ',' && t[close] != '(')
        close++;
    if (t[close] != ')')
        return list_error(err, close, "expected ')'");
    argend = close;
    while (argend > arg && is_space(t[argend - 1]))
        argend--;
    if (argend == arg)
        return list_error(err, open + 1, "%.*s() needs a column%s", (int)(open - start),
                          t + start, a->kind == MB_AGG_COUNT ? " or '*'" : "");
    if (argend - arg == 1 && t[arg] == '*') {
        if (a->kind != MB_AGG_COUNT)
            return list_error(err, arg, "'*' is only allowed in count(*)");
        a->kind = MB_AGG_COUNT_STAR;
    } else if ((a->column = dup_range(t + arg, argend - arg)) == NULL) {
        return mb_err_set(err, MB_ENOMEM, "out of memory parsing aggregates");
    }
    if ((a->text = dup_range(t + start, close + 1 - start)) == NULL)
        return mb_err_set(err, MB_ENOMEM, "out of memory parsing aggregates");
    *i = close + 1;
    return MB_OK;
}

static size_t count_items(const char *t)
{
    size_t n = 1;
    for (; *t; t++)
        n += *t == ',';
    return n;
}

mb_status mb_agg_parse_list(const char *text, mb_aggspec **out, size_t *n, mb_err *err)
{
    size_t cap, k = 0, i;
    mb_aggspec *a;
    mb_status st = MB_OK;

    *out = NULL;
    *n = 0;
    if (text == NULL || text[skip_space(text, 0)] == '\0')
        return list_error(err, 0, "empty aggregate list");
    cap = count_items(text);
    if ((a = mb_calloc(cap, sizeof *a)) == NULL)
        return mb_err_set(err, MB_ENOMEM, "out of memory parsing aggregates");
    for (i = 0;;) {
        i = skip_space(text, i);
        assert(k < cap);
        if ((st = parse_item(text, &i, &a[k++], err)) != MB_OK)
            break;
        i = skip_space(text, i);
        if (text[i] == '\0')
            break;
        if (text[i] != ',') {
            st = list_error(err, i, "expected ',' or the end of the list");
            break;
        }
        i++;
    }
    if (st != MB_OK) {
        mb_agg_list_free(a, k);
        return st;
    }
    *out = a;
    *n = k;
    return MB_OK;
}

void mb_agg_list_free(mb_aggspec *a, size_t n)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(a[i].column);
        free(a[i].text);
    }
    free(a);
}

unsigned mb_agg_needs(mb_agg_kind k)
{
    switch (k) {
    case MB_AGG_SUM:
    case MB_AGG_MEAN: return MB_NEED_SUM;
    case MB_AGG_VAR:
    case MB_AGG_STDDEV: return MB_NEED_SUM | MB_NEED_SUMSQ;
    case MB_AGG_MIN:
    case MB_AGG_MAX: return MB_NEED_MINMAX;
    case MB_AGG_COUNT_STAR:
    case MB_AGG_COUNT: break;
    }
    return MB_NEED_COUNT;
}

/* ---- exact decimals -------------------------------------------------- */

static const uint64_t pow10_64[20] = {
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
    1000000000u, UINT64_C(10000000000), UINT64_C(100000000000),
    UINT64_C(1000000000000), UINT64_C(10000000000000), UINT64_C(100000000000000),
    UINT64_C(1000000000000000), UINT64_C(10000000000000000),
    UINT64_C(100000000000000000), UINT64_C(1000000000000000000),
    UINT64_C(10000000000000000000)};

/* 10^k for k <= 38 (below 2^127). */
static mb_u128 pow10_128(unsigned k)
{
    assert(k <= 38);
    return k <= 19 ? pow10_64[k] : (mb_u128)pow10_64[19] * pow10_64[k - 19];
}

/* What a scan of the digits found: value = m * 10^(zeros - frac + exp). */
typedef struct digits {
    uint64_t m64;     /* significant digits while there are at most 19 */
    mb_u128 m;        /* ... and once there are more */
    unsigned sig;     /* significant digits, trailing zeros left out */
    size_t zeros;     /* trailing zeros after m's last nonzero digit */
    size_t frac;      /* digits after the point */
    size_t ndig;      /* all digits */
    int dot, toolong;
} digits;

/* Trailing zeros are held back (`zeros`) rather than multiplied in, so a
 * long run of them ("1.000...0") neither overflows nor counts as significant. */
static const char *scan_digits(const char *s, const char *end, digits *d)
{
    memset(d, 0, sizeof *d);
    for (; s < end; s++) {
        if (*s >= '0' && *s <= '9') {
            d->ndig++;
            d->frac += (size_t)d->dot;
            if (*s == '0') {
                d->zeros += d->sig > 0;
            } else if (d->sig + d->zeros + 1 > 38 || d->toolong) {
                d->toolong = 1;
            } else {
                unsigned k = (unsigned)d->zeros + 1, dig = (unsigned)(*s - '0');
                if (d->sig + k <= 19) {    /* the common case stays in 64 bits */
                    d->m64 = d->m64 * pow10_64[k] + dig;
                } else {
                    if (d->sig <= 19)
                        d->m = d->m64;
                    d->m = d->m * pow10_128(k) + dig;
                }
                d->sig += k;
                d->zeros = 0;
            }
        } else if (*s == '.' && !d->dot) {
            d->dot = 1;
        } else {
            break;
        }
    }
    return s;
}

/* The common shape, at most 19 digits after leading zeros, in 64 bits and
 * without holding zeros back; NULL when the number is longer. */
static const char *scan_digits_fast(const char *s, const char *end, digits *d)
{
    uint64_t m = 0;
    size_t nd = 0, frac = 0, ndig = 0, zeros = 0;
    int dot = 0;

    for (; s < end; s++) {
        unsigned c = (unsigned)(unsigned char)*s - (unsigned)'0';
        if (c <= 9) {
            m = m * 10 + c;
            nd += nd != 0 || c != 0;   /* not m != 0: a 20th digit may wrap m to 0 */
            frac += (size_t)dot;
            ndig++;
            if (nd > 19)
                return NULL;
        } else if (*s == '.' && !dot) {
            dot = 1;
        } else {
            break;
        }
    }
    while (m != 0 && m % 10 == 0)
        m /= 10, zeros++;
    memset(d, 0, sizeof *d);
    d->m64 = m;
    d->sig = (unsigned)(nd - zeros);
    d->zeros = zeros;
    d->frac = frac;
    d->ndig = ndig;
    d->dot = dot;
    return s;
}

/* Parses [+-]digits at s, saturating at +-1e9 (far outside any valid scale). */
static const char *scan_exp(const char *s, const char *end, int64_t *exp)
{
    int neg = 0;
    const char *start;

    *exp = 0;
    if (s < end && (*s == '+' || *s == '-'))
        neg = *s++ == '-';
    for (start = s; s < end && *s >= '0' && *s <= '9'; s++)
        if (*exp < 1000000000)
            *exp = *exp * 10 + (*s - '0');
    if (s == start)
        return NULL;
    if (neg)
        *exp = -*exp;
    return s;
}

/* How much of a bad number to quote in a message, and whether it was cut. */
static int shown(size_t len)
{
    return (int)(len > 40 ? 40 : len);
}

static const char *cut(size_t len)
{
    return len > 40 ? "..." : "";
}

static mb_status not_a_number(const char *p, size_t len, mb_err *err)
{
    return mb_err_set(err, MB_EDATA, "'%.*s%s' is not a number", shown(len), p, cut(len));
}

/* out := d.m * 10^e10 with its sign, or MB_ERANGE outside 38 digits and
 * 38 decimal places. Trailing zeros were left out of d.m, so the scale is
 * the smallest that represents the value exactly. */
static mb_status dec_build(digits *d, int neg, int64_t exp, mb_dec *out, const char *p,
                           size_t len, mb_err *err)
{
    int64_t e10;

    if (d->toolong || d->zeros > 1000000000u || d->frac > 1000000000u)
        return mb_err_set(err, MB_ERANGE, "'%.*s%s' has more than 38 significant digits",
                          shown(len), p, cut(len));
    e10 = d->sig == 0 ? 0 : (int64_t)d->zeros - (int64_t)d->frac + exp;
    if (e10 < -MB_DEC_MAX_SCALE || (e10 > 0 && d->sig + (uint64_t)e10 > 38))
        return mb_err_set(err, MB_ERANGE, "'%.*s%s' is outside the exact range (38 digits, "
                          "38 decimal places)", shown(len), p, cut(len));
    if (d->sig <= 19)
        d->m = d->m64;
    out->m = (mb_i128)(e10 > 0 ? d->m * pow10_128((unsigned)e10) : d->m);
    if (neg)
        out->m = -out->m;
    out->scale = e10 < 0 ? (int32_t)-e10 : 0;
    return MB_OK;
}

/* A short plain number: (-1)^neg * mag * 10^-scale. */
typedef struct short_num {
    uint64_t mag;
    int32_t scale;
    int neg, nonint;
} short_num;

/* The common shape, [+-]digits[.digits] with at most 19 digits and nothing
 * else, in one pass and without the general scan. As mb_dec_parse, the
 * scale leaves out the fraction's trailing zeros: mag is the number as it
 * was at the last digit that is not such a zero, so no division is needed.
 * Returns 0, leaving the text to the general path, for any other shape. */
static inline int parse_short(const char *p, size_t len, short_num *o)
{
    const char *s = p, *end = p + len, *dot = NULL;
    uint64_t m = 0, mnz = 0;
    unsigned nd = 0, frac = 0, tz = 0;
    int neg = 0;

    if (len == 0 || len > 21)
        return 0;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    for (; s < end; s++) {
        unsigned c = (unsigned)(unsigned char)*s - (unsigned)'0';
        if (c <= 9) {
            m = m * 10 + c;         /* wraps past 19 digits, then refused */
            nd++;
            if (!dot || c) {
                mnz = m;
                tz = 0;
            } else {
                tz++;
            }
            frac += dot != NULL;
        } else if (*s == '.' && !dot) {
            dot = s;
        } else {
            return 0;
        }
    }
    if (nd == 0 || nd > 19)
        return 0;
    o->mag = mnz;
    o->scale = mnz ? (int32_t)(frac - tz) : 0;
    o->neg = neg;
    o->nonint = dot != NULL;
    return 1;
}

static void dec_of_short(const short_num *sn, mb_dec *out)
{
    out->m = sn->neg ? -(mb_i128)sn->mag : (mb_i128)sn->mag;
    out->scale = sn->scale;
    out->nonint = sn->nonint;
}

/* mb_dec_parse for text parse_short did not take. */
static mb_status dec_parse_general(const char *p, size_t len, mb_dec *out, mb_err *err)
{
    const char *s = p, *end = p + len, *q;
    int neg = 0, hasexp = 0;
    int64_t exp = 0;
    digits d;
    mb_status st;

    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (s < end && (*s == '+' || *s == '-'))
        neg = *s++ == '-';
    q = scan_digits_fast(s, end, &d);
    s = q ? q : scan_digits(s, end, &d);
    if (d.ndig == 0)
        return not_a_number(p, len, err);
    if (s < end && (*s == 'e' || *s == 'E')) {
        hasexp = 1;
        if ((s = scan_exp(s + 1, end, &exp)) == NULL)
            return not_a_number(p, len, err);
    }
    if (s != end)
        return not_a_number(p, len, err);
    if ((st = dec_build(&d, neg, exp, out, p, len, err)) != MB_OK)
        return st;
    out->nonint = d.dot || hasexp;
    return MB_OK;
}

mb_status mb_dec_parse(const char *p, size_t len, mb_dec *out, mb_err *err)
{
    short_num sn;

    if (parse_short(p, len, &sn)) {
        dec_of_short(&sn, out);
        return MB_OK;
    }
    return dec_parse_general(p, len, out, err);
}

/* ---- wide signed integers (two's complement, little-endian limbs) ---- */

static int sign_of(const uint64_t *w, size_t n)
{
    return (int)(w[n - 1] >> 63);
}

/* r := a + b over n limbs (r may alias a); 1 on signed overflow. */
static int add_limbs(uint64_t *r, const uint64_t *a, const uint64_t *b, size_t n)
{
    int sa = sign_of(a, n), sb = sign_of(b, n);
    uint64_t c = 0;

    for (size_t i = 0; i < n; i++) {
        mb_u128 t = (mb_u128)a[i] + b[i] + c;
        r[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
    return sa == sb && sign_of(r, n) != sa;
}

static void negate_limbs(uint64_t *w, size_t n)
{
    uint64_t c = 1;
    for (size_t i = 0; i < n; i++) {
        mb_u128 t = (mb_u128)~w[i] + c;
        w[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
}

/* w := w * f over n signed limbs; 1 on overflow (w is then garbage). */
static int mul_limbs_u64(uint64_t *w, size_t n, uint64_t f)
{
    int neg = sign_of(w, n);
    uint64_t c = 0;

    if (neg) {
        negate_limbs(w, n);
        if (sign_of(w, n))
            return 1;    /* the most negative value has no magnitude */
    }
    for (size_t i = 0; i < n; i++) {
        mb_u128 t = (mb_u128)w[i] * f + c;
        w[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
    if (c != 0 || sign_of(w, n))
        return 1;
    if (neg)
        negate_limbs(w, n);
    return 0;
}

/* w := w * 10^k over n signed limbs; 1 on overflow. */
static int mul_limbs_pow10(uint64_t *w, size_t n, unsigned k)
{
    while (k > 0) {
        unsigned step = k < 19 ? k : 19;
        if (mul_limbs_u64(w, n, pow10_64[step]) != 0)
            return 1;
        k -= step;
    }
    return 0;
}

static int cmp_i256(const mb_i256 *a, const mb_i256 *b)
{
    int sa = sign_of(a->w, 4), sb = sign_of(b->w, 4);

    if (sa != sb)
        return sa ? -1 : 1;
    for (size_t i = 4; i-- > 0;)
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

static mb_i256 i256_from_i128(mb_i128 v)
{
    mb_i256 r;
    uint64_t ext = v < 0 ? UINT64_MAX : 0;

    r.w[0] = (uint64_t)(mb_u128)v;
    r.w[1] = (uint64_t)((mb_u128)v >> 64);
    r.w[2] = r.w[3] = ext;
    return r;
}

/* sq := a * a for a signed 256-bit a; |a| < 2^255 so the square fits. */
static void square_i256(mb_i512 *sq, const mb_i256 *a)
{
    uint64_t m[4];

    memcpy(m, a->w, sizeof m);
    if (sign_of(m, 4))
        negate_limbs(m, 4);
    memset(sq, 0, sizeof *sq);
    for (size_t i = 0; i < 4; i++) {
        uint64_t c = 0;
        for (size_t j = 0; j < 4; j++) {
            mb_u128 t = (mb_u128)m[i] * m[j] + sq->w[i + j] + c;
            sq->w[i + j] = (uint64_t)t;
            c = (uint64_t)(t >> 64);
        }
        sq->w[i + 4] = c;
    }
}

/* ---- exact states ---------------------------------------------------- */

void mb_num_init(mb_numstate *s)
{
    memset(s, 0, sizeof *s);
}

static mb_status too_big(mb_err *err, const char *what)
{
    return mb_err_set(err, MB_ERANGE, "the exact %s is out of range (more than 256 bits; "
                      "512 for the sum of squares)", what);
}

/* s := s at scale `to` (>= s->scale); the accumulators gain factors of ten. */
static mb_status rescale(mb_numstate *s, int32_t to, mb_err *err)
{
    unsigned k = (unsigned)(to - s->scale);

    assert(to >= s->scale && to <= MB_DEC_MAX_SCALE);
    if (s->n > 0 && k > 0) {
        if (mul_limbs_pow10(s->sum.w, 4, k) || mul_limbs_pow10(s->min.w, 4, k) ||
            mul_limbs_pow10(s->max.w, 4, k))
            return too_big(err, "sum or extreme after rescaling");
        if (mul_limbs_pow10(s->sumsq.w, 8, 2 * k))
            return too_big(err, "sum of squares after rescaling");
    }
    s->scale = to;
    return MB_OK;
}

static void update_minmax(mb_numstate *s, const mb_i256 *v)
{
    if (s->n == 0) {
        s->min = s->max = *v;
        return;
    }
    if (cmp_i256(v, &s->min) < 0)
        s->min = *v;
    if (cmp_i256(v, &s->max) > 0)
        s->max = *v;
}

/* Adds the value v (already at s's scale) to the copy t. */
static mb_status accumulate(mb_numstate *t, const mb_i256 *v, unsigned need, mb_err *err)
{
    if (t->n == INT64_MAX)
        return mb_err_set(err, MB_ERANGE, "more than %" PRId64 " values", INT64_MAX);
    if (need & (MB_NEED_SUM | MB_NEED_SUMSQ)) {
        if (add_limbs(t->sum.w, t->sum.w, v->w, 4))
            return too_big(err, "sum");
    }
    if (need & MB_NEED_SUMSQ) {
        mb_i512 sq;
        square_i256(&sq, v);
        if (add_limbs(t->sumsq.w, t->sumsq.w, sq.w, 8))
            return too_big(err, "sum of squares");
    }
    if (need & MB_NEED_MINMAX)
        update_minmax(t, v);
    t->n++;
    return MB_OK;
}

/* The general case: scales differ or the value is wide. Works on a copy so
 * that an overflow leaves s unchanged. Kept out of line so that the hot
 * path does not pay for its stack frame. */
NOINLINE static mb_status add_slow(mb_numstate *s, const mb_dec *v, unsigned need, mb_err *err)
{
    mb_numstate t = *s;
    mb_i256 x = i256_from_i128(v->m);
    mb_status st;

    if (v->scale > t.scale && (st = rescale(&t, v->scale, err)) != MB_OK)
        return st;
    if (mul_limbs_pow10(x.w, 4, (unsigned)(t.scale - v->scale)))
        return too_big(err, "value after rescaling");
    if ((st = accumulate(&t, &x, need, err)) != MB_OK)
        return st;
    t.nonint |= (uint32_t)(v->nonint != 0);
    *s = t;
    return MB_OK;
}

/* -1, 0, 1 as the 256-bit a compares with the 128-bit v. */
static int cmp_i256_i128(const mb_i256 *a, mb_i128 v)
{
    uint64_t ext = (a->w[1] >> 63) ? UINT64_MAX : 0;
    mb_i128 x;

    if (a->w[2] != ext || a->w[3] != ext)
        return (a->w[3] >> 63) ? -1 : 1;
    x = (mb_i128)(((mb_u128)a->w[1] << 64) | a->w[0]);
    return (x > v) - (x < v);
}

/* Adds 2^128 to the (non-negative) sum of squares; -1 if it would pass
 * 2^511 - 1, with s unchanged. Only the fast path needs it. */
static int carry_sumsq(mb_numstate *s)
{
    size_t i = 2;

    while (i < 8 && s->sumsq.w[i] == UINT64_MAX)
        i++;
    if (i == 8 || (i == 7 && s->sumsq.w[7] == INT64_MAX))
        return -1;
    s->sumsq.w[i]++;
    while (i-- > 2)
        s->sumsq.w[i] = 0;
    return 0;
}

/* The hot case: x (at s's scale) has |x| = mag < 2^64, so x^2 fits 128 bits
 * and the sum and sum of squares need one 128-bit add each plus a rare carry. */
static mb_status add_fast(mb_numstate *s, mb_i128 x, uint64_t mag, int nonint, unsigned need,
                          mb_err *err)
{
    mb_u128 lo = ((mb_u128)s->sum.w[1] << 64) | s->sum.w[0];
    mb_u128 hi = ((mb_u128)s->sum.w[3] << 64) | s->sum.w[2];
    mb_u128 m = (mb_u128)x, ext = (mb_u128)(x >> 127);    /* sign, no branch */
    mb_u128 nlo = lo + m, nhi = hi + ext + (nlo < lo);
    mb_u128 sqlo = ((mb_u128)s->sumsq.w[1] << 64) | s->sumsq.w[0];
    mb_u128 sq = (mb_u128)mag * mag, nsqlo = sqlo + sq;

    if (s->n == INT64_MAX)
        return mb_err_set(err, MB_ERANGE, "more than %" PRId64 " values", INT64_MAX);
    if (((hi ^ nhi) & (ext ^ nhi)) >> 127)
        return too_big(err, "sum");
    if ((need & MB_NEED_SUMSQ) && nsqlo < sqlo && carry_sumsq(s) != 0)
        return too_big(err, "sum of squares");
    if (need & MB_NEED_MINMAX) {
        if (s->n == 0) {
            s->min = s->max = i256_from_i128(x);
        } else {
            if (cmp_i256_i128(&s->min, x) > 0)
                s->min = i256_from_i128(x);
            if (cmp_i256_i128(&s->max, x) < 0)
                s->max = i256_from_i128(x);
        }
    }
    if (need & (MB_NEED_SUM | MB_NEED_SUMSQ)) {
        s->sum.w[0] = (uint64_t)nlo, s->sum.w[1] = (uint64_t)(nlo >> 64);
        s->sum.w[2] = (uint64_t)nhi, s->sum.w[3] = (uint64_t)(nhi >> 64);
    }
    if (need & MB_NEED_SUMSQ)
        s->sumsq.w[0] = (uint64_t)nsqlo, s->sumsq.w[1] = (uint64_t)(nsqlo >> 64);
    s->nonint |= (uint32_t)(nonint != 0);
    s->n++;
    return MB_OK;
}

mb_status mb_num_add(mb_numstate *s, const mb_dec *v, unsigned need, mb_err *err)
{
    mb_u128 sign = (mb_u128)(v->m >> 127), mag = ((mb_u128)v->m ^ sign) - sign;

    assert(v->scale >= 0 && v->scale <= MB_DEC_MAX_SCALE);
    if (s->n == 0 && v->scale > s->scale)
        s->scale = v->scale;    /* an empty state rescales for free */
    if (v->scale <= s->scale && (mag >> 64) == 0) {
        /* Fewer decimals than the state ("12.5" in a 6-decimal column, or
         * trailing zeros that parsing dropped) still fit the fast path. */
        unsigned k = (unsigned)(s->scale - v->scale);
        mb_u128 t = k <= 19 ? mag * pow10_64[k] : (mb_u128)1 << 64;
        if ((t >> 64) == 0)
            return add_fast(s, (mb_i128)((t ^ sign) - sign), (uint64_t)t, v->nonint, need, err);
    }
    return add_slow(s, v, need, err);
}

/* Whether a state (possibly read back from a checkpoint) is consistent
 * enough to merge or format without tripping an assertion. */
static int state_ok(const mb_numstate *s)
{
    return s->n >= 0 && s->scale >= 0 && s->scale <= MB_DEC_MAX_SCALE &&
           !(s->sumsq.w[7] >> 63);
}

mb_status mb_num_merge(mb_numstate *dst, const mb_numstate *src, unsigned need, mb_err *err)
{
    mb_numstate a = *dst, b = *src;
    int32_t to = a.scale > b.scale ? a.scale : b.scale;
    mb_status st;

    if (!state_ok(dst) || !state_ok(src))
        return mb_err_set(err, MB_EINTERNAL, "corrupt aggregate state (n, scale or sum of "
                          "squares out of range)");
    if (src->n == 0)
        return MB_OK;
    if (dst->n == 0) {
        *dst = *src;
        return MB_OK;
    }
    if (a.n > INT64_MAX - b.n)
        return mb_err_set(err, MB_ERANGE, "more than %" PRId64 " values", INT64_MAX);
    if ((st = rescale(&a, to, err)) != MB_OK || (st = rescale(&b, to, err)) != MB_OK)
        return st;
    if ((need & (MB_NEED_SUM | MB_NEED_SUMSQ)) && add_limbs(a.sum.w, a.sum.w, b.sum.w, 4))
        return too_big(err, "sum");
    if ((need & MB_NEED_SUMSQ) && add_limbs(a.sumsq.w, a.sumsq.w, b.sumsq.w, 8))
        return too_big(err, "sum of squares");
    if (need & MB_NEED_MINMAX) {
        if (cmp_i256(&b.min, &a.min) < 0)
            a.min = b.min;
        if (cmp_i256(&b.max, &a.max) > 0)
            a.max = b.max;
    }
    a.n += b.n;
    a.nonint |= b.nonint;
    *dst = a;
    return MB_OK;
}

/* ---- compact accumulators ------------------------------------------- */

#define SUMS (MB_NEED_SUM | MB_NEED_SUMSQ)

/* Positions of the fields in mb_acc.v for `need`. */
static unsigned acc_nfields(unsigned need)
{
    if (need & (MB_NEED_STR | MB_NEED_DBL))
        return 1;               /* the index of the side state in the group table */
    return ((need & SUMS) ? 1u : 0u) + ((need & MB_NEED_SUMSQ) ? 1u : 0u) +
           ((need & MB_NEED_MINMAX) ? 2u : 0u);
}

static unsigned acc_mm(unsigned need)
{
    return ((need & SUMS) ? 1u : 0u) + ((need & MB_NEED_SUMSQ) ? 1u : 0u);
}

size_t mb_acc_size(unsigned need)
{
    return sizeof(mb_acc) + acc_nfields(need) * sizeof(mb_i128);
}

mb_status mb_acc_layout(char *out, size_t cap)
{
    static const char *const kind[] = {"count(*)", "count", "sum", "mean",
                                       "min",      "max",   "var", "stddev"};
    int n = snprintf(out, cap,
                     "v%d; acc %zu: n i64@%zu, scale i32@%zu, flags u32@%zu (1 nonint, "
                     "2 spilled); then i128 (2 limbs) each: sum if sum or sumsq, sumsq, "
                     "min, max; spilled: acc + numstate %zu: n i64@%zu, scale i32@%zu, "
                     "nonint u32@%zu, sum %zu limbs@%zu, sumsq %zu@%zu, min %zu@%zu, "
                     "max %zu@%zu; str (min/max of VARCHAR): acc + i128 index, packed as "
                     "acc then when n > 0 u32 len + min bytes, u32 len + max bytes; dbl (DOUBLE "
                     "sum/avg/var/min/max): acc + i128 index, packed as acc then when n > 0 "
                     "u32 len + fsum v1 bytes, f64 min, f64 max, u32 len + fsumsq v1 bytes "
                     "(len 0 without var); needs:",
                     MB_ACC_LAYOUT_VERSION, sizeof(mb_acc), offsetof(mb_acc, n),
                     offsetof(mb_acc, scale), offsetof(mb_acc, flags), sizeof(mb_numstate),
                     offsetof(mb_numstate, n), offsetof(mb_numstate, scale),
                     offsetof(mb_numstate, nonint), sizeof(mb_i256) / 8,
                     offsetof(mb_numstate, sum), sizeof(mb_i512) / 8,
                     offsetof(mb_numstate, sumsq), sizeof(mb_i256) / 8,
                     offsetof(mb_numstate, min), sizeof(mb_i256) / 8,
                     offsetof(mb_numstate, max));

    for (int k = MB_AGG_COUNT_STAR; k <= MB_AGG_STDDEV && n >= 0 && (size_t)n < cap; k++) {
        unsigned need = mb_agg_needs((mb_agg_kind)k);
        n += snprintf(out + n, cap - (size_t)n, " %s=%s%s%s%s", kind[k],
                      need ? "" : "n", (need & (MB_NEED_SUM | MB_NEED_SUMSQ)) ? "sum" : "",
                      (need & MB_NEED_SUMSQ) ? "+sumsq" : "",
                      (need & MB_NEED_MINMAX) ? "min+max" : "");
    }
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return MB_ELIMIT;
    }
    return MB_OK;
}

static size_t spill_index(const mb_acc *a)
{
    return (size_t)(uint64_t)a->v[0];
}

/* Whether the 256-bit w is a sign-extended 128-bit value. */
static int fits_i128(const uint64_t *w, size_t n)
{
    uint64_t ext = (w[1] >> 63) ? UINT64_MAX : 0;
    for (size_t i = 2; i < n; i++)
        if (w[i] != ext)
            return 0;
    return 1;
}

static mb_i128 to_i128(const uint64_t *w)
{
    return (mb_i128)(((mb_u128)w[1] << 64) | w[0]);
}

static void from_i128(uint64_t *w, size_t n, mb_i128 v)
{
    uint64_t ext = v < 0 ? UINT64_MAX : 0;
    w[0] = (uint64_t)(mb_u128)v;
    w[1] = (uint64_t)((mb_u128)v >> 64);
    for (size_t i = 2; i < n; i++)
        w[i] = ext;
}

void mb_acc_get(const mb_acc *a, unsigned need, const mb_spill *sp, mb_numstate *out)
{
    unsigned mm = acc_mm(need);

    if (a->flags & MB_ACC_SPILLED) {
        *out = sp->v[spill_index(a)];
        return;
    }
    memset(out, 0, sizeof *out);
    out->n = a->n;
    if (need & (MB_NEED_STR | MB_NEED_DBL))
        return;                 /* the strings or doubles are the group table's */
    out->scale = a->scale;
    out->nonint = a->flags & MB_ACC_NONINT;
    if (need & SUMS)
        from_i128(out->sum.w, 4, a->v[0]);
    if (need & MB_NEED_SUMSQ) {
        /* the sum of squares is held unsigned: zero-extended */
        from_i128(out->sumsq.w, 8, 0);
        out->sumsq.w[0] = (uint64_t)(mb_u128)a->v[1];
        out->sumsq.w[1] = (uint64_t)((mb_u128)a->v[1] >> 64);
    }
    if (need & MB_NEED_MINMAX) {
        from_i128(out->min.w, 4, a->v[mm]);
        from_i128(out->max.w, 4, a->v[mm + 1]);
    }
}

/* a := t, compact when every needed field fits 128 bits, else spilled. */
static mb_status acc_put(mb_acc *a, const mb_numstate *t, unsigned need, mb_spill *sp,
                         mb_err *err)
{
    unsigned mm = acc_mm(need);
    int fits = 1;

    if (need & SUMS)
        fits &= fits_i128(t->sum.w, 4);
    if (need & MB_NEED_SUMSQ)
        for (size_t i = 2; i < 8; i++)
            fits &= t->sumsq.w[i] == 0;
    if (need & MB_NEED_MINMAX)
        fits &= fits_i128(t->min.w, 4) && fits_i128(t->max.w, 4);
    if (a->flags & MB_ACC_SPILLED) {
        sp->v[spill_index(a)] = *t;    /* once spilled, always spilled */
        return MB_OK;
    }
    if (!fits) {
        if (sp->n == sp->cap) {
            size_t cap = sp->cap ? sp->cap * 2 : 16;
            mb_numstate *nv = mb_realloc(sp->v, cap * sizeof *nv);
            if (!nv)
                return mb_err_set(err, MB_ENOMEM, "out of memory for a wide aggregate state");
            sp->v = nv;
            sp->cap = cap;
        }
        sp->v[sp->n] = *t;
        a->n = t->n;
        a->flags |= MB_ACC_SPILLED;
        a->v[0] = (mb_i128)sp->n++;
        return MB_OK;
    }
    a->n = t->n;
    a->scale = t->scale;
    a->flags = t->nonint ? MB_ACC_NONINT : 0;
    if (need & SUMS)
        a->v[0] = to_i128(t->sum.w);
    if (need & MB_NEED_SUMSQ)
        a->v[1] = (mb_i128)(((mb_u128)t->sumsq.w[1] << 64) | t->sumsq.w[0]);
    if (need & MB_NEED_MINMAX) {
        a->v[mm] = to_i128(t->min.w);
        a->v[mm + 1] = to_i128(t->max.w);
    }
    return MB_OK;
}

/* Everything the fast path does not take: through a full state. */
NOINLINE static mb_status acc_add_slow(mb_acc *a, const mb_dec *v, unsigned need,
                                       mb_spill *sp, mb_err *err)
{
    mb_numstate t;
    mb_status st;

    if (a->flags & MB_ACC_SPILLED)
        return mb_num_add(&sp->v[spill_index(a)], v, need, err);
    mb_acc_get(a, need, sp, &t);
    if ((st = mb_num_add(&t, v, need, err)) != MB_OK)
        return st;
    return acc_put(a, &t, need, sp, err);
}

/* The fast path of both adds: the value is (-1)^neg * mag * 10^-scale with
 * mag < 2^64. Returns 0, with a unchanged, when it does not apply (then the
 * caller takes the general path). */
static inline int acc_add_fast(mb_acc *a, uint64_t mag, int neg, int32_t scale, int nonint,
                               unsigned need)
{
    mb_u128 t, sign = neg ? ~(mb_u128)0 : 0, sq = 0, sum = 0;
    mb_i128 x;
    unsigned k, mm;

    if ((a->flags & MB_ACC_SPILLED) || a->n == INT64_MAX)
        return 0;
    if (a->n == 0 && scale > a->scale)
        a->scale = scale;              /* as mb_num_add: an empty state rescales for free */
    if (scale > a->scale || (k = (unsigned)(a->scale - scale)) > 19)
        return 0;
    t = (mb_u128)mag * pow10_64[k];
    if ((t >> 64) != 0)
        return 0;
    x = (mb_i128)((t ^ sign) - sign);
    if (need & SUMS) {
        /* two's-complement add, overflow when the operands' signs agree and
         * the result's differs (no address-taken temporary: it would go
         * through the stack and stall the store) */
        mb_u128 o = (mb_u128)a->v[0];
        sum = o + (mb_u128)x;
        if ((((o ^ sum) & ((mb_u128)x ^ sum)) >> 127) != 0)
            return 0;
    }
    if (need & MB_NEED_SUMSQ) {
        sq = (mb_u128)a->v[1] + t * t;
        if (sq < (mb_u128)a->v[1])
            return 0;
    }
    if (need & SUMS)
        a->v[0] = (mb_i128)sum;
    if (need & MB_NEED_SUMSQ)
        a->v[1] = (mb_i128)sq;
    if (need & MB_NEED_MINMAX) {
        mm = acc_mm(need);
        if (a->n == 0 || x < a->v[mm])
            a->v[mm] = x;
        if (a->n == 0 || x > a->v[mm + 1])
            a->v[mm + 1] = x;
    }
    a->flags |= nonint ? MB_ACC_NONINT : 0;
    a->n++;
    return 1;
}

mb_status mb_acc_add(mb_acc *a, const mb_dec *v, unsigned need, mb_spill *sp, mb_err *err)
{
    mb_u128 sign = (mb_u128)(v->m >> 127), mag = ((mb_u128)v->m ^ sign) - sign;

    if ((mag >> 64) == 0 &&
        acc_add_fast(a, (uint64_t)mag, v->m < 0, v->scale, v->nonint != 0, need))
        return MB_OK;
    return acc_add_slow(a, v, need, sp, err);
}

mb_status mb_acc_add_text(mb_acc *a, const char *p, size_t len, unsigned need, mb_spill *sp,
                          mb_err *err)
{
    short_num sn;
    mb_dec v;
    mb_status st;

    if (parse_short(p, len, &sn)) {   /* parsed once, whichever way it is added */
        if (acc_add_fast(a, sn.mag, sn.neg, sn.scale, sn.nonint, need))
            return MB_OK;
        dec_of_short(&sn, &v);
        return acc_add_slow(a, &v, need, sp, err);
    }
    if ((st = dec_parse_general(p, len, &v, err)) != MB_OK)
        return st;
    return mb_acc_add(a, &v, need, sp, err);
}

mb_status mb_acc_merge(mb_acc *a, const mb_numstate *src, unsigned need, mb_spill *sp,
                       mb_err *err)
{
    mb_numstate t;
    mb_status st;

    if (a->flags & MB_ACC_SPILLED)
        return mb_num_merge(&sp->v[spill_index(a)], src, need, err);
    mb_acc_get(a, need, sp, &t);
    if ((st = mb_num_merge(&t, src, need, err)) != MB_OK)
        return st;
    return acc_put(a, &t, need, sp, err);
}

mb_status mb_acc_merge_acc(mb_acc *a, const mb_acc *src, unsigned need, mb_spill *sp,
                           mb_err *err)
{
    unsigned mm = acc_mm(need);
    mb_i128 sum = 0;
    mb_u128 sq = 0;
    mb_numstate t;

    if (src->n < 0 || src->scale < 0 || src->scale > MB_DEC_MAX_SCALE ||
        (src->flags & ~(uint32_t)MB_ACC_NONINT) != 0)
        return mb_err_set(err, MB_EDATA, "corrupt aggregate state (n, scale or flags out of "
                          "range)");
    if (src->n == 0)
        return MB_OK;
    if (!(a->flags & MB_ACC_SPILLED) && a->n == 0) {
        memcpy(a, src, mb_acc_size(need));
        return MB_OK;
    }
    /* The common case: same scale, no overflow. */
    if (!(a->flags & MB_ACC_SPILLED) && a->scale == src->scale && a->n <= INT64_MAX - src->n &&
        !((need & SUMS) && __builtin_add_overflow(a->v[0], src->v[0], &sum)) &&
        !((need & MB_NEED_SUMSQ) &&
          (sq = (mb_u128)a->v[1] + (mb_u128)src->v[1]) < (mb_u128)a->v[1])) {
        if (need & SUMS)
            a->v[0] = sum;
        if (need & MB_NEED_SUMSQ)
            a->v[1] = (mb_i128)sq;
        if (need & MB_NEED_MINMAX) {
            if (src->v[mm] < a->v[mm])
                a->v[mm] = src->v[mm];
            if (src->v[mm + 1] > a->v[mm + 1])
                a->v[mm + 1] = src->v[mm + 1];
        }
        a->n += src->n;
        a->flags |= src->flags & MB_ACC_NONINT;
        return MB_OK;
    }
    mb_acc_get(src, need, NULL, &t);
    return mb_acc_merge(a, &t, need, sp, err);
}

/* ---- formatting ------------------------------------------------------ */

mb_status mb_format_i64(int64_t v, char *out, size_t cap)
{
    char tmp[24];
    uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0, k = 0;

    do {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (n + (v < 0) >= cap) {
        if (cap)
            out[0] = '\0';
        return MB_ELIMIT;
    }
    if (v < 0)
        out[k++] = '-';
    while (n)
        out[k++] = tmp[--n];
    out[k] = '\0';
    return MB_OK;
}

/* |v| as a bigint; returns whether v is negative. */
static int magnitude(mb_bigint *b, const uint64_t *w, size_t n)
{
    uint64_t m[8];
    int neg = sign_of(w, n);

    assert(n <= 8);
    memcpy(m, w, n * sizeof m[0]);
    if (neg)
        negate_limbs(m, n);
    mb_bigint_set_limbs(b, m, n);
    return neg;
}

/* The status of an snprintf into out[0..cap); a cut result is emptied. */
static mb_status fitted(int len, char *out, size_t cap)
{
    if (len < 0 || (size_t)len >= cap) {
        out[0] = '\0';
        return MB_ELIMIT;
    }
    return MB_OK;
}

/* The nd (15..17) significant digits of |d| rounded half-to-even, as
 * printf's "%.*e" gives them, without printf: |d| = m * 2^e exactly, so
 * |d| * 10^s with s = nd - 1 - k (k the decimal exponent) is a rational
 * whose numerator fits 128 bits. *dig gets the digits as an integer in
 * [10^(nd-1), 10^nd), *k10 gets k; khint is a guess of k, off by at
 * most one (floor(log10(|d|))). Only for normal d with -66 <= e <= 1
 * (about 1e-4 <= |d| < 2^54) and 1 <= s <= 20; returns 0 otherwise, to
 * leave d to printf. */
static int round_digits(double d, int nd, int khint, uint64_t *dig, int *k10)
{
    static const uint64_t p10[21] = {
        1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
        1000000000u, UINT64_C(10000000000), UINT64_C(100000000000),
        UINT64_C(1000000000000), UINT64_C(10000000000000), UINT64_C(100000000000000),
        UINT64_C(1000000000000000), UINT64_C(10000000000000000),
        UINT64_C(100000000000000000), UINT64_C(1000000000000000000),
        UINT64_C(10000000000000000000), 0};
    const mb_u128 lo = p10[nd - 1], hi = p10[nd];
    uint64_t bits, m;
    int e, k, s = 0, tries;
    mb_u128 n = 0, q = 0;

    assert(nd >= 15 && nd <= 17);
    memcpy(&bits, &d, sizeof bits);
    e = (int)((bits >> 52) & 0x7ff);
    if (e == 0 || e == 0x7ff)
        return 0;                           /* zero, subnormal, inf, nan */
    m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
    e -= 1075;                              /* |d| = m * 2^e */
    if (e < -66 || e > 1)
        return 0;
    k = khint;                              /* an estimate, checked below */
    for (tries = 0; tries < 3; tries++) {
        s = nd - 1 - k;
        if (s < 1 || s > 20)
            return 0;
        n = (mb_u128)m * (s == 20 ? (mb_u128)p10[19] * 10u : (mb_u128)p10[s]);
        q = e >= 0 ? n << e : n >> -e;      /* the digits, truncated */
        if (q >= hi)                        /* k is judged before rounding: */
            k++;                            /* 99.96 is not 100.0 at 3 digits */
        else if (q < lo)
            k--;
        else
            break;
    }
    if (tries == 3)
        return 0;
    if (e < 0) {                            /* round half to even */
        mb_u128 rem = n - (q << -e), half = (mb_u128)1 << (-e - 1);
        q += rem > half || (rem == half && (q & 1));
    }
    n = q;
    if (n == hi) {                          /* rounding carried into a digit */
        n = lo;
        k++;
    }
    *dig = (uint64_t)n;
    *k10 = k;
    return 1;
}

/* Lays out the significant digits dig[0..nd) (no trailing zeros but the
 * first) with decimal exponent exp as DuckDB and Python's repr() do:
 * positional with at least one place ("100.0", "0.001") for
 * -4 <= exp < 16, otherwise "1.5e+16", "1e-05". */
static mb_status layout(int neg, const char *dig, int nd, int exp, char *out, size_t cap)
{
    char txt[48];
    size_t k = 0;

    if (neg)
        txt[k++] = '-';
    if (exp < -4 || exp >= 16) {
        txt[k++] = dig[0];
        if (nd > 1)
            txt[k++] = '.';
        for (int j = 1; j < nd; j++)
            txt[k++] = dig[j];
        int x = exp < 0 ? -exp : exp;     /* e+16, e-05, e+308: two digits at least */
        txt[k++] = 'e';
        txt[k++] = exp < 0 ? '-' : '+';
        if (x >= 100)
            txt[k++] = (char)('0' + x / 100);
        txt[k++] = (char)('0' + x / 10 % 10);
        txt[k++] = (char)('0' + x % 10);
    } else if (exp < 0) {
        txt[k++] = '0';
        txt[k++] = '.';
        for (int j = 0; j < -exp - 1; j++)
            txt[k++] = '0';
        for (int j = 0; j < nd; j++)
            txt[k++] = dig[j];
    } else {
        for (int j = 0; j <= exp; j++)
            txt[k++] = j < nd ? dig[j] : '0';
        txt[k++] = '.';
        if (nd <= exp + 1)
            txt[k++] = '0';
        for (int j = exp + 1; j < nd; j++)
            txt[k++] = dig[j];
    }
    if (k >= cap) {
        if (cap)
            out[0] = '\0';
        return MB_ELIMIT;
    }
    memcpy(out, txt, k);
    out[k] = '\0';
    return MB_OK;
}

/* Whether the decimal n * 10^-s reads back as the normal double d
 * (strtod rounds to nearest, ties to even), for 1 <= s <= 20, n < 10^17
 * and d within round_digits' range: |d| = m * 2^e with -66 <= e <= 1.
 * Scaled by 10^s * 2^(2-e), the two values and the half distances to d's
 * neighbours are integers below 2^125. */
static int reads_back(double d, uint64_t n, int s)
{
    uint64_t bits, m;
    int e;
    mb_u128 p10 = 1, a, b, diff, above, below;

    memcpy(&bits, &d, sizeof bits);
    e = (int)((bits >> 52) & 0x7ff) - 1075;
    m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
    assert(s >= 1 && s <= 20 && e >= -66 && e <= 1);
    for (int i = 0; i < s; i++)
        p10 *= 10u;
    a = (mb_u128)n << (2 - e);
    b = (mb_u128)m * p10 * 4u;
    above = p10 * 2u;                               /* half an ulp above d */
    below = m == UINT64_C(1) << 52 ? p10 : p10 * 2u; /* below a power of two: a quarter */
    if (a >= b) {
        diff = a - b;
        return diff < above || (diff == above && !(m & 1));
    }
    diff = b - a;
    return diff < below || (diff == below && !(m & 1));
}

/* The shortest digits without printf, or 0 to leave d to printf. A
 * decimal of at most 15 digits survives a trip through a double
 * (DBL_DIG), so when the 15-digit rounding reads back it is, without its
 * trailing zeros, the shortest one; else 16 digits are tried, and 17
 * always read back. */
static int shortest_fast(double d, char *dig, int *nd, int *exp)
{
    uint64_t n = 0;
    int w, k = 0, khint;

    if (!(fabs(d) >= 1e-5 && fabs(d) < 1e17))
        return 0;
    khint = (int)floor(log10(fabs(d)));
    for (w = 15; w <= 17; w++) {
        if (!round_digits(d, w, khint, &n, &k))
            return 0;
        khint = k;
        if (w == 17 || reads_back(d, n, w - 1 - k))
            break;
    }
    for (int i = w; i-- > 0;) {
        dig[i] = (char)('0' + (unsigned)(n % 10));
        n /= 10;
    }
    while (w > 1 && dig[w - 1] == '0')
        w--;
    *nd = w;
    *exp = k;
    return 1;
}

mb_status mb_format_double(double d, char *out, size_t cap)
{
    char buf[40], dig[20];
    int prec, exp = 0, nd = 0;
    const char *p;

    if (cap == 0)
        return MB_ELIMIT;
    if (isnan(d))                       /* DuckDB keeps the sign of a NaN */
        return fitted(snprintf(out, cap, signbit(d) ? "-nan" : "nan"), out, cap);
    if (isinf(d))
        return fitted(snprintf(out, cap, d < 0 ? "-inf" : "inf"), out, cap);
    if (shortest_fast(d, dig, &nd, &exp))
        return layout(signbit(d) != 0, dig, nd, exp, out, cap);
    for (prec = 1; prec <= 17; prec++) {   /* the shortest that reads back */
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    for (p = buf + (buf[0] == '-'); *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p))
            dig[nd++] = *p;
    if (*p == 'e')
        exp = (int)strtol(p + 1, NULL, 10);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    return layout(buf[0] == '-', dig, nd, exp, out, cap);
}

/* v / (div * 10^scale) as text: exact integer or correctly rounded double. */
static mb_status format_value(const mb_i256 *v, int32_t scale, uint64_t div, int exact,
                              char *out, size_t cap)
{
    mb_bigint num, den;
    int neg;
    double d;

    if (fits_i128(v->w, 4)) {
        /* Fast paths, same text: an integer that fits 64 bits prints as
         * itself; a quotient of two integers below 2^53 is exact in doubles
         * and IEEE division rounds it correctly, as mb_bigint_ratio does. */
        mb_i128 x = to_i128(v->w);
        uint64_t den64 = div;
        if (exact && scale == 0 && div == 1 && x >= INT64_MIN && x <= INT64_MAX)
            return mb_format_i64((int64_t)x, out, cap);
        if (x > -((mb_i128)1 << 53) && x < ((mb_i128)1 << 53) && !(exact && scale == 0 &&
                                                                   div == 1) &&
            scale <= 19 && !__builtin_mul_overflow(den64, pow10_64[scale], &den64) &&
            den64 <= ((uint64_t)1 << 53))
            return mb_format_double((double)x / (double)den64, out, cap);
    }
    neg = magnitude(&num, v->w, 4);
    if (exact && scale == 0 && div == 1)
        return mb_bigint_format(&num, neg, out, cap) == 0 ? MB_OK : MB_ELIMIT;
    mb_bigint_set_u64(&den, div);
    if (mb_bigint_mul_pow10(&den, (unsigned)scale) != 0)
        return MB_EINTERNAL;
    d = mb_bigint_ratio(&num, &den);
    return mb_format_double(neg ? -d : d, out, cap);
}

/* The correctly rounded sample variance (n*SS - S^2) / (n(n-1) 10^2scale). */
static mb_status variance(const mb_numstate *s, double *out)
{
    mb_bigint ss, sum, sum2, num, den;
    uint64_t n = (uint64_t)s->n;

    (void)magnitude(&ss, s->sumsq.w, 8);
    (void)magnitude(&sum, s->sum.w, 4);
    if (mb_bigint_mul_u64(&ss, n) != 0 || mb_bigint_mul(&sum2, &sum, &sum) != 0 ||
        mb_bigint_sub(&num, &ss, &sum2) != 0)
        return MB_EINTERNAL;    /* cannot happen: sizes bounded, n*SS >= S^2 */
    mb_bigint_set_u64(&den, n);
    if (mb_bigint_mul_u64(&den, n - 1) != 0 || mb_bigint_mul_pow10(&den, 2u * (unsigned)s->scale))
        return MB_EINTERNAL;
    *out = mb_bigint_ratio(&num, &den);
    return MB_OK;
}

mb_status mb_num_format(const mb_numstate *s, mb_agg_kind k, int int_column, char *out,
                        size_t cap)
{
    double var;
    mb_status st;

    if (cap == 0)
        return MB_ELIMIT;
    out[0] = '\0';
    if (!state_ok(s))
        return MB_EINTERNAL;
    if (k == MB_AGG_COUNT || k == MB_AGG_COUNT_STAR)
        return mb_format_i64(s->n, out, cap);
    if (s->n == 0 || ((k == MB_AGG_VAR || k == MB_AGG_STDDEV) && s->n < 2))
        return MB_OK;
    switch (k) {
    case MB_AGG_SUM: return format_value(&s->sum, s->scale, 1, int_column, out, cap);
    case MB_AGG_MIN: return format_value(&s->min, s->scale, 1, int_column, out, cap);
    case MB_AGG_MAX: return format_value(&s->max, s->scale, 1, int_column, out, cap);
    case MB_AGG_MEAN:
        return format_value(&s->sum, s->scale, (uint64_t)s->n, 0, out, cap);
    case MB_AGG_VAR:
    case MB_AGG_STDDEV:
        if ((st = variance(s, &var)) != MB_OK)
            return st;
        return mb_format_double(k == MB_AGG_VAR ? var : sqrt(var), out, cap);
    case MB_AGG_COUNT:
    case MB_AGG_COUNT_STAR: break;
    }
    return MB_EINTERNAL;
}

/* ---- exact values for the query engine --------------------------------- */

mb_status mb_num_exact(const mb_numstate *s, mb_agg_kind k, char *out, size_t cap)
{
    const mb_i256 *v = k == MB_AGG_MIN ? &s->min : k == MB_AGG_MAX ? &s->max : &s->sum;
    mb_bigint num;
    char dig[96];
    size_t nd, sc;
    int neg, len;

    if (cap == 0)
        return MB_ELIMIT;
    out[0] = '\0';
    if (!state_ok(s) || (k != MB_AGG_SUM && k != MB_AGG_MIN && k != MB_AGG_MAX))
        return MB_EINTERNAL;
    neg = magnitude(&num, v->w, 4);
    if (mb_bigint_format(&num, 0, dig, sizeof dig) != 0)
        return MB_ELIMIT;
    nd = strlen(dig);
    sc = (size_t)s->scale;
    if (sc == 0)
        len = snprintf(out, cap, "%s%s", neg ? "-" : "", dig);
    else if (nd > sc)
        len = snprintf(out, cap, "%s%.*s.%s", neg ? "-" : "", (int)(nd - sc), dig,
                       dig + nd - sc);
    else
        len = snprintf(out, cap, "%s0.%.*s%s", neg ? "-" : "", (int)(sc - nd),
                       "0000000000000000000000000000000000000000", dig);
    return fitted(len, out, cap);
}

mb_status mb_num_double(const mb_numstate *s, mb_agg_kind k, int pop, double *out)
{
    mb_bigint num, den, ss, sum, sum2;
    uint64_t n = (uint64_t)s->n;
    int neg;

    if (!state_ok(s) || s->n <= 0)
        return MB_EINTERNAL;
    if (k == MB_AGG_MEAN || k == MB_AGG_SUM) {
        neg = magnitude(&num, s->sum.w, 4);
        mb_bigint_set_u64(&den, k == MB_AGG_MEAN ? n : 1);
        if (mb_bigint_mul_pow10(&den, (unsigned)s->scale) != 0)
            return MB_EINTERNAL;
        *out = mb_bigint_ratio(&num, &den);
        if (neg)
            *out = -*out;
        return MB_OK;
    }
    if (k != MB_AGG_VAR)
        return MB_EINTERNAL;
    if (!pop && n < 2)
        return MB_EINTERNAL;
    /* (n*SS - S^2) / (n(n-1) 10^2scale), or n^2 for the population. */
    (void)magnitude(&ss, s->sumsq.w, 8);
    (void)magnitude(&sum, s->sum.w, 4);
    if (mb_bigint_mul_u64(&ss, n) != 0 || mb_bigint_mul(&sum2, &sum, &sum) != 0 ||
        mb_bigint_sub(&num, &ss, &sum2) != 0)
        return MB_EINTERNAL;
    mb_bigint_set_u64(&den, n);
    if (mb_bigint_mul_u64(&den, pop ? n : n - 1) != 0 ||
        mb_bigint_mul_pow10(&den, 2u * (unsigned)s->scale) != 0)
        return MB_EINTERNAL;
    *out = mb_bigint_ratio(&num, &den);
    return MB_OK;
}
