/* job.c - job files (INI) into options, options into a plan, a plan bound to
 * a file's header, and a --group-by/--agg plan as the SQL query it stands
 * for. No I/O but reading the job file itself. */
#include "cli/job.h"

#include "base/digest.h"
#include "base/pack.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct load_ctx {
    mb_opts *o;
    mb_err err;
    int failed;
    long value_col;      /* 1-based column inside the value where the problem is,
                            0 for the value's start, -1 for the key */
    mb_buf query;        /* [job] query: its lines so far (inih hands over each
                            continuation line as another value of the key) */
    mb_buf columns;      /* the [columns] section as "name TYPE, ..." */
    int last_query;      /* the previous key was [job] query */
} load_ctx;

/* Appends text to an accumulated value and sets `key` to the whole. */
static mb_status accumulate(load_ctx *c, mb_buf *b, const char *sep, const char *text,
                            const char *key)
{
    if ((b->len && mb_buf_put(b, sep, strlen(sep)) != MB_OK) ||
        mb_buf_put(b, text, strlen(text) + 1) != MB_OK)
        return mb_err_set(&c->err, MB_EJOB, "%s: value too long", key);
    b->len--;                     /* the NUL is kept, not counted */
    return mb_cli_set(c->o, key, b->p, &c->err);
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* Splits a comma-separated list of names into a new array of trimmed copies.
 * An empty name is MB_EJOB naming its 1-based character position (in the
 * message and in err->col). */
static mb_status split_names(const char *text, char ***out, size_t *n, mb_err *err)
{
    size_t cap = 1, i = 0;
    const char *p;
    char **v;

    for (p = text; *p; p++)
        cap += *p == ',';
    v = mb_calloc(cap, sizeof *v);
    if (!v)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    for (p = text;; i++) {
        size_t len = strcspn(p, ",");
        char *s = mb_strndup(p, len), *t;
        if (!s)
            goto nomem;
        t = trim(s);
        if (!*t) {
            free(s);
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            long col = (long)(p - text) + 1;
            return mb_err_set_at(err, MB_EJOB, col, "column %ld: empty column name", col);
        }
        memmove(s, t, strlen(t) + 1);
        v[i] = s;
        if (!p[len])
            break;
        p += len + 1;
    }
    *out = v;
    *n = i + 1;
    return MB_OK;
nomem:
    for (size_t j = 0; j < i; j++)
        free(v[j]);
    free(v);
    return mb_err_set(err, MB_ENOMEM, "out of memory");
}

static void free_names(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *c = user;
    char key[128], val[4096];
    mb_status st;
    size_t n;
    int quoted;

    if (c->failed)
        return 0;
    snprintf(key, sizeof key, "%s.%s", section, name);
    n = strlen(value);
    if (n >= sizeof val) {
        mb_err_set(&c->err, MB_EJOB, "%s: value longer than %zu bytes", key, sizeof val - 1);
        goto bad;
    }
    memcpy(val, value, n + 1);
    quoted = n >= 2 && val[0] == '"' && val[n - 1] == '"' && strcmp(key, "csv.delimiter") != 0;
    if (quoted) {
        val[n - 1] = '\0';
        memmove(val, val + 1, n - 1);
    }
    /* A query may span lines (continuation lines indented); a [columns]
     * section lists one column per line. */
    if (strcmp(key, "job.query") == 0) {
        if (!c->last_query)
            c->query.len = 0;
        c->last_query = 1;
        if ((st = accumulate(c, &c->query, "\n", val, key)) != MB_OK)
            goto bad;
        return 1;
    }
    c->last_query = 0;
    if (strcmp(section, "columns") == 0) {
        char one[4200];
        snprintf(one, sizeof one, "%s %s", name, val);
        if ((st = accumulate(c, &c->columns, ", ", one, "job.columns")) != MB_OK)
            goto bad;
        return 1;
    }
    /* Validate lists here, where the line is known. */
    if (strcmp(key, "job.aggregates") == 0 || strcmp(key, "job.group_by") == 0) {
        mb_aggspec *a = NULL;
        char **names = NULL;
        size_t na = 0;
        st = strcmp(name, "aggregates") == 0 ? mb_agg_parse_list(val, &a, &na, &c->err)
                                             : split_names(val, &names, &na, &c->err);
        mb_agg_list_free(a, a ? na : 0);
        free_names(names, names ? na : 0);
        if (st != MB_OK) {
            /* where in the value the parser stopped; in the file, past the quote */
            c->value_col = c->err.col > 0 ? c->err.col + quoted : 0;
            goto bad_prefixed;
        }
    }
    st = mb_cli_set(c->o, key, val, &c->err);
    if (st == MB_ENOENT) {
        mb_err_set(&c->err, MB_EJOB, "unknown key '%s' in section [%s]", name, section);
        c->value_col = -1;      /* point at the key, not the value */
        goto bad;
    }
    if (st != MB_OK)
        goto bad;
    return 1;
bad_prefixed:
    mb_err_prefix(&c->err, "%s: ", key);
bad:
    c->err.code = MB_EJOB;
    c->failed = 1;
    return 0;
}

/* Finds where the key (want_key) or the value of line `lineno` starts
 * (1-based column), so that an error can be pointed at. 0 if unknown. */
static long line_column(const char *path, long lineno, int want_key)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    long n = 0, col = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (++n == lineno && want_key) {
            col = (long)strspn(line, " \t") + 1;
            break;
        } else if (n == lineno) {
            size_t i = strcspn(line, "=:");
            if (line[i]) {
                i++;
                while (line[i] == ' ' || line[i] == '\t')
                    i++;
                col = (long)i + 1;
            }
            break;
        }
    fclose(f);
    return col;
}

