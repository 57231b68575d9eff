/* vec.c - the row layer over a batch of records (vec.h): builds the flat
 * program of a plan's row expressions and runs it a batch at a time. It
 * does not report data errors itself: any error sends the batch back to
 * the per-record path (rows.c), which does. */
#include "sql/vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/timefmt.h"

#define VB MB_SQL_VEC_MAX
#define NONE UINT32_MAX

typedef struct vop vop;
typedef mb_status (*kernel)(mb_sql_vec *v, const vop *o, const uint16_t *sel, size_t n,
                            mb_err *err);

/* One operation: out := fn(args) over the selected rows. */
struct vop {
    kernel fn;
    const mb_sql_expr *e;       /* the plan's node */
    mb_sql_expr shadow;         /* e reading its arguments as columns 0..nargs-1 */
    mb_sql_expr **sargs;        /* the shadow's argument nodes */
    uint32_t *args;             /* argument slots */
    uint32_t out;
    char *text;                 /* k_strftime: VB results of `width` bytes */
    size_t width;
};

struct mb_sql_vec {
    const mb_sql_rows *r;
    const mb_sql_plan *p;
    mb_sql_value *slots;        /* nslots vectors of VB values */
    size_t nslots, capslots;
    bool *isconst;              /* per slot: a constant, filled at build time */
    uint32_t *colslot;          /* per input column: its slot, or NONE */
    size_t *used, nused;        /* the plan's columns */
    bool *parse;                /* per input column: parsed into its slot */
    vop *ops;
    size_t nops, capops, where_end;
    const mb_sql_expr **memo;   /* compiled nodes and their slots */
    uint32_t *memo_slot;
    size_t nmemo, capmemo;
    uint32_t where, *keys, *arg, *filter;
    long *cellcol;              /* per accumulator: the input column of a bare
                                   BIGINT, DATE or DOUBLE argument, or -1: its
                                   value goes from the cell to an exact decimal */
    mb_sql_scratch scratch;     /* a batch's strings */
    mb_sql_scratch cscratch;    /* the folded constants' strings, kept */
    mb_sql_scratch *cur;        /* where kernels make strings */
    mb_buf cellbuf;             /* the batch's unescaped cells */
    /* the last batch */
    uint16_t sel[VB];
    size_t nsel;
    mb_buf key;
    size_t koff[VB + 1];
    uint64_t hash[VB];          /* of the kept records' keys */
    size_t gi[VB];              /* and their groups (mb_sql_vec_locate) */
    uint8_t *akind;             /* VB * nacc: 0 nothing, 1 adec, 3 adbl, 4 astr */
    mb_dec *adec;
    double *adbl;               /* VB * nacc: values of MB_NEED_DBL accumulators */
    size_t *alen;               /* astr's lengths */
    const char **astr;          /* VB * nacc: strings of MB_NEED_STR accumulators,
                                   in the batch's cells or scratch, not copied */
};

static mb_sql_value *slot(mb_sql_vec *v, uint32_t s) { return v->slots + (size_t)s * VB; }

static void set_null(mb_sql_value *x, mb_sql_type t)
{
    memset(x, 0, sizeof *x);
    x->t = t;
    x->null = true;
}

/* ---- kernels ---------------------------------------------------------------- */

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}


/* Any function: the scalar evaluator's code for this one node, its
 * arguments read from the argument vectors. */
static mb_status k_generic(mb_sql_vec *v, const vop *o, const uint16_t *sel, size_t n,
                           mb_err *err)
{
    mb_sql_value argv[64];
    mb_sql_env env = {argv, NULL, NULL, v->cur};
    mb_sql_value *out = slot(v, o->out);
    mb_status st;
    size_t na = o->shadow.nargs;
    if (na > MB_ARRAY_LEN(argv))
        return mb_err_set(err, MB_EINTERNAL, "too many arguments");
    for (size_t j = 0; j < n; j++) {
        size_t i = sel[j];
        for (size_t k = 0; k < na; k++)
            argv[k] = slot(v, o->args[k])[i];
        if ((st = mb_sql_eval(&o->shadow, &env, &out[i], err)) != MB_OK)
            return st;
    }
    return MB_OK;
}

static bool is_int_type(mb_sql_type t)
{
    return t == MB_SQL_T_BIGINT || t == MB_SQL_T_DATE || t == MB_SQL_T_TIMESTAMP;
}

/* Comparisons, as the scalar evaluator: NULL when either side is, else
 * mb_sql_value_cmp (integers of one type compared inline). */
static mb_status k_cmp(mb_sql_vec *v, const vop *o, const uint16_t *sel, size_t n, mb_err *err)
{
    const mb_sql_value *a = slot(v, o->args[0]), *b = slot(v, o->args[1]);
    mb_sql_value *out = slot(v, o->out);
    mb_sql_fn fn = o->e->fn;
    (void)err;
    for (size_t j = 0; j < n; j++) {
        size_t i = sel[j];
        int c;
        if (a[i].null || b[i].null) {
            set_null(&out[i], MB_SQL_T_BOOLEAN);
            continue;
        }
        if (a[i].t == b[i].t && is_int_type(a[i].t))
            c = a[i].u.i < b[i].u.i ? -1 : a[i].u.i > b[i].u.i;
        else
            c = mb_sql_value_cmp(&a[i], &b[i]);
        memset(&out[i], 0, sizeof out[i]);
        out[i].t = MB_SQL_T_BOOLEAN;
        out[i].u.b = mb_sql_cmp_holds(fn, c);
    }
    return MB_OK;
}

