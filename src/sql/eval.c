/* eval.c - expressions over a row or a group (eval.h). */
#include "sql/eval.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scratch ---------------------------------------------------------------
 *
 * A chain of blocks: strings already handed out never move, so a row may
 * make as many as it likes up to `max` bytes in all. A reset keeps the
 * largest block and frees the rest. */

typedef struct sblock {
    struct sblock *next;
    size_t used, cap;
    char mem[];
} sblock;

void mb_sql_scratch_init(mb_sql_scratch *s, size_t max)
{
    s->head = NULL;
    s->total = 0;
    s->max = max;
}

void mb_sql_scratch_fini(mb_sql_scratch *s)
{
    sblock *b = s->head;
    while (b) {
        sblock *next = b->next;
        free(b);
        b = next;
    }
    s->head = NULL;
    s->total = 0;
}

void mb_sql_scratch_reset(mb_sql_scratch *s)
{
    sblock *b = s->head, *keep = NULL;
    for (sblock *x = b; x; x = x->next)
        if (!keep || x->cap > keep->cap)
            keep = x;
    while (b) {
        sblock *next = b->next;
        if (b != keep)
            free(b);
        b = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    s->head = keep;
    s->total = keep ? keep->cap : 0;
}

static char *scratch_get(mb_sql_scratch *s, size_t n, mb_err *err)
{
    sblock *b = s->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = b ? 2 * b->cap : 4096;
        if (cap > s->max - s->total && s->max - s->total >= n)
            cap = s->max - s->total;          /* the last block fills the cap */
        if (cap < n)
            cap = n;
        if (s->total > s->max || cap > s->max - s->total) {
            mb_err_set(err, MB_ELIMIT, "the strings of one row need more than %zu bytes", s->max);
            return NULL;
        }
        if (!(b = mb_malloc(sizeof *b + cap))) {
            mb_err_set(err, MB_ENOMEM, "out of memory for the strings of a row");
            return NULL;
        }
        b->next = s->head;
        b->used = 0;
        b->cap = cap;
        s->head = b;
        s->total += cap;
    }
    char *p = b->mem + b->used;
    b->used += n;
    return p;
}

/* ---- helpers -------------------------------------------------------------- */

static void set_null(mb_sql_value *v, mb_sql_type t)
{
    memset(v, 0, sizeof *v);
    v->t = t;
    v->null = true;
}

static void set_bool(mb_sql_value *v, bool b)
{
    memset(v, 0, sizeof *v);
    v->t = MB_SQL_T_BOOLEAN;
    v->u.b = b;
}

static mb_i128 p10(unsigned k)
{
    mb_i128 r = 1;
    while (k--)
        r *= 10;
    return r;
}

static bool dec_fits(mb_i128 m)
{
    static mb_i128 lim = 0;
    if (!lim)
        lim = p10(38);
    return m < lim && -m < lim;
}

/* m * 10^-from rounded half away from zero to scale `to` (to < from). */
static mb_i128 dec_round(mb_i128 m, unsigned from, unsigned to)
{
    mb_i128 q = p10(from - to), r = m % q, v = m / q;
    if (r * 2 >= q)
        v++;
    else if (-r * 2 >= q)
        v--;
    return v;
}

