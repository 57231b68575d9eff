/* bind.c - a syntax tree and the input's columns to a plan (plan.h):
 * names resolved, types decided as DuckDB decides them, aggregates
 * collected, the query split into its row, state and group layers.
 *
 * Grouped queries are checked the SQL way: in the select list, HAVING and
 * ORDER BY an expression must be a group key, built from keys, or inside
 * an aggregate. A subexpression is recognised as a key by comparing bound
 * trees, so `GROUP BY upper(Origin)` matches `upper(origin)`. Constants
 * are typed here; a string constant compared with a typed value takes
 * that type (`d >= '2024-01-01'` on a DATE), and one that does not parse
 * as it is an error at its position, before any data is read. */
#include "sql/plan.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql/pool.h"

#define LITSTR 0x100u    /* internal flag: an untyped string constant */

typedef enum mode { ROW, GROUP } mode;

typedef struct binder {
    const mb_sql_query *q;
    const mb_sql_column *cols;
    size_t ncols;
    mb_sql_plan *p;
    mb_err *err;
    mb_status code;
    size_t aggcap;
    bool in_agg;             /* binding an aggregate's argument */
    bool alias_ok;           /* HAVING, ORDER BY: names may be aliases */
    mb_sql_expr **tgt;       /* bound select list (group layer) */
} binder;

static mb_status fail(binder *b, long pos, const char *fmt, ...) MB_PRINTF(3, 4);

static mb_status fail(binder *b, long pos, const char *fmt, ...)
{
    va_list ap;
    mb_status st;
    va_start(ap, fmt);
    st = mb_sql_verr(b->err, b->code, b->q->sql, b->q->source, pos, fmt, ap);
    va_end(ap);
    return st;
}

static mb_status nomem(binder *b)
{
    return mb_err_set(b->err, MB_ENOMEM, "%s: out of memory while planning the query",
                      b->q->source);
}

static const char *tname(mb_sql_dtype t, char *buf, size_t cap)
{
    (void)mb_sql_dtype_name(t, buf, cap);
    return buf;
}

static mb_sql_dtype dt(mb_sql_type t) { return (mb_sql_dtype){t, 0, 0}; }
static mb_sql_dtype dec(unsigned scale) { return (mb_sql_dtype){MB_SQL_T_DECIMAL, 38, (uint8_t)scale}; }

static mb_sql_expr *new_expr(binder *b, mb_sql_ekind kind, long pos, size_t nargs)
{
    mb_sql_expr *e = mb_sql_pool_alloc(&b->p->pool, sizeof *e);
    if (!e)
        return NULL;
    e->kind = kind;
    e->pos = pos;
    if (nargs && !(e->args = mb_sql_pool_alloc(&b->p->pool, nargs * sizeof *e->args)))
        return NULL;
    e->nargs = nargs;
    return e;
}

static bool is_numeric(mb_sql_type t)
{
    return t == MB_SQL_T_BIGINT || t == MB_SQL_T_DECIMAL || t == MB_SQL_T_DOUBLE;
}

static bool is_temporal(mb_sql_type t) { return t == MB_SQL_T_DATE || t == MB_SQL_T_TIMESTAMP; }

/* ---- constants ---------------------------------------------------------- */

static mb_status literal(binder *b, const mb_sql_node *n, mb_sql_expr **out)
{
    mb_sql_expr *e = new_expr(b, MB_SQL_E_CONST, n->pos, 0);
    mb_err e2;
    if (!e)
        return nomem(b);
    *out = e;
    e->v.t = MB_SQL_T_NULL;
    switch (n->lit) {
    case MB_SQL_LIT_NULL:
        e->v.null = true;
        e->type = dt(MB_SQL_T_NULL);
        return MB_OK;
    case MB_SQL_LIT_TRUE:
    case MB_SQL_LIT_FALSE:
        e->type = dt(MB_SQL_T_BOOLEAN);
        e->v.t = MB_SQL_T_BOOLEAN;
        e->v.u.b = n->lit == MB_SQL_LIT_TRUE;
        return MB_OK;
    case MB_SQL_LIT_STRING:
        e->type = dt(MB_SQL_T_VARCHAR);
        e->flags |= LITSTR;
        e->v.t = MB_SQL_T_VARCHAR;
        /* the plan outlives the query: copy */
        if (!(e->v.u.s.p = mb_sql_pool_strndup(&b->p->pool, n->text, n->len)))
            return nomem(b);
        e->v.u.s.n = n->len;
        return MB_OK;
    case MB_SQL_LIT_INT:
        e->type = dt(MB_SQL_T_BIGINT);
        if (mb_sql_value_parse(n->text, n->len, e->type, &e->v, &e2) == MB_OK)
            return MB_OK;
        /* Beyond BIGINT: DuckDB makes it a HUGEINT; ours is DECIMAL(38,0). */
        e->type = dec(0);
        if (mb_sql_value_parse(n->text, n->len, e->type, &e->v, &e2) == MB_OK)
            return MB_OK;
        return fail(b, n->pos, "integer constant %s is out of range", n->text);
    case MB_SQL_LIT_NUM: {
        /* 1.25 is DECIMAL(3,2) in DuckDB; with an exponent it is DOUBLE. */
        const char *pt = strchr(n->text, '.');
        size_t places = 0;
        if (strpbrk(n->text, "eE")) {
            e->type = dt(MB_SQL_T_DOUBLE);
        } else {
            for (const char *c = pt ? pt + 1 : ""; isdigit((unsigned char)*c); c++)
                places++;
            e->type = places <= 18 ? dec((unsigned)places) : dt(MB_SQL_T_DOUBLE);
        }
        if (mb_sql_value_parse(n->text, n->len, e->type, &e->v, &e2) != MB_OK) {
            e->type = dt(MB_SQL_T_DOUBLE);
            if (mb_sql_value_parse(n->text, n->len, e->type, &e->v, &e2) != MB_OK)
                return fail(b, n->pos, "numeric constant %s: %s", n->text, e2.msg);
        }
        return MB_OK;
    }
    }
    return fail(b, n->pos, "unsupported constant");
}

/* A string constant given the type `t` the context wants. */
static mb_status coerce_literal(binder *b, mb_sql_expr *e, mb_sql_dtype t)
{
    mb_sql_value v;
    mb_err e2;
    char name[32];
    if (t.t == MB_SQL_T_VARCHAR || t.t == MB_SQL_T_NULL)
        return MB_OK;
    if (t.t == MB_SQL_T_DECIMAL)           /* keep the places the text has */
        t = dec(18);
    if (mb_sql_value_parse(e->v.u.s.p, e->v.u.s.n, t, &v, &e2) != MB_OK)
        return fail(b, e->pos, "'%.*s' is not a %s", (int)e->v.u.s.n, e->v.u.s.p,
                    tname(t, name, sizeof name));
    e->v = v;
    e->type = t;
    e->flags &= ~LITSTR;
    return MB_OK;
}

/* ---- type rules ------------------------------------------------------------ */

/* The type two numeric operands meet in. */
static mb_sql_dtype numeric_join(mb_sql_dtype a, mb_sql_dtype c)
{
    if (a.t == MB_SQL_T_DOUBLE || c.t == MB_SQL_T_DOUBLE)
        return dt(MB_SQL_T_DOUBLE);
    if (a.t == MB_SQL_T_DECIMAL || c.t == MB_SQL_T_DECIMAL)
        return dec(a.scale > c.scale ? a.scale : c.scale);
    return dt(MB_SQL_T_BIGINT);
}