/* NULLIF(a, b), as the scalar evaluator: NULL when neither is NULL and
 * they compare equal, else a (strings compared by their bytes inline: the
 * --agg query's nullif(key, '') on every record). */
static mb_status k_nullif(mb_sql_vec *v, const vop *o, const uint16_t *sel, size_t n,
                          mb_err *err)
{
    const mb_sql_value *a = slot(v, o->args[0]), *b = slot(v, o->args[1]);
    mb_sql_value *out = slot(v, o->out);
    (void)err;
    for (size_t j = 0; j < n; j++) {
        size_t i = sel[j];
        bool eq = false;
        if (!a[i].null && !b[i].null) {
            if (a[i].t == MB_SQL_T_VARCHAR && b[i].t == MB_SQL_T_VARCHAR)
                eq = a[i].u.s.n == b[i].u.s.n &&
                     (a[i].u.s.n == 0 || memcmp(a[i].u.s.p, b[i].u.s.p, a[i].u.s.n) == 0);
            else
                eq = mb_sql_value_cmp(&a[i], &b[i]) == 0;
        }
        if (eq)
            set_null(&out[i], o->e->type.t);
        else
            out[i] = a[i];
    }
    return MB_OK;
}

/* AND, OR over any number of arguments with three-valued logic (all
 * arguments were evaluated; the result is the one short-circuiting gives). */
static mb_status k_logic(mb_sql_vec *v, const vop *o, const uint16_t *sel, size_t n, mb_err *err)
{
    mb_sql_value *out = slot(v, o->out);
    bool and = o->e->fn == MB_SQL_F_AND;
    size_t na = o->e->nargs;
    (void)err;
    for (size_t j = 0; j < n; j++) {
        size_t i = sel[j];
        int acc = and ? 1 : 0;
        for (size_t k = 0; k < na; k++) {
            const mb_sql_value *x = &slot(v, o->args[k])[i];
            int t = x->null ? -1 : x->u.b ? 1 : 0;
            if (t == (and ? 0 : 1)) {
                acc = t;
                break;
            }
            if (t < 0)
                acc = -1;
        }
        if (acc < 0) {
            set_null(&out[i], MB_SQL_T_BOOLEAN);
        } else {
            memset(&out[i], 0, sizeof out[i]);
            out[i].t = MB_SQL_T_BOOLEAN;
            out[i].u.b = acc != 0;
        }
    }
    return MB_OK;
}

static mb_status k_not(mb_sql_vec *v, const vop *o, const uint16_t *sel, size_t n, mb_err *err)
{
    const mb_sql_value *a = slot(v, o->args[0]);
    mb_sql_value *out = slot(v, o->out);
    (void)err;
    for (size_t j = 0; j < n; j++) {
        size_t i = sel[j];
        if (a[i].null) {
            set_null(&out[i], MB_SQL_T_BOOLEAN);
        } else {
            memset(&out[i], 0, sizeof out[i]);
            out[i].t = MB_SQL_T_BOOLEAN;
            out[i].u.b = !a[i].u.b;
        }
    }
    return MB_OK;
}

/* BIGINT + - * BIGINT: NULL when either side is; an overflow is an error
 * (the batch goes to the row path, which reports it). */
static mb_status k_arith_i64(mb_sql_vec *v, const vop *o, const uint16_t *sel, size_t n,
                             mb_err *err)
{
    const mb_sql_value *a = slot(v, o->args[0]), *b = slot(v, o->args[1]);
    mb_sql_value *out = slot(v, o->out);
    mb_sql_fn fn = o->e->fn;
    for (size_t j = 0; j < n; j++) {
        size_t i = sel[j];
        int64_t r;
        bool bad;
        if (a[i].null || b[i].null) {
            set_null(&out[i], MB_SQL_T_BIGINT);
            continue;
        }
        bad = fn == MB_SQL_F_ADD   ? __builtin_add_overflow(a[i].u.i, b[i].u.i, &r)
              : fn == MB_SQL_F_SUB ? __builtin_sub_overflow(a[i].u.i, b[i].u.i, &r)
                                   : __builtin_mul_overflow(a[i].u.i, b[i].u.i, &r);
        if (bad)
            return mb_err_set(err, MB_ERANGE, "BIGINT overflow");
        memset(&out[i], 0, sizeof out[i]);
        out[i].t = MB_SQL_T_BIGINT;
        out[i].u.i = r;
    }
    return MB_OK;
}

/* strftime(DATE or TIMESTAMP, constant format) for the formats that
 * simple_format accepts, the years 0..9999 written here; any other row
 * runs the scalar evaluator's code (k_generic). The text is the same. */
