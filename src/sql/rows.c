/* rows.c - the row layer over records (rows.h). */
#include "sql/rows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg/agg.h"

static unsigned needs_of(mb_sql_aggfn fn)
{
    switch (fn) {
    case MB_SQL_A_SUM:
    case MB_SQL_A_AVG:
        return MB_NEED_SUM;
    case MB_SQL_A_VAR_SAMP:
    case MB_SQL_A_VAR_POP:
    case MB_SQL_A_STDDEV_SAMP:
    case MB_SQL_A_STDDEV_POP:
        return MB_NEED_SUM | MB_NEED_SUMSQ;
    case MB_SQL_A_MIN:
    case MB_SQL_A_MAX:
    case MB_SQL_A_BOOL_AND:
    case MB_SQL_A_BOOL_OR:
        return MB_NEED_MINMAX;
    default:
        return MB_NEED_COUNT;
    }
}

/* Whether aggregate a is min or max of strings: its accumulator keeps the
 * strings themselves (MB_NEED_STR), bytewise ordered, not numbers. */
static bool str_need(const mb_sql_agg *a)
{
    return (a->fn == MB_SQL_A_MIN || a->fn == MB_SQL_A_MAX) && a->arg &&
           a->arg->type.t == MB_SQL_T_VARCHAR;
}

/* The needs of aggregate a when its argument is a DOUBLE: sum, avg, the
 * variances and min/max take the exact double state (MB_NEED_DBL, with
 * squares for the variances); count(x) only counts. */
static unsigned dbl_need(const mb_sql_agg *a)
{
    unsigned need = needs_of(a->fn);

    if (a->fn == MB_SQL_A_BOOL_AND || a->fn == MB_SQL_A_BOOL_OR || need == MB_NEED_COUNT)
        return need;
    return MB_NEED_DBL | (need & MB_NEED_SUMSQ);
}

/* Marks the input columns e reads. */
static void mark_columns(const mb_sql_expr *e, bool *cols, size_t ncols)
{
    if (!e)
        return;
    if (e->kind == MB_SQL_E_COLUMN && e->idx < ncols)
        cols[e->idx] = true;
    for (size_t i = 0; i < e->nargs; i++)
        mark_columns(e->args[i], cols, ncols);
}

mb_status mb_sql_rows_init(mb_sql_rows *r, const mb_sql_plan *p, mb_err *err)
{
    size_t n = p->naggs ? p->naggs : 1;
    memset(r, 0, sizeof *r);
    r->plan = p;
    r->col = -1;
    mb_sql_scratch_init(&r->scratch, (size_t)64 << 20);
    mb_buf_init(&r->text, (size_t)64 << 20);
    mb_buf_init(&r->cells, (size_t)1 << 30);
    if (!(r->accs = mb_calloc(n, sizeof *r->accs)) || !(r->agg_acc = mb_calloc(n, sizeof *r->agg_acc)) ||
        !(r->needs = mb_calloc(n, sizeof *r->needs)) || !(r->off = mb_calloc(n, sizeof *r->off)) ||
        !(r->len = mb_calloc(n, sizeof *r->len)) || !(r->dec = mb_calloc(n, sizeof *r->dec)) ||
        !(r->dec_ok = mb_calloc(n, sizeof *r->dec_ok)) ||
        !(r->dbl = mb_calloc(n, sizeof *r->dbl)) || !(r->dbl_ok = mb_calloc(n, sizeof *r->dbl_ok)) ||
        !(r->vals = mb_calloc(p->ncolumns ? p->ncolumns : 1, sizeof *r->vals)) ||
        !(r->first = mb_calloc(p->ncolumns ? p->ncolumns : 1, sizeof *r->first))) {
        mb_sql_rows_fini(r);
        return mb_err_set(err, MB_ENOMEM, "out of memory for the query's row layer");
    }
    for (size_t i = 0; i < p->naggs; i++) {
        const mb_sql_agg *a = &p->aggs[i];
        size_t k;
        if (a->fn == MB_SQL_A_COUNT_STAR && !a->filter) {
            r->agg_acc[i] = SIZE_MAX;
            continue;
        }
        for (k = 0; k < r->nacc; k++)
            if ((!r->accs[k].arg) == (!a->arg) && (!r->accs[k].filter) == (!a->filter) &&
                (!a->arg || mb_sql_expr_equal(r->accs[k].arg, a->arg)) &&
                (!a->filter || mb_sql_expr_equal(r->accs[k].filter, a->filter)))
                break;
        if (k == r->nacc) {
            r->accs[k].arg = a->arg;
            r->accs[k].filter = a->filter;
            r->nacc++;
        }
        r->accs[k].need |= str_need(a) ? MB_NEED_STR
                           : a->arg && a->arg->type.t == MB_SQL_T_DOUBLE ? dbl_need(a)
                                                                          : needs_of(a->fn);
        r->agg_acc[i] = k;
    }
    for (size_t k = 0; k < r->nacc; k++)
        r->needs[k] = r->accs[k].need;
    mark_columns(p->where, r->first, p->ncolumns);
    return MB_OK;
}