double mb_sql_dec_to_double(mb_i128 m, unsigned scale)
{
    static const double pow10d[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    mb_i128 lim = (mb_i128)1 << 53;
    char buf[64];
    mb_sql_value v;
    if (m < lim && -m < lim && scale <= 22)    /* both exact: one correct rounding */
        return (double)m / pow10d[scale];
    memset(&v, 0, sizeof v);
    v.t = MB_SQL_T_DECIMAL;
    v.u.dec = m;
    v.scale = (uint8_t)scale;
    (void)mb_sql_value_format(&v, buf, sizeof buf);
    return strtod(buf, NULL);
}

/* A BIGINT or DECIMAL as (mantissa, scale). */
static void as_dec(const mb_sql_value *v, mb_i128 *m, unsigned *s)
{
    if (v->t == MB_SQL_T_DECIMAL) {
        *m = v->u.dec;
        *s = v->scale;
    } else {
        *m = v->u.i;
        *s = 0;
    }
}

static double as_double(const mb_sql_value *v)
{
    switch (v->t) {
    case MB_SQL_T_DOUBLE:
        return v->u.d;
    case MB_SQL_T_BIGINT:
        return (double)v->u.i;
    case MB_SQL_T_DECIMAL:
        return mb_sql_dec_to_double(v->u.dec, v->scale);
    default:
        return 0;
    }
}

int mb_sql_value_cmp(const mb_sql_value *a, const mb_sql_value *b)
{
    switch (a->t) {
    case MB_SQL_T_BOOLEAN:
        return (int)a->u.b - (int)b->u.b;
    case MB_SQL_T_BIGINT:
    case MB_SQL_T_DATE:
    case MB_SQL_T_TIMESTAMP:
        return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    case MB_SQL_T_DECIMAL: {
        mb_i128 x = a->u.dec, y = b->u.dec;
        if (a->scale != b->scale) {      /* not promised, but be exact anyway */
            unsigned s = a->scale > b->scale ? a->scale : b->scale;
            x *= p10(s - a->scale);
            y *= p10(s - b->scale);
        }
        return x < y ? -1 : x > y;
    }
    case MB_SQL_T_DOUBLE: {
        double x = a->u.d, y = b->u.d;
        if (isnan(x) || isnan(y))
            return isnan(x) - isnan(y);
        return x < y ? -1 : x > y;
    }
    case MB_SQL_T_VARCHAR: {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
        if (c)
            return c < 0 ? -1 : 1;
        return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n;
    }
    case MB_SQL_T_NULL:
        break;
    }
    return 0;
}

static mb_status overflow(mb_err *err, const char *type, const char *op)
{
    return mb_err_set(err, MB_ERANGE, "%s overflow in %s", type, op);
}

/* ---- casts ------------------------------------------------------------------ */

bool mb_sql_cast_ok(mb_sql_type from, mb_sql_type to)
{
    bool num_f = from == MB_SQL_T_BIGINT || from == MB_SQL_T_DECIMAL || from == MB_SQL_T_DOUBLE;
    bool num_t = to == MB_SQL_T_BIGINT || to == MB_SQL_T_DECIMAL || to == MB_SQL_T_DOUBLE;
    bool tmp_f = from == MB_SQL_T_DATE || from == MB_SQL_T_TIMESTAMP;
    bool tmp_t = to == MB_SQL_T_DATE || to == MB_SQL_T_TIMESTAMP;
    if (from == to || from == MB_SQL_T_NULL || from == MB_SQL_T_VARCHAR || to == MB_SQL_T_VARCHAR)
        return true;
    if (num_f && num_t)
        return true;
    if (tmp_f && tmp_t)
        return true;
    return (from == MB_SQL_T_BOOLEAN && num_t && to != MB_SQL_T_DECIMAL) ||
           (to == MB_SQL_T_BOOLEAN && (from == MB_SQL_T_BIGINT));
}

static mb_status cast_to_varchar(const mb_sql_value *v, mb_sql_scratch *s, mb_sql_value *out,
                                 mb_err *err)
{
    char buf[128];
    char *p;
    size_t n;
    if (v->t == MB_SQL_T_VARCHAR) {
        *out = *v;
        return MB_OK;
    }
    (void)mb_sql_value_format(v, buf, sizeof buf);
    n = strlen(buf);
    if (!(p = scratch_get(s, n ? n : 1, err)))
        return err ? err->code : MB_ELIMIT;
    memcpy(p, buf, n);
    memset(out, 0, sizeof *out);
    out->t = MB_SQL_T_VARCHAR;
    out->u.s.p = p;
    out->u.s.n = n;
    return MB_OK;
}

static mb_status cast_number(const mb_sql_value *v, mb_sql_dtype to, mb_sql_value *out,
                             mb_err *err)
{
    mb_i128 m;
    unsigned s;
    memset(out, 0, sizeof *out);
    out->t = to.t;
    if (to.t == MB_SQL_T_DOUBLE) {
        out->u.d = v->t == MB_SQL_T_BOOLEAN ? (double)v->u.b : as_double(v);
        return MB_OK;
    }
    if (v->t == MB_SQL_T_BOOLEAN) {
        out->u.i = v->u.b;
        return MB_OK;
    }
    if (v->t == MB_SQL_T_DOUBLE) {
        char buf[400];
        double d = v->u.d;
        if (!isfinite(d))
            return mb_err_set(err, MB_ERANGE, "cannot cast %s to an exact number",
                              isnan(d) ? "nan" : "inf");
        if (to.t == MB_SQL_T_BIGINT) {
            double r = round(d);               /* half away from zero */
            if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0))
                return overflow(err, "BIGINT", "CAST");
            out->u.i = (int64_t)r;
            return MB_OK;
        }
        if (fabs(d) >= 1e38)
            return overflow(err, "DECIMAL", "CAST");
        snprintf(buf, sizeof buf, "%.*f", to.scale + 1, d);
        return mb_sql_value_parse(buf, strlen(buf), to, out, err);
    }
    as_dec(v, &m, &s);
    if (to.t == MB_SQL_T_BIGINT) {
        if (s)
            m = dec_round(m, s, 0);
        if (m > INT64_MAX || m < INT64_MIN)
            return overflow(err, "BIGINT", "CAST");
        out->u.i = (int64_t)m;
        return MB_OK;
    }
    if (s > to.scale) {
        m = dec_round(m, s, to.scale);
    } else {
        for (; s < to.scale; s++) {
            if (m > p10(37) || -m > p10(37))        /* m * 10 would pass 38 digits */
                return overflow(err, "DECIMAL", "CAST");
            m *= 10;
        }
    }
    if (!(m < p10(to.width) && -m < p10(to.width)))
        return overflow(err, "DECIMAL", "CAST");
    out->u.dec = m;
    out->scale = to.scale;
    return MB_OK;
}

mb_status mb_sql_cast(const mb_sql_value *v, mb_sql_dtype to, mb_sql_scratch *s,
                      mb_sql_value *out, mb_err *err)
{
    char tn[32], fn[32];
    if (v->null || v->t == MB_SQL_T_NULL) {
        set_null(out, to.t);
        return MB_OK;
    }
    if (to.t == MB_SQL_T_VARCHAR)
        return cast_to_varchar(v, s, out, err);
    if (v->t == MB_SQL_T_VARCHAR) {
        mb_status st = mb_sql_value_parse(v->u.s.p, v->u.s.n, to, out, err);
        return st;
    }
    if (v->t == to.t && (to.t != MB_SQL_T_DECIMAL || v->scale == to.scale)) {
        *out = *v;
        return MB_OK;
    }
    switch (to.t) {
    case MB_SQL_T_BIGINT:
    case MB_SQL_T_DECIMAL:
    case MB_SQL_T_DOUBLE:
        if (v->t == MB_SQL_T_BIGINT || v->t == MB_SQL_T_DECIMAL || v->t == MB_SQL_T_DOUBLE ||
            (v->t == MB_SQL_T_BOOLEAN && to.t != MB_SQL_T_DECIMAL))
            return cast_number(v, to, out, err);
        break;
    case MB_SQL_T_BOOLEAN:
        if (v->t == MB_SQL_T_BIGINT) {
            set_bool(out, v->u.i != 0);
            return MB_OK;
        }
        break;
    case MB_SQL_T_DATE:
        if (v->t == MB_SQL_T_TIMESTAMP) {
            int64_t us = v->u.i, d = us / 86400000000;
            if (us % 86400000000 < 0)
                d--;
            memset(out, 0, sizeof *out);
            out->t = MB_SQL_T_DATE;
            out->u.i = d;
            return MB_OK;
        }
        break;
    case MB_SQL_T_TIMESTAMP:
        if (v->t == MB_SQL_T_DATE) {
            memset(out, 0, sizeof *out);
            out->t = MB_SQL_T_TIMESTAMP;
            if (__builtin_mul_overflow(v->u.i, INT64_C(86400000000), &out->u.i))
                return overflow(err, "TIMESTAMP", "CAST");
            return MB_OK;
        }
        break;
    default:
        break;
    }
    (void)mb_sql_dtype_name(to, tn, sizeof tn);
    (void)mb_sql_dtype_name((mb_sql_dtype){v->t, 0, v->scale}, fn, sizeof fn);
    return mb_err_set(err, MB_EUSAGE, "cannot cast %s to %s", fn, tn);
}