static mb_status k_strftime(mb_sql_vec *v, const vop *o, const uint16_t *sel, size_t n,
                            mb_err *err)
{
    const mb_sql_value *a = slot(v, o->args[0]), *f = &slot(v, o->args[1])[0];
    mb_sql_value *out = slot(v, o->out);
    const int64_t upd = INT64_C(86400000000);
    mb_status st;
    for (size_t j = 0; j < n; j++) {
        size_t i = sel[j], k = 0;
        int64_t us, days, rem, y;
        unsigned m, d;
        char *p = o->text + i * o->width;
        if (a[i].null || f->null) {
            set_null(&out[i], MB_SQL_T_VARCHAR);
            continue;
        }
        us = a[i].t == MB_SQL_T_DATE ? a[i].u.i * upd : a[i].u.i;
        days = us / upd;
        if (us % upd < 0)
            days--;
        rem = us - days * upd;
        mb_sql_civil_from_days(days, &y, &m, &d);
        if (y < 0 || y > 9999) {
            if ((st = k_generic(v, o, &sel[j], 1, err)) != MB_OK)
                return st;
            continue;
        }
        for (size_t c = 0; c < f->u.s.n; c++) {
            if (f->u.s.p[c] != '%') {
                p[k++] = f->u.s.p[c];
                continue;
            }
            switch (f->u.s.p[++c]) {
            case 'Y':
                put2(p + k, (unsigned)(y / 100));
                put2(p + k + 2, (unsigned)(y % 100));
                k += 4;
                continue;
            case 'm': put2(p + k, m); break;
            case 'd': put2(p + k, d); break;
            case 'H': put2(p + k, (unsigned)(rem / INT64_C(3600000000))); break;
            case 'M': put2(p + k, (unsigned)(rem / 60000000 % 60)); break;
            default: put2(p + k, (unsigned)(rem / 1000000 % 60)); break;
            }
            k += 2;
        }
        memset(&out[i], 0, sizeof out[i]);
        out[i].t = MB_SQL_T_VARCHAR;
        out[i].u.s.p = p;
        out[i].u.s.n = k;
    }
    return MB_OK;
}

/* A strftime format k_strftime writes: at most 64 bytes, conversions
 * %Y %m %d %H %M %S only; *width is the most bytes it writes. */
static bool simple_format(const mb_sql_value *f, size_t *width)
{
    size_t w = 0;
    if (f->null || f->t != MB_SQL_T_VARCHAR || f->u.s.n > 64)
        return false;
    for (size_t c = 0; c < f->u.s.n; c++) {
        if (f->u.s.p[c] != '%') {
            w++;
            continue;
        }
        if (++c == f->u.s.n || !strchr("YmdHMS", f->u.s.p[c]) || f->u.s.p[c] == '\0')
            return false;
        w += f->u.s.p[c] == 'Y' ? 4 : 2;
    }
    *width = w ? w : 1;
    return true;
}

/* ---- building the program ------------------------------------------------- */

static mb_status new_slot(mb_sql_vec *v, uint32_t *out, mb_err *err)
{
    if (v->nslots == v->capslots) {
        size_t cap = v->capslots ? 2 * v->capslots : 16;
        mb_sql_value *s = mb_realloc(v->slots, cap * VB * sizeof *s);
        bool *c;
        if (!s)
            return mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
        v->slots = s;
        if (!(c = mb_realloc(v->isconst, cap * sizeof *c)))
            return mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
        v->isconst = c;
        v->capslots = cap;
    }
    memset(v->slots + v->nslots * VB, 0, VB * sizeof *v->slots);
    v->isconst[v->nslots] = false;
    *out = (uint32_t)v->nslots++;
    return MB_OK;
}

static mb_status memo_add(mb_sql_vec *v, const mb_sql_expr *e, uint32_t s, mb_err *err)
{
    if (v->nmemo == v->capmemo) {
        size_t cap = v->capmemo ? 2 * v->capmemo : 16;
        const mb_sql_expr **m = mb_realloc(v->memo, cap * sizeof *m);
        uint32_t *ms;
        if (!m)
            return mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
        v->memo = m;
        if (!(ms = mb_realloc(v->memo_slot, cap * sizeof *ms)))
            return mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
        v->memo_slot = ms;
        v->capmemo = cap;
    }
    v->memo[v->nmemo] = e;
    v->memo_slot[v->nmemo++] = s;
    return MB_OK;
}

static kernel pick_kernel(const mb_sql_expr *e)
{
    switch (e->fn) {
    case MB_SQL_F_EQ:
    case MB_SQL_F_NE:
    case MB_SQL_F_LT:
    case MB_SQL_F_LE:
    case MB_SQL_F_GT:
    case MB_SQL_F_GE:
        return e->nargs == 2 ? k_cmp : k_generic;
    case MB_SQL_F_AND:
    case MB_SQL_F_OR:
        return k_logic;
    case MB_SQL_F_NOT:
        return e->nargs == 1 ? k_not : k_generic;
    case MB_SQL_F_NULLIF:
        return e->nargs == 2 ? k_nullif : k_generic;
    case MB_SQL_F_ADD:
    case MB_SQL_F_SUB:
    case MB_SQL_F_MUL:
        return e->nargs == 2 && e->type.t == MB_SQL_T_BIGINT &&
                       e->args[0]->type.t == MB_SQL_T_BIGINT &&
                       e->args[1]->type.t == MB_SQL_T_BIGINT
                   ? k_arith_i64
                   : k_generic;
    default:
        return k_generic;
    }
}

static void fill_const(mb_sql_vec *v, uint32_t s, const mb_sql_value *x)
{
    mb_sql_value *d = slot(v, s);
    for (size_t i = 0; i < VB; i++)
        d[i] = *x;
    v->isconst[s] = true;
}

static mb_status compile(mb_sql_vec *v, const mb_sql_expr *e, uint32_t *out, mb_err *err);