/* The common type of a list (CASE branches, COALESCE, IN, comparisons):
 * NULLs take any type; numbers meet; a DATE meets a TIMESTAMP as
 * TIMESTAMP; untyped strings take the others' type. -1 when none. */
static int common_type(mb_sql_expr **v, size_t n, mb_sql_dtype *out)
{
    mb_sql_dtype t = dt(MB_SQL_T_NULL);
    bool only_lit = true;
    for (size_t i = 0; i < n; i++) {
        mb_sql_dtype u = v[i]->type;
        if (u.t == MB_SQL_T_NULL || (v[i]->flags & LITSTR))
            continue;
        only_lit = false;
        if (t.t == MB_SQL_T_NULL)
            t = u;
        else if (is_numeric(t.t) && is_numeric(u.t))
            t = numeric_join(t, u);
        else if (is_temporal(t.t) && is_temporal(u.t))
            t = t.t == u.t ? t : dt(MB_SQL_T_TIMESTAMP);
        else if (t.t != u.t)
            return -1;
    }
    if (only_lit) {
        for (size_t i = 0; i < n; i++)
            if (v[i]->flags & LITSTR)
                t = dt(MB_SQL_T_VARCHAR);
    }
    *out = t;
    return 0;
}

/* Coerces every member of v to t: literals are converted now, other
 * values get a CAST when their type differs. */
static mb_status coerce_all(binder *b, mb_sql_expr **v, size_t n, mb_sql_dtype t)
{
    mb_status st;
    for (size_t i = 0; i < n; i++) {
        mb_sql_expr *e = v[i];
        if (e->flags & LITSTR) {
            if ((st = coerce_literal(b, e, t)) != MB_OK)
                return st;
            continue;
        }
        if (e->type.t == t.t && (t.t != MB_SQL_T_DECIMAL || e->type.scale == t.scale))
            continue;
        mb_sql_expr *c = new_expr(b, MB_SQL_E_CALL, e->pos, 1);
        if (!c)
            return nomem(b);
        c->fn = MB_SQL_F_CAST;
        c->type = t;
        c->args[0] = e;
        v[i] = c;
    }
    return MB_OK;
}

static mb_status want_bool(binder *b, mb_sql_expr *e, const char *what)
{
    char name[32];
    if (e->type.t == MB_SQL_T_BOOLEAN || e->type.t == MB_SQL_T_NULL)
        return MB_OK;
    if (e->flags & LITSTR)
        return coerce_literal(b, e, dt(MB_SQL_T_BOOLEAN));
    return fail(b, e->pos, "%s must be BOOLEAN, not %s", what, tname(e->type, name, sizeof name));
}

static mb_status want_string(binder *b, mb_sql_expr *e, const char *fname)
{
    char name[32];
    if (e->type.t == MB_SQL_T_VARCHAR || e->type.t == MB_SQL_T_NULL)
        return MB_OK;
    return fail(b, e->pos, "%s() takes VARCHAR, not %s (cast it: x::VARCHAR)", fname,
                tname(e->type, name, sizeof name));
}

/* An integer constant argument (round's places, substr's from/for). */
static int const_int(const mb_sql_expr *e, int64_t *v)
{
    if (e->kind != MB_SQL_E_CONST || e->type.t != MB_SQL_T_BIGINT || e->v.null)
        return -1;
    *v = e->v.u.i;
    return 0;
}

static mb_status arith(binder *b, mb_sql_expr *e, const char *op)
{
    mb_sql_expr *l = e->args[0], *r = e->nargs > 1 ? e->args[1] : NULL;
    char n1[32], n2[32];
    mb_status st;

    if (!r) {                                          /* unary minus */
        if ((l->flags & LITSTR) && (st = coerce_literal(b, l, dt(MB_SQL_T_DOUBLE))) != MB_OK)
            return st;
        if (!is_numeric(l->type.t) && l->type.t != MB_SQL_T_NULL)
            return fail(b, e->pos, "cannot negate a %s", tname(l->type, n1, sizeof n1));
        e->type = l->type.t == MB_SQL_T_NULL ? dt(MB_SQL_T_BIGINT) : l->type;
        return MB_OK;
    }
    /* Dates: DATE +- BIGINT is a DATE, DATE - DATE a number of days. */
    if (l->type.t == MB_SQL_T_DATE && (e->fn == MB_SQL_F_ADD || e->fn == MB_SQL_F_SUB) &&
        (r->type.t == MB_SQL_T_BIGINT || (e->fn == MB_SQL_F_SUB && r->type.t == MB_SQL_T_DATE))) {
        e->type = dt(r->type.t == MB_SQL_T_DATE ? MB_SQL_T_BIGINT : MB_SQL_T_DATE);
        return MB_OK;
    }
    if (e->fn == MB_SQL_F_ADD && r->type.t == MB_SQL_T_DATE && l->type.t == MB_SQL_T_BIGINT) {
        e->type = dt(MB_SQL_T_DATE);
        return MB_OK;
    }
    for (int i = 0; i < 2; i++) {
        mb_sql_expr *x = e->args[i];
        if ((x->flags & LITSTR) && (st = coerce_literal(b, x, dt(MB_SQL_T_DOUBLE))) != MB_OK)
            return st;
        if (!is_numeric(x->type.t) && x->type.t != MB_SQL_T_NULL)
            return fail(b, e->pos, "no operator %s for %s and %s", op,
                        tname(l->type, n1, sizeof n1), tname(r->type, n2, sizeof n2));
    }
    mb_sql_dtype t = numeric_join(l->type.t == MB_SQL_T_NULL ? dt(MB_SQL_T_BIGINT) : l->type,
                                  r->type.t == MB_SQL_T_NULL ? dt(MB_SQL_T_BIGINT) : r->type);
    switch (e->fn) {
    case MB_SQL_F_DIV:
        t = dt(MB_SQL_T_DOUBLE);
        break;
    case MB_SQL_F_IDIV:
        if (t.t != MB_SQL_T_BIGINT)
            return fail(b, e->pos, "// takes integers (for %s and %s use floor(a / b))",
                        tname(l->type, n1, sizeof n1), tname(r->type, n2, sizeof n2));
        break;
    case MB_SQL_F_MUL:
        if (t.t == MB_SQL_T_DECIMAL) {
            unsigned s = (unsigned)(l->type.t == MB_SQL_T_DECIMAL ? l->type.scale : 0) +
                         (unsigned)(r->type.t == MB_SQL_T_DECIMAL ? r->type.scale : 0);
            if (s > 38)
                return fail(b, e->pos, "the product has more than 38 decimal places");
            e->type = dec(s);
            return MB_OK;           /* operands keep their own scales */
        }
        break;
    default:
        break;
    }
    e->type = t;
    return coerce_all(b, e->args, 2, t);
}

static mb_status comparison(binder *b, mb_sql_expr *e, size_t from)
{
    mb_sql_dtype t;
    char n1[32], n2[32];
    if (common_type(e->args + from, e->nargs - from, &t))
        return fail(b, e->pos, "cannot compare %s and %s",
                    tname(e->args[from]->type, n1, sizeof n1),
                    tname(e->args[e->nargs - 1]->type, n2, sizeof n2));
    if (t.t == MB_SQL_T_DECIMAL) {
        /* Compare decimals at the larger scale; literals keep theirs. */
        unsigned s = 0;
        for (size_t i = from; i < e->nargs; i++)
            if (e->args[i]->type.t == MB_SQL_T_DECIMAL && e->args[i]->type.scale > s)
                s = e->args[i]->type.scale;
        t = dec(s);
    }
    return coerce_all(b, e->args + from, e->nargs - from, t);
}

