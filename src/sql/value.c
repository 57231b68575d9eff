/* value.c - SQL types and values: parsing cells and type names, writing
 * values as DuckDB does, sniffing a column's type. No I/O, no MPI. */
#include "sql/value.h"

#include "base/timefmt.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- type names ---------------------------------------------------------- */

typedef struct tname {
    const char *name;
    mb_sql_type t;
} tname;

static const tname type_names[] = {
    {"bigint", MB_SQL_T_BIGINT},     {"int", MB_SQL_T_BIGINT},
    {"integer", MB_SQL_T_BIGINT},    {"int8", MB_SQL_T_BIGINT},
    {"int4", MB_SQL_T_BIGINT},       {"int2", MB_SQL_T_BIGINT},
    {"smallint", MB_SQL_T_BIGINT},   {"tinyint", MB_SQL_T_BIGINT},
    {"long", MB_SQL_T_BIGINT},       {"decimal", MB_SQL_T_DECIMAL},
    {"numeric", MB_SQL_T_DECIMAL},   {"double", MB_SQL_T_DOUBLE},
    {"float8", MB_SQL_T_DOUBLE},     {"float", MB_SQL_T_DOUBLE},
    {"float4", MB_SQL_T_DOUBLE},     {"real", MB_SQL_T_DOUBLE},
    {"varchar", MB_SQL_T_VARCHAR},   {"text", MB_SQL_T_VARCHAR},
    {"string", MB_SQL_T_VARCHAR},    {"char", MB_SQL_T_VARCHAR},
    {"bpchar", MB_SQL_T_VARCHAR},    {"boolean", MB_SQL_T_BOOLEAN},
    {"bool", MB_SQL_T_BOOLEAN},      {"date", MB_SQL_T_DATE},
    {"timestamp", MB_SQL_T_TIMESTAMP}, {"datetime", MB_SQL_T_TIMESTAMP},
};

static size_t skip_space(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i;
}

/* A small unsigned number at p[*i..n): up to 3 digits. -1 if none. */
static int small_num(const char *p, size_t *i, size_t n)
{
    int v = 0, k = 0;
    while (*i < n && isdigit((unsigned char)p[*i]) && k < 3) {
        v = v * 10 + (p[*i] - '0');
        (*i)++;
        k++;
    }
    return k ? v : -1;
}

static mb_status dtype_fail(mb_err *err, const char *text, size_t len, size_t at, const char *why)
{
    return mb_err_set_at(err, MB_EUSAGE, (long)at + 1, "type '%.*s': %s", (int)len, text, why);
}

/* "(w[,s])" after DECIMAL, at text[*i..len). */
static mb_status dec_params(const char *text, size_t len, size_t *i, mb_sql_dtype *out,
                            mb_err *err)
{
    int w, s = 0;
    (*i)++;
    *i = skip_space(text, *i, len);
    if ((w = small_num(text, i, len)) < 1 || w > MB_SQL_DEC_MAX_WIDTH)
        return dtype_fail(err, text, len, *i, "the width must be 1 to 38");
    *i = skip_space(text, *i, len);
    if (*i < len && text[*i] == ',') {
        *i = skip_space(text, *i + 1, len);
        if ((s = small_num(text, i, len)) < 0 || s > w)
            return dtype_fail(err, text, len, *i, "the scale must be 0 to the width");
        *i = skip_space(text, *i, len);
    }
    if (*i >= len || text[*i] != ')')
        return dtype_fail(err, text, len, *i, "expected ')'");
    (*i)++;
    out->width = (uint8_t)w;
    out->scale = (uint8_t)s;
    return MB_OK;
}

