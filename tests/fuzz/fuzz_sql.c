/* fuzz_sql.c - libFuzzer harness: query text through the parser, the binder and the evaluator. */
/*
 * The input is a query over a fixed table of seven typed columns (all
 * SQL types), followed after a NUL byte by a few CSV records. Properties:
 *  - parsing and binding either work or fail with MB_EUSAGE (or ENOMEM)
 *    and a message "--sql:LINE:COL: why" whose column is within the text,
 *    or "--sql: why" when no position applies;
 *  - a bound plan's normal form is non-empty and binding again gives the
 *    same normal form (the fingerprint of a query is stable);
 *  - every layer of a bound plan evaluates over the records (cells that do
 *    not parse are skipped) without a crash, a leak or undefined behaviour,
 *    and evaluation errors carry a message;
 *  - the group layer over the records' groups answers with as many columns
 *    as the select list.
 */
#include "agg/group.h"
#include "csv/csv.h"
#include "fuzz.h"
#include "sql/finish.h"
#include "sql/rows.h"

static const mb_sql_column cols[] = {
    {"k", {MB_SQL_T_VARCHAR, 0, 0}},  {"i", {MB_SQL_T_BIGINT, 0, 0}},
    {"d", {MB_SQL_T_DECIMAL, 12, 2}}, {"x", {MB_SQL_T_DOUBLE, 0, 0}},
    {"dt", {MB_SQL_T_DATE, 0, 0}},    {"ts", {MB_SQL_T_TIMESTAMP, 0, 0}},
    {"b", {MB_SQL_T_BOOLEAN, 0, 0}},
};
#define NCOLS (sizeof cols / sizeof cols[0])

static void check_error(const mb_err *e, const char *sql)
{
    FZ_CHECK(e->code == MB_EUSAGE || e->code == MB_ENOMEM || e->code == MB_ELIMIT,
             "unexpected status %d: %s", (int)e->code, e->msg);
    if (e->code != MB_EUSAGE)
        return;
    FZ_CHECK(strncmp(e->msg, "--sql:", 6) == 0, "message without its source: %s", e->msg);
    FZ_CHECK(e->col >= 0 && (size_t)e->col <= strlen(sql) + 1, "column %ld outside the text",
             e->col);
}

static void run_rows(const mb_sql_plan *p, const char *csv, size_t n)
{
    mb_sql_rows r;
    mb_groups g;
    mb_buf key;
    mb_csv rd;
    mb_cell cells[NCOLS + 1];
    size_t nc;
    mb_err e;
    mb_sql_result res;

    if (mb_sql_rows_init(&r, p, &e) != MB_OK)
        return;
    if (mb_groups_init(&g, r.needs, r.nacc, (size_t)16 << 20) != MB_OK) {
        mb_sql_rows_fini(&r);
        return;
    }
    mb_buf_init(&key, 1 << 16);
    mb_csv_init(&rd, NULL, csv, n, 0);
    for (int rec = 0; rec < 64; rec++) {
        bool keep;
        mb_status st = mb_csv_next(&rd, cells, NCOLS + 1, &nc, NCOLS, &e);
        if (st == MB_EAGAIN)
            break;
        if (st != MB_OK)
            continue;
        key.len = 0;
        if (mb_sql_rows_apply(&r, cells, &keep, &key, &e) != MB_OK) {
            FZ_CHECK(e.msg[0] != '\0', "an evaluation error without a message");
            continue;
        }
        if (keep)
            (void)mb_sql_rows_fold(&r, &g, key.p, key.len, &e);
    }
    if (mb_sql_finish(p, &r, &g, &res, &e) == MB_OK) {
        FZ_CHECK(res.ncols == p->nouts, "the answer has %zu columns, the plan %zu", res.ncols,
                 p->nouts);
        mb_sql_result_fini(&res);
    }
    mb_buf_fini(&key);
    mb_groups_fini(&g);
    mb_sql_rows_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t qlen = nul ? (size_t)(nul - data) : size;
    char *sql = malloc(qlen + 1);
    mb_sql_query *q = NULL;
    mb_sql_plan *p = NULL, *p2 = NULL;
    mb_err e = {0};

    FZ_CHECK(sql != NULL, "out of memory");
    memcpy(sql, data, qlen);
    sql[qlen] = '\0';
    if (mb_sql_parse(sql, "--sql", &q, &e) != MB_OK) {
        check_error(&e, sql);
        free(sql);
        return 0;
    }
    if (mb_sql_bind(q, cols, NCOLS, &p, &e) != MB_OK) {
        check_error(&e, sql);
    } else {
        FZ_CHECK(p->normal && p->normal[0], "a plan without a normal form");
        FZ_CHECK(mb_sql_bind(q, cols, NCOLS, &p2, &e) == MB_OK &&
                     strcmp(p->normal, p2->normal) == 0, "binding again gives another plan");
        if (nul)
            run_rows(p, (const char *)nul + 1, size - qlen - 1);
    }
    mb_sql_plan_free(p);
    mb_sql_plan_free(p2);
    mb_sql_query_free(q);
    free(sql);
    return 0;
}