/* ---- functions ----------------------------------------------------------------- */

typedef struct fdef {
    const char *name;
    mb_sql_fn fn;
    int min, max;            /* arguments */
} fdef;

static const fdef functions[] = {
    {"coalesce", MB_SQL_F_COALESCE, 1, 64}, {"nullif", MB_SQL_F_NULLIF, 2, 2},
    {"greatest", MB_SQL_F_GREATEST, 1, 64}, {"least", MB_SQL_F_LEAST, 1, 64},
    {"abs", MB_SQL_F_ABS, 1, 1},            {"round", MB_SQL_F_ROUND, 1, 2},
    {"floor", MB_SQL_F_FLOOR, 1, 1},        {"ceil", MB_SQL_F_CEIL, 1, 1},
    {"ceiling", MB_SQL_F_CEIL, 1, 1},       {"lower", MB_SQL_F_LOWER, 1, 1},
    {"lcase", MB_SQL_F_LOWER, 1, 1},        {"upper", MB_SQL_F_UPPER, 1, 1},
    {"ucase", MB_SQL_F_UPPER, 1, 1},        {"length", MB_SQL_F_LENGTH, 1, 1},
    {"len", MB_SQL_F_LENGTH, 1, 1},         {"char_length", MB_SQL_F_LENGTH, 1, 1},
    {"substr", MB_SQL_F_SUBSTR, 2, 3},      {"substring", MB_SQL_F_SUBSTR, 2, 3},
    {"trim", MB_SQL_F_TRIM, 1, 2},          {"ltrim", MB_SQL_F_LTRIM, 1, 2},
    {"rtrim", MB_SQL_F_RTRIM, 1, 2},        {"concat", MB_SQL_F_CONCAT, 1, 64},
    {"||", MB_SQL_F_CONCAT_OP, 2, 2},       {"date_trunc", MB_SQL_F_DATE_TRUNC, 2, 2},
    {"datetrunc", MB_SQL_F_DATE_TRUNC, 2, 2}, {"date_part", MB_SQL_F_DATE_PART, 2, 2},
    {"datepart", MB_SQL_F_DATE_PART, 2, 2}, {"strftime", MB_SQL_F_STRFTIME, 2, 2},
};

typedef struct adef {
    const char *name;
    mb_sql_aggfn fn;
} adef;

static const adef aggregates[] = {
    {"count", MB_SQL_A_COUNT},        {"sum", MB_SQL_A_SUM},
    {"avg", MB_SQL_A_AVG},            {"mean", MB_SQL_A_AVG},
    {"min", MB_SQL_A_MIN},            {"max", MB_SQL_A_MAX},
    {"var_samp", MB_SQL_A_VAR_SAMP},  {"variance", MB_SQL_A_VAR_SAMP},
    {"var", MB_SQL_A_VAR_SAMP},       {"var_pop", MB_SQL_A_VAR_POP},
    {"stddev_samp", MB_SQL_A_STDDEV_SAMP}, {"stddev", MB_SQL_A_STDDEV_SAMP},
    {"stddev_pop", MB_SQL_A_STDDEV_POP},   {"bool_and", MB_SQL_A_BOOL_AND},
    {"bool_or", MB_SQL_A_BOOL_OR},
};

/* Aggregates the next issue brings, named so that the message says so. */
static const char *const later_aggregates[] = {
    "median", "quantile", "quantile_cont", "quantile_disc", "mode", "arg_min", "arg_max",
    "covar_samp", "covar_pop", "corr", "regr_slope", "regr_intercept", "regr_r2",
    "product", "bit_and", "bit_or", "bit_xor", "string_agg", "approx_count_distinct",
    "approx_quantile", "list", "array_agg", "first", "last", "any_value", "histogram",
    "count_if", "entropy", "kurtosis", "skewness", "fsum", "favg",
};

static const adef *find_agg(const char *name)
{
    for (size_t i = 0; i < MB_ARRAY_LEN(aggregates); i++)
        if (strcmp(name, aggregates[i].name) == 0)
            return &aggregates[i];
    return NULL;
}

static bool is_later_agg(const char *name)
{
    for (size_t i = 0; i < MB_ARRAY_LEN(later_aggregates); i++)
        if (strcmp(name, later_aggregates[i]) == 0)
            return true;
    return false;
}

static bool has_agg(const mb_sql_node *n)
{
    if (!n)
        return false;
    if (n->kind == MB_SQL_FUNC && (find_agg(n->name) || is_later_agg(n->name)))
        return true;
    for (size_t i = 0; i < n->nargs; i++)
        if (has_agg(n->args[i]))
            return true;
    return false;
}

static const struct {
    const char *name;
    mb_sql_part part;
} parts[] = {
    {"microsecond", MB_SQL_P_MICROSECOND}, {"microseconds", MB_SQL_P_MICROSECOND},
    {"us", MB_SQL_P_MICROSECOND},          {"millisecond", MB_SQL_P_MILLISECOND},
    {"milliseconds", MB_SQL_P_MILLISECOND}, {"ms", MB_SQL_P_MILLISECOND},
    {"second", MB_SQL_P_SECOND},           {"seconds", MB_SQL_P_SECOND},
    {"s", MB_SQL_P_SECOND},                {"minute", MB_SQL_P_MINUTE},
    {"minutes", MB_SQL_P_MINUTE},          {"m", MB_SQL_P_MINUTE},
    {"hour", MB_SQL_P_HOUR},               {"hours", MB_SQL_P_HOUR},
    {"h", MB_SQL_P_HOUR},                  {"day", MB_SQL_P_DAY},
    {"days", MB_SQL_P_DAY},                {"d", MB_SQL_P_DAY},
    {"week", MB_SQL_P_WEEK},               {"weeks", MB_SQL_P_WEEK},
    {"w", MB_SQL_P_WEEK},                  {"month", MB_SQL_P_MONTH},
    {"months", MB_SQL_P_MONTH},            {"mon", MB_SQL_P_MONTH},
    {"quarter", MB_SQL_P_QUARTER},         {"quarters", MB_SQL_P_QUARTER},
    {"year", MB_SQL_P_YEAR},               {"years", MB_SQL_P_YEAR},
    {"y", MB_SQL_P_YEAR},                  {"decade", MB_SQL_P_DECADE},
    {"century", MB_SQL_P_CENTURY},         {"millennium", MB_SQL_P_MILLENNIUM},
    {"dow", MB_SQL_P_DOW},                 {"dayofweek", MB_SQL_P_DOW},
    {"isodow", MB_SQL_P_ISODOW},           {"doy", MB_SQL_P_DOY},
    {"dayofyear", MB_SQL_P_DOY},           {"epoch", MB_SQL_P_EPOCH},
};