void mb_sql_rows_fini(mb_sql_rows *r)
{
    free(r->accs);
    free(r->agg_acc);
    free(r->needs);
    free(r->off);
    free(r->len);
    free(r->dec);
    free(r->dec_ok);
    free(r->dbl);
    free(r->dbl_ok);
    free(r->vals);
    free(r->first);
    mb_sql_scratch_fini(&r->scratch);
    mb_buf_fini(&r->text);
    mb_buf_fini(&r->cells);
    r->accs = NULL;
    r->agg_acc = NULL;
    r->needs = NULL;
    r->off = r->len = NULL;
    r->dec = NULL;
    r->dec_ok = NULL;
    r->dbl = NULL;
    r->dbl_ok = NULL;
    r->vals = NULL;
    r->first = NULL;
}

/* A cell as a value of its column's type: empty is NULL (an empty quoted
 * cell is the empty string for VARCHAR); quoted cells with doubled quotes
 * are unescaped into r->cells, reserved for the whole record beforehand so
 * that values pointing into it do not move. */
static mb_status cell_value(mb_sql_rows *r, const mb_cell *c, mb_sql_dtype t, mb_sql_value *v,
                            mb_err *err)
{
    const char *p = c->p;
    size_t len = c->len;
    if (len == 0 && !(c->quoted && t.t == MB_SQL_T_VARCHAR)) {
        memset(v, 0, sizeof *v);
        v->t = t.t;
        v->null = true;
        return MB_OK;
    }
    if (c->escaped) {
        char *buf = r->cells.p + r->cells.len;
        len = mb_csv_cell_unescape(c, buf, r->cells.cap - r->cells.len);
        if (len == (size_t)-1)
            return mb_err_set(err, MB_EINTERNAL, "unescape room");
        r->cells.len += len;
        p = buf;
    }
    return mb_sql_value_parse(p, len, t, v, err);
}

/* Appends one key field: the value's text, or the NULL marker. */
static mb_status key_field(mb_buf *key, const mb_sql_value *v, mb_err *err)
{
    char buf[128];
    const char *p = buf;
    size_t n;
    uint32_t len;
    if (v->null) {
        p = "";
        n = 1;
    } else if (v->t == MB_SQL_T_VARCHAR) {
        p = v->u.s.p;
        n = v->u.s.n;
        if (n && memchr(p, '\0', n))
            return mb_err_set(err, MB_EDATA, "a NUL byte in a group key");
    } else {
        if (mb_sql_value_format(v, buf, sizeof buf) != MB_OK)
            return mb_err_set(err, MB_EINTERNAL, "a key value does not format");
        n = strlen(buf);
    }
    if (n > UINT32_MAX)
        return mb_err_set(err, MB_ELIMIT, "group key too long");
    len = (uint32_t)n;
    if (mb_buf_put(key, &len, sizeof len) != MB_OK || mb_buf_put(key, p, n) != MB_OK)
        return mb_err_set(err, MB_ELIMIT, "group key too long");
    return MB_OK;
}