static mb_status compile_call(mb_sql_vec *v, const mb_sql_expr *e, uint32_t *out, mb_err *err)
{
    vop o;
    mb_status st;
    bool all_const = true;
    memset(&o, 0, sizeof o);
    o.e = e;
    o.fn = pick_kernel(e);
    o.shadow = *e;
    if (e->nargs && (!(o.args = mb_calloc(e->nargs, sizeof *o.args)) ||
                     !(o.sargs = mb_calloc(e->nargs, sizeof *o.sargs)) ||
                     !(o.shadow.args = mb_calloc(e->nargs, sizeof *o.shadow.args)))) {
        st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
        goto fail;
    }
    for (size_t k = 0; k < e->nargs; k++) {
        if ((st = compile(v, e->args[k], &o.args[k], err)) != MB_OK)
            goto fail;
        all_const = all_const && v->isconst[o.args[k]];
        if (!(o.sargs[k] = mb_calloc(1, sizeof *o.sargs[k]))) {
            st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
            goto fail;
        }
        o.sargs[k]->kind = MB_SQL_E_COLUMN;
        o.sargs[k]->type = e->args[k]->type;
        o.sargs[k]->idx = k;
        o.sargs[k]->pos = e->args[k]->pos;
        o.shadow.args[k] = o.sargs[k];
    }
    if ((st = new_slot(v, &o.out, err)) != MB_OK)
        goto fail;
    if (e->fn == MB_SQL_F_STRFTIME && e->nargs == 2 && !all_const &&
        (e->args[0]->type.t == MB_SQL_T_DATE || e->args[0]->type.t == MB_SQL_T_TIMESTAMP) &&
        v->isconst[o.args[1]] && simple_format(&slot(v, o.args[1])[0], &o.width)) {
        if (!(o.text = mb_calloc(VB, o.width))) {
            st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
            goto fail;
        }
        o.fn = k_strftime;
    }
    if (all_const) {
        /* Constant folding: one row at build time, strings kept in cscratch.
         * A constant that fails (an overflow) stays an operation: the
         * batches that reach it go to the row path, which reports it. */
        uint16_t zero = 0;
        mb_err e2;
        v->cur = &v->cscratch;
        st = o.fn(v, &o, &zero, 1, &e2);
        v->cur = &v->scratch;
        if (st == MB_OK) {
            mb_sql_value x = slot(v, o.out)[0];
            fill_const(v, o.out, &x);
            for (size_t k = 0; k < e->nargs; k++)
                free(o.sargs[k]);
            free(o.sargs);
            free(o.args);
            free(o.shadow.args);
            *out = o.out;
            return MB_OK;
        }
    }
    if (v->nops == v->capops) {
        size_t cap = v->capops ? 2 * v->capops : 16;
        vop *ops = mb_realloc(v->ops, cap * sizeof *ops);
        if (!ops) {
            st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
            goto fail;
        }
        v->ops = ops;
        v->capops = cap;
    }
    v->ops[v->nops++] = o;
    *out = o.out;
    return MB_OK;
fail:
    free(o.text);
    for (size_t k = 0; o.sargs && k < e->nargs; k++)
        free(o.sargs[k]);
    free(o.sargs);
    free(o.args);
    free(o.shadow.args);
    return st;
}

/* The slot that holds e's values; compiles e (once per distinct
 * expression) into the program. */
static mb_status compile(mb_sql_vec *v, const mb_sql_expr *e, uint32_t *out, mb_err *err)
{
    mb_status st;
    for (size_t i = 0; i < v->nmemo; i++)
        if (mb_sql_expr_equal(v->memo[i], e)) {
            *out = v->memo_slot[i];
            return MB_OK;
        }
    switch (e->kind) {
    case MB_SQL_E_COLUMN:
        if (e->idx >= v->p->ncolumns || v->colslot[e->idx] == NONE)
            return mb_err_set(err, MB_EINTERNAL, "a row expression reads an unknown column");
        *out = v->colslot[e->idx];
        v->parse[e->idx] = true;
        return MB_OK;
    case MB_SQL_E_CONST:
        if ((st = new_slot(v, out, err)) != MB_OK)
            return st;
        fill_const(v, *out, &e->v);
        break;
    case MB_SQL_E_CALL:
        if ((st = compile_call(v, e, out, err)) != MB_OK)
            return st;
        break;
    default:
        return mb_err_set(err, MB_EINTERNAL, "a group-layer expression in the row layer");
    }
    return memo_add(v, e, *out, err);
}

void mb_sql_vec_free(mb_sql_vec *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nops; i++) {
        for (size_t k = 0; k < v->ops[i].e->nargs; k++)
            free(v->ops[i].sargs[k]);
        free(v->ops[i].sargs);
        free(v->ops[i].args);
        free(v->ops[i].shadow.args);
        free(v->ops[i].text);
    }
    free(v->ops);
    free(v->slots);
    free(v->isconst);
    free(v->colslot);
    free(v->used);
    free(v->parse);
    free(v->memo);
    free(v->memo_slot);
    free(v->keys);
    free(v->arg);
    free(v->filter);
    free(v->cellcol);
    free(v->akind);
    free(v->adec);
    free(v->adbl);
    free(v->alen);
    free(v->astr);
    mb_sql_scratch_fini(&v->scratch);
    mb_sql_scratch_fini(&v->cscratch);
    mb_buf_fini(&v->cellbuf);
    mb_buf_fini(&v->key);
    free(v);
}