/* ---- arithmetic ----------------------------------------------------------- */

static mb_status arith(const mb_sql_expr *e, const mb_sql_value *a, const mb_sql_value *b,
                       mb_sql_value *out, mb_err *err)
{
    static const char *const ops[] = {[MB_SQL_F_ADD] = "+", [MB_SQL_F_SUB] = "-",
                                      [MB_SQL_F_MUL] = "*", [MB_SQL_F_DIV] = "/",
                                      [MB_SQL_F_IDIV] = "//", [MB_SQL_F_MOD] = "%"};
    memset(out, 0, sizeof *out);
    out->t = e->type.t;
    if (e->type.t == MB_SQL_T_DATE || (e->type.t == MB_SQL_T_BIGINT && a->t == MB_SQL_T_DATE)) {
        int64_t x = a->u.i, y = b->u.i, r;
        bool bad = e->fn == MB_SQL_F_ADD ? __builtin_add_overflow(x, y, &r)
                                          : __builtin_sub_overflow(x, y, &r);
        if (bad || (e->type.t == MB_SQL_T_DATE && (r > 106751991 || r < -106751991)))
            return overflow(err, "DATE", ops[e->fn]);
        out->u.i = r;
        return MB_OK;
    }
    switch (e->type.t) {
    case MB_SQL_T_DOUBLE: {
        double x = as_double(a), y = as_double(b);
        out->u.d = e->fn == MB_SQL_F_ADD   ? x + y
                   : e->fn == MB_SQL_F_SUB ? x - y
                   : e->fn == MB_SQL_F_MUL ? x * y
                   : e->fn == MB_SQL_F_DIV ? x / y
                                           : fmod(x, y);
        if (e->fn == MB_SQL_F_MOD && y == 0)
            set_null(out, MB_SQL_T_DOUBLE);
        return MB_OK;
    }
    case MB_SQL_T_BIGINT: {
        int64_t x = a->u.i, y = b->u.i, r = 0;
        bool bad = false;
        switch (e->fn) {
        case MB_SQL_F_ADD:
            bad = __builtin_add_overflow(x, y, &r);
            break;
        case MB_SQL_F_SUB:
            bad = __builtin_sub_overflow(x, y, &r);
            break;
        case MB_SQL_F_MUL:
            bad = __builtin_mul_overflow(x, y, &r);
            break;
        case MB_SQL_F_IDIV:
        case MB_SQL_F_MOD:
            if (y == 0) {                      /* DuckDB: NULL, not an error */
                set_null(out, MB_SQL_T_BIGINT);
                return MB_OK;
            }
            if (x == INT64_MIN && y == -1) {
                bad = e->fn == MB_SQL_F_IDIV;
                r = 0;
            } else {
                r = e->fn == MB_SQL_F_IDIV ? x / y : x % y;
            }
            break;
        default:
            break;
        }
        if (bad)
            return overflow(err, "BIGINT", ops[e->fn]);
        out->u.i = r;
        return MB_OK;
    }
    case MB_SQL_T_DECIMAL: {
        mb_i128 x, y, r = 0;
        unsigned sx, sy;
        bool bad = false;
        as_dec(a, &x, &sx);
        as_dec(b, &y, &sy);
        switch (e->fn) {
        case MB_SQL_F_ADD:
        case MB_SQL_F_SUB:
        case MB_SQL_F_MOD:
            /* Operands were brought to the result's scale by the binder. */
            if (e->fn == MB_SQL_F_MOD) {
                if (y == 0) {
                    set_null(out, MB_SQL_T_DECIMAL);
                    return MB_OK;
                }
                r = x % y;
            } else {
                bad = e->fn == MB_SQL_F_ADD ? __builtin_add_overflow(x, y, &r)
                                            : __builtin_sub_overflow(x, y, &r);
            }
            break;
        case MB_SQL_F_MUL:
            bad = __builtin_mul_overflow(x, y, &r);
            break;
        default:
            break;
        }
        if (bad || !dec_fits(r))
            return overflow(err, "DECIMAL", ops[e->fn]);
        out->u.dec = r;
        out->scale = e->type.scale;
        return MB_OK;
    }
    default:
        break;
    }
    return mb_err_set(err, MB_EINTERNAL, "no arithmetic for this type");
}

/* ---- strings ----------------------------------------------------------------- */

static size_t utf8_len(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xC0) != 0x80;
    return c;
}

/* Byte offset of character k (0-based) in p[0..n), n when past the end. */
static size_t utf8_offset(const char *p, size_t n, size_t k)
{
    size_t i = 0;
    while (i < n && k) {
        i++;
        while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80)
            i++;
        k--;
    }
    return i;
}