/* The value as the exact decimal the engine accumulates, for the types
 * that are exact integers at a scale (all but DOUBLE): the very state the
 * value's text would give (nonint: written with a fraction). */
static bool acc_dec(const mb_sql_value *v, mb_dec *d)
{
    d->scale = 0;
    d->nonint = 0;
    switch (v->t) {
    case MB_SQL_T_BOOLEAN:
        d->m = v->u.b ? 1 : 0;
        return true;
    case MB_SQL_T_BIGINT:
    case MB_SQL_T_DATE:
    case MB_SQL_T_TIMESTAMP:
        d->m = v->u.i;
        return true;
    case MB_SQL_T_DECIMAL:
        d->m = v->u.dec;
        d->scale = v->scale;
        d->nonint = v->scale > 0;
        return true;
    default:
        return false;
    }
}

/* Keeps the bytes of a VARCHAR value of a string min/max accumulator in
 * r->text (off, len), for mb_sql_rows_fold to hand to the group table. */
static mb_status str_value(mb_sql_rows *r, size_t k, const mb_sql_value *v, mb_err *err)
{
    mb_status st;

    if (v->t != MB_SQL_T_VARCHAR)
        return mb_err_set(err, MB_EINTERNAL, "a string min()/max() got another type");
    r->off[k] = r->text.len;
    r->len[k] = v->u.s.n;
    if (v->u.s.n && (st = mb_buf_put(&r->text, v->u.s.p, v->u.s.n)) != MB_OK)
        return st == MB_ENOMEM ? mb_err_set(err, st, "out of memory for a record's values")
                               : mb_err_set(err, st, "a record's values pass 64 MiB");
    return MB_OK;
}

/* The exact text the engine accumulates for a value. */
static mb_status acc_text(const mb_sql_value *v, unsigned need, char *buf, size_t cap,
                          mb_err *err)
{
    if (need == MB_NEED_COUNT) {
        buf[0] = '1';
        buf[1] = '\0';
        return MB_OK;
    }
    switch (v->t) {
    case MB_SQL_T_BOOLEAN:
        snprintf(buf, cap, "%d", v->u.b ? 1 : 0);
        return MB_OK;
    case MB_SQL_T_DATE:
    case MB_SQL_T_TIMESTAMP:
        snprintf(buf, cap, "%lld", (long long)v->u.i);
        return MB_OK;
    case MB_SQL_T_DOUBLE:       /* summed doubles go to the double state */
        return mb_err_set(err, MB_EINTERNAL, "a DOUBLE value reached the decimal state");
    default:
        return mb_sql_value_format(v, buf, cap) == MB_OK
                   ? MB_OK : mb_err_set(err, MB_EINTERNAL, "value does not format");
    }
}