static mb_status date_part_arg(binder *b, mb_sql_expr *e, const char *fname)
{
    mb_sql_expr *a = e->args[0], *x = e->args[1];
    char name[32];
    if (a->kind != MB_SQL_E_CONST || !(a->flags & LITSTR))
        return fail(b, a->pos, "%s() takes the part as a string constant ('hour', 'day', ...)",
                    fname);
    bool found = false;
    for (size_t i = 0; i < MB_ARRAY_LEN(parts) && !found; i++)
        if (a->v.u.s.n == strlen(parts[i].name) &&
            strncasecmp(a->v.u.s.p, parts[i].name, a->v.u.s.n) == 0) {
            e->part = (int)parts[i].part;
            found = true;
        }
    if (!found)
        return fail(b, a->pos, "unknown date part '%.*s'", (int)a->v.u.s.n, a->v.u.s.p);
    mb_status st;
    if ((x->flags & LITSTR) && (st = coerce_literal(b, x, dt(MB_SQL_T_TIMESTAMP))) != MB_OK)
        return st;
    if (!is_temporal(x->type.t) && x->type.t != MB_SQL_T_NULL)
        return fail(b, x->pos, "%s() takes a DATE or TIMESTAMP, not %s", fname,
                    tname(x->type, name, sizeof name));
    return MB_OK;
}

/* strftime's format: only the conversions eval.c writes. */
static mb_status strftime_arg(binder *b, mb_sql_expr *e)
{
    mb_sql_expr *x = e->args[0], *f = e->args[1];
    char name[32];
    if (f->kind != MB_SQL_E_CONST || !(f->flags & LITSTR))
        return fail(b, f->pos, "strftime() takes the format as a string constant");
    for (size_t i = 0; i < f->v.u.s.n; i++)
        if (f->v.u.s.p[i] == '%') {
            if (++i == f->v.u.s.n || !strchr("YmdHMSfjaAbByIpeGVuw%", f->v.u.s.p[i]))
                return fail(b, f->pos + (long)i, "strftime(): unsupported conversion '%%%c'",
                            i < f->v.u.s.n ? f->v.u.s.p[i] : ' ');
        }
    mb_status st;
    if ((x->flags & LITSTR) && (st = coerce_literal(b, x, dt(MB_SQL_T_TIMESTAMP))) != MB_OK)
        return st;
    if (!is_temporal(x->type.t) && x->type.t != MB_SQL_T_NULL)
        return fail(b, x->pos, "strftime() takes a DATE or TIMESTAMP, not %s",
                    tname(x->type, name, sizeof name));
    return MB_OK;
}

/* Types a scalar function call whose arguments are bound. */
static mb_status scalar(binder *b, mb_sql_expr *e, const char *fname)
{
    mb_sql_dtype t;
    char name[32];
    int64_t k;
    mb_status st = MB_OK;

    switch (e->fn) {
    case MB_SQL_F_COALESCE:
    case MB_SQL_F_GREATEST:
    case MB_SQL_F_LEAST:
    case MB_SQL_F_NULLIF:
        if (common_type(e->args, e->nargs, &t))
            return fail(b, e->pos, "%s(): the arguments have no common type", fname);
        e->type = t;
        return coerce_all(b, e->args, e->nargs, t);
    case MB_SQL_F_ABS:
    case MB_SQL_F_FLOOR:
    case MB_SQL_F_CEIL:
    case MB_SQL_F_ROUND:
        if ((e->args[0]->flags & LITSTR) &&
            (st = coerce_literal(b, e->args[0], dt(MB_SQL_T_DOUBLE))) != MB_OK)
            return st;
        t = e->args[0]->type;
        if (!is_numeric(t.t) && t.t != MB_SQL_T_NULL)
            return fail(b, e->pos, "%s() takes a number, not %s", fname,
                        tname(t, name, sizeof name));
        if (t.t == MB_SQL_T_NULL)
            t = dt(MB_SQL_T_DOUBLE);
        e->type = t;
        if (e->fn == MB_SQL_F_ROUND) {
            k = 0;
            if (e->nargs == 2 && const_int(e->args[1], &k))
                return fail(b, e->args[1]->pos, "round()'s places must be an integer constant");
            if (k < -38 || k > 38)
                return fail(b, e->args[1]->pos, "round()'s places must be -38 to 38");
            e->part = (int)k;
            if (t.t == MB_SQL_T_DECIMAL)
                e->type = dec(k <= 0 ? 0 : (unsigned)k < t.scale ? (unsigned)k : t.scale);
        } else if ((e->fn == MB_SQL_F_FLOOR || e->fn == MB_SQL_F_CEIL) &&
                   t.t == MB_SQL_T_DECIMAL) {
            e->type = dec(0);
        }
        return MB_OK;
    case MB_SQL_F_LOWER:
    case MB_SQL_F_UPPER:
    case MB_SQL_F_LENGTH:
    case MB_SQL_F_TRIM:
    case MB_SQL_F_LTRIM:
    case MB_SQL_F_RTRIM:
        for (size_t i = 0; i < e->nargs; i++)
            if ((st = want_string(b, e->args[i], fname)) != MB_OK)
                return st;
        e->type = dt(e->fn == MB_SQL_F_LENGTH ? MB_SQL_T_BIGINT : MB_SQL_T_VARCHAR);
        return MB_OK;
    case MB_SQL_F_SUBSTR:
        if ((st = want_string(b, e->args[0], fname)) != MB_OK)
            return st;
        for (size_t i = 1; i < e->nargs; i++)
            if (e->args[i]->type.t != MB_SQL_T_BIGINT && e->args[i]->type.t != MB_SQL_T_NULL)
                return fail(b, e->args[i]->pos, "substr() takes integer positions");
        e->type = dt(MB_SQL_T_VARCHAR);
        return MB_OK;
    case MB_SQL_F_CONCAT:
    case MB_SQL_F_CONCAT_OP:
        for (size_t i = 0; i < e->nargs; i++)
            if (e->args[i]->type.t != MB_SQL_T_VARCHAR && e->args[i]->type.t != MB_SQL_T_NULL &&
                (st = coerce_all(b, e->args + i, 1, dt(MB_SQL_T_VARCHAR))) != MB_OK)
                return st;
        e->type = dt(MB_SQL_T_VARCHAR);
        return MB_OK;
    case MB_SQL_F_DATE_TRUNC:
        if ((st = date_part_arg(b, e, fname)) != MB_OK)
            return st;
        if (e->part == MB_SQL_P_DOW || e->part == MB_SQL_P_ISODOW || e->part == MB_SQL_P_DOY ||
            e->part == MB_SQL_P_EPOCH)
            return fail(b, e->args[0]->pos, "date_trunc() cannot truncate to '%.*s'",
                        (int)e->args[0]->v.u.s.n, e->args[0]->v.u.s.p);
        /* DuckDB: a truncated DATE is a TIMESTAMP too. */
        e->type = dt(MB_SQL_T_TIMESTAMP);
        return MB_OK;
    case MB_SQL_F_DATE_PART:
        if ((st = date_part_arg(b, e, fname)) != MB_OK)
            return st;
        e->type = dt(e->part == MB_SQL_P_EPOCH ? MB_SQL_T_DOUBLE : MB_SQL_T_BIGINT);
        return MB_OK;
    case MB_SQL_F_STRFTIME:
        if ((st = strftime_arg(b, e)) != MB_OK)
            return st;
        e->type = dt(MB_SQL_T_VARCHAR);
        return MB_OK;
    default:
        break;
    }
    return fail(b, e->pos, "internal: no type rule for %s()", fname);
}

/* ---- expressions ------------------------------------------------------------- */

static mb_status bind(binder *b, const mb_sql_node *n, mode m, mb_sql_expr **out);