static size_t utf8_step(const char *p, size_t n, size_t i)
{
    i++;
    while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static int fold(int c, bool ci) { return ci ? tolower(c) : c; }

/* LIKE with % and _ (one character) and an escape; iterative, with the
 * classic single backtrack point per %, so linear-ish, never exponential. */
static bool like(const char *s, size_t n, const char *p, size_t m, int esc, bool ci)
{
    size_t i = 0, j = 0, star_j = (size_t)-1, star_i = 0;
    while (i < n) {
        if (j < m && p[j] == '%') {
            star_j = ++j;
            star_i = i;
            continue;
        }
        if (j < m) {
            if (esc >= 0 && (unsigned char)p[j] == esc && j + 1 < m) {
                if (fold((unsigned char)s[i], ci) == fold((unsigned char)p[j + 1], ci)) {
                    i++;
                    j += 2;
                    continue;
                }
            } else if (p[j] == '_') {
                i = utf8_step(s, n, i);
                j++;
                continue;
            } else if (fold((unsigned char)s[i], ci) == fold((unsigned char)p[j], ci)) {
                i++;
                j++;
                continue;
            }
        }
        if (star_j == (size_t)-1)
            return false;
        star_i = utf8_step(s, n, star_i);
        i = star_i;
        j = star_j;
    }
    while (j < m && p[j] == '%')
        j++;
    return j == m;
}

/* The simple case mapping of code point c, for the letters whose both
 * cases take two bytes in UTF-8 (Latin-1, Latin Extended-A, Greek,
 * Cyrillic), so that a string keeps its length; other characters, and
 * letters whose mapping would change the length, stay as they are. */
static unsigned map_case(unsigned c, bool up)
{
    if (up) {
        if ((c >= 0xE0 && c <= 0xFE && c != 0xF7) || (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) ||
            (c >= 0x430 && c <= 0x44F))
            return c - 0x20;
        if (c == 0xFF)
            return 0x178;
        if (c == 0x3C2)
            return 0x3A3;
        if (c >= 0x450 && c <= 0x45F)
            return c - 0x50;
        if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && (c & 1))
            return c - 1;
        if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && !(c & 1))
            return c - 1;
        return c;
    }
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) ||
        (c >= 0x410 && c <= 0x42F))
        return c + 0x20;
    if (c == 0x178)
        return 0xFF;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && !(c & 1))
        return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && (c & 1))
        return c + 1;
    return c;
}

static void change_case(const char *in, size_t n, char *out, bool up)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x80) {
            out[i] = (char)(up ? toupper(c) : tolower(c));
        } else if ((c & 0xE0) == 0xC0 && i + 1 < n && ((unsigned char)in[i + 1] & 0xC0) == 0x80) {
            unsigned cp = (unsigned)(c & 0x1F) << 6 | ((unsigned char)in[i + 1] & 0x3F);
            unsigned m = map_case(cp, up);
            out[i] = (char)(0xC0 | m >> 6);
            out[i + 1] = (char)(0x80 | (m & 0x3F));
            i++;
        } else {
            out[i] = (char)c;
        }
    }
}

static mb_status make_string(mb_sql_scratch *s, size_t n, mb_sql_value *out, char **p,
                             mb_err *err)
{
    if (!(*p = scratch_get(s, n ? n : 1, err)))
        return err ? err->code : MB_ELIMIT;
    memset(out, 0, sizeof *out);
    out->t = MB_SQL_T_VARCHAR;
    out->u.s.p = *p;
    out->u.s.n = n;
    return MB_OK;
}

static bool in_set(char c, const mb_sql_value *chars)
{
    if (!chars)
        return c == ' ';
    return memchr(chars->u.s.p, c, chars->u.s.n) != NULL;
}

static void trim(const mb_sql_value *v, const mb_sql_value *chars, bool left, bool right,
                 mb_sql_value *out)
{
    const char *p = v->u.s.p;
    size_t a = 0, z = v->u.s.n;
    while (left && a < z && in_set(p[a], chars))
        a++;
    while (right && z > a && in_set(p[z - 1], chars))
        z--;
    *out = *v;
    out->u.s.p = p + a;
    out->u.s.n = z - a;
}

static void substr(const mb_sql_value *v, int64_t start, bool has_len, int64_t len,
                   mb_sql_value *out)
{
    size_t nch = utf8_len(v->u.s.p, v->u.s.n);
    int64_t from = start > 0 ? start - 1 : start < 0 ? (int64_t)nch + start : 0, to;
    if (start == 0 && has_len)
        len--;                                  /* position 0 is before the string */
    if (from < 0)                               /* a start before the string counts */
        from = 0;                               /* from its first character, as */
    to = has_len ? (len < 0 ? from : from + len) : (int64_t)nch;   /* DuckDB's ASCII path */
    if (to > (int64_t)nch)
        to = (int64_t)nch;
    if (to < from)
        to = from;
    *out = *v;
    size_t a = utf8_offset(v->u.s.p, v->u.s.n, (size_t)from);
    size_t z = utf8_offset(v->u.s.p, v->u.s.n, (size_t)to);
    out->u.s.p = v->u.s.p + a;
    out->u.s.n = z - a;
}

/* ---- dates ------------------------------------------------------------------- */

#define US_PER_DAY INT64_C(86400000000)

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

typedef struct tm_parts {
    int64_t y;
    unsigned m, d;
    int64_t days, us_of_day;
} tm_parts;

static void split(const mb_sql_value *v, tm_parts *t)
{
    int64_t us = v->t == MB_SQL_T_DATE ? v->u.i * US_PER_DAY : v->u.i;
    t->days = floordiv(us, US_PER_DAY);
    t->us_of_day = us - t->days * US_PER_DAY;
    mb_sql_civil_from_days(t->days, &t->y, &t->m, &t->d);
}

/* ISO weekday, Monday 1 .. Sunday 7. 1970-01-01 was a Thursday. */
static int isodow(int64_t days)
{
    int64_t w = (days + 3) % 7;
    return (int)(w < 0 ? w + 7 : w) + 1;
}

static void iso_week(int64_t days, int64_t *iso_year, int *week)
{
    int64_t y;
    unsigned m, d;
    int64_t thursday = days - isodow(days) + 4;     /* the week's Thursday */
    mb_sql_civil_from_days(thursday, &y, &m, &d);
    *iso_year = y;
    *week = (int)((thursday - mb_sql_days_from_civil(y, 1, 1)) / 7) + 1;
}

static int64_t year_start(int64_t y) { return mb_sql_days_from_civil(y, 1, 1); }

