/* finish.c - the group layer (finish.h). */
#include "sql/finish.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sql/pool.h"

/* Decodes the key fields of group gi into vals (VARCHARs point into g). */
static mb_status key_values(const mb_sql_plan *p, const mb_groups *g, size_t gi,
                            mb_sql_value *vals, mb_err *err)
{
    const char *key = mb_groups_key(g, gi);
    size_t len = mb_groups_klen(g, gi), at = 0;
    for (size_t k = 0; k < p->nkeys; k++) {
        uint32_t flen;
        mb_status st;
        if (at + sizeof flen > len)
            return mb_err_set(err, MB_EDATA, "a group key is shorter than the query's keys");
        memcpy(&flen, key + at, sizeof flen);
        at += sizeof flen;
        if (flen > len - at)
            return mb_err_set(err, MB_EDATA, "a group key field runs past its key");
        if (flen == 1 && key[at] == '\0') {
            memset(&vals[k], 0, sizeof vals[k]);
            vals[k].t = p->keys[k]->type.t;
            vals[k].null = true;
        } else if (p->keys[k]->type.t == MB_SQL_T_NULL) {
            return mb_err_set(err, MB_EDATA, "a NULL-typed key holds a value");
        } else if ((st = mb_sql_value_parse(key + at, flen, p->keys[k]->type, &vals[k], err)) !=
                   MB_OK) {
            return st;
        }
        at += flen;
    }
    return MB_OK;
}

static void set_null(mb_sql_value *v, mb_sql_type t)
{
    memset(v, 0, sizeof *v);
    v->t = t;
    v->null = true;
}

/* The final min (or max) of a string min/max accumulator: a VARCHAR
 * pointing into g's string state, NULL when the group saw no value. */
static mb_status str_final(const mb_groups *g, size_t gi, size_t k, bool min, mb_sql_value *out)
{
    const mb_strmm *s = mb_groups_str(g, gi, k);

    if (!s) {
        set_null(out, MB_SQL_T_VARCHAR);
        return MB_OK;
    }
    out->u.s.p = min ? s->min : s->max;
    out->u.s.n = min ? s->minlen : s->maxlen;
    return MB_OK;
}

/* The final value of a DOUBLE aggregate from its exact state d (NULL: no
 * values; sq its sum of squares), a function of the multiset of values
 * only, with DuckDB's answers where they are deterministic:
 *   sum  the exact sum rounded once (mb_fsum_value), a zero as +0.0 (DuckDB
 *        sums from +0.0: sum(-0.0) is 0.0);
 *   avg  that rounded sum divided by n (so inf when the sum rounds to inf,
 *        as DuckDB's sum / count);
 *   var_samp, var_pop  (n * sum(x^2) - sum(x)^2) / (n (n - 1)) or / n^2,
 *        computed exactly and rounded once (mb_fsum_var: the formula of the
 *        decimal states); stddev_* the sqrt() of that double. The
 *        population's of one value is 0.0, whatever it is (as DuckDB); a
 *        variance that is not finite (inf or NaN among two or more values,
 *        or beyond the double range) is an error of the task's data, as
 *        DuckDB's "VARSAMP is out of range";
 *   min, max  the values kept (NaN largest, -0.0 before +0.0).
 * NaN results are the one positive NaN ("nan"; DuckDB prints inf + -inf as
 * "-nan"). NULL as in SQL: no values, or fewer than two for the sample
 * variance and deviation. */