mb_status mb_job_load(mb_opts *o, mb_err *err)
{
    load_ctx c;
    int line;
    FILE *f;

    if (!o->job)
        return MB_OK;
    memset(&c, 0, sizeof c);
    c.o = o;
    mb_buf_init(&c.query, (size_t)1 << 20);
    mb_buf_init(&c.columns, (size_t)1 << 20);
    f = fopen(o->job, "r");
    if (!f)
        return mb_err_set(err, MB_EJOB, "%s: cannot open job file: %s", o->job,
                          strerror(errno));
    line = ini_parse_file(f, on_key, &c);
    fclose(f);
    mb_buf_fini(&c.query);
    mb_buf_fini(&c.columns);
    if (line == 0)
        return MB_OK;
    if (line < 0)
        return mb_err_set(err, MB_ENOMEM, "%s: out of memory reading the job file", o->job);
    if (!c.failed)
        return mb_err_set_at(err, MB_EJOB, 1,
                             "%s:%d:1: syntax error (expected [section] or key = value)",
                             o->job, line);
    {
        long vc = line_column(o->job, line, c.value_col < 0);
        long col = vc ? vc + (c.value_col > 0 ? c.value_col - 1 : 0) : 1;
        return mb_err_set_at(err, MB_EJOB, col, "%s:%d:%ld: %s", o->job, line, col, c.err.msg);
    }
}

void mb_plan_fini(mb_plan *p)
{
    if (!p)
        return;
    free_names(p->group, p->ngroup);
    mb_agg_list_free(p->aggs, p->nagg);
    free_names(p->cols, p->ncol);
    free(p->needs);
    free(p->agg_col);
    free(p->sql);
    free(p->sql_source);
    free(p->columns);
    if (p->agg) {
        mb_plan_fini(p->agg);
        free(p->agg);
    }
    memset(p, 0, sizeof *p);
}