static void date_trunc(const mb_sql_expr *e, const mb_sql_value *v, mb_sql_value *out)
{
    tm_parts t;
    int64_t days, us = 0, y;
    split(v, &t);
    days = t.days;
    switch ((mb_sql_part)e->part) {
    case MB_SQL_P_MICROSECOND:
        us = t.us_of_day;
        break;
    case MB_SQL_P_MILLISECOND:
        us = t.us_of_day - t.us_of_day % 1000;
        break;
    case MB_SQL_P_SECOND:
        us = t.us_of_day - t.us_of_day % 1000000;
        break;
    case MB_SQL_P_MINUTE:
        us = t.us_of_day - t.us_of_day % 60000000;
        break;
    case MB_SQL_P_HOUR:
        us = t.us_of_day - t.us_of_day % INT64_C(3600000000);
        break;
    case MB_SQL_P_DAY:
        break;
    case MB_SQL_P_WEEK:
        days = t.days - isodow(t.days) + 1;
        break;
    case MB_SQL_P_MONTH:
        days = mb_sql_days_from_civil(t.y, t.m, 1);
        break;
    case MB_SQL_P_QUARTER:
        days = mb_sql_days_from_civil(t.y, (t.m - 1) / 3 * 3 + 1, 1);
        break;
    case MB_SQL_P_YEAR:
        days = year_start(t.y);
        break;
    case MB_SQL_P_DECADE:
        y = floordiv(t.y, 10) * 10;
        days = year_start(y);
        break;
    case MB_SQL_P_CENTURY:               /* DuckDB: 2000-01-01 for 2024 */
        y = floordiv(t.y, 100) * 100;
        days = year_start(y);
        break;
    case MB_SQL_P_MILLENNIUM:
        y = floordiv(t.y, 1000) * 1000;
        days = year_start(y);
        break;
    default:
        break;
    }
    memset(out, 0, sizeof *out);
    out->t = e->type.t;
    out->u.i = e->type.t == MB_SQL_T_DATE ? days : days * US_PER_DAY + us;
}

static void date_part(const mb_sql_expr *e, const mb_sql_value *v, mb_sql_value *out)
{
    tm_parts t;
    int64_t r = 0, iy;
    int wk;
    split(v, &t);
    memset(out, 0, sizeof *out);
    out->t = e->type.t;
    switch ((mb_sql_part)e->part) {
    case MB_SQL_P_MICROSECOND:
        r = t.us_of_day % 60000000;
        break;
    case MB_SQL_P_MILLISECOND:
        r = t.us_of_day % 60000000 / 1000;
        break;
    case MB_SQL_P_SECOND:
        r = t.us_of_day / 1000000 % 60;
        break;
    case MB_SQL_P_MINUTE:
        r = t.us_of_day / 60000000 % 60;
        break;
    case MB_SQL_P_HOUR:
        r = t.us_of_day / INT64_C(3600000000);
        break;
    case MB_SQL_P_DAY:
        r = t.d;
        break;
    case MB_SQL_P_WEEK:
        iso_week(t.days, &iy, &wk);
        r = wk;
        break;
    case MB_SQL_P_MONTH:
        r = t.m;
        break;
    case MB_SQL_P_QUARTER:
        r = (t.m - 1) / 3 + 1;
        break;
    case MB_SQL_P_YEAR:
        r = t.y;
        break;
    case MB_SQL_P_DECADE:
        r = floordiv(t.y, 10);
        break;
    case MB_SQL_P_CENTURY:
        r = t.y > 0 ? (t.y - 1) / 100 + 1 : -((-t.y) / 100 + 1);
        break;
    case MB_SQL_P_MILLENNIUM:
        r = t.y > 0 ? (t.y - 1) / 1000 + 1 : -((-t.y) / 1000 + 1);
        break;
    case MB_SQL_P_DOW:
        r = isodow(t.days) % 7;
        break;
    case MB_SQL_P_ISODOW:
        r = isodow(t.days);
        break;
    case MB_SQL_P_DOY:
        r = t.days - year_start(t.y) + 1;
        break;
    case MB_SQL_P_EPOCH:
        out->u.d = (double)(t.days * 86400) + (double)t.us_of_day / 1e6;
        return;
    }
    out->u.i = r;
}

static const char *const day_names[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
static const char *const month_names[] = {"January", "February", "March",     "April",
                                          "May",     "June",     "July",      "August",
                                          "September", "October", "November", "December"};

/* v as snprintf's "%0<width>lld" writes it, without printf for v >= 0
 * (the common case: strftime runs per row). */
static int put_num(char *out, size_t cap, int64_t v, int width)
{
    char tmp[24];
    int k = 0;
    if (v < 0 || cap < 24)
        return snprintf(out, cap, "%0*lld", width, (long long)v);
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k < width)
        tmp[k++] = '0';
    for (int j = 0; j < k; j++)
        out[j] = tmp[k - 1 - j];
    return k;
}

static mb_status strftime_sql(const mb_sql_value *v, const mb_sql_value *f, mb_sql_scratch *s,
                              mb_sql_value *out, mb_err *err)
{
    char buf[512];
    size_t n = 0;
    tm_parts t;
    int64_t iy;
    int wk;
    char *p;
    split(v, &t);
    int64_t h = t.us_of_day / INT64_C(3600000000), mi = t.us_of_day / 60000000 % 60;
    int64_t sec = t.us_of_day / 1000000 % 60, us = t.us_of_day % 1000000;
    for (size_t i = 0; i < f->u.s.n && n < sizeof buf - 48; i++) {
        char c = f->u.s.p[i];
        if (c != '%' || i + 1 == f->u.s.n) {
            buf[n++] = c;
            continue;
        }
        c = f->u.s.p[++i];
        int k = 0;
        switch (c) {
        case 'Y': k = put_num(buf + n, sizeof buf - n, t.y, 4); break;
        case 'y': k = put_num(buf + n, sizeof buf - n, t.y % 100, 2); break;
        case 'm': k = put_num(buf + n, sizeof buf - n, t.m, 2); break;
        case 'd': k = put_num(buf + n, sizeof buf - n, t.d, 2); break;
        case 'H': k = put_num(buf + n, sizeof buf - n, h, 2); break;
        case 'I': k = snprintf(buf + n, sizeof buf - n, "%02lld",
                               (long long)(h % 12 == 0 ? 12 : h % 12)); break;
        case 'p': k = snprintf(buf + n, sizeof buf - n, "%s", h < 12 ? "AM" : "PM"); break;
        case 'M': k = put_num(buf + n, sizeof buf - n, mi, 2); break;
        case 'S': k = put_num(buf + n, sizeof buf - n, sec, 2); break;
        case 'f': k = put_num(buf + n, sizeof buf - n, us, 6); break;
        case 'j': k = snprintf(buf + n, sizeof buf - n, "%03lld",
                               (long long)(t.days - year_start(t.y) + 1)); break;
        case 'a': k = snprintf(buf + n, sizeof buf - n, "%.3s", day_names[isodow(t.days) - 1]); break;
        case 'A': k = snprintf(buf + n, sizeof buf - n, "%s", day_names[isodow(t.days) - 1]); break;
        case 'b': k = snprintf(buf + n, sizeof buf - n, "%.3s", month_names[t.m - 1]); break;
        case 'B': k = snprintf(buf + n, sizeof buf - n, "%s", month_names[t.m - 1]); break;
        case 'u': k = snprintf(buf + n, sizeof buf - n, "%d", isodow(t.days)); break;
        case 'w': k = snprintf(buf + n, sizeof buf - n, "%d", isodow(t.days) % 7); break;
        case 'G': iso_week(t.days, &iy, &wk);
                  k = snprintf(buf + n, sizeof buf - n, "%04lld", (long long)iy); break;
        case 'V': iso_week(t.days, &iy, &wk);
                  k = snprintf(buf + n, sizeof buf - n, "%02d", wk); break;
        default: buf[n] = c; k = 1; break;
        }
        n += k > 0 ? (size_t)k : 0;
    }
    mb_status st = make_string(s, n, out, &p, err);
    if (st == MB_OK)
        memcpy(p, buf, n);
    return st;
}