mb_status mb_sql_vec_new(const mb_sql_rows *r, mb_sql_vec **out, mb_err *err)
{
    const mb_sql_plan *p = r->plan;
    size_t nc = p->ncolumns ? p->ncolumns : 1, na = r->nacc ? r->nacc : 1;
    mb_sql_vec *v = mb_calloc(1, sizeof *v);
    mb_status st = MB_OK;

    *out = NULL;
    /* DOUBLE arguments go to the exact double state, VARCHAR ones of
     * min/max to the string state, the exact types as decimals; others
     * stay on the row path, which knows them. */
    for (size_t k = 0; k < r->nacc; k++) {
        const mb_sql_expr *a = r->accs[k].arg;
        if (a && r->accs[k].need != MB_NEED_COUNT && a->type.t != MB_SQL_T_DOUBLE &&
            !(a->type.t == MB_SQL_T_VARCHAR && (r->accs[k].need & MB_NEED_STR)) &&
            a->type.t != MB_SQL_T_BIGINT && a->type.t != MB_SQL_T_DECIMAL &&
            a->type.t != MB_SQL_T_BOOLEAN && a->type.t != MB_SQL_T_DATE &&
            a->type.t != MB_SQL_T_TIMESTAMP) {
            free(v);
            return MB_OK;
        }
    }
    if (!v)
        return mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
    v->r = r;
    v->p = p;
    v->cur = &v->scratch;
    v->where = NONE;
    /* The caps of the row path, for the whole batch: a batch that passes
     * them goes to the row path, which applies them record by record. */
    mb_sql_scratch_init(&v->scratch, (size_t)64 << 20);
    mb_sql_scratch_init(&v->cscratch, (size_t)64 << 20);
    mb_buf_init(&v->cellbuf, (size_t)1 << 30);
    mb_buf_init(&v->key, (size_t)64 << 20);
    if (!(v->colslot = mb_calloc(nc, sizeof *v->colslot)) ||
        !(v->used = mb_calloc(nc, sizeof *v->used)) ||
        !(v->parse = mb_calloc(nc, sizeof *v->parse)) ||
        !(v->keys = mb_calloc(p->nkeys ? p->nkeys : 1, sizeof *v->keys)) ||
        !(v->arg = mb_calloc(na, sizeof *v->arg)) ||
        !(v->filter = mb_calloc(na, sizeof *v->filter)) ||
        !(v->cellcol = mb_calloc(na, sizeof *v->cellcol)) ||
        !(v->akind = mb_calloc(VB * na, sizeof *v->akind)) ||
        !(v->adec = mb_calloc(VB * na, sizeof *v->adec)) ||
        !(v->adbl = mb_calloc(VB * na, sizeof *v->adbl)) ||
        !(v->alen = mb_calloc(VB * na, sizeof *v->alen)) ||
        !(v->astr = mb_calloc(VB * na, sizeof *v->astr))) {
        st = mb_err_set(err, MB_ENOMEM, "out of memory for the query's program");
        goto fail;
    }
    for (size_t c = 0; c < p->ncolumns; c++) {
        v->colslot[c] = NONE;
        if (!p->used[c])
            continue;
        v->used[v->nused++] = c;
        if ((st = new_slot(v, &v->colslot[c], err)) != MB_OK)
            goto fail;
    }
    if (p->where && (st = compile(v, p->where, &v->where, err)) != MB_OK)
        goto fail;
    v->where_end = v->nops;
    for (size_t k = 0; k < p->nkeys; k++)
        if ((st = compile(v, p->keys[k], &v->keys[k], err)) != MB_OK)
            goto fail;
    for (size_t k = 0; k < r->nacc; k++) {
        const mb_sql_acc *a = &r->accs[k];
        v->arg[k] = v->filter[k] = NONE;
        v->cellcol[k] = -1;
        if (a->filter && (st = compile(v, a->filter, &v->filter[k], err)) != MB_OK)
            goto fail;
        if (!a->arg)
            continue;
        /* Not under a FILTER: the row path parses the cell of every kept
         * record, so a bad one is an error even where FILTER says no. */
        if (a->arg->kind == MB_SQL_E_COLUMN && !a->filter &&
            (a->arg->type.t == MB_SQL_T_DOUBLE || a->arg->type.t == MB_SQL_T_BIGINT ||
             a->arg->type.t == MB_SQL_T_DATE) &&
            a->need != MB_NEED_COUNT && a->arg->idx < p->ncolumns &&
            v->colslot[a->arg->idx] != NONE) {
            v->cellcol[k] = (long)a->arg->idx;    /* from its cell, see acc_values */
            continue;
        }
        if ((st = compile(v, a->arg, &v->arg[k], err)) != MB_OK)
            goto fail;
    }
    /* Every column the row path parses is parsed (and so checked), unless
     * a bare argument reads its cell itself. */
    for (size_t c = 0; c < p->ncolumns; c++) {
        bool bare = false;
        for (size_t k = 0; k < r->nacc; k++)
            bare = bare || v->cellcol[k] == (long)c;
        if (p->used[c] && !bare)
            v->parse[c] = true;
    }
    *out = v;
    return MB_OK;
fail:
    mb_sql_vec_free(v);
    return st;
}

/* ---- running a batch -------------------------------------------------------- */

/* [-]d..d with 1 to 18 digits (so in range), as mb_sql_value_parse reads
 * it; false for anything else (which takes the general parser). */
static bool plain_i64(const char *p, size_t n, int64_t *out)
{
    size_t i = p[0] == '-';
    uint64_t x = 0;
    if (n - i < 1 || n - i > 18)
        return false;
    for (; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (d > 9)
            return false;
        x = x * 10 + d;
    }
    *out = p[0] == '-' ? -(int64_t)x : (int64_t)x;
    return true;
}

static bool two(const char *p, unsigned *out)
{
    unsigned a = (unsigned)(p[0] - '0'), b = (unsigned)(p[1] - '0');
    *out = a * 10 + b;
    return a <= 9 && b <= 9;
}

/* YYYY-MM-DD exactly, as mb_sql_value_parse reads it; false for anything
 * else (which takes the general parser). */