/* Fills cols/needs/agg_col from aggs, and the fingerprint. */
static mb_status plan_finish(mb_plan *p, mb_err *err)
{
    mb_buf b;
    size_t i, j;
    mb_status st = MB_OK;

    p->cols = mb_calloc(p->nagg ? p->nagg : 1, sizeof *p->cols);
    p->needs = mb_calloc(p->nagg ? p->nagg : 1, sizeof *p->needs);
    p->agg_col = mb_calloc(p->nagg ? p->nagg : 1, sizeof *p->agg_col);
    if (!p->cols || !p->needs || !p->agg_col)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    for (i = 0; i < p->nagg; i++) {
        const mb_aggspec *a = &p->aggs[i];
        if (!a->column) {
            p->agg_col[i] = SIZE_MAX;
            continue;
        }
        for (j = 0; j < p->ncol && strcmp(p->cols[j], a->column) != 0; j++)
            ;
        if (j == p->ncol && !(p->cols[p->ncol++] = mb_strdup(a->column)))
            return mb_err_set(err, MB_ENOMEM, "out of memory");
        p->needs[j] |= mb_agg_needs(a->kind);
        p->agg_col[i] = j;
    }
    mb_buf_init(&b, 1u << 20);
    if (p->sql) {
        st = mb_buf_put_str(&b, "sql");
        if (st == MB_OK)
            st = mb_buf_put_str(&b, p->sql);
        if (st == MB_OK)
            st = mb_buf_put_str(&b, p->columns ? p->columns : "");
        /* the query of --agg types its columns by --agg's rule: another
         * job than the same text under --sql */
        if (st == MB_OK && p->agg)
            st = mb_buf_put_str(&b, "agg typing");
    }
    for (i = 0; i < p->ngroup && st == MB_OK; i++)
        st = mb_buf_put_str(&b, p->group[i]);
    for (i = 0; i < p->nagg && st == MB_OK; i++)
        st = mb_buf_put_str(&b, p->aggs[i].text);
    if (st == MB_OK)
        st = mb_buf_put(&b, &p->dialect, sizeof p->dialect);
    if (st == MB_OK)
        st = mb_buf_put_u64(&b, (uint64_t)p->header);
    /* Only when set, so that jobs without it keep their fingerprints. */
    if (st == MB_OK && p->max_bad_rows) {
        st = mb_buf_put_str(&b, "max_bad_rows");
        if (st == MB_OK)
            st = mb_buf_put_u64(&b, p->max_bad_rows);
    }
    if (st == MB_OK)
        st = mb_sha256_hex(b.p, b.len, p->fingerprint);
    mb_buf_fini(&b);
    return st == MB_OK ? MB_OK
                       : mb_err_set(err, st, "cannot fingerprint the plan: %s", mb_strerror(st));
}

/* --group-by/--agg: the lists into p->agg, and p the query they stand
 * for. */
static mb_status agg_plan(mb_plan *p, const mb_opts *o, mb_err *err)
{
    mb_plan *lp = mb_calloc(1, sizeof *lp);
    char src[4200];
    mb_status st;

    if (!lp)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    p->agg = lp;
    if ((st = split_names(o->group_by, &lp->group, &lp->ngroup, err)) != MB_OK) {
        mb_plan_fini(p);
        return mb_err_prefix(err, "--group-by: ");
    }
    if ((st = mb_agg_parse_list(o->agg, &lp->aggs, &lp->nagg, err)) != MB_OK) {
        mb_plan_fini(p);
        return mb_err_prefix(err, "--agg: ");
    }
    p->dialect.delim = lp->dialect.delim = o->delimiter;
    p->dialect.quote = lp->dialect.quote = '"';
    p->header = lp->header = o->header;
    p->max_bad_rows = o->max_bad_rows;
    /* errors point into the query, which --explain prints */
    snprintf(src, sizeof src, mb_cli_given(o, "agg") || !o->job
                                  ? "--agg (as SQL, see --explain)"
                                  : "%s [job] aggregates (as SQL, see --explain)", o->job);
    p->columns = o->columns ? mb_strdup(o->columns) : NULL;
    p->sql_source = mb_strdup(src);
    if (!p->sql_source || (o->columns && !p->columns))
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
    if (st == MB_OK)
        st = plan_finish(lp, err);
    if (st == MB_OK)
        st = mb_plan_agg_query(lp, &p->sql, err);
    if (st == MB_OK)
        st = plan_finish(p, err);
    if (st != MB_OK)
        mb_plan_fini(p);
    return st;
}

