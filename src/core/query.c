/* query.c - a --sql job's query: parsed once, typed and bound per task. */
#include "core/query.h"

#include "csv/csv.h"
#include "sql/value.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Parses "name TYPE, name TYPE(w,s), ..." (commas inside parentheses
 * belong to the type; a name may be double-quoted). */
static mb_status parse_columns(mb_query *jq, const char *text, mb_status code, mb_err *err)
{
    size_t n = 1, len = strlen(text), at = 0;
    char *b;

    for (size_t i = 0; i < len; i++)
        n += text[i] == ',';
    jq->over = mb_calloc(n, sizeof *jq->over);
    jq->over_buf = b = mb_malloc(len + 1);
    if (!jq->over || !b)
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    memcpy(b, text, len + 1);
    while (at < len) {
        size_t start = at, end = at, name0, name1, ty;
        int depth = 0;
        mb_sql_dtype t;
        mb_err e2;

        while (end < len && (b[end] != ',' || depth)) {
            depth += b[end] == '(' ? 1 : b[end] == ')' ? -1 : 0;
            end++;
        }
        at = end + 1;
        while (start < end && (b[start] == ' ' || b[start] == '\t' || b[start] == '\n'))
            start++;
        name0 = start;
        if (start < end && b[start] == '"') {
            name0 = ++start;
            while (start < end && b[start] != '"')
                start++;
            name1 = start;
            if (start < end)
                start++;
        } else {
            while (start < end && b[start] != ' ' && b[start] != '\t')
                start++;
            name1 = start;
        }
        ty = start;
        if (name1 == name0 || ty >= end)
            return mb_err_set_at(err, code, (long)name0 + 1,
                                 "--columns: column %ld: expected 'name TYPE'", (long)name0 + 1);
        if (mb_sql_dtype_parse(b + ty, end - ty, &t, &e2) != MB_OK)
            return mb_err_set_at(err, code, (long)ty + 1, "--columns: column %ld: %s",
                                 (long)ty + 1, e2.msg);
        b[name1] = '\0';
        for (size_t k = 0; k < jq->nover; k++)
            if (strcasecmp(jq->over[k].name, b + name0) == 0)
                return mb_err_set(err, code, "--columns: '%s' is typed twice", b + name0);
        jq->over[jq->nover].name = b + name0;
        jq->over[jq->nover++].type = t;
        if (end >= len)
            break;
    }
    return MB_OK;
}

mb_status mb_query_open(mb_query *jq, const mb_plan *p, mb_err *err)
{
    mb_status code = strncmp(p->sql_source, "--", 2) == 0 ? MB_EUSAGE : MB_EJOB;
    mb_status st;

    memset(jq, 0, sizeof *jq);
    if ((st = mb_sql_parse(p->sql, p->sql_source, &jq->q, err)) != MB_OK)
        return st;
    jq->agg = p->agg;
    jq->agg_sql = p->agg ? p->sql : NULL;
    if (p->columns && (st = parse_columns(jq, p->columns, code, err)) != MB_OK) {
        mb_query_fini(jq);
        return st;
    }
    return MB_OK;
}

void mb_query_fini(mb_query *jq)
{
    if (!jq)
        return;
    mb_sql_query_free(jq->q);
    free(jq->over);
    free(jq->over_buf);
    memset(jq, 0, sizeof *jq);
}

/* The header as "a, b, c" for messages, cut at cap. */
static void header_list(const mb_grid *g, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < g->ncols && at + 8 < cap; i++) {
        int n = snprintf(out + at, cap - at, "%s%s", i ? ", " : "", g->names[i]);
        if (n < 0 || (size_t)n >= cap - at) {
            snprintf(out + (cap > 4 ? cap - 4 : 0), 4, "...");
            return;
        }
        at += (size_t)n;
    }
}

/* Whether a cell sniffs as a number (an integer, a decimal or a double;
 * 0 and 1, which sniff BOOLEAN, too) by itself. */
static int is_number(const char *p, size_t len)
{
    mb_sql_sniff one;
    mb_sql_dtype t;

    mb_sql_sniff_init(&one);
    mb_sql_sniff_add(&one, p, len);
    t = mb_sql_sniff_result(&one);
    return t.t == MB_SQL_T_BIGINT || t.t == MB_SQL_T_DECIMAL || t.t == MB_SQL_T_DOUBLE ||
           (t.t == MB_SQL_T_BOOLEAN && len == 1 && (p[0] == '0' || p[0] == '1'));
}

/* The type --agg's query gives a column sniffed as t (a number column:
 * sniffed over its cells that are numbers): --agg keys are
 * text, its numbers exact decimals printed as integers when they are,
 * else as doubles; a value that is not a number is a data error there as
 * a value that is no DOUBLE is here. */