static mb_status dbl_final(const mb_sql_agg *a, const mb_dstate *d, const mb_fsumsq *sq,
                           mb_sql_value *out, mb_err *err)
{
    uint64_t n = d ? d->s.c.n : 0;
    double v;

    if (n == 0 || (n < 2 && (a->fn == MB_SQL_A_VAR_SAMP || a->fn == MB_SQL_A_STDDEV_SAMP))) {
        set_null(out, a->type.t);
        return MB_OK;
    }
    switch (a->fn) {
    case MB_SQL_A_SUM:
        v = mb_fsum_value(&d->s) + 0.0;
        break;
    case MB_SQL_A_AVG:
        v = (mb_fsum_value(&d->s) + 0.0) / (double)n;
        break;
    case MB_SQL_A_MIN:
        v = d->min;
        break;
    case MB_SQL_A_MAX:
        v = d->max;
        break;
    case MB_SQL_A_VAR_SAMP:
    case MB_SQL_A_VAR_POP:
    case MB_SQL_A_STDDEV_SAMP:
    case MB_SQL_A_STDDEV_POP:
        if (!sq)
            return mb_err_set(err, MB_EINTERNAL, "%s: no sum of squares", a->text);
        v = mb_fsum_var(&d->s, sq, a->fn == MB_SQL_A_VAR_SAMP || a->fn == MB_SQL_A_STDDEV_SAMP);
        if (n == 1)
            v = 0.0;            /* one value, whatever it is, as DuckDB: 0 */
        if (!isfinite(v))
            return mb_err_set(err, MB_EDATA, "%s is out of range (not a finite double: the "
                              "values hold inf or NaN, or vary too widely)", a->text);
        if (a->fn == MB_SQL_A_STDDEV_SAMP || a->fn == MB_SQL_A_STDDEV_POP)
            v = sqrt(v);
        break;
    default:
        return mb_err_set(err, MB_EINTERNAL, "%s: not an aggregate of DOUBLE", a->text);
    }
    if (a->type.t != MB_SQL_T_DOUBLE)
        return mb_err_set(err, MB_EINTERNAL, "%s: a DOUBLE state for another type", a->text);
    out->u.d = v;
    return MB_OK;
}

/* The final value of aggregate i of group gi (gi SIZE_MAX: the empty
 * group of a global aggregate over no rows). */
