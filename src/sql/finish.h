/* finish.h - a plan's group layer over a reduced group table: the
 * aggregates finalized into typed values, HAVING, the select list, ORDER
 * BY and LIMIT/OFFSET, giving the query's answer as text cells.
 *
 * Deterministic whatever the table's history: groups are visited in key
 * order, and ORDER BY ties are broken by the key, so equal tables give
 * equal answers. Without ORDER BY the answer is in key order (DuckDB's is
 * arbitrary). A global aggregate (no GROUP BY) over no rows still answers
 * one row, as SQL says. No I/O beyond mb_sql_result_write_csv, no MPI. */
#ifndef MB_SQL_FINISH_H
#define MB_SQL_FINISH_H

#include <stdio.h>

#include "agg/group.h"
#include "sql/rows.h"

typedef struct mb_sql_result {
    size_t ncols, nrows;
    const char *const *names;    /* the plan's output names */
    char **cells;                /* nrows * ncols; NULL for SQL NULL */
    mb_sql_type *types;          /* per column */
} mb_sql_result;

/* The answer of plan p (whose row layer is r) over the group table g. */
mb_status mb_sql_finish(const mb_sql_plan *p, const mb_sql_rows *r, const mb_groups *g,
                        mb_sql_result *out, mb_err *err);
void mb_sql_result_fini(mb_sql_result *res);       /* idempotent */

/* The answer as CSV with a header, as DuckDB's COPY ... (HEADER) writes
 * it: NULL empty, fields with the delimiter, quotes, CR/LF or leading or
 * trailing spaces quoted. */
mb_status mb_sql_result_write_csv(const mb_sql_result *res, FILE *f);

/* The same rows with a first column "task" holding `task` (none when NULL),
 * the header only when `header` is set. */
mb_status mb_sql_result_write_csv_task(const mb_sql_result *res, FILE *f, const char *task,
                                       int header);

/* The rows as JSON objects ({"task": ..., "name": value, ...}), each
 * preceded by a comma unless *first (then cleared), for the elements of
 * an array the caller opens and closes: numbers and booleans bare, other
 * values as strings, NULL as null. */
mb_status mb_sql_result_write_json(const mb_sql_result *res, FILE *f, const char *task,
                                   int *first);

#endif