bool mb_sql_expr_equal(const mb_sql_expr *a, const mb_sql_expr *c)
{
    if (a->kind != c->kind || a->fn != c->fn || a->flags != c->flags || a->part != c->part ||
        a->idx != c->idx || a->type.t != c->type.t || a->type.scale != c->type.scale ||
        a->nargs != c->nargs)
        return false;
    if (a->kind == MB_SQL_E_CONST) {
        char x[128], y[128];
        if (a->v.null != c->v.null)
            return false;
        if (a->v.t == MB_SQL_T_VARCHAR)
            return a->v.u.s.n == c->v.u.s.n && memcmp(a->v.u.s.p, c->v.u.s.p, a->v.u.s.n) == 0;
        (void)mb_sql_value_format(&a->v, x, sizeof x);
        (void)mb_sql_value_format(&c->v, y, sizeof y);
        return strcmp(x, y) == 0;
    }
    for (size_t i = 0; i < a->nargs; i++)
        if (!mb_sql_expr_equal(a->args[i], c->args[i]))
            return false;
    return true;
}

static mb_status column_ref(binder *b, const mb_sql_node *n, mode m, mb_sql_expr **out)
{
    size_t found = b->ncols;
    for (size_t i = 0; i < b->ncols; i++)
        if (strcasecmp(b->cols[i].name, n->name) == 0) {
            if (found != b->ncols)
                return fail(b, n->pos, "column name '%s' is ambiguous: the header has '%s' "
                                       "(field %zu) and '%s' (field %zu)", n->name,
                            b->cols[found].name, found + 1, b->cols[i].name, i + 1);
            found = i;
        }
    if (found == b->ncols) {
        /* HAVING and ORDER BY may name a select-list alias. */
        if (b->alias_ok && m == GROUP && b->tgt)
            for (size_t i = 0; i < b->q->ntargets; i++)
                if (b->q->targets[i].alias && strcasecmp(b->q->targets[i].alias, n->name) == 0) {
                    *out = b->tgt[i];
                    return MB_OK;
                }
        char list[256];
        size_t k = 0;
        list[0] = '\0';
        for (size_t i = 0; i < b->ncols && k < sizeof list - 40; i++)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "",
                                  b->cols[i].name);
        return fail(b, n->pos, "unknown column '%s' (the input has: %s%s)", n->name, list,
                    k >= sizeof list - 40 ? ", ..." : "");
    }
    if (m == GROUP)
        return fail(b, n->pos, "column '%s' must appear in the GROUP BY clause or be used in "
                               "an aggregate function", n->name);
    mb_sql_expr *e = new_expr(b, MB_SQL_E_COLUMN, n->pos, 0);
    if (!e)
        return nomem(b);
    e->idx = found;
    e->type = b->cols[found].type;
    b->p->used[found] = true;
    *out = e;
    return MB_OK;
}

/* An aggregate call in the group layer: its state, shared with equal calls. */
static mb_status aggregate(binder *b, const mb_sql_node *n, const adef *a, mb_sql_expr **out)
{
    mb_sql_agg g = {0};
    char name[32], text[1024];
    mb_status st;
    mb_sql_dtype t;

    if (b->in_agg)
        return fail(b, n->pos, "aggregate function calls cannot be nested");
    if (n->distinct)
        return fail(b, n->pos, "%s(DISTINCT ...) is not supported yet", n->name);
    if (n->norder)
        return fail(b, n->pos, "ORDER BY inside %s() is not supported", n->name);
    g.fn = a->fn;
    if (n->nargs == 1 && n->args[0]->kind == MB_SQL_STAR) {
        if (a->fn != MB_SQL_A_COUNT)
            return fail(b, n->pos, "%s(*) is not an aggregate; count(*) is", n->name);
        g.fn = MB_SQL_A_COUNT_STAR;
    } else if (n->nargs != 1) {
        return fail(b, n->pos, "%s() takes one argument", n->name);
    }
    b->in_agg = true;
    st = g.fn == MB_SQL_A_COUNT_STAR ? MB_OK : bind(b, n->args[0], ROW, &g.arg);
    if (st == MB_OK && n->filter) {
        st = bind(b, n->filter, ROW, &g.filter);
        if (st == MB_OK)
            st = want_bool(b, g.filter, "FILTER (WHERE ...)");
    }
    b->in_agg = false;
    if (st != MB_OK)
        return st;
    t = g.arg ? g.arg->type : dt(MB_SQL_T_BIGINT);
    if (g.arg && (g.arg->flags & LITSTR) && g.fn != MB_SQL_A_COUNT && g.fn != MB_SQL_A_MIN &&
        g.fn != MB_SQL_A_MAX && (st = coerce_literal(b, g.arg, dt(MB_SQL_T_DOUBLE))) != MB_OK)
        return st;
    switch (g.fn) {
    case MB_SQL_A_COUNT_STAR:
    case MB_SQL_A_COUNT:
        g.type = dt(MB_SQL_T_BIGINT);
        break;
    case MB_SQL_A_SUM:
    case MB_SQL_A_AVG:
    case MB_SQL_A_VAR_SAMP:
    case MB_SQL_A_VAR_POP:
    case MB_SQL_A_STDDEV_SAMP:
    case MB_SQL_A_STDDEV_POP:
        if (t.t == MB_SQL_T_NULL)
            t = g.arg->type = dt(MB_SQL_T_BIGINT);
        if (!is_numeric(t.t))
            return fail(b, n->pos, "%s() takes a number, not %s", n->name,
                        tname(t, name, sizeof name));
        g.type = g.fn != MB_SQL_A_SUM ? dt(MB_SQL_T_DOUBLE)
                 : t.t == MB_SQL_T_DOUBLE ? t : dec(t.t == MB_SQL_T_DECIMAL ? t.scale : 0);
        break;
    case MB_SQL_A_MIN:
    case MB_SQL_A_MAX:
        g.type = t.t == MB_SQL_T_NULL ? dt(MB_SQL_T_BIGINT) : t;
        break;
    case MB_SQL_A_BOOL_AND:
    case MB_SQL_A_BOOL_OR:
        if ((st = want_bool(b, g.arg, n->name)) != MB_OK)
            return st;
        g.type = dt(MB_SQL_T_BOOLEAN);
        break;
    }
    if ((st = mb_sql_node_format(n, text, sizeof text)) != MB_OK)
        return fail(b, n->pos, "aggregate call too long");
    /* Equal calls share a state: compare the bound argument and filter. */
    size_t k;
    for (k = 0; k < b->p->naggs; k++) {
        const mb_sql_agg *o = &b->p->aggs[k];
        if (o->fn == g.fn && (!o->arg) == (!g.arg) && (!o->filter) == (!g.filter) &&
            (!g.arg || mb_sql_expr_equal(o->arg, g.arg)) && (!g.filter || mb_sql_expr_equal(o->filter, g.filter)))
            break;
    }
    if (k == b->p->naggs) {
        if (k == b->aggcap) {
            size_t cap = b->aggcap ? 2 * b->aggcap : 8;
            mb_sql_agg *v = mb_sql_pool_alloc(&b->p->pool, cap * sizeof *v);
            if (!v)
                return nomem(b);
            if (k)
                memcpy(v, b->p->aggs, k * sizeof *v);
            b->p->aggs = v;
            b->aggcap = cap;
        }
        if (!(g.text = mb_sql_pool_strndup(&b->p->pool, text, strlen(text))))
            return nomem(b);
        b->p->aggs[b->p->naggs++] = g;
    }
    mb_sql_expr *e = new_expr(b, MB_SQL_E_AGG, n->pos, 0);
    if (!e)
        return nomem(b);
    e->idx = k;
    e->type = b->p->aggs[k].type;
    *out = e;
    return MB_OK;
}