static mb_status finalize(const mb_sql_plan *p, const mb_sql_rows *r, const mb_groups *g,
                          size_t gi, size_t i, mb_sql_value *out, mb_err *err)
{
    const mb_sql_agg *a = &p->aggs[i];
    size_t k = r->agg_acc[i];
    mb_numstate ns;
    char text[160];
    double d;
    mb_status st;

    memset(out, 0, sizeof *out);
    out->t = a->type.t;
    if (k == SIZE_MAX) {
        out->u.i = gi == SIZE_MAX ? 0 : mb_groups_rec(g, gi)->rows;
        return MB_OK;
    }
    if (gi != SIZE_MAX && (r->needs[k] & MB_NEED_STR) && a->fn != MB_SQL_A_COUNT)
        return str_final(g, gi, k, a->fn == MB_SQL_A_MIN, out);
    if ((r->needs[k] & MB_NEED_DBL) && a->fn != MB_SQL_A_COUNT)
        return dbl_final(a, gi == SIZE_MAX ? NULL : mb_groups_dbl(g, gi, k),
                         gi == SIZE_MAX ? NULL : mb_groups_dbl_sq(g, mb_groups_dbl(g, gi, k)),
                         out, err);
    if (gi == SIZE_MAX)
        memset(&ns, 0, sizeof ns);
    else
        mb_groups_state(g, gi, k, &ns);
    if (a->fn == MB_SQL_A_COUNT || a->fn == MB_SQL_A_COUNT_STAR) {
        out->u.i = ns.n;
        return MB_OK;
    }
    if (ns.n == 0 || (ns.n < 2 && (a->fn == MB_SQL_A_VAR_SAMP || a->fn == MB_SQL_A_STDDEV_SAMP))) {
        set_null(out, a->type.t);
        return MB_OK;
    }
    switch (a->fn) {
    case MB_SQL_A_AVG:
    case MB_SQL_A_VAR_SAMP:
    case MB_SQL_A_VAR_POP:
    case MB_SQL_A_STDDEV_SAMP:
    case MB_SQL_A_STDDEV_POP:
        st = mb_num_double(&ns, a->fn == MB_SQL_A_AVG ? MB_AGG_MEAN : MB_AGG_VAR,
                           a->fn == MB_SQL_A_VAR_POP || a->fn == MB_SQL_A_STDDEV_POP, &d);
        if (st != MB_OK)
            return mb_err_set(err, st, "%s: the state cannot be finalized", a->text);
        out->u.d = a->fn == MB_SQL_A_STDDEV_SAMP || a->fn == MB_SQL_A_STDDEV_POP ? sqrt(d) : d;
        return MB_OK;
    case MB_SQL_A_SUM:
        if (a->type.t == MB_SQL_T_DOUBLE) {
            if ((st = mb_num_double(&ns, MB_AGG_SUM, 0, &out->u.d)) != MB_OK)
                return mb_err_set(err, st, "%s: the state cannot be finalized", a->text);
            return MB_OK;
        }
        if (mb_num_exact(&ns, MB_AGG_SUM, text, sizeof text) != MB_OK)
            return mb_err_set(err, MB_ERANGE, "%s is out of range", a->text);
        break;
    default:           /* min, max, bool_and (min of 1/0), bool_or (max) */
        if (mb_num_exact(&ns, a->fn == MB_SQL_A_MIN || a->fn == MB_SQL_A_BOOL_AND ? MB_AGG_MIN
                                                                             : MB_AGG_MAX,
                         text, sizeof text) != MB_OK)
            return mb_err_set(err, MB_ERANGE, "%s is out of range", a->text);
        break;
    }
    /* text is the exact value at the state's scale: type it. */
    switch (a->type.t) {
    case MB_SQL_T_DOUBLE:
        out->u.d = strtod(text, NULL);         /* the shortest text of a double */
        return MB_OK;
    case MB_SQL_T_BOOLEAN:
        out->u.b = strcmp(text, "0") != 0;
        return MB_OK;
    case MB_SQL_T_DATE:
    case MB_SQL_T_TIMESTAMP: {
        mb_sql_value v;
        if ((st = mb_sql_value_parse(text, strlen(text), (mb_sql_dtype){MB_SQL_T_BIGINT, 0, 0},
                                     &v, err)) != MB_OK)
            return st;
        out->u.i = v.u.i;
        return MB_OK;
    }
    case MB_SQL_T_DECIMAL: {
        mb_sql_dtype t = a->type;
        t.width = 38;
        if (mb_sql_value_parse(text, strlen(text), t, out, err) != MB_OK)
            return mb_err_set(err, MB_ERANGE, "%s is out of range (%s)", a->text, text);
        return MB_OK;
    }
    default:
        return mb_sql_value_parse(text, strlen(text), a->type, out, err) == MB_OK
                   ? MB_OK : mb_err_set(err, MB_ERANGE, "%s is out of range (%s)", a->text, text);
    }
}

typedef struct row {
    size_t gi;
    char **cells;
    mb_sql_value *order;
} row;

typedef struct sorter {
    const mb_sql_plan *p;
    const mb_groups *g;
} sorter;

static const sorter *sort_ctx;

static int key_cmp(const mb_groups *g, size_t a, size_t b)
{
    if (a == SIZE_MAX || b == SIZE_MAX)
        return 0;
    size_t la = mb_groups_klen(g, a), lb = mb_groups_klen(g, b);
    int c = memcmp(mb_groups_key(g, a), mb_groups_key(g, b), la < lb ? la : lb);
    return c ? c : (la < lb ? -1 : la > lb);
}

static int row_cmp(const void *x, const void *y)
{
    const row *a = x, *b = y;
    const mb_sql_plan *p = sort_ctx->p;
    for (size_t i = 0; i < p->norder; i++) {
        const mb_sql_value *u = &a->order[i], *v = &b->order[i];
        int c;
        if (u->null || v->null) {
            if (u->null && v->null)
                continue;
            c = u->null ? 1 : -1;                 /* NULLS LAST */
            if (p->order[i].nulls_first)
                c = -c;
            return c;
        }
        c = mb_sql_value_cmp(u, v);
        if (c)
            return p->order[i].desc ? -c : c;
    }
    return key_cmp(sort_ctx->g, a->gi, b->gi);
}

