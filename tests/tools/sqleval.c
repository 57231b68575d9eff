/* sqleval.c - a test driver for the SQL row layer: reads a small CSV file
 * (header first), types its columns as --columns says, and prints, for
 * every record, the value of each expression as the query engine
 * evaluates it: for expression i a line "== i", then one line per record
 * with the value as the engine writes it ("NULL" for NULL, "ERROR:
 * message" for an evaluation error), or one line "BIND ERROR: message".
 * The SQL differential test (tests/sql/) compares this with DuckDB.
 *
 *   sqleval FILE.csv "a BIGINT, b VARCHAR, ..." EXPR...
 *
 * Each EXPR is bound as the only key of SELECT EXPR FROM input GROUP BY 1,
 * so it goes through the same parser, binder and evaluator as a query. A
 * bind error prints "BIND ERROR: message" once instead of the records. */
#include "csv/csv.h"
#include "sql/eval.h"
#include "sql/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define MAX_COLS TOOL_MAX_COLS

int main(int argc, char **argv)
{
    mb_sql_column cols[MAX_COLS];
    size_t ncols, len, nexpr;
    char *buf, *spec;
    mb_sql_plan **plans;
    mb_sql_scratch scratch;
    mb_csv r;
    mb_cell cells[MAX_COLS];
    size_t nc;
    mb_err err;

    if (argc < 4) {
        fprintf(stderr, "usage: sqleval FILE.csv COLUMNS EXPR...\n");
        return 64;
    }
    if (!(buf = tool_slurp(argv[1], &len))) {
        perror(argv[1]);
        return 66;
    }
    spec = strdup(argv[2]);
    if (!spec || tool_columns(spec, cols, &ncols)) {
        fprintf(stderr, "sqleval: bad column list\n");
        return 64;
    }
    nexpr = (size_t)argc - 3;
    plans = calloc(nexpr, sizeof *plans);
    char (*msgs)[MB_ERR_MAX] = calloc(nexpr, sizeof *msgs);
    if (!plans || !msgs)
        return 70;
    for (size_t i = 0; i < nexpr; i++) {
        size_t cap = strlen(argv[3 + i]) + 64;
        char *sql = malloc(cap);
        mb_sql_query *q = NULL;
        snprintf(sql, cap, "SELECT %s FROM input GROUP BY 1", argv[3 + i]);
        if (mb_sql_parse(sql, "--sql", &q, &err) != MB_OK ||
            mb_sql_bind(q, cols, ncols, &plans[i], &err) != MB_OK) {
            snprintf(msgs[i], sizeof msgs[i], "%s", err.msg);
            plans[i] = NULL;
        }
        mb_sql_query_free(q);
        free(sql);
    }
    mb_sql_scratch_init(&scratch, 1 << 20);
    mb_csv_init(&r, NULL, buf, len, 0);
    if (mb_csv_next(&r, cells, MAX_COLS, &nc, 0, &err) != MB_OK)   /* the header */
        return 65;
    size_t nrows = 0, rcap = 0;
    mb_sql_value *rows = NULL;
    while (mb_csv_next(&r, cells, MAX_COLS, &nc, ncols, &err) == MB_OK) {
        if (nrows == rcap) {
            rcap = rcap ? 2 * rcap : 64;
            rows = realloc(rows, rcap * ncols * sizeof *rows);
            if (!rows)
                return 70;
        }
        mb_sql_value *vals = rows + nrows * ncols;
        for (size_t c = 0; c < ncols; c++) {
            if (cells[c].len == 0 && !cells[c].quoted) {
                memset(&vals[c], 0, sizeof vals[c]);
                vals[c].t = cols[c].type.t;
                vals[c].null = true;
            } else if (mb_sql_value_parse(cells[c].p, cells[c].len, cols[c].type, &vals[c],
                                          &err) != MB_OK) {
                fprintf(stderr, "sqleval: column %s: %s\n", cols[c].name, err.msg);
                return 65;
            }
        }
        nrows++;
    }
    for (size_t i = 0; i < nexpr; i++) {
        printf("== %zu\n", i);
        if (!plans[i]) {
            printf("BIND ERROR: %s\n", msgs[i]);
            continue;
        }
        for (size_t k = 0; k < nrows; k++) {
            mb_sql_env env = {rows + k * ncols, NULL, NULL, &scratch};
            mb_sql_value v;
            char out[4096];
            if (mb_sql_eval(plans[i]->keys[0], &env, &v, &err) != MB_OK)
                printf("ERROR: %s\n", err.msg);
            else if (v.null)
                printf("NULL\n");
            else if (mb_sql_value_format(&v, out, sizeof out) != MB_OK)
                printf("ERROR: value too long\n");
            else
                printf("%s\n", out);
            mb_sql_scratch_reset(&scratch);
        }
    }
    free(rows);
    mb_sql_scratch_fini(&scratch);
    for (size_t i = 0; i < nexpr; i++)
        mb_sql_plan_free(plans[i]);
    free(plans);
    free(msgs);
    free(spec);
    free(buf);
    return 0;
}