static mb_status call(binder *b, const mb_sql_node *n, mode m, mb_sql_expr **out)
{
    const adef *a = find_agg(n->name);
    const fdef *f = NULL;
    mb_sql_expr *e;
    mb_status st;

    if (a) {
        if (m == ROW && !b->in_agg)
            return fail(b, n->pos, "aggregate functions are not allowed here (WHERE, GROUP BY "
                                   "or another row expression)");
        return aggregate(b, n, a, out);
    }
    if (is_later_agg(n->name))
        return fail(b, n->pos, "aggregate %s() is not supported yet", n->name);
    for (size_t i = 0; i < MB_ARRAY_LEN(functions); i++)
        if (strcmp(n->name, functions[i].name) == 0)
            f = &functions[i];
    if (!f)
        return fail(b, n->pos, "unknown function %s()", n->name);
    if ((int)n->nargs < f->min || (int)n->nargs > f->max)
        return fail(b, n->pos, "%s() takes %d%s%d arguments, not %zu", n->name, f->min,
                    f->max > f->min ? " to " : "", f->max > f->min ? f->max : 0, n->nargs);
    if (n->distinct || n->filter || n->norder)
        return fail(b, n->pos, "%s() is not an aggregate (DISTINCT, FILTER, ORDER BY)", n->name);
    if (!(e = new_expr(b, MB_SQL_E_CALL, n->pos, n->nargs)))
        return nomem(b);
    e->fn = f->fn;
    for (size_t i = 0; i < n->nargs; i++)
        if ((st = bind(b, n->args[i], m, &e->args[i])) != MB_OK)
            return st;
    *out = e;
    return scalar(b, e, n->name);
}

static mb_status op_node(binder *b, const mb_sql_node *n, mode m, mb_sql_expr **out)
{
    static const mb_sql_fn fns[] = {
        [MB_SQL_NEG] = MB_SQL_F_NEG, [MB_SQL_ADD] = MB_SQL_F_ADD, [MB_SQL_SUB] = MB_SQL_F_SUB,
        [MB_SQL_MUL] = MB_SQL_F_MUL, [MB_SQL_DIV] = MB_SQL_F_DIV, [MB_SQL_IDIV] = MB_SQL_F_IDIV,
        [MB_SQL_MOD] = MB_SQL_F_MOD, [MB_SQL_EQ] = MB_SQL_F_EQ,   [MB_SQL_NE] = MB_SQL_F_NE,
        [MB_SQL_LT] = MB_SQL_F_LT,   [MB_SQL_LE] = MB_SQL_F_LE,   [MB_SQL_GT] = MB_SQL_F_GT,
        [MB_SQL_GE] = MB_SQL_F_GE,   [MB_SQL_AND] = MB_SQL_F_AND, [MB_SQL_OR] = MB_SQL_F_OR,
        [MB_SQL_NOT] = MB_SQL_F_NOT,
    };
    static const char *const names[] = {"-", "+", "+", "-", "*", "/", "//", "%", "=", "<>",
                                        "<", "<=", ">", ">=", "AND", "OR", "NOT"};
    mb_sql_expr *e;
    mb_status st;

    if (n->op == MB_SQL_PLUS)                  /* +x is x */
        return bind(b, n->args[0], m, out);
    if (!(e = new_expr(b, MB_SQL_E_CALL, n->pos, n->nargs)))
        return nomem(b);
    e->fn = fns[n->op];
    for (size_t i = 0; i < n->nargs; i++)
        if ((st = bind(b, n->args[i], m, &e->args[i])) != MB_OK)
            return st;
    *out = e;
    switch (e->fn) {
    case MB_SQL_F_AND:
    case MB_SQL_F_OR:
    case MB_SQL_F_NOT:
        for (size_t i = 0; i < e->nargs; i++)
            if ((st = want_bool(b, e->args[i], names[n->op])) != MB_OK)
                return st;
        e->type = dt(MB_SQL_T_BOOLEAN);
        return MB_OK;
    case MB_SQL_F_EQ:
    case MB_SQL_F_NE:
    case MB_SQL_F_LT:
    case MB_SQL_F_LE:
    case MB_SQL_F_GT:
    case MB_SQL_F_GE:
        e->type = dt(MB_SQL_T_BOOLEAN);
        return comparison(b, e, 0);
    default:
        return arith(b, e, names[n->op]);
    }
}

static mb_status special(binder *b, const mb_sql_node *n, mode m, mb_sql_expr **out)
{
    mb_sql_expr *e = new_expr(b, MB_SQL_E_CALL, n->pos, n->nargs);
    mb_status st;
    char name[32];

    if (!e)
        return nomem(b);
    *out = e;
    for (size_t i = 0; i < n->nargs; i++)
        if ((st = bind(b, n->args[i], m, &e->args[i])) != MB_OK)
            return st;
    e->flags = n->negated ? MB_SQL_NEGATED : 0;
    e->type = dt(MB_SQL_T_BOOLEAN);
    switch (n->kind) {
    case MB_SQL_IS_NULL:
        e->fn = MB_SQL_F_IS_NULL;
        return MB_OK;
    case MB_SQL_IS_BOOL:
        e->fn = n->lit == MB_SQL_LIT_TRUE ? MB_SQL_F_IS_TRUE : MB_SQL_F_IS_FALSE;
        if (n->lit == MB_SQL_LIT_NULL) {              /* IS [NOT] UNKNOWN */
            e->fn = MB_SQL_F_IS_NULL;
        }
        return want_bool(b, e->args[0], "IS TRUE/FALSE");
    case MB_SQL_IN:
        e->fn = MB_SQL_F_IN;
        return comparison(b, e, 0);
    case MB_SQL_BETWEEN:
        e->fn = MB_SQL_F_BETWEEN;
        return comparison(b, e, 0);
    case MB_SQL_LIKE:
        e->fn = MB_SQL_F_LIKE;
        e->flags |= n->ilike ? MB_SQL_ILIKE : 0;
        for (size_t i = 0; i < e->nargs; i++)
            if (e->args[i]->type.t != MB_SQL_T_VARCHAR && e->args[i]->type.t != MB_SQL_T_NULL)
                return fail(b, e->args[i]->pos, "LIKE takes VARCHAR, not %s",
                            tname(e->args[i]->type, name, sizeof name));
        if (e->nargs == 3 && e->args[2]->kind == MB_SQL_E_CONST && !e->args[2]->v.null &&
            e->args[2]->v.u.s.n > 1)
            return fail(b, e->args[2]->pos, "the ESCAPE string must be one character");
        return MB_OK;
    default:
        break;
    }
    return fail(b, n->pos, "internal: unexpected node");
}

/* CASE [x] WHEN w THEN t ... [ELSE e] END. The operand form becomes
 * CASE WHEN x = w ... so that evaluation knows one form. */