static char *copy_text(const mb_sql_value *v, mb_sql_pool **pool)
{
    char buf[256];
    if (v->null)
        return NULL;
    if (v->t == MB_SQL_T_VARCHAR)
        return mb_sql_pool_strndup(pool, v->u.s.p, v->u.s.n);
    if (mb_sql_value_format(v, buf, sizeof buf) != MB_OK)
        return NULL;
    return mb_sql_pool_strndup(pool, buf, strlen(buf));
}


mb_status mb_sql_finish(const mb_sql_plan *p, const mb_sql_rows *r, const mb_groups *g,
                        mb_sql_result *out, mb_err *err)
{
    size_t n = g->n, kept = 0, *order_idx = NULL;
    bool empty_global = p->nkeys == 0 && n == 0;
    mb_sql_value *keys = NULL, *aggs = NULL;
    mb_sql_scratch scratch;
    mb_sql_pool *pool = NULL;
    row *rows = NULL;
    mb_status st = MB_OK;

    memset(out, 0, sizeof *out);
    mb_sql_scratch_init(&scratch, (size_t)64 << 20);
    if (empty_global)
        n = 1;
    rows = mb_calloc(n ? n : 1, sizeof *rows);
    keys = mb_calloc(p->nkeys + 1, sizeof *keys);
    aggs = mb_calloc(p->naggs + 1, sizeof *aggs);
    order_idx = mb_groups_sorted(g);
    if (!rows || !keys || !aggs || (!order_idx && g->n)) {
        st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's answer");
        goto done;
    }
    for (size_t j = 0; j < n; j++) {
        size_t gi = empty_global ? SIZE_MAX : order_idx[j];
        mb_sql_env env = {NULL, keys, aggs, &scratch};
        bool pass = true;
        mb_sql_scratch_reset(&scratch);
        if (gi != SIZE_MAX && (st = key_values(p, g, gi, keys, err)) != MB_OK)
            goto done;
        for (size_t i = 0; i < p->naggs; i++)
            if ((st = finalize(p, r, g, gi, i, &aggs[i], err)) != MB_OK)
                goto done;
        if (p->having && (st = mb_sql_eval_pred(p->having, &env, &pass, err)) != MB_OK)
            goto done;
        if (!pass)
            continue;
        row *w = &rows[kept];
        w->gi = gi;
        if (!(w->cells = mb_sql_pool_alloc(&pool, (p->nouts + 1) * sizeof *w->cells)) ||
            !(w->order = mb_sql_pool_alloc(&pool, (p->norder + 1) * sizeof *w->order))) {
            st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's answer");
            goto done;
        }
        for (size_t c = 0; c < p->nouts; c++) {
            mb_sql_value v;
            if ((st = mb_sql_eval(p->outs[c].expr, &env, &v, err)) != MB_OK)
                goto done;
            w->cells[c] = copy_text(&v, &pool);
            if (!v.null && !w->cells[c]) {
                st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's answer");
                goto done;
            }
        }
        for (size_t c = 0; c < p->norder; c++) {
            mb_sql_value v;
            if ((st = mb_sql_eval(p->order[c].expr, &env, &v, err)) != MB_OK)
                goto done;
            if (v.t == MB_SQL_T_VARCHAR && !v.null) {
                char *s = mb_sql_pool_strndup(&pool, v.u.s.p, v.u.s.n);
                if (!s) {
                    st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's answer");
                    goto done;
                }
                v.u.s.p = s;
            }
            w->order[c] = v;
        }
        kept++;
    }
    if (p->norder) {
        sorter s = {p, g};
        sort_ctx = &s;
        qsort(rows, kept, sizeof *rows, row_cmp);
        sort_ctx = NULL;
    }
    {
        size_t from = (size_t)p->offset < kept ? (size_t)p->offset : kept, to = kept;
        if (p->limit >= 0 && (uint64_t)p->limit < to - from)
            to = from + (size_t)p->limit;
        out->ncols = p->nouts;
        out->nrows = to - from;
        out->cells = mb_calloc(out->nrows * out->ncols + 1, sizeof *out->cells);
        out->types = mb_calloc(out->ncols + 1, sizeof *out->types);
        out->names = mb_calloc(out->ncols + 1, sizeof *out->names);
        if (!out->cells || !out->types || !out->names) {
            st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's answer");
            goto done;
        }
        for (size_t c = 0; c < out->ncols; c++) {
            ((const char **)out->names)[c] = p->outs[c].name;
            out->types[c] = p->outs[c].expr->type.t;
        }
        for (size_t j = from; j < to; j++)
            for (size_t c = 0; c < out->ncols; c++) {
                const char *t = rows[j].cells[c];
                if (t && !(out->cells[(j - from) * out->ncols + c] = mb_strdup(t))) {
                    st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's answer");
                    goto done;
                }
            }
    }
done:
    if (st != MB_OK)
        mb_sql_result_fini(out);
    free(rows);
    free(keys);
    free(aggs);
    free(order_idx);
    mb_sql_pool_free(pool);
    mb_sql_scratch_fini(&scratch);
    return st;
}