static bool plain_date(const char *p, size_t n, int64_t *days)
{
    unsigned y1, y2, m, d, y;
    if (n != 10 || p[4] != '-' || p[7] != '-' || !two(p, &y1) || !two(p + 2, &y2) ||
        !two(p + 5, &m) || !two(p + 8, &d))
        return false;
    y = y1 * 100 + y2;
    if (y == 0 || m < 1 || m > 12 || d < 1 || d > (unsigned)mb_time_days_in_month(y, (int)m))
        return false;
    *days = mb_sql_days_from_civil(y, m, d);
    return true;
}

/* A cell as a value of its column's type, as rows.c's cell_value (short
 * plain integers and dates inline). */
static mb_status cell_value(mb_sql_vec *v, const mb_cell *c, mb_sql_dtype t, mb_sql_value *x,
                            mb_err *err)
{
    const char *p = c->p;
    size_t len = c->len;
    if (len == 0 && !(c->quoted && t.t == MB_SQL_T_VARCHAR)) {
        set_null(x, t.t);
        return MB_OK;
    }
    if (!c->escaped && t.t == MB_SQL_T_VARCHAR) {
        memset(x, 0, sizeof *x);
        x->t = MB_SQL_T_VARCHAR;
        x->u.s.p = p;
        x->u.s.n = len;
        return MB_OK;
    }
    if (!c->escaped && (t.t == MB_SQL_T_BIGINT || t.t == MB_SQL_T_DATE)) {
        int64_t i;
        if (t.t == MB_SQL_T_BIGINT ? plain_i64(p, len, &i) : plain_date(p, len, &i)) {
            memset(x, 0, sizeof *x);
            x->t = t.t;
            x->u.i = i;
            return MB_OK;
        }
    }
    if (c->escaped) {
        char *buf = v->cellbuf.p + v->cellbuf.len;
        len = mb_csv_cell_unescape(c, buf, v->cellbuf.cap - v->cellbuf.len);
        if (len == (size_t)-1)
            return mb_err_set(err, MB_EINTERNAL, "unescape room");
        v->cellbuf.len += len;
        p = buf;
    }
    return mb_sql_value_parse(p, len, t, x, err);
}

static mb_status parse_cols(mb_sql_vec *v, const mb_cell *cells, size_t stride, bool first,
                            mb_err *err)
{
    const mb_sql_plan *p = v->p;
    mb_status st;
    for (size_t c = 0; c < p->ncolumns; c++) {
        mb_sql_value *d;
        if (!v->parse[c] || v->r->first[c] != first)
            continue;
        d = slot(v, v->colslot[c]);
        for (size_t j = 0; j < v->nsel; j++) {
            size_t i = v->sel[j];
            if ((st = cell_value(v, &cells[i * stride + c], p->coltypes[c], &d[i], err)) != MB_OK)
                return st;
        }
    }
    return MB_OK;
}

static mb_status run_ops(mb_sql_vec *v, size_t from, size_t to, mb_err *err)
{
    mb_status st;
    for (size_t i = from; i < to; i++)
        if ((st = v->ops[i].fn(v, &v->ops[i], v->sel, v->nsel, err)) != MB_OK)
            return st;
    return MB_OK;
}

/* YYYY-MM-DD of day z into buf[0..10); false outside the years 1..9999. */
static bool put_date(int64_t z, char *buf)
{
    int64_t y;
    unsigned m, d;
    mb_sql_civil_from_days(z, &y, &m, &d);
    if (y < 1 || y > 9999)
        return false;
    put2(buf, (unsigned)(y / 100));
    put2(buf + 2, (unsigned)(y % 100));
    buf[4] = '-';
    put2(buf + 5, m);
    buf[7] = '-';
    put2(buf + 8, d);
    return true;
}

/* The text mb_sql_value_format writes for a BIGINT, or a DATE or a
 * TIMESTAMP of the years 1..9999, into buf (at least 32 bytes), without
 * printf (keys are written per record); 0 for other values. */
