/* sqlrun.c - a test driver for the whole query engine in one process:
 * reads a CSV file (header first), types its columns as COLUMNS says,
 * runs the query through the row layer into the exact group table, and
 * writes the answer as CSV on stdout. The SQL differential test
 * (tests/sql/20-query-duckdb.t) compares it with DuckDB; mpibatch run
 * --sql runs the same layers across ranks.
 *
 *   sqlrun FILE.csv "a BIGINT, b VARCHAR, ..." "SELECT ... FROM input ..."
 *
 * Exit 0 with the answer, or 64/65 with "ERROR: message" on stdout. */
#include "agg/group.h"
#include "csv/csv.h"
#include "sql/finish.h"
#include "sql/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define MAX_COLS TOOL_MAX_COLS

static int fail(const mb_err *e)
{
    printf("ERROR: %s\n", e->msg);
    return e->code == MB_EUSAGE ? 64 : 65;
}

int main(int argc, char **argv)
{
    mb_sql_column cols[MAX_COLS];
    mb_cell cells[MAX_COLS + 1];
    mb_sql_query *q = NULL;
    mb_sql_plan *p = NULL;
    mb_sql_rows r;
    mb_groups g;
    mb_sql_result res;
    mb_buf key;
    mb_csv csv;
    mb_err e = {0};
    size_t ncols, len, nc;
    char *buf, *spec;
    int rc = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: sqlrun FILE.csv COLUMNS SQL\n");
        return 64;
    }
    if (!(buf = tool_slurp(argv[1], &len)) || !(spec = strdup(argv[2])) ||
        tool_columns(spec, cols, &ncols)) {
        fprintf(stderr, "sqlrun: cannot read %s or the column list\n", argv[1]);
        return 66;
    }
    if (mb_sql_parse(argv[3], "--sql", &q, &e) != MB_OK || mb_sql_bind(q, cols, ncols, &p, &e) != MB_OK)
        return fail(&e);
    if (mb_sql_rows_init(&r, p, &e) != MB_OK ||
        mb_groups_init(&g, r.needs, r.nacc, (size_t)1 << 30) != MB_OK)
        return fail(&e);
    mb_buf_init(&key, (size_t)1 << 20);
    mb_csv_init(&csv, NULL, buf, len, 0);
    if (mb_csv_next(&csv, cells, MAX_COLS + 1, &nc, 0, &e) != MB_OK)
        return fail(&e);
    for (unsigned long line = 2;; line++) {
        bool keep;
        mb_status st = mb_csv_next(&csv, cells, MAX_COLS + 1, &nc, ncols, &e);
        if (st == MB_EAGAIN)
            break;
        if (st != MB_OK)
            return fail(&e);
        key.len = 0;
        if ((st = mb_sql_rows_apply(&r, cells, &keep, &key, &e)) != MB_OK) {
            printf("ERROR: line %lu%s%s: %s\n", line, r.col >= 0 ? ", column " : "",
                   r.col >= 0 ? cols[r.col].name : "", e.msg);
            rc = 65;
            goto out;
        }
        if (keep && (st = mb_sql_rows_fold(&r, &g, key.p, key.len, &e)) != MB_OK) {
            printf("ERROR: line %lu: %s\n", line, e.msg);
            rc = 65;
            goto out;
        }
    }
    if (mb_sql_finish(p, &r, &g, &res, &e) != MB_OK) {
        rc = fail(&e);
        goto out;
    }
    mb_sql_result_write_csv(&res, stdout);
    mb_sql_result_fini(&res);
out:
    mb_buf_fini(&key);
    mb_groups_fini(&g);
    mb_sql_rows_fini(&r);
    mb_sql_plan_free(p);
    mb_sql_query_free(q);
    free(spec);
    free(buf);
    return rc;
}