/* ---- calls ------------------------------------------------------------------- */

static mb_status eval(const mb_sql_expr *e, const mb_sql_env *env, mb_sql_value *out,
                      mb_err *err);

/* Three-valued logic: 1 true, 0 false, -1 NULL. */
static int truth(const mb_sql_value *v) { return v->null ? -1 : v->u.b ? 1 : 0; }

static void set_truth(mb_sql_value *out, int t)
{
    if (t < 0)
        set_null(out, MB_SQL_T_BOOLEAN);
    else
        set_bool(out, t != 0);
}

static mb_status logic(const mb_sql_expr *e, const mb_sql_env *env, mb_sql_value *out,
                       mb_err *err)
{
    mb_sql_value v;
    mb_status st;
    int acc = e->fn == MB_SQL_F_AND ? 1 : 0;
    for (size_t i = 0; i < e->nargs; i++) {
        if ((st = eval(e->args[i], env, &v, err)) != MB_OK)
            return st;
        int t = truth(&v);
        if (e->fn == MB_SQL_F_AND) {
            if (t == 0) {
                set_bool(out, false);
                return MB_OK;
            }
            if (t < 0)
                acc = -1;
        } else {
            if (t == 1) {
                set_bool(out, true);
                return MB_OK;
            }
            if (t < 0)
                acc = -1;
        }
    }
    set_truth(out, acc);
    return MB_OK;
}

bool mb_sql_cmp_holds(mb_sql_fn fn, int c)
{
    switch (fn) {
    case MB_SQL_F_EQ: return c == 0;
    case MB_SQL_F_NE: return c != 0;
    case MB_SQL_F_LT: return c < 0;
    case MB_SQL_F_LE: return c <= 0;
    case MB_SQL_F_GT: return c > 0;
    default: return c >= 0;
    }
}

/* Evaluates args[0..n) into vals (at most 64, as the binder allows). */
static mb_status eval_args(const mb_sql_expr *e, const mb_sql_env *env, mb_sql_value *vals,
                           mb_err *err)
{
    mb_status st;
    for (size_t i = 0; i < e->nargs; i++)
        if ((st = eval(e->args[i], env, &vals[i], err)) != MB_OK)
            return st;
    return MB_OK;
}

static mb_status round_value(const mb_sql_expr *e, const mb_sql_value *x, mb_sql_value *out,
                             mb_err *err)
{
    *out = *x;
    out->t = e->type.t;
    if (x->t == MB_SQL_T_DOUBLE) {
        double d = x->u.d;
        switch (e->fn) {
        case MB_SQL_F_FLOOR: out->u.d = floor(d); break;
        case MB_SQL_F_CEIL: out->u.d = ceil(d); break;
        default:
            if (e->part == 0) {
                out->u.d = round(d);
            } else {
                double mul = pow(10.0, e->part);
                double r = round(d * mul) / mul;
                out->u.d = isfinite(r) ? r : d;
            }
        }
        return MB_OK;
    }
    if (x->t == MB_SQL_T_BIGINT) {
        if (e->fn == MB_SQL_F_ROUND && e->part < 0) {
            if (e->part < -18) {
                out->u.i = 0;
                return MB_OK;
            }
            int64_t q = (int64_t)p10((unsigned)-e->part), r = x->u.i % q, v = x->u.i - r;
            bool bad = false;
            if (r >= q - r)                          /* r * 2 >= q, without overflow */
                bad = __builtin_add_overflow(v, q, &v);
            else if (-r >= q + r)
                bad = __builtin_sub_overflow(v, q, &v);
            if (bad)
                return overflow(err, "BIGINT", "round");
            out->u.i = v;
        }
        return MB_OK;
    }
    /* DECIMAL: to the result's scale; round(x, -k) rounds to 10^k. */
    mb_i128 m = x->u.dec;
    unsigned s = x->scale;
    if (e->fn == MB_SQL_F_FLOOR || e->fn == MB_SQL_F_CEIL) {
        mb_i128 q = p10(s), v = m / q;
        if (m % q != 0 && ((e->fn == MB_SQL_F_FLOOR) == (m < 0)))
            v += m < 0 ? -1 : 1;
        out->u.dec = v;
        out->scale = 0;
        return MB_OK;
    }
    if (e->part >= 0) {
        out->u.dec = (unsigned)e->part < s ? dec_round(m, s, (unsigned)e->part) : m;
        out->scale = e->type.scale;
        return MB_OK;
    }
    if (s + (unsigned)-e->part > 38) {
        out->u.dec = 0;
    } else {
        mb_i128 v = dec_round(m, s + (unsigned)-e->part, 0);
        out->u.dec = v * p10((unsigned)-e->part);
        if (!dec_fits(out->u.dec))
            return overflow(err, "DECIMAL", "round");
    }
    out->scale = 0;
    return MB_OK;
}

