/* explain.c - a plan written out for people (--explain) and as the
 * normal form that fingerprints what a query computes: two queries with
 * the same text here compute the same states and answers. */
#include "sql/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct out {
    char *p;
    size_t n, cap;
    int full;
} out;

static void put(out *o, const char *fmt, ...) MB_PRINTF(2, 3);

static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (o->full)
        return;
    va_start(ap, fmt);
    k = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= o->cap - o->n) {
        o->full = 1;
        return;
    }
    o->n += (size_t)k;
}

static const char *const fnames[] = {
    [MB_SQL_F_NEG] = "-",          [MB_SQL_F_ADD] = "+",         [MB_SQL_F_SUB] = "-",
    [MB_SQL_F_MUL] = "*",          [MB_SQL_F_DIV] = "/",         [MB_SQL_F_IDIV] = "//",
    [MB_SQL_F_MOD] = "%",          [MB_SQL_F_EQ] = "=",          [MB_SQL_F_NE] = "<>",
    [MB_SQL_F_LT] = "<",           [MB_SQL_F_LE] = "<=",         [MB_SQL_F_GT] = ">",
    [MB_SQL_F_GE] = ">=",          [MB_SQL_F_AND] = "AND",       [MB_SQL_F_OR] = "OR",
    [MB_SQL_F_NOT] = "NOT",        [MB_SQL_F_IS_NULL] = "is_null", [MB_SQL_F_IS_TRUE] = "is_true",
    [MB_SQL_F_IS_FALSE] = "is_false", [MB_SQL_F_IN] = "in",      [MB_SQL_F_BETWEEN] = "between",
    [MB_SQL_F_LIKE] = "like",      [MB_SQL_F_CASE] = "case",     [MB_SQL_F_COALESCE] = "coalesce",
    [MB_SQL_F_NULLIF] = "nullif",  [MB_SQL_F_CAST] = "cast",     [MB_SQL_F_GREATEST] = "greatest",
    [MB_SQL_F_LEAST] = "least",    [MB_SQL_F_ABS] = "abs",       [MB_SQL_F_ROUND] = "round",
    [MB_SQL_F_FLOOR] = "floor",    [MB_SQL_F_CEIL] = "ceil",     [MB_SQL_F_LOWER] = "lower",
    [MB_SQL_F_UPPER] = "upper",    [MB_SQL_F_LENGTH] = "length", [MB_SQL_F_SUBSTR] = "substr",
    [MB_SQL_F_TRIM] = "trim",      [MB_SQL_F_LTRIM] = "ltrim",   [MB_SQL_F_RTRIM] = "rtrim",
    [MB_SQL_F_CONCAT] = "concat",  [MB_SQL_F_CONCAT_OP] = "||",  [MB_SQL_F_DATE_TRUNC] = "date_trunc",
    [MB_SQL_F_DATE_PART] = "date_part", [MB_SQL_F_STRFTIME] = "strftime",
};

static const char *const anames[] = {
    [MB_SQL_A_COUNT_STAR] = "count_star", [MB_SQL_A_COUNT] = "count", [MB_SQL_A_SUM] = "sum",
    [MB_SQL_A_AVG] = "avg",               [MB_SQL_A_MIN] = "min",     [MB_SQL_A_MAX] = "max",
    [MB_SQL_A_VAR_SAMP] = "var_samp",     [MB_SQL_A_VAR_POP] = "var_pop",
    [MB_SQL_A_STDDEV_SAMP] = "stddev_samp", [MB_SQL_A_STDDEV_POP] = "stddev_pop",
    [MB_SQL_A_BOOL_AND] = "bool_and",     [MB_SQL_A_BOOL_OR] = "bool_or",
};

static void type_of(out *o, mb_sql_dtype t)
{
    char name[32];
    (void)mb_sql_dtype_name(t, name, sizeof name);
    put(o, "%s", name);
}