mb_status mb_sql_dtype_parse(const char *text, size_t len, mb_sql_dtype *out, mb_err *err)
{
    size_t i = skip_space(text, 0, len), start = i, k;
    char word[16];
    mb_sql_dtype t = {MB_SQL_T_NULL, 0, 0};

    while (i < len && (isalnum((unsigned char)text[i]) || text[i] == '_'))
        i++;
    if (i == start || i - start >= sizeof word)
        return dtype_fail(err, text, len, start, "not a type name");
    for (k = 0; k < i - start; k++)
        word[k] = (char)tolower((unsigned char)text[start + k]);
    word[k] = '\0';
    for (k = 0; k < MB_ARRAY_LEN(type_names); k++)
        if (strcmp(word, type_names[k].name) == 0)
            t.t = type_names[k].t;
    if (t.t == MB_SQL_T_NULL)
        return dtype_fail(err, text, len, start,
                          "unknown type (BIGINT, DECIMAL(w,s), DOUBLE, VARCHAR, BOOLEAN, DATE, "
                          "TIMESTAMP)");
    if (t.t == MB_SQL_T_DECIMAL) {
        t.width = 18;
        t.scale = 3;
    }
    i = skip_space(text, i, len);
    if (i < len && text[i] == '(') {
        mb_status st;
        if (t.t == MB_SQL_T_VARCHAR) {          /* VARCHAR(n): n is ignored */
            while (i < len && text[i] != ')')
                i++;
            if (i == len)
                return dtype_fail(err, text, len, i, "expected ')'");
            i++;
        } else if (t.t != MB_SQL_T_DECIMAL) {
            return dtype_fail(err, text, len, i, "only DECIMAL and VARCHAR take parameters");
        } else if ((st = dec_params(text, len, &i, &t, err)) != MB_OK) {
            return st;
        }
    }
    i = skip_space(text, i, len);
    if (i != len)
        return dtype_fail(err, text, len, i, "unexpected text after the type");
    *out = t;
    return MB_OK;
}

mb_status mb_sql_dtype_name(mb_sql_dtype t, char *out, size_t cap)
{
    static const char *const names[] = {"NULL",    "BOOLEAN", "BIGINT", "DECIMAL",
                                        "DOUBLE",  "VARCHAR", "DATE",   "TIMESTAMP"};
    int n;
    if (t.t == MB_SQL_T_DECIMAL)
        n = snprintf(out, cap, "DECIMAL(%u,%u)", t.width, t.scale);
    else
        n = snprintf(out, cap, "%s", names[t.t]);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return MB_ELIMIT;
    }
    return MB_OK;
}

/* ---- dates ---------------------------------------------------------------- */

/* Calendar arithmetic is base/timefmt's: no time zone, no libc. */
int64_t mb_sql_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    return mb_time_days_from_civil(y, (int)m, (int)d);
}

void mb_sql_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int mm, dd;
    mb_time_civil_from_days(z, y, &mm, &dd);
    *m = (unsigned)mm;
    *d = (unsigned)dd;
}

/* Exactly `k` digits at p[*i..n) into *v. */
static int fixed_digits(const char *p, size_t *i, size_t n, unsigned k, unsigned *v)
{
    unsigned x = 0;
    for (unsigned j = 0; j < k; j++) {
        if (*i >= n || !isdigit((unsigned char)p[*i]))
            return -1;
        x = x * 10 + (unsigned)(p[(*i)++] - '0');
    }
    *v = x;
    return 0;
}

/* YYYY-MM-DD at p[*i..n) (years 0001..9999). */
static int parse_date_at(const char *p, size_t *i, size_t n, int64_t *days)
{
    unsigned y, m, d;
    if (fixed_digits(p, i, n, 4, &y) || *i >= n || p[(*i)++] != '-' ||
        fixed_digits(p, i, n, 2, &m) || *i >= n || p[(*i)++] != '-' ||
        fixed_digits(p, i, n, 2, &d))
        return -1;
    if (y == 0 || m < 1 || m > 12 || d < 1 || d > (unsigned)mb_time_days_in_month(y, (int)m))
        return -1;
    *days = mb_sql_days_from_civil(y, m, d);
    return 0;
}

/* HH:MM[:SS[.f]] and an optional offset, at p[*i..n), into microseconds
 * of the day (the offset already subtracted, so it may leave the day). */