mb_status mb_plan_build(mb_plan *p, const mb_opts *o, mb_err *err)
{
    mb_status st;

    memset(p, 0, sizeof *p);
    if (o->sql && (o->group_by || o->agg))
        return mb_err_set(err, MB_EUSAGE, "--sql and --group-by/--agg are two ways to say "
                          "what a job computes: give one of them");
    if (o->sql) {
        char src[4200];
        snprintf(src, sizeof src, mb_cli_given(o, "sql") || !o->job ? "--sql"
                                                                    : "%s [job] query", o->job);
        p->dialect.delim = o->delimiter;
        p->dialect.quote = '"';
        p->header = o->header;
        p->sql = mb_strdup(o->sql);
        p->sql_source = mb_strdup(src);
        p->max_bad_rows = o->max_bad_rows;
        p->columns = o->columns ? mb_strdup(o->columns) : NULL;
        if (!p->sql || !p->sql_source || (o->columns && !p->columns)) {
            mb_plan_fini(p);
            return mb_err_set(err, MB_ENOMEM, "out of memory");
        }
        if ((st = plan_finish(p, err)) != MB_OK)
            mb_plan_fini(p);
        return st;
    }
    if (!o->group_by || !o->agg)
        return mb_err_set(err, MB_EUSAGE,
                          "run needs --sql QUERY, or --group-by and --agg, or a --job "
                          "file that sets query, or group_by and aggregates");
    return agg_plan(p, o, err);
}