static size_t plain_text(const mb_sql_value *x, char *buf)
{
    char tmp[24];
    size_t k = 0, n = 0;
    if (x->t == MB_SQL_T_BIGINT) {
        uint64_t u = x->u.i < 0 ? (uint64_t)0 - (uint64_t)x->u.i : (uint64_t)x->u.i;
        do {
            tmp[k++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (x->u.i < 0)
            buf[n++] = '-';
        while (k)
            buf[n++] = tmp[--k];
        return n;
    }
    if (x->t == MB_SQL_T_DATE)
        return put_date(x->u.i, buf) ? 10 : 0;
    if (x->t == MB_SQL_T_TIMESTAMP) {
        int64_t day = x->u.i / INT64_C(86400000000), rem = x->u.i % INT64_C(86400000000);
        unsigned us;
        if (rem < 0) {
            rem += INT64_C(86400000000);
            day--;
        }
        if (!put_date(day, buf))
            return 0;
        buf[10] = ' ';
        put2(buf + 11, (unsigned)(rem / 3600000000));
        buf[13] = ':';
        put2(buf + 14, (unsigned)(rem / 60000000 % 60));
        buf[16] = ':';
        put2(buf + 17, (unsigned)(rem / 1000000 % 60));
        n = 19;
        if ((us = (unsigned)(rem % 1000000)) != 0) {
            unsigned div = 100000;
            buf[n++] = '.';
            while (us) {                        /* trailing zeros dropped */
                buf[n++] = (char)('0' + us / div);
                us %= div;
                div /= 10;
            }
        }
        return n;
    }
    return 0;
}

/* Appends one key field as rows.c does: the value's text, or the NULL
 * marker. */
static mb_status key_field(mb_buf *key, const mb_sql_value *x, mb_err *err)
{
    char buf[128];
    const char *p = buf;
    size_t n;
    uint32_t len;
    if (x->null) {
        p = "";
        n = 1;
    } else if (x->t == MB_SQL_T_VARCHAR) {
        p = x->u.s.p;
        n = x->u.s.n;
        if (n && memchr(p, '\0', n))
            return mb_err_set(err, MB_EDATA, "a NUL byte in a group key");
    } else if (!(n = plain_text(x, buf))) {
        if (mb_sql_value_format(x, buf, sizeof buf) != MB_OK)
            return mb_err_set(err, MB_EINTERNAL, "a key value does not format");
        n = strlen(buf);
    }
    if (n > UINT32_MAX || mb_buf_reserve(key, sizeof len + n) != MB_OK)
        return mb_err_set(err, MB_ELIMIT, "group key too long");
    len = (uint32_t)n;
    memcpy(key->p + key->len, &len, sizeof len);
    memcpy(key->p + key->len + sizeof len, p, n);
    key->len += sizeof len + n;
    return MB_OK;
}

/* The exact decimal a value is accumulated as, for the exact types (as
 * rows.c's acc_dec). */
static bool acc_dec(const mb_sql_value *x, mb_dec *d)
{
    d->scale = 0;
    d->nonint = 0;
    switch (x->t) {
    case MB_SQL_T_BOOLEAN:
        d->m = x->u.b ? 1 : 0;
        return true;
    case MB_SQL_T_BIGINT:
    case MB_SQL_T_DATE:
    case MB_SQL_T_TIMESTAMP:
        d->m = x->u.i;
        return true;
    case MB_SQL_T_DECIMAL:
        d->m = x->u.dec;
        d->scale = x->scale;
        d->nonint = x->scale > 0;
        return true;
    default:
        return false;
    }
}

/* A DOUBLE cell [-]digits[.digits] of at most 15 digits in all, to the
 * double strtod gives, without strtod (Clinger's fast path): the digits
 * are an integer m < 10^15 < 2^53 and 10^f (f <= 15) is a double, both
 * exact, so the one correctly rounded division m / 10^f is the correctly
 * rounded value of the text. False for anything else (then the checked
 * parser). */
static bool plain_double(const char *p, size_t n, double *out)
{
    static const double pow10[16] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    size_t i = 0, nd = 0, nf = 0;
    bool neg = false, point = false;
    int64_t m = 0;

    if (i < n && p[i] == '-') {
        neg = true;
        i++;
    }
    if (i == n || p[i] < '0' || p[i] > '9')
        return false;
    for (; i < n; i++) {
        if (p[i] == '.' && !point) {
            point = true;
            if (i + 1 == n)
                return false;
            continue;
        }
        if (p[i] < '0' || p[i] > '9' || ++nd > 15)
            return false;
        m = m * 10 + (p[i] - '0');
        nf += point;
    }
    *out = (double)m / pow10[nf];
    if (neg)
        *out = -*out;
    return true;
}

/* The accumulators' values of the kept records, as rows.c computes them
 * (exact decimals where it takes them, else the text it writes). */
static mb_status acc_values(mb_sql_vec *v, const mb_cell *cells, size_t stride, mb_err *err)
{
    const mb_sql_rows *r = v->r;
    size_t na = r->nacc;
    for (size_t j = 0; j < v->nsel; j++) {
        size_t i = v->sel[j];
        for (size_t k = 0; k < na; k++) {
            const mb_sql_acc *a = &r->accs[k];
            size_t at = j * na + k;
            const mb_sql_value *x;
            mb_sql_value tmp;
            v->akind[at] = 0;
            if (v->filter[k] != NONE) {
                const mb_sql_value *f = &slot(v, v->filter[k])[i];
                if (f->null || !f->u.b)
                    continue;
            }
            if (v->cellcol[k] >= 0) {
                const mb_cell *c = &cells[i * stride + (size_t)v->cellcol[k]];
                mb_sql_dtype t = r->plan->coltypes[v->cellcol[k]];
                mb_dec *d = &v->adec[at];
                int64_t iv;
                if (c->len == 0)
                    continue;                      /* NULL */
                if (a->need & MB_NEED_DBL) {
                    /* the double strtod gives, as the row path: plain
                     * decimals directly, the rest by the checked parser */
                    if (!c->escaped && t.t == MB_SQL_T_DOUBLE &&
                        plain_double(c->p, c->len, &v->adbl[at])) {
                        v->akind[at] = 3;
                        continue;
                    }
                    if (cell_value(v, c, t, &tmp, err) != MB_OK || tmp.t != MB_SQL_T_DOUBLE)
                        return MB_EAGAIN;
                    v->adbl[at] = tmp.u.d;
                    v->akind[at] = 3;
                    continue;
                }
                if (!c->escaped && (t.t == MB_SQL_T_BIGINT ? plain_i64(c->p, c->len, &iv)
                                    : t.t == MB_SQL_T_DATE && plain_date(c->p, c->len, &iv))) {
                    d->m = iv;
                    d->scale = 0;
                    d->nonint = 0;
                    v->akind[at] = 1;
                    continue;
                }
                if (cell_value(v, c, t, &tmp, err) != MB_OK)
                    return MB_EAGAIN;
                x = &tmp;
            } else if (v->arg[k] != NONE) {
                x = &slot(v, v->arg[k])[i];
            } else {
                memset(&tmp, 0, sizeof tmp);
                tmp.t = MB_SQL_T_BIGINT;
                tmp.u.i = 1;
                x = &tmp;
            }
            if (x->null)
                continue;
            if (a->need & MB_NEED_STR) {
                if (x->t != MB_SQL_T_VARCHAR)
                    return MB_EAGAIN;              /* the row path says why */
                v->astr[at] = x->u.s.n ? x->u.s.p : "";
                v->alen[at] = x->u.s.n;
                v->akind[at] = 4;
                continue;
            }
            if (a->need & MB_NEED_DBL) {
                if (x->t != MB_SQL_T_DOUBLE)
                    return MB_EAGAIN;              /* the row path says why */
                v->adbl[at] = x->u.d;
                v->akind[at] = 3;
                continue;
            }
            if (a->need != MB_NEED_COUNT && !acc_dec(x, &v->adec[at]))
                return MB_EAGAIN;                  /* the row path says why */
            v->akind[at] = 1;
        }
    }
    return MB_OK;
}

mb_status mb_sql_vec_apply(mb_sql_vec *v, const mb_cell *cells, size_t stride, size_t n,
                           mb_err *err)
{
    const mb_sql_plan *p = v->p;
    size_t need = 0;

    if (n > VB)
        return mb_err_set(err, MB_EINTERNAL, "batch too large");
    mb_sql_scratch_reset(&v->scratch);
    v->cellbuf.len = 0;
    v->key.len = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v->nused; k++)
            if (cells[i * stride + v->used[k]].escaped)
                need += cells[i * stride + v->used[k]].len;
    if (need && mb_buf_reserve(&v->cellbuf, need) != MB_OK)
        return MB_EAGAIN;
    v->nsel = n;
    for (size_t i = 0; i < n; i++)
        v->sel[i] = (uint16_t)i;
    if (p->where) {
        const mb_sql_value *w;
        size_t k = 0;
        if (parse_cols(v, cells, stride, true, err) != MB_OK ||
            run_ops(v, 0, v->where_end, err) != MB_OK)
            return MB_EAGAIN;
        w = slot(v, v->where);
        for (size_t j = 0; j < v->nsel; j++)
            if (!w[v->sel[j]].null && w[v->sel[j]].u.b)
                v->sel[k++] = v->sel[j];
        v->nsel = k;
    }
    if (parse_cols(v, cells, stride, false, err) != MB_OK ||
        run_ops(v, v->where_end, v->nops, err) != MB_OK)
        return MB_EAGAIN;
    for (size_t j = 0; j < v->nsel; j++) {
        size_t i = v->sel[j];
        v->koff[j] = v->key.len;
        for (size_t k = 0; k < p->nkeys; k++)
            if (key_field(&v->key, &slot(v, v->keys[k])[i], err) != MB_OK)
                return MB_EAGAIN;
    }
    v->koff[v->nsel] = v->key.len;
    return acc_values(v, cells, stride, err);
}

void mb_sql_vec_prefetch(mb_sql_vec *v, const mb_groups *g)
{
    for (size_t j = 0; j < v->nsel; j++) {
        v->hash[j] = mb_groups_hash(v->key.p + v->koff[j], v->koff[j + 1] - v->koff[j]);
        mb_groups_prefetch_slot(g, v->hash[j]);
    }
    for (size_t j = 0; j < v->nsel; j++)
        mb_groups_prefetch_rec(g, v->hash[j]);
}

size_t mb_sql_vec_kept(const mb_sql_vec *v) { return v->nsel; }

size_t mb_sql_vec_record(const mb_sql_vec *v, size_t j) { return v->sel[j]; }

const char *mb_sql_vec_key(const mb_sql_vec *v, size_t j, size_t *len)
{
    *len = v->koff[j + 1] - v->koff[j];
    return v->key.p + v->koff[j];
}

mb_status mb_sql_vec_locate(mb_sql_vec *v, size_t j, mb_groups *g, mb_err *err)
{
    const mb_sql_rows *r = v->r;
    size_t len, na = r->nacc;
    const char *key = mb_sql_vec_key(v, j, &len);
    mb_status st;

    if ((st = mb_groups_get(g, key, len, v->hash[j], &v->gi[j], err)) != MB_OK)
        return st;
    for (size_t k = 0; k < na; k++)
        if (v->akind[j * na + k] == 3)
            mb_groups_prefetch_dbl(g, v->gi[j], k, v->adbl[j * na + k]);
    return MB_OK;
}

mb_status mb_sql_vec_fold(const mb_sql_vec *v, size_t j, mb_groups *g, mb_err *err)
{
    const mb_sql_rows *r = v->r;
    size_t gi = v->gi[j], na = r->nacc;
    mb_status st;

    mb_groups_rec(g, gi)->rows++;
    for (size_t k = 0; k < na; k++) {
        size_t at = j * na + k;
        if (v->akind[at] == 0)
            continue;                              /* NULL, or FILTER said no */
        if (r->needs[k] == MB_NEED_COUNT) {
            mb_acc_count(mb_groups_acc(g, gi, k));
            continue;
        }
        if (v->akind[at] == 3)
            st = mb_groups_add_dbl(g, gi, k, v->adbl[at], err);
        else if (v->akind[at] == 4)
            st = mb_groups_add_str(g, gi, k, v->astr[at], v->alen[at], err);
        else
            st = mb_groups_add(g, gi, k, &v->adec[at], err);
        if (st != MB_OK)
            return st;
    }
    return MB_OK;
}