static int parse_time_at(const char *p, size_t *i, size_t n, int64_t *us)
{
    unsigned h, mi, s = 0, oh = 0, om = 0;
    int64_t frac = 0, scale = 100000;
    if (fixed_digits(p, i, n, 2, &h) || *i >= n || p[(*i)++] != ':' ||
        fixed_digits(p, i, n, 2, &mi))
        return -1;
    if (*i < n && p[*i] == ':') {
        (*i)++;
        if (fixed_digits(p, i, n, 2, &s))
            return -1;
        if (*i < n && p[*i] == '.') {
            size_t f0 = ++(*i);
            while (*i < n && isdigit((unsigned char)p[*i])) {
                if (scale > 0) {          /* digits past microseconds are cut */
                    frac += (p[*i] - '0') * scale;
                    scale /= 10;
                }
                (*i)++;
            }
            if (*i == f0)
                return -1;
        }
    }
    if (h > 23 || mi > 59 || s > 59)
        return -1;
    *us = (((int64_t)h * 60 + mi) * 60 + s) * 1000000 + frac;
    *i = skip_space(p, *i, n);
    if (*i < n && (p[*i] == 'Z' || p[*i] == 'z')) {
        (*i)++;
    } else if (*i < n && (p[*i] == '+' || p[*i] == '-')) {
        int neg = p[(*i)++] == '-';
        if (fixed_digits(p, i, n, 2, &oh))
            return -1;
        if (*i < n && p[*i] == ':')
            (*i)++;
        if (*i < n && isdigit((unsigned char)p[*i]) && fixed_digits(p, i, n, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        *us -= (neg ? -1 : 1) * ((int64_t)oh * 60 + om) * 60 * 1000000;
    }
    return 0;
}

/* ---- parsing cells ------------------------------------------------------- */

static mb_status not_a(mb_err *err, const char *cell, size_t len, mb_sql_dtype t)
{
    char name[32];
    (void)mb_sql_dtype_name(t, name, sizeof name);
    if (len > 64)
        return mb_err_set(err, MB_EDATA, "'%.64s...' is not a %s", cell, name);
    return mb_err_set(err, MB_EDATA, "'%.*s' is not a %s", (int)len, cell, name);
}

static int parse_bool(const char *p, size_t n, bool *out)
{
    static const char *const yes[] = {"true", "t", "1"}, *const no[] = {"false", "f", "0"};
    size_t i = skip_space(p, 0, n);
    while (n > i && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    for (size_t k = 0; k < 3; k++) {
        if (n - i == strlen(yes[k]) && strncasecmp(p + i, yes[k], n - i) == 0)
            return *out = true, 0;
        if (n - i == strlen(no[k]) && strncasecmp(p + i, no[k], n - i) == 0)
            return *out = false, 0;
    }
    return -1;
}

/* [spaces][+-]digits[spaces] in the int64 range: 0, 1 not a number,
 * 2 out of range. */
static int parse_i64(const char *p, size_t n, int64_t *out)
{
    size_t i = skip_space(p, 0, n), d0;
    uint64_t v = 0, lim;
    int neg = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        neg = p[i++] == '-';
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (d0 = i; i < n && isdigit((unsigned char)p[i]); i++) {
        unsigned dg = (unsigned)(p[i] - '0');
        if (v > (lim - dg) / 10)
            return 2;
        v = v * 10 + dg;
    }
    if (i == d0 || skip_space(p, i, n) != n)
        return 1;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

static mb_i128 pow10_i128(unsigned k)
{
    mb_i128 r = 1;
    while (k--)
        r *= 10;
    return r;
}

/* The decimal in d rescaled to `scale` places, rounding half away from
 * zero; -1 when it has more than width - scale integer digits. */
static int dec_rescale(const mb_dec *d, mb_sql_dtype t, mb_i128 *out)
{
    mb_i128 m = d->m, lim = pow10_i128(t.width);
    if (d->scale > t.scale) {
        mb_i128 q = pow10_i128((unsigned)(d->scale - t.scale)), r;
        r = m % q;
        m /= q;
        if (r >= q / 2 + q % 2 || -r >= q / 2 + q % 2)
            m += m < 0 || (m == 0 && r < 0) ? -1 : 1;
    } else {
        for (int32_t k = d->scale; k < t.scale; k++) {
            if (m > lim / 10 || -m > lim / 10)      /* would pass the width */
                return -1;
            m *= 10;
        }
    }
    if (m >= lim || -m >= lim)
        return -1;
    *out = m;
    return 0;
}

static int parse_double(const char *p, size_t n, double *out)
{
    char buf[400], *end;
    size_t i = skip_space(p, 0, n), e = n;
    while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    if (e == i || e - i >= sizeof buf)
        return -1;
    memcpy(buf, p + i, e - i);
    buf[e - i] = '\0';
    for (size_t k = 0; buf[k]; k++)          /* strtod also reads hex */
        if (buf[k] == 'x' || buf[k] == 'X')
            return -1;
    *out = strtod(buf, &end);
    return *end == '\0' ? 0 : -1;
}

static mb_status parse_number(const char *cell, size_t len, mb_sql_dtype t, mb_sql_value *out,
                              mb_err *err)
{
    if (t.t == MB_SQL_T_BIGINT) {
        int r = parse_i64(cell, len, &out->u.i);
        if (r == 2)
            return mb_err_set(err, MB_ERANGE, "'%.*s' is outside the BIGINT range",
                              (int)(len > 64 ? 64 : len), cell);
        return r ? not_a(err, cell, len, t) : MB_OK;
    }
    if (t.t == MB_SQL_T_DOUBLE)
        return parse_double(cell, len, &out->u.d) ? not_a(err, cell, len, t) : MB_OK;
    {
        mb_dec d;
        mb_err e2;
        mb_status st = mb_dec_parse(cell, len, &d, &e2);
        if (st == MB_ERANGE)
            return mb_err_set(err, MB_ERANGE, "%s", e2.msg);
        if (st != MB_OK)
            return not_a(err, cell, len, t);
        if (dec_rescale(&d, t, &out->u.dec))
            return mb_err_set(err, MB_ERANGE, "'%.*s' does not fit DECIMAL(%u,%u)",
                              (int)(len > 64 ? 64 : len), cell, t.width, t.scale);
        out->scale = t.scale;
        return MB_OK;
    }
}

mb_status mb_sql_value_parse(const char *cell, size_t len, mb_sql_dtype t, mb_sql_value *out,
                             mb_err *err)
{
    size_t i = 0;
    int64_t days, us;

    memset(out, 0, sizeof *out);
    out->t = t.t;
    switch (t.t) {
    case MB_SQL_T_VARCHAR:
        out->u.s.p = cell;
        out->u.s.n = len;
        return MB_OK;
    case MB_SQL_T_BOOLEAN:
        return parse_bool(cell, len, &out->u.b) ? not_a(err, cell, len, t) : MB_OK;
    case MB_SQL_T_BIGINT:
    case MB_SQL_T_DECIMAL:
    case MB_SQL_T_DOUBLE:
        return parse_number(cell, len, t, out, err);
    case MB_SQL_T_DATE:
        i = skip_space(cell, 0, len);
        if (parse_date_at(cell, &i, len, &days) || skip_space(cell, i, len) != len)
            return not_a(err, cell, len, t);
        out->u.i = days;
        return MB_OK;
    case MB_SQL_T_TIMESTAMP:
        i = skip_space(cell, 0, len);
        if (parse_date_at(cell, &i, len, &days))
            return not_a(err, cell, len, t);
        us = 0;
        if (i < len && (cell[i] == ' ' || cell[i] == 'T' || cell[i] == 't')) {
            size_t j = skip_space(cell, i + 1, len);
            if (j < len && parse_time_at(cell, &j, len, &us))
                return not_a(err, cell, len, t);
            i = j;
        }
        if (skip_space(cell, i, len) != len)
            return not_a(err, cell, len, t);
        out->u.i = days * 86400 * INT64_C(1000000) + us;
        return MB_OK;
    case MB_SQL_T_NULL:
        break;
    }
    return mb_err_set(err, MB_EINTERNAL, "no parser for a value of type NULL");
}

/* ---- writing values ------------------------------------------------------ */

static mb_status put(char *out, size_t cap, int n)
{
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return MB_ELIMIT;
    }
    return MB_OK;
}

static mb_status format_i128(mb_i128 v, unsigned scale, char *out, size_t cap)
{
    char buf[48];
    size_t k = sizeof buf, nd;
    mb_u128 u = v < 0 ? (mb_u128)0 - (mb_u128)v : (mb_u128)v;
    buf[--k] = '\0';
    do {
        buf[--k] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    nd = sizeof buf - 1 - k;
    while (nd <= scale) {                       /* at least one integer digit */
        buf[--k] = '0';
        nd++;
    }
    if (scale == 0)
        return put(out, cap, snprintf(out, cap, "%s%s", v < 0 ? "-" : "", buf + k));
    return put(out, cap, snprintf(out, cap, "%s%.*s.%s", v < 0 ? "-" : "", (int)(nd - scale),
                                  buf + k, buf + k + nd - scale));
}

static mb_status format_date(int64_t days, char *out, size_t cap)
{
    int64_t y;
    unsigned m, d;
    mb_sql_civil_from_days(days, &y, &m, &d);
    return put(out, cap, snprintf(out, cap, "%04" PRId64 "-%02u-%02u", y, m, d));
}

static mb_status format_timestamp(int64_t us, char *out, size_t cap)
{
    int64_t day = us / 86400000000, rem = us % 86400000000;
    size_t len;
    mb_status st;
    if (rem < 0) {
        rem += 86400000000;
        day--;
    }
    if ((st = format_date(day, out, cap)) != MB_OK)
        return st;
    len = strlen(out);
    st = put(out + len, cap - len,
             snprintf(out + len, cap - len, " %02d:%02d:%02d", (int)(rem / 3600000000),
                      (int)(rem / 60000000 % 60), (int)(rem / 1000000 % 60)));
    if (st != MB_OK || rem % 1000000 == 0)
        return st;
    {
        char f[8];
        int nf = 6;
        snprintf(f, sizeof f, "%06d", (int)(rem % 1000000));
        while (f[nf - 1] == '0')
            nf--;
        len = strlen(out);
        return put(out + len, cap - len, snprintf(out + len, cap - len, ".%.*s", nf, f));
    }
}

mb_status mb_sql_value_format(const mb_sql_value *v, char *out, size_t cap)
{
    if (v->null || v->t == MB_SQL_T_NULL)
        return put(out, cap, snprintf(out, cap, "%s", ""));
    switch (v->t) {
    case MB_SQL_T_BOOLEAN:
        return put(out, cap, snprintf(out, cap, "%s", v->u.b ? "true" : "false"));
    case MB_SQL_T_BIGINT:
        return put(out, cap, snprintf(out, cap, "%" PRId64, v->u.i));
    case MB_SQL_T_DECIMAL:
        return format_i128(v->u.dec, v->scale, out, cap);
    case MB_SQL_T_DOUBLE:
        return mb_format_double(v->u.d, out, cap);
    case MB_SQL_T_VARCHAR:
        return put(out, cap, snprintf(out, cap, "%.*s", (int)v->u.s.n, v->u.s.p));
    case MB_SQL_T_DATE:
        return format_date(v->u.i, out, cap);
    case MB_SQL_T_TIMESTAMP:
        return format_timestamp(v->u.i, out, cap);
    case MB_SQL_T_NULL:
        break;
    }
    return put(out, cap, snprintf(out, cap, "%s", ""));
}

/* ---- sniffing ------------------------------------------------------------- */

enum { S_BOOL = 1, S_INT = 2, S_DEC = 4, S_DBL = 8, S_DATE = 16, S_TS = 32 };

void mb_sql_sniff_init(mb_sql_sniff *s)
{
    memset(s, 0, sizeof *s);
    s->ok = S_BOOL | S_INT | S_DEC | S_DBL | S_DATE | S_TS;
}

/* A plain decimal: [spaces][+-]digits[.digits][spaces]; its digit counts. */
static int plain_decimal(const char *p, size_t n, unsigned *nint, unsigned *nfrac)
{
    size_t i = skip_space(p, 0, n), a;
    unsigned fi = 0, ff = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        i++;
    for (a = i; i < n && isdigit((unsigned char)p[i]); i++)
        if (fi || p[i] != '0')
            fi++;
    if (i < n && p[i] == '.') {
        size_t f0 = ++i;
        for (; i < n && isdigit((unsigned char)p[i]); i++)
            ff++;
        if (f0 == i && a == f0 - 1)
            return -1;
    } else if (a == i) {
        return -1;
    }
    if (skip_space(p, i, n) != n)
        return -1;
    *nint = fi;
    *nfrac = ff;
    return 0;
}

void mb_sql_sniff_add(mb_sql_sniff *s, const char *cell, size_t len)
{
    unsigned ni, nf;
    int64_t i64;
    double d;
    size_t i = 0;
    int64_t days;
    bool plain = false;

    if (skip_space(cell, 0, len) == len)
        return;
    s->n++;
    if (s->ok & S_BOOL) {
        size_t a = skip_space(cell, 0, len), e = len;
        while (e > a && (cell[e - 1] == ' ' || cell[e - 1] == '\t'))
            e--;
        if (!((e - a == 4 && strncasecmp(cell + a, "true", 4) == 0) ||
              (e - a == 5 && strncasecmp(cell + a, "false", 5) == 0)))
            s->ok &= ~(unsigned)S_BOOL;
    }
    if ((s->ok & S_INT) && parse_i64(cell, len, &i64))
        s->ok &= ~(unsigned)S_INT;
    if (s->ok & (S_DEC | S_DBL))
        plain = plain_decimal(cell, len, &ni, &nf) == 0;
    if (s->ok & S_DEC) {
        if (!plain || ni + nf > 18 || nf > 9) {
            s->ok &= ~(unsigned)S_DEC;
        } else {
            s->maxint = ni > s->maxint ? ni : s->maxint;
            s->maxscale = nf > s->maxscale ? nf : s->maxscale;
            if (s->maxint + s->maxscale > 18)
                s->ok &= ~(unsigned)S_DEC;
        }
    }
    /* A plain decimal is a double (what strtod reads whole): no strtod for
     * the common case, as the head of a file is sniffed per task. */
    if ((s->ok & S_DBL) && !(plain && len < 256) && parse_double(cell, len, &d))
        s->ok &= ~(unsigned)S_DBL;
    i = skip_space(cell, 0, len);
    if ((s->ok & S_DATE) &&
        (parse_date_at(cell, &i, len, &days) || skip_space(cell, i, len) != len))
        s->ok &= ~(unsigned)S_DATE;
    if (s->ok & S_TS) {
        mb_sql_value v;
        mb_sql_dtype t = {MB_SQL_T_TIMESTAMP, 0, 0};
        if (mb_sql_value_parse(cell, len, t, &v, NULL) != MB_OK)
            s->ok &= ~(unsigned)S_TS;
    }
}

mb_sql_dtype mb_sql_sniff_result(const mb_sql_sniff *s)
{
    mb_sql_dtype t = {MB_SQL_T_VARCHAR, 0, 0};
    if (s->n == 0)
        return t;
    if (s->ok & S_BOOL)
        t.t = MB_SQL_T_BOOLEAN;
    else if (s->ok & S_INT)
        t.t = MB_SQL_T_BIGINT;
    else if (s->ok & S_DEC) {
        t.t = MB_SQL_T_DECIMAL;
        t.width = 18;
        t.scale = (uint8_t)s->maxscale;
    } else if (s->ok & S_DBL)
        t.t = MB_SQL_T_DOUBLE;
    else if (s->ok & S_DATE)
        t.t = MB_SQL_T_DATE;
    else if (s->ok & S_TS)
        t.t = MB_SQL_T_TIMESTAMP;
    return t;
}