mb_status mb_sql_rows_apply(mb_sql_rows *r, const mb_cell *cells, bool *keep, mb_buf *key,
                            mb_err *err)
{
    const mb_sql_plan *p = r->plan;
    mb_sql_env env = {r->vals, NULL, NULL, &r->scratch};
    mb_status st;
    bool pass;

    mb_sql_scratch_reset(&r->scratch);
    r->text.len = 0;
    r->col = -1;
    *keep = false;
    r->cells.len = 0;
    {
        size_t need = 0;
        for (size_t i = 0; i < p->ncolumns; i++)
            if (p->used[i] && cells[i].escaped)
                need += cells[i].len;
        if (need && mb_buf_reserve(&r->cells, need) != MB_OK)
            return mb_err_set(err, MB_ENOMEM, "out of memory for a record's cells");
    }
    for (size_t i = 0; p->where && i < p->ncolumns; i++) {
        if (!r->first[i])
            continue;
        if ((st = cell_value(r, &cells[i], p->coltypes[i], &r->vals[i], err)) != MB_OK) {
            r->col = (long)i;
            return st;
        }
    }
    if (p->where) {
        if ((st = mb_sql_eval_pred(p->where, &env, &pass, err)) != MB_OK)
            return st;
        if (!pass)
            return MB_OK;
    }
    for (size_t i = 0; i < p->ncolumns; i++) {
        if (!p->used[i] || r->first[i])
            continue;
        if ((st = cell_value(r, &cells[i], p->coltypes[i], &r->vals[i], err)) != MB_OK) {
            r->col = (long)i;
            return st;
        }
    }
    for (size_t k = 0; k < p->nkeys; k++) {
        mb_sql_value v;
        if ((st = mb_sql_eval(p->keys[k], &env, &v, err)) != MB_OK ||
            (st = key_field(key, &v, err)) != MB_OK)
            return st;
    }
    for (size_t k = 0; k < r->nacc; k++) {
        const mb_sql_acc *a = &r->accs[k];
        mb_sql_value v;
        char buf[128];
        r->len[k] = SIZE_MAX;
        r->dec_ok[k] = false;
        r->dbl_ok[k] = false;
        if (a->filter) {
            if ((st = mb_sql_eval_pred(a->filter, &env, &pass, err)) != MB_OK)
                return st;
            if (!pass)
                continue;
        }
        if (a->arg) {
            if ((st = mb_sql_eval(a->arg, &env, &v, err)) != MB_OK)
                return st;
            if (v.null)
                continue;
        } else {
            memset(&v, 0, sizeof v);
            v.t = MB_SQL_T_BIGINT;
            v.u.i = 1;
        }
        if (a->need & MB_NEED_STR) {
            if ((st = str_value(r, k, &v, err)) != MB_OK)
                return st;
            continue;
        }
        if (a->need & MB_NEED_DBL) {
            if (v.t != MB_SQL_T_DOUBLE)
                return mb_err_set(err, MB_EINTERNAL, "a DOUBLE aggregate got another type");
            r->dbl[k] = v.u.d;
            r->dbl_ok[k] = true;
            continue;
        }
        if (a->need == MB_NEED_COUNT || acc_dec(&v, &r->dec[k])) {
            r->dec_ok[k] = true;
            continue;
        }
        if ((st = acc_text(&v, a->need, buf, sizeof buf, err)) != MB_OK)
            return st;
        r->off[k] = r->text.len;
        r->len[k] = strlen(buf);
        if (mb_buf_put(&r->text, buf, r->len[k]) != MB_OK)
            return mb_err_set(err, MB_ELIMIT, "a record's values pass 64 MiB");
    }
    *keep = true;
    return MB_OK;
}

mb_status mb_sql_rows_fold(const mb_sql_rows *r, mb_groups *g, const char *key, size_t len,
                           mb_err *err)
{
    size_t gi;
    mb_status st;
    if ((st = mb_groups_get(g, key, len, mb_groups_hash(key, len), &gi, err)) != MB_OK)
        return st;
    mb_groups_rec(g, gi)->rows++;
    for (size_t k = 0; k < r->nacc; k++) {
        if (r->needs[k] & MB_NEED_STR) {
            if (r->len[k] != SIZE_MAX &&
                (st = mb_groups_add_str(g, gi, k, r->len[k] ? r->text.p + r->off[k] : "", r->len[k],
                                       err)) != MB_OK)
                return st;
            continue;
        }
        if (r->needs[k] & MB_NEED_DBL) {
            if (r->dbl_ok[k] && (st = mb_groups_add_dbl(g, gi, k, r->dbl[k], err)) != MB_OK)
                return st;
            continue;
        }
        if (r->needs[k] == MB_NEED_COUNT) {
            if (r->dec_ok[k])
                mb_acc_count(mb_groups_acc(g, gi, k));
            continue;
        }
        if (r->dec_ok[k]) {
            if ((st = mb_groups_add(g, gi, k, &r->dec[k], err)) != MB_OK)
                return st;
            continue;
        }
        if (r->len[k] == SIZE_MAX)
            continue;                          /* NULL, or FILTER said no */
        if ((st = mb_groups_add_text(g, gi, k, r->text.p + r->off[k], r->len[k], err)) != MB_OK)
            return st;
    }
    return MB_OK;
}