static mb_status case_node(binder *b, const mb_sql_node *n, mode m, mb_sql_expr **out)
{
    size_t first = n->has_operand ? 1 : 0, end = n->nargs - (n->has_else ? 1 : 0);
    size_t nw = (end - first) / 2, k = 0;
    mb_sql_expr *e = new_expr(b, MB_SQL_E_CALL, n->pos, 2 * nw + (n->has_else ? 1 : 0));
    mb_sql_expr *operand = NULL, **results;
    mb_sql_dtype t;
    mb_status st;

    if (!e || !(results = mb_sql_pool_alloc(&b->p->pool, (nw + 1) * sizeof *results)))
        return nomem(b);
    *out = e;
    e->fn = MB_SQL_F_CASE;
    e->flags = n->has_else ? MB_SQL_HAS_ELSE : 0;
    if (n->has_operand && (st = bind(b, n->args[0], m, &operand)) != MB_OK)
        return st;
    for (size_t i = 0; i < nw; i++) {
        mb_sql_expr *w, *r;
        if ((st = bind(b, n->args[first + 2 * i], m, &w)) != MB_OK ||
            (st = bind(b, n->args[first + 2 * i + 1], m, &r)) != MB_OK)
            return st;
        if (operand) {
            mb_sql_expr *eq = new_expr(b, MB_SQL_E_CALL, w->pos, 2);
            if (!eq)
                return nomem(b);
            eq->fn = MB_SQL_F_EQ;
            eq->type = dt(MB_SQL_T_BOOLEAN);
            eq->args[0] = operand;
            eq->args[1] = w;
            if ((st = comparison(b, eq, 0)) != MB_OK)
                return st;
            w = eq;
        } else if ((st = want_bool(b, w, "WHEN")) != MB_OK) {
            return st;
        }
        e->args[2 * i] = w;
        e->args[2 * i + 1] = r;
        results[k++] = r;
    }
    if (n->has_else &&
        (st = bind(b, n->args[n->nargs - 1], m, &e->args[e->nargs - 1])) != MB_OK)
        return st;
    if (n->has_else)
        results[k++] = e->args[e->nargs - 1];
    if (common_type(results, k, &t))
        return fail(b, n->pos, "the branches of CASE have no common type");
    e->type = t;
    /* Coerce the results in place in e->args. */
    for (size_t i = 0; i < nw; i++)
        if ((st = coerce_all(b, &e->args[2 * i + 1], 1, t)) != MB_OK)
            return st;
    if (n->has_else && (st = coerce_all(b, &e->args[e->nargs - 1], 1, t)) != MB_OK)
        return st;
    return MB_OK;
}

static mb_status cast_node(binder *b, const mb_sql_node *n, mode m, mb_sql_expr **out)
{
    mb_sql_expr *e = new_expr(b, MB_SQL_E_CALL, n->pos, 1), *x;
    mb_status st;
    if (!e)
        return nomem(b);
    if ((st = bind(b, n->args[0], m, &x)) != MB_OK)
        return st;
    if (x->flags & LITSTR) {                   /* DATE '2024-01-01': a constant */
        if ((st = coerce_literal(b, x, n->type)) != MB_OK)
            return st;
        if (n->type.t == MB_SQL_T_DECIMAL) {
            mb_sql_value v;
            mb_err e2;
            char txt[64];
            (void)mb_sql_value_format(&x->v, txt, sizeof txt);
            if (mb_sql_value_parse(txt, strlen(txt), n->type, &v, &e2) != MB_OK)
                return fail(b, x->pos, "%s", e2.msg);
            x->v = v;
            x->type = n->type;
        }
        *out = x;
        return MB_OK;
    }
    e->fn = MB_SQL_F_CAST;
    e->type = n->type;
    e->args[0] = x;
    *out = e;
    return MB_OK;
}

/* In the group layer, a subexpression without aggregates that equals a
 * group key is that key. */
static int as_key(binder *b, const mb_sql_node *n, mb_sql_expr **out)
{
    mb_sql_expr *e;
    mb_err saved = b->err ? *b->err : (mb_err){0};
    if (!b->p->nkeys || has_agg(n) || n->kind == MB_SQL_LITERAL)
        return 0;
    if (bind(b, n, ROW, &e) != MB_OK) {
        if (b->err)
            *b->err = saved;
        return 0;
    }
    for (size_t i = 0; i < b->p->nkeys; i++)
        if (mb_sql_expr_equal(e, b->p->keys[i])) {
            mb_sql_expr *k = new_expr(b, MB_SQL_E_KEY, n->pos, 0);
            if (!k)
                return -1;
            k->idx = i;
            k->type = b->p->keys[i]->type;
            *out = k;
            return 1;
        }
    return 0;
}

static mb_status bind(binder *b, const mb_sql_node *n, mode m, mb_sql_expr **out)
{
    if (m == GROUP && !b->in_agg) {
        int r = as_key(b, n, out);
        if (r < 0)
            return nomem(b);
        if (r)
            return MB_OK;
    }
    switch (n->kind) {
    case MB_SQL_LITERAL:
        return literal(b, n, out);
    case MB_SQL_COLUMN:
        return column_ref(b, n, m, out);
    case MB_SQL_STAR:
        return fail(b, n->pos, "* is allowed only in count(*)");
    case MB_SQL_OP:
        return op_node(b, n, m, out);
    case MB_SQL_IS_NULL:
    case MB_SQL_IS_BOOL:
    case MB_SQL_IN:
    case MB_SQL_BETWEEN:
    case MB_SQL_LIKE:
        return special(b, n, m, out);
    case MB_SQL_CASE:
        return case_node(b, n, m, out);
    case MB_SQL_CAST:
        return cast_node(b, n, m, out);
    case MB_SQL_FUNC:
        return call(b, n, m, out);
    }
    return fail(b, n->pos, "internal: unknown node");
}

/* ---- the query ------------------------------------------------------------------ */

/* A GROUP BY or ORDER BY item that is a position (1-based) or an alias:
 * the select-list entry it means, or NULL. */
static const mb_sql_node *target_ref(binder *b, const mb_sql_node *n, long *index,
                                     mb_status *st)
{
    *st = MB_OK;
    *index = -1;
    if (n->kind == MB_SQL_LITERAL && n->lit == MB_SQL_LIT_INT) {
        char *end;
        long k = strtol(n->text, &end, 10);
        if (*end || k < 1 || (size_t)k > b->q->ntargets) {
            *st = fail(b, n->pos, "position %s is not in the select list (1 to %zu)", n->text,
                       b->q->ntargets);
            return NULL;
        }
        *index = k - 1;
        return b->q->targets[k - 1].expr;
    }
    if (n->kind == MB_SQL_COLUMN) {
        for (size_t i = 0; i < b->q->ntargets; i++)
            if (b->q->targets[i].alias && strcasecmp(b->q->targets[i].alias, n->name) == 0) {
                *index = (long)i;
                return b->q->targets[i].expr;
            }
    }
    return NULL;
}

static bool is_input_column(binder *b, const mb_sql_node *n)
{
    if (n->kind != MB_SQL_COLUMN)
        return false;
    for (size_t i = 0; i < b->ncols; i++)
        if (strcasecmp(b->cols[i].name, n->name) == 0)
            return true;
    return false;
}