void mb_sql_result_fini(mb_sql_result *res)
{
    if (res->cells)
        for (size_t i = 0; i < res->nrows * res->ncols; i++)
            free(res->cells[i]);
    free(res->cells);
    free(res->types);
    free((void *)res->names);
    memset(res, 0, sizeof *res);
}

/* A field as DuckDB writes it: quoted when it holds the delimiter, a
 * quote, CR/LF or leading or trailing spaces, and the empty string as ""
 * so that it differs from NULL (nothing). */
static void csv_field(FILE *f, const char *s)
{
    size_t n = strlen(s);
    bool q = !n || s[0] == ' ' || s[n - 1] == ' ' || strpbrk(s, ",\"\r\n");
    if (!q) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

mb_status mb_sql_result_write_csv_task(const mb_sql_result *res, FILE *f, const char *task,
                                       int header)
{
    if (header) {
        if (task)
            fputs(res->ncols ? "task," : "task", f);
        for (size_t c = 0; c < res->ncols; c++) {
            if (c)
                fputc(',', f);
            csv_field(f, res->names[c]);
        }
        fputc('\n', f);
    }
    for (size_t r = 0; r < res->nrows; r++) {
        if (task) {
            csv_field(f, task);
            if (res->ncols)
                fputc(',', f);
        }
        for (size_t c = 0; c < res->ncols; c++) {
            const char *t = res->cells[r * res->ncols + c];
            if (c)
                fputc(',', f);
            if (t)
                csv_field(f, t);
        }
        fputc('\n', f);
    }
    return ferror(f) ? MB_EIO : MB_OK;
}

mb_status mb_sql_result_write_csv(const mb_sql_result *res, FILE *f)
{
    return mb_sql_result_write_csv_task(res, f, NULL, 1);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

mb_status mb_sql_result_write_json(const mb_sql_result *res, FILE *f, const char *task,
                                   int *first)
{
    for (size_t r = 0; r < res->nrows; r++) {
        fputs(*first ? "\n  {" : ",\n  {", f);
        *first = 0;
        if (task) {
            fputs("\"task\":", f);
            json_string(f, task);
        }
        for (size_t c = 0; c < res->ncols; c++) {
            const char *t = res->cells[r * res->ncols + c];
            mb_sql_type ty = res->types[c];
            if (c || task)
                fputc(',', f);
            json_string(f, res->names[c]);
            fputc(':', f);
            if (!t)
                fputs("null", f);
            else if (ty == MB_SQL_T_BIGINT || ty == MB_SQL_T_DECIMAL || ty == MB_SQL_T_BOOLEAN ||
                     (ty == MB_SQL_T_DOUBLE && strpbrk(t, "0123456789") && !strstr(t, "inf") &&
                      !strstr(t, "nan")))
                fputs(t, f);           /* JSON numbers and booleans as DuckDB writes them */
            else
                json_string(f, t);
        }
        fputc('}', f);
    }
    return ferror(f) ? MB_EIO : MB_OK;
}