static void expr(out *o, const mb_sql_expr *e, const mb_sql_column *cols)
{
    char buf[128];
    switch (e->kind) {
    case MB_SQL_E_CONST:
        if (e->v.null) {
            put(o, "NULL");
        } else if (e->v.t == MB_SQL_T_VARCHAR) {
            put(o, "'");
            for (size_t i = 0; i < e->v.u.s.n; i++)
                put(o, "%s", e->v.u.s.p[i] == '\'' ? "''" : (char[2]){e->v.u.s.p[i], 0});
            put(o, "'");
        } else {
            (void)mb_sql_value_format(&e->v, buf, sizeof buf);
            put(o, "%s::", buf);
            type_of(o, e->type);
        }
        return;
    case MB_SQL_E_COLUMN:
        put(o, "#%zu:%s", e->idx + 1, cols ? cols[e->idx].name : "");
        return;
    case MB_SQL_E_KEY:
        put(o, "key%zu", e->idx + 1);
        return;
    case MB_SQL_E_AGG:
        put(o, "agg%zu", e->idx + 1);
        return;
    case MB_SQL_E_CALL:
        break;
    }
    put(o, "%s%s%s", e->flags & MB_SQL_NEGATED ? "not_" : "", e->flags & MB_SQL_ILIKE ? "i" : "",
        fnames[e->fn]);
    if (e->fn == MB_SQL_F_DATE_TRUNC || e->fn == MB_SQL_F_DATE_PART || e->fn == MB_SQL_F_ROUND)
        put(o, "[%d]", e->part);
    put(o, "(");
    for (size_t i = 0; i < e->nargs; i++) {
        if (i)
            put(o, ", ");
        expr(o, e->args[i], cols);
    }
    put(o, ")->");
    type_of(o, e->type);
}

mb_status mb_sql_plan_explain(const mb_sql_plan *p, const mb_sql_column *cols, char *buf,
                              size_t cap)
{
    out o = {buf, 0, cap, 0};
    if (!cap)
        return MB_ELIMIT;
    buf[0] = '\0';
    put(&o, "columns read:");
    for (size_t i = 0, k = 0; i < p->ncolumns; i++)
        if (p->used[i]) {
            put(&o, "%s #%zu:%s ", k++ ? "," : "", i + 1, cols ? cols[i].name : "");
            type_of(&o, p->coltypes[i]);
        }
    put(&o, "\nfilter: ");
    if (p->where)
        expr(&o, p->where, cols);
    else
        put(&o, "none");
    for (size_t i = 0; i < p->nkeys; i++) {
        put(&o, "\nkey%zu: ", i + 1);
        expr(&o, p->keys[i], cols);
    }
    for (size_t i = 0; i < p->naggs; i++) {
        const mb_sql_agg *a = &p->aggs[i];
        put(&o, "\nagg%zu: %s(", i + 1, anames[a->fn]);
        if (a->arg)
            expr(&o, a->arg, cols);
        put(&o, ")");
        if (a->filter) {
            put(&o, " filter ");
            expr(&o, a->filter, cols);
        }
        put(&o, "->");
        type_of(&o, a->type);
    }
    for (size_t i = 0; i < p->nouts; i++) {
        put(&o, "\noutput %s: ", p->outs[i].name);
        expr(&o, p->outs[i].expr, cols);
    }
    if (p->having) {
        put(&o, "\nhaving: ");
        expr(&o, p->having, cols);
    }
    for (size_t i = 0; i < p->norder; i++) {
        put(&o, "\norder: ");
        expr(&o, p->order[i].expr, cols);
        put(&o, " %s nulls %s", p->order[i].desc ? "desc" : "asc",
            p->order[i].nulls_first ? "first" : "last");
    }
    if (p->limit >= 0)
        put(&o, "\nlimit: %lld", (long long)p->limit);
    if (p->offset)
        put(&o, "\noffset: %lld", (long long)p->offset);
    put(&o, "\n");
    if (o.full) {
        buf[0] = '\0';
        return MB_ELIMIT;
    }
    return MB_OK;
}