static mb_status bind_keys(binder *b)
{
    const mb_sql_query *q = b->q;
    size_t nk = q->ngroup;
    bool distinct_keys = q->distinct && !q->ngroup;
    mb_status st = MB_OK;

    if (distinct_keys)            /* SELECT DISTINCT a, b: GROUP BY a, b */
        nk = q->ntargets;
    if (nk && !(b->p->keys = mb_sql_pool_alloc(&b->p->pool, nk * sizeof *b->p->keys)))
        return nomem(b);
    for (size_t i = 0; i < nk; i++) {
        const mb_sql_node *n = distinct_keys ? q->targets[i].expr : q->group[i], *t;
        long idx;
        /* An input column's name wins over an alias, as in DuckDB. */
        if (!distinct_keys && !is_input_column(b, n) &&
            (t = target_ref(b, n, &idx, &st)) != NULL)
            n = t;
        if (st != MB_OK)
            return st;
        if (has_agg(n))
            return fail(b, n->pos, "GROUP BY cannot contain aggregates");
        if ((st = bind(b, n, ROW, &b->p->keys[i])) != MB_OK)
            return st;
        if (b->p->keys[i]->flags & LITSTR)
            b->p->keys[i]->flags &= ~LITSTR;
        b->p->nkeys = i + 1;
    }
    return MB_OK;
}

/* The name of an unaliased result column: the input column's name, or
 * the expression in normal form, with count(*) as DuckDB names it. */
static mb_status out_name(binder *b, const mb_sql_target *t, char **out)
{
    char text[512];
    if (t->alias) {
        *out = mb_sql_pool_strndup(&b->p->pool, t->alias, strlen(t->alias));
    } else if (t->expr->kind == MB_SQL_COLUMN) {
        *out = mb_sql_pool_strndup(&b->p->pool, t->expr->name, strlen(t->expr->name));
    } else {
        if (mb_sql_node_format(t->expr, text, sizeof text) != MB_OK)
            snprintf(text, sizeof text, "column%zu", (size_t)(t - b->q->targets));
        if (strcmp(text, "count(*)") == 0)
            snprintf(text, sizeof text, "count_star()");
        *out = mb_sql_pool_strndup(&b->p->pool, text, strlen(text));
    }
    return *out ? MB_OK : nomem(b);
}

static mb_status bind_outputs(binder *b)
{
    const mb_sql_query *q = b->q;
    mb_status st;
    if (!(b->p->outs = mb_sql_pool_alloc(&b->p->pool, (q->ntargets + 1) * sizeof *b->p->outs)) ||
        !(b->tgt = mb_sql_pool_alloc(&b->p->pool, (q->ntargets + 1) * sizeof *b->tgt)))
        return nomem(b);
    for (size_t i = 0; i < q->ntargets; i++) {
        mb_sql_expr *e;
        if ((st = bind(b, q->targets[i].expr, GROUP, &e)) != MB_OK)
            return st;
        if (e->flags & LITSTR)
            e->flags &= ~LITSTR;
        b->p->outs[i].expr = b->tgt[i] = e;
        if ((st = out_name(b, &q->targets[i], &b->p->outs[i].name)) != MB_OK)
            return st;
        b->p->nouts = i + 1;
    }
    return MB_OK;
}

static mb_status bind_order(binder *b)
{
    const mb_sql_query *q = b->q;
    mb_status st;
    if (!q->norder)
        return MB_OK;
    if (!(b->p->order = mb_sql_pool_alloc(&b->p->pool, q->norder * sizeof *b->p->order)))
        return nomem(b);
    for (size_t i = 0; i < q->norder; i++) {
        long idx;
        const mb_sql_node *n = q->order[i].expr;
        (void)target_ref(b, n, &idx, &st);
        if (st != MB_OK)
            return st;
        if (idx >= 0)
            b->p->order[i].expr = b->tgt[idx];
        else if ((st = bind(b, n, GROUP, &b->p->order[i].expr)) != MB_OK)
            return st;
        b->p->order[i].desc = q->order[i].desc;
        b->p->order[i].nulls_first = q->order[i].nulls_first > 0;
        b->p->norder = i + 1;
    }
    return MB_OK;
}

mb_status mb_sql_bind(const mb_sql_query *q, const mb_sql_column *cols, size_t ncols,
                      mb_sql_plan **out, mb_err *err)
{
    binder b = {q, cols, ncols, NULL, err, MB_EUSAGE, 0, false, false, NULL};
    mb_sql_plan *p;
    mb_status st;
    bool aggs_anywhere = false;

    *out = NULL;
    if (strncmp(q->source, "--", 2) != 0)     /* --sql, --agg: usage; a job file's: 65 */
        b.code = MB_EJOB;
    if (!(p = mb_calloc(1, sizeof *p)))
        return nomem(&b);
    b.p = p;
    p->limit = q->limit;
    p->offset = q->offset;
    p->ncolumns = ncols;
    if (!(p->sql = mb_strdup(q->sql)) ||
        !(p->used = mb_sql_pool_alloc(&p->pool, (ncols + 1) * sizeof *p->used)) ||
        !(p->coltypes = mb_sql_pool_alloc(&p->pool, (ncols + 1) * sizeof *p->coltypes))) {
        mb_sql_plan_free(p);
        return nomem(&b);
    }
    for (size_t i = 0; i < ncols; i++)
        p->coltypes[i] = cols[i].type;
    for (size_t i = 0; i < q->ntargets; i++)
        aggs_anywhere |= has_agg(q->targets[i].expr);
    aggs_anywhere |= has_agg(q->having);
    if (q->distinct && q->ngroup) {
        st = fail(&b, -1, "SELECT DISTINCT with GROUP BY is not supported");
        goto out;
    }
    if (!q->ngroup && !aggs_anywhere && !q->distinct) {
        st = fail(&b, q->ntargets ? q->targets[0].pos : -1,
                  "a row-level query (no GROUP BY and no aggregate): mpibatch runs "
                  "aggregations; add GROUP BY or an aggregate such as count(*)");
        goto out;
    }
    if (q->distinct && aggs_anywhere) {
        st = fail(&b, -1, "SELECT DISTINCT with aggregates is not supported");
        goto out;
    }
    if (q->where) {
        if (has_agg(q->where)) {
            st = fail(&b, q->where->pos, "aggregate functions are not allowed in WHERE "
                                         "(use HAVING)");
            goto out;
        }
        if ((st = bind(&b, q->where, ROW, &p->where)) != MB_OK ||
            (st = want_bool(&b, p->where, "WHERE")) != MB_OK)
            goto out;
    }
    if ((st = bind_keys(&b)) != MB_OK || (st = bind_outputs(&b)) != MB_OK)
        goto out;
    b.alias_ok = true;
    if (q->having && ((st = bind(&b, q->having, GROUP, &p->having)) != MB_OK ||
                      (st = want_bool(&b, p->having, "HAVING")) != MB_OK))
        goto out;
    if ((st = bind_order(&b)) != MB_OK)
        goto out;
    {
        char *text = mb_malloc(65536);
        if (!text) {
            st = nomem(&b);
            goto out;
        }
        st = mb_sql_plan_explain(p, cols, text, 65536);
        if (st == MB_OK && !(p->normal = mb_strdup(text)))
            st = nomem(&b);
        else if (st != MB_OK)
            st = fail(&b, -1, "the query's plan is too large");
        free(text);
    }
out:
    if (st != MB_OK) {
        mb_sql_plan_free(p);
        return st;
    }
    *out = p;
    return MB_OK;
}

void mb_sql_plan_free(mb_sql_plan *p)
{
    if (!p)
        return;
    mb_sql_pool_free(p->pool);
    free(p->sql);
    free(p->normal);
    free(p);
}