static mb_status string_fn(const mb_sql_expr *e, const mb_sql_env *env, mb_sql_value *vals,
                           mb_sql_value *out, mb_err *err)
{
    char *p;
    mb_status st;
    size_t total = 0;

    if (e->fn == MB_SQL_F_CONCAT || e->fn == MB_SQL_F_CONCAT_OP) {
        for (size_t i = 0; i < e->nargs; i++) {
            if (vals[i].null) {
                if (e->fn == MB_SQL_F_CONCAT_OP) {
                    set_null(out, MB_SQL_T_VARCHAR);
                    return MB_OK;
                }
                continue;
            }
            total += vals[i].u.s.n;
        }
        if ((st = make_string(env->scratch, total, out, &p, err)) != MB_OK)
            return st;
        for (size_t i = 0; i < e->nargs; i++)
            if (!vals[i].null && vals[i].u.s.n) {
                memcpy(p, vals[i].u.s.p, vals[i].u.s.n);
                p += vals[i].u.s.n;
            }
        return MB_OK;
    }
    for (size_t i = 0; i < e->nargs; i++)
        if (vals[i].null) {
            set_null(out, e->type.t);
            return MB_OK;
        }
    switch (e->fn) {
    case MB_SQL_F_LOWER:
    case MB_SQL_F_UPPER:
        if ((st = make_string(env->scratch, vals[0].u.s.n, out, &p, err)) != MB_OK)
            return st;
        change_case(vals[0].u.s.p, vals[0].u.s.n, p, e->fn == MB_SQL_F_UPPER);
        return MB_OK;
    case MB_SQL_F_LENGTH:
        memset(out, 0, sizeof *out);
        out->t = MB_SQL_T_BIGINT;
        out->u.i = (int64_t)utf8_len(vals[0].u.s.p, vals[0].u.s.n);
        return MB_OK;
    case MB_SQL_F_TRIM:
    case MB_SQL_F_LTRIM:
    case MB_SQL_F_RTRIM:
        trim(&vals[0], e->nargs > 1 ? &vals[1] : NULL, e->fn != MB_SQL_F_RTRIM,
             e->fn != MB_SQL_F_LTRIM, out);
        return MB_OK;
    case MB_SQL_F_SUBSTR:
        substr(&vals[0], vals[1].u.i, e->nargs > 2, e->nargs > 2 ? vals[2].u.i : 0, out);
        return MB_OK;
    default:
        break;
    }
    return mb_err_set(err, MB_EINTERNAL, "no string function %d", (int)e->fn);
}