mb_status mb_plan_from_lists(mb_plan *p, char *const *group, size_t ngroup,
                             char *const *aggtexts, size_t nagg, mb_err *err)
{
    mb_status st = MB_OK;
    size_t i;

    memset(p, 0, sizeof *p);
    p->group = mb_calloc(ngroup ? ngroup : 1, sizeof *p->group);
    p->aggs = mb_calloc(nagg ? nagg : 1, sizeof *p->aggs);
    if (!p->group || !p->aggs) {
        mb_plan_fini(p);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    for (i = 0; i < ngroup + nagg; i++)
        if (!(i < ngroup ? group[i] : aggtexts[i - ngroup])) {
            mb_plan_fini(p);
            return mb_err_set(err, MB_EDATA, "a stored group column or aggregate is missing");
        }
    for (i = 0; i < ngroup; i++, p->ngroup++)
        if (!(p->group[i] = mb_strdup(group[i]))) {
            mb_plan_fini(p);
            return mb_err_set(err, MB_ENOMEM, "out of memory");
        }
    for (i = 0; i < nagg && st == MB_OK; i++) {
        mb_aggspec *one = NULL;
        size_t n1 = 0;
        st = mb_agg_parse_list(aggtexts[i], &one, &n1, err);
        if (st == MB_OK && n1 != 1) {
            mb_agg_list_free(one, n1);
            st = mb_err_set(err, MB_EDATA, "stored aggregate '%s' is not one aggregate",
                            aggtexts[i]);
        } else if (st == MB_OK) {
            p->aggs[p->nagg++] = one[0];
            free(one);
        }
    }
    p->dialect.delim = ',';
    p->dialect.quote = '"';
    p->header = 1;
    if (st == MB_OK)
        st = plan_finish(p, err);
    if (st != MB_OK)
        mb_plan_fini(p);
    return st;
}

/* ---- an --agg plan as the SQL query it stands for ------------------- */

/* Appends s as a double-quoted SQL identifier ("" inside doubled), the
 * name a --sql query sees: without a header --agg's column N is columnN. */
static mb_status put_ident(mb_buf *b, const char *s, int header)
{
    mb_status st = mb_buf_put(b, "\"", 1);

    if (st == MB_OK && !header)
        st = mb_buf_put(b, "column", 6);
    for (; st == MB_OK && *s; s++)
        st = *s == '"' ? mb_buf_put(b, "\"\"", 2) : mb_buf_put(b, s, 1);
    return st == MB_OK ? mb_buf_put(b, "\"", 1) : st;
}

static mb_status put_text(mb_buf *b, const char *s)
{
    return mb_buf_put(b, s, strlen(s));
}

/* The SQL aggregate of an --agg kind: DuckDB's names. */
static const char *sql_agg_name(mb_agg_kind k)
{
    switch (k) {
    case MB_AGG_COUNT_STAR:
    case MB_AGG_COUNT: return "count";
    case MB_AGG_SUM: return "sum";
    case MB_AGG_MEAN: return "avg";
    case MB_AGG_MIN: return "min";
    case MB_AGG_MAX: return "max";
    case MB_AGG_VAR: return "var_samp";
    case MB_AGG_STDDEV: return "stddev_samp";
    }
    return "count";
}

static int is_key(const mb_plan *p, const char *col)
{
    for (size_t i = 0; i < p->ngroup; i++)
        if (strcmp(p->group[i], col) == 0)
            return 1;
    return 0;
}

mb_status mb_plan_agg_query(const mb_plan *p, char **out, mb_err *err)
{
    mb_buf b;
    mb_status st = MB_OK;
    size_t i;

    *out = NULL;
    if (p->sql)
        return mb_err_set(err, MB_EINTERNAL, "a --sql plan is its own query");
    mb_buf_init(&b, (size_t)1 << 20);
    st = put_text(&b, "SELECT ");
    /* An empty key field is one group with a quoted empty one in --agg,
     * NULL or '' in SQL: nullif() makes both NULL, which prints empty. */
    for (i = 0; i < p->ngroup && st == MB_OK; i++) {
        st = put_text(&b, i ? ", nullif(" : "nullif(");
        if (st == MB_OK)
            st = put_ident(&b, p->group[i], p->header);
        if (st == MB_OK)
            st = put_text(&b, ", '') AS ");
        if (st == MB_OK)
            st = put_ident(&b, p->group[i], 1);
    }
    for (i = 0; i < p->nagg && st == MB_OK; i++) {
        const mb_aggspec *a = &p->aggs[i];
        st = put_text(&b, i || p->ngroup ? ", " : "");
        if (st == MB_OK)
            st = put_text(&b, sql_agg_name(a->kind));
        if (st == MB_OK)
            st = put_text(&b, "(");
        /* a key is text: aggregated too, it is read as a number here */
        int cast = a->column && a->kind != MB_AGG_COUNT && is_key(p, a->column);
        if (st == MB_OK && cast)
            st = put_text(&b, "CAST(");
        if (st == MB_OK)
            st = a->column ? put_ident(&b, a->column, p->header) : put_text(&b, "*");
        if (st == MB_OK && cast)
            st = put_text(&b, " AS DOUBLE)");
        if (st == MB_OK)
            st = put_text(&b, ") AS ");
        if (st == MB_OK)
            st = put_ident(&b, a->text, 1);
    }
    if (st == MB_OK)
        st = put_text(&b, " FROM input");
    for (i = 0; i < p->ngroup && st == MB_OK; i++) {
        char pos[32];
        snprintf(pos, sizeof pos, "%s%zu", i ? ", " : " GROUP BY ", i + 1);
        st = put_text(&b, pos);
    }
    for (i = 0; i < p->ngroup && st == MB_OK; i++) {
        char pos[48];
        snprintf(pos, sizeof pos, "%s%zu NULLS FIRST", i ? ", " : " ORDER BY ", i + 1);
        st = put_text(&b, pos);
    }
    if (st == MB_OK)
        st = mb_buf_put(&b, "", 1);
    if (st != MB_OK) {
        mb_buf_fini(&b);
        return mb_err_set(err, st, "cannot write the job's query: %s", mb_strerror(st));
    }
    *out = b.p;                     /* the buffer is the string; the caller frees it */
    return MB_OK;
}

/* Whether the SQL column `name` is the plan's column `col`. */
static int same_column(const char *col, int header, const char *name)
{
    if (header)
        return strcmp(col, name) == 0;
    return strncmp(name, "column", 6) == 0 && strcmp(name + 6, col) == 0;
}

mb_plan_use mb_plan_column_use(const mb_plan *p, const char *name)
{
    mb_plan_use u = MB_PLAN_USE_NONE;

    for (size_t i = 0; i < p->ngroup; i++)
        if (same_column(p->group[i], p->header, name))
            return MB_PLAN_USE_KEY;
    for (size_t i = 0; i < p->nagg; i++) {
        if (!p->aggs[i].column || !same_column(p->aggs[i].column, p->header, name))
            continue;
        if (p->aggs[i].kind != MB_AGG_COUNT)
            return MB_PLAN_USE_NUMBER;
        u = MB_PLAN_USE_COUNTED;
    }
    return u;
}