static mb_sql_dtype agg_type(const mb_plan *agg, const char *name, mb_sql_dtype t)
{
    mb_sql_dtype out = t;

    switch (mb_plan_column_use(agg, name)) {
    case MB_PLAN_USE_KEY:
    case MB_PLAN_USE_COUNTED:
        out.t = MB_SQL_T_VARCHAR;
        break;
    case MB_PLAN_USE_NUMBER:
        out.t = t.t == MB_SQL_T_BIGINT || t.t == MB_SQL_T_BOOLEAN ? MB_SQL_T_BIGINT
                                                                   : MB_SQL_T_DOUBLE;
        break;
    case MB_PLAN_USE_NONE:
        return t;
    }
    out.width = out.scale = 0;
    return out;
}

mb_status mb_query_types(const mb_query *jq, const mb_plan *p, int fd, const char *path,
                         const mb_grid *g, mb_sql_dtype *types, mb_err *err)
{
    uint64_t left = g->file_size > g->data_start ? g->file_size - g->data_start : 0;
    size_t want = left < MB_QUERY_SNIFF_BYTES ? (size_t)left : MB_QUERY_SNIFF_BYTES, got = 0;
    int at_eof = left <= MB_QUERY_SNIFF_BYTES;
    mb_sql_sniff *sn = mb_calloc(g->ncols ? g->ncols : 1, sizeof *sn);
    /* an --agg job's number columns: sniffed over the cells that are numbers
     * (the others are that job's bad values, which must not make a column
     * of integers DOUBLE) */
    mb_sql_sniff *num = mb_calloc(g->ncols ? g->ncols : 1, sizeof *num);
    unsigned char *isnum = mb_calloc(g->ncols ? g->ncols : 1, 1);
    mb_cell *cells = mb_calloc(g->ncols + 1, sizeof *cells);
    char *buf = mb_malloc(want ? want : 1);
    mb_status st = MB_OK;

    if (!sn || !num || !isnum || !cells || !buf) {
        st = mb_err_set(err, MB_ENOMEM, "out of memory");
        goto out;
    }
    while (got < want) {
        ssize_t k = pread(fd, buf + got, want - got, (off_t)(g->data_start + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            st = mb_err_set(err, MB_EIO, "%s: read at byte %llu: %s", path,
                            (unsigned long long)(g->data_start + got),
                            k == 0 ? "file shrank while being processed" : strerror(errno));
            goto out;
        }
        got += (size_t)k;
    }
    for (size_t i = 0; i < g->ncols; i++) {
        mb_sql_sniff_init(&sn[i]);
        mb_sql_sniff_init(&num[i]);
        isnum[i] = jq->agg && mb_plan_column_use(jq->agg, g->names[i]) == MB_PLAN_USE_NUMBER;
    }
    {
        mb_csv csv;
        size_t nc = 0;
        mb_err e2;
        mb_csv_init(&csv, &p->dialect, buf, want, g->data_start);
        for (size_t rec = 0; rec < MB_QUERY_SNIFF_ROWS; rec++) {
            /* bad records are the aggregation's to report, with their place */
            mb_status s2 = mb_csv_next(&csv, cells, g->ncols + 1, &nc, g->ncols, &e2);
            if (s2 == MB_EAGAIN || (!at_eof && csv.pos >= want))
                break;               /* the end, or a record the window cut */
            if (s2 != MB_OK)
                continue;
            for (size_t i = 0; i < g->ncols; i++) {
                if (!cells[i].escaped)
                    mb_sql_sniff_add(&sn[i], cells[i].p, cells[i].len);
                else                 /* doubled quotes: text */
                    mb_sql_sniff_add(&sn[i], "\"", 1);
                if (isnum[i] && !cells[i].escaped && is_number(cells[i].p, cells[i].len))
                    mb_sql_sniff_add(&num[i], cells[i].p, cells[i].len);
            }
        }
    }
    for (size_t i = 0; i < g->ncols; i++) {
        types[i] = mb_sql_sniff_result(&sn[i]);
        if (jq->agg)
            types[i] = agg_type(jq->agg, g->names[i],
                                isnum[i] ? mb_sql_sniff_result(&num[i]) : types[i]);
    }
    for (size_t k = 0; k < jq->nover; k++) {
        size_t i;
        for (i = 0; i < g->ncols && strcasecmp(g->names[i], jq->over[k].name) != 0; i++)
            ;
        if (i == g->ncols) {
            char hdr[1024];
            header_list(g, hdr, sizeof hdr);
            st = mb_err_set(err, MB_ENOENT, "--columns names '%s', which the file does not have "
                            "(its columns: %s)", jq->over[k].name, hdr);
            goto out;
        }
        types[i] = jq->over[k].type;
    }
out:
    free(sn);
    free(num);
    free(isnum);
    free(cells);
    free(buf);
    return st;
}

mb_status mb_query_bind(const mb_query *jq, char *const *names, const mb_sql_dtype *types,
                        size_t ncols, mb_qtask *t, mb_err *err)
{
    mb_status st;

    memset(t, 0, sizeof *t);
    t->names = mb_calloc(ncols ? ncols : 1, sizeof *t->names);
    t->cols = mb_calloc(ncols ? ncols : 1, sizeof *t->cols);
    if (!t->names || !t->cols) {
        mb_qtask_fini(t);
        return mb_err_set(err, MB_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ncols; i++, t->ncols++) {
        if (!(t->names[i] = mb_strdup(names[i]))) {
            mb_qtask_fini(t);
            return mb_err_set(err, MB_ENOMEM, "out of memory");
        }
        t->cols[i].name = t->names[i];
        t->cols[i].type = types[i];
    }
    if ((st = mb_sql_bind(jq->q, t->cols, ncols, &t->plan, err)) != MB_OK ||
        (st = mb_sql_rows_init(&t->rows, t->plan, err)) != MB_OK) {
        mb_qtask_fini(t);
        return st;
    }
    t->have_rows = 1;
    return MB_OK;
}

void mb_qtask_fini(mb_qtask *t)
{
    if (!t)
        return;
    if (t->have_rows)
        mb_sql_rows_fini(&t->rows);
    mb_sql_plan_free(t->plan);
    for (size_t i = 0; t->names && i < t->ncols; i++)
        free(t->names[i]);
    free(t->names);
    free(t->cols);
    memset(t, 0, sizeof *t);
}

mb_status mb_qtask_pack(const mb_qtask *t, mb_buf *b)
{
    mb_status st = MB_OK;
    for (size_t i = 0; i < t->ncols && st == MB_OK; i++) {
        const mb_sql_dtype *d = &t->cols[i].type;
        st = mb_buf_put_str(b, t->names[i]);
        if (st == MB_OK)
            st = mb_buf_put_u64(b, (uint64_t)d->t | (uint64_t)d->width << 8 |
                                       (uint64_t)d->scale << 16);
    }
    return st;
}

mb_status mb_qtask_unpack(mb_rd *rd, size_t ncols, char ***names, mb_sql_dtype **types)
{
    char **n = mb_calloc(ncols ? ncols : 1, sizeof *n);
    mb_sql_dtype *ty = mb_calloc(ncols ? ncols : 1, sizeof *ty);

    *names = n;
    *types = ty;
    if (!n || !ty)
        return MB_ENOMEM;
    for (size_t i = 0; i < ncols; i++) {
        uint64_t v;
        n[i] = mb_rd_str(rd, 65536);
        v = mb_rd_u64(rd);
        if (rd->bad || !n[i] || (v & 0xff) > MB_SQL_T_TIMESTAMP)
            return rd->nomem ? MB_ENOMEM : MB_EINTERNAL;
        ty[i].t = (mb_sql_type)(v & 0xff);
        ty[i].width = (uint8_t)(v >> 8);
        ty[i].scale = (uint8_t)(v >> 16);
    }
    return MB_OK;
}

char *mb_qtask_columns_text(const mb_qtask *t)
{
    mb_buf b;
    char ty[64];

    mb_buf_init(&b, (size_t)1 << 26);
    for (size_t i = 0; i < t->ncols; i++) {
        if (mb_sql_dtype_name(t->cols[i].type, ty, sizeof ty) != MB_OK ||
            (i && mb_buf_put(&b, ", ", 2) != MB_OK) ||
            mb_buf_put(&b, t->names[i], strlen(t->names[i])) != MB_OK ||
            mb_buf_put(&b, " ", 1) != MB_OK || mb_buf_put(&b, ty, strlen(ty)) != MB_OK) {
            mb_buf_fini(&b);
            return NULL;
        }
    }
    if (mb_buf_put(&b, "", 1) != MB_OK) {
        mb_buf_fini(&b);
        return NULL;
    }
    return b.p;                   /* the caller frees it */
}

mb_status mb_query_noheader_names(char **names, size_t ncols)
{
    for (size_t i = 0; i < ncols; i++) {
        char buf[32], *s;
        snprintf(buf, sizeof buf, "column%zu", i + 1);
        if (!(s = mb_strdup(buf)))
            return MB_ENOMEM;
        free(names[i]);
        names[i] = s;
    }
    return MB_OK;
}