static mb_status call(const mb_sql_expr *e, const mb_sql_env *env, mb_sql_value *out,
                      mb_err *err)
{
    mb_sql_value vals[64], v;
    mb_status st;
    int c;

    switch (e->fn) {
    case MB_SQL_F_AND:
    case MB_SQL_F_OR:
        return logic(e, env, out, err);
    case MB_SQL_F_CASE: {
        size_t pairs = (e->nargs - ((e->flags & MB_SQL_HAS_ELSE) ? 1 : 0)) / 2;
        for (size_t i = 0; i < pairs; i++) {
            if ((st = eval(e->args[2 * i], env, &v, err)) != MB_OK)
                return st;
            if (truth(&v) == 1)
                return eval(e->args[2 * i + 1], env, out, err);
        }
        if (e->flags & MB_SQL_HAS_ELSE)
            return eval(e->args[e->nargs - 1], env, out, err);
        set_null(out, e->type.t);
        return MB_OK;
    }
    case MB_SQL_F_COALESCE:
        for (size_t i = 0; i < e->nargs; i++) {
            if ((st = eval(e->args[i], env, out, err)) != MB_OK)
                return st;
            if (!out->null)
                return MB_OK;
        }
        set_null(out, e->type.t);
        return MB_OK;
    default:
        break;
    }
    if (e->nargs > MB_ARRAY_LEN(vals))
        return mb_err_set(err, MB_EINTERNAL, "too many arguments");
    if ((st = eval_args(e, env, vals, err)) != MB_OK)
        return st;
    switch (e->fn) {
    case MB_SQL_F_NOT:
        set_truth(out, truth(&vals[0]) < 0 ? -1 : !vals[0].u.b);
        return MB_OK;
    case MB_SQL_F_IS_NULL:
        set_bool(out, vals[0].null != ((e->flags & MB_SQL_NEGATED) != 0));
        return MB_OK;
    case MB_SQL_F_IS_TRUE:
    case MB_SQL_F_IS_FALSE: {
        bool is = !vals[0].null && vals[0].u.b == (e->fn == MB_SQL_F_IS_TRUE);
        set_bool(out, is != ((e->flags & MB_SQL_NEGATED) != 0));
        return MB_OK;
    }
    case MB_SQL_F_EQ:
    case MB_SQL_F_NE:
    case MB_SQL_F_LT:
    case MB_SQL_F_LE:
    case MB_SQL_F_GT:
    case MB_SQL_F_GE:
        if (vals[0].null || vals[1].null) {
            set_null(out, MB_SQL_T_BOOLEAN);
            return MB_OK;
        }
        set_bool(out, mb_sql_cmp_holds(e->fn, mb_sql_value_cmp(&vals[0], &vals[1])));
        return MB_OK;
    case MB_SQL_F_IN: {
        int t = 0;
        if (vals[0].null) {
            set_null(out, MB_SQL_T_BOOLEAN);
            return MB_OK;
        }
        for (size_t i = 1; i < e->nargs && t != 1; i++) {
            if (vals[i].null)
                t = -1;
            else if (mb_sql_value_cmp(&vals[0], &vals[i]) == 0)
                t = 1;
        }
        if ((e->flags & MB_SQL_NEGATED) && t >= 0)
            t = !t;
        set_truth(out, t);
        return MB_OK;
    }
    case MB_SQL_F_BETWEEN: {
        int lo = vals[0].null || vals[1].null ? -1 : mb_sql_value_cmp(&vals[0], &vals[1]) >= 0;
        int hi = vals[0].null || vals[2].null ? -1 : mb_sql_value_cmp(&vals[0], &vals[2]) <= 0;
        int t = lo == 0 || hi == 0 ? 0 : lo < 0 || hi < 0 ? -1 : 1;
        if ((e->flags & MB_SQL_NEGATED) && t >= 0)
            t = !t;
        set_truth(out, t);
        return MB_OK;
    }
    case MB_SQL_F_LIKE: {
        int esc = -1;
        for (size_t i = 0; i < e->nargs; i++)
            if (vals[i].null) {
                set_null(out, MB_SQL_T_BOOLEAN);
                return MB_OK;
            }
        if (e->nargs > 2) {
            if (vals[2].u.s.n > 1)
                return mb_err_set(err, MB_EDATA, "the ESCAPE string must be one character");
            esc = vals[2].u.s.n ? (unsigned char)vals[2].u.s.p[0] : -1;
        }
        bool m = like(vals[0].u.s.p, vals[0].u.s.n, vals[1].u.s.p, vals[1].u.s.n, esc,
                      (e->flags & MB_SQL_ILIKE) != 0);
        set_bool(out, m != ((e->flags & MB_SQL_NEGATED) != 0));
        return MB_OK;
    }
    case MB_SQL_F_NULLIF:
        if (!vals[0].null && !vals[1].null && mb_sql_value_cmp(&vals[0], &vals[1]) == 0)
            set_null(out, e->type.t);
        else
            *out = vals[0];
        return MB_OK;
    case MB_SQL_F_GREATEST:
    case MB_SQL_F_LEAST: {
        const mb_sql_value *best = NULL;
        for (size_t i = 0; i < e->nargs; i++) {
            if (vals[i].null)
                continue;                    /* NULLs are ignored, as in DuckDB */
            if (!best)
                best = &vals[i];
            else if ((c = mb_sql_value_cmp(&vals[i], best)) != 0 &&
                     (c > 0) == (e->fn == MB_SQL_F_GREATEST))
                best = &vals[i];
        }
        if (best)
            *out = *best;
        else
            set_null(out, e->type.t);
        return MB_OK;
    }
    case MB_SQL_F_CAST:
        return mb_sql_cast(&vals[0], e->type, env->scratch, out, err);
    default:
        break;
    }
    /* The rest are NULL when any argument is. */
    for (size_t i = 0; i < e->nargs; i++)
        if (vals[i].null && e->fn != MB_SQL_F_CONCAT) {
            set_null(out, e->type.t);
            return MB_OK;
        }
    switch (e->fn) {
    case MB_SQL_F_NEG:
        *out = vals[0];
        if (vals[0].t == MB_SQL_T_BIGINT) {
            if (vals[0].u.i == INT64_MIN)
                return overflow(err, "BIGINT", "-");
            out->u.i = -vals[0].u.i;
        } else if (vals[0].t == MB_SQL_T_DECIMAL) {
            out->u.dec = -vals[0].u.dec;
        } else {
            out->u.d = -vals[0].u.d;
        }
        return MB_OK;
    case MB_SQL_F_ADD:
    case MB_SQL_F_SUB:
    case MB_SQL_F_MUL:
    case MB_SQL_F_DIV:
    case MB_SQL_F_IDIV:
    case MB_SQL_F_MOD:
        return arith(e, &vals[0], &vals[1], out, err);
    case MB_SQL_F_ABS:
        *out = vals[0];
        if (vals[0].t == MB_SQL_T_BIGINT) {
            if (vals[0].u.i == INT64_MIN)
                return overflow(err, "BIGINT", "abs");
            out->u.i = vals[0].u.i < 0 ? -vals[0].u.i : vals[0].u.i;
        } else if (vals[0].t == MB_SQL_T_DECIMAL) {
            out->u.dec = vals[0].u.dec < 0 ? -vals[0].u.dec : vals[0].u.dec;
        } else {
            out->u.d = fabs(vals[0].u.d);
        }
        return MB_OK;
    case MB_SQL_F_ROUND:
    case MB_SQL_F_FLOOR:
    case MB_SQL_F_CEIL:
        return round_value(e, &vals[0], out, err);
    case MB_SQL_F_DATE_TRUNC:
        date_trunc(e, &vals[1], out);
        return MB_OK;
    case MB_SQL_F_DATE_PART:
        date_part(e, &vals[1], out);
        return MB_OK;
    case MB_SQL_F_STRFTIME:
        return strftime_sql(&vals[0], &vals[1], env->scratch, out, err);
    default:
        return string_fn(e, env, vals, out, err);
    }
}

static mb_status eval(const mb_sql_expr *e, const mb_sql_env *env, mb_sql_value *out,
                      mb_err *err)
{
    switch (e->kind) {
    case MB_SQL_E_CONST:
        *out = e->v;
        return MB_OK;
    case MB_SQL_E_COLUMN:
        *out = env->cols[e->idx];
        return MB_OK;
    case MB_SQL_E_KEY:
        *out = env->keys[e->idx];
        return MB_OK;
    case MB_SQL_E_AGG:
        *out = env->aggs[e->idx];
        return MB_OK;
    case MB_SQL_E_CALL:
        return call(e, env, out, err);
    }
    return mb_err_set(err, MB_EINTERNAL, "unknown expression kind");
}

mb_status mb_sql_eval(const mb_sql_expr *e, const mb_sql_env *env, mb_sql_value *out,
                      mb_err *err)
{
    return eval(e, env, out, err);
}

mb_status mb_sql_eval_pred(const mb_sql_expr *e, const mb_sql_env *env, bool *pass, mb_err *err)
{
    mb_sql_value v;
    mb_status st = eval(e, env, &v, err);
    *pass = st == MB_OK && !v.null && v.u.b;
    return st;
}
