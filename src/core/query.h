/* query.h - a --sql job on the run: the query is parsed once when the run
 * starts, and bound to each task's input anew, since every file brings
 * its own header and column types.
 *
 * Rank 0 types the columns of a task: a deterministic sniff of the head of
 * the file (at most MB_QUERY_SNIFF_ROWS records in the first
 * MB_QUERY_SNIFF_BYTES after the header, so the types depend on the file
 * alone, not on the chunk size or the rank count), overridden by
 * --columns. It broadcasts names and types in the task descriptor, and
 * every rank binds the same plan from them (sql/plan.h). The bound plan's
 * normal form enters the task's grid digest, so a checkpoint taken under
 * other column types is not resumed. No MPI. */
#ifndef MB_QUERY_H
#define MB_QUERY_H

#include "base/pack.h"
#include "cli/job.h"
#include "csv/partition.h"
#include "sql/ast.h"
#include "sql/finish.h"
#include "sql/plan.h"
#include "sql/rows.h"

#define MB_QUERY_SNIFF_ROWS 20480
#define MB_QUERY_SNIFF_BYTES ((size_t)4 << 20)

/* The job's query: parsed, with the --columns overrides. */
typedef struct mb_query {
    mb_sql_query *q;
    mb_sql_column *over;          /* --columns */
    size_t nover;
    char *over_buf;               /* the names of `over` */
    const mb_plan *agg;           /* set when q is an --agg plan's query: its
                                   * typing rule applies before --columns */
    const char *agg_sql;          /* that query's text (not owned) */
} mb_query;

/* Parses p->sql and p->columns. Errors: MB_EUSAGE (--sql) or MB_EJOB (a
 * job file) naming the position ("--sql:1:23: syntax error at or near
 * ..."). */
mb_status mb_query_open(mb_query *jq, const mb_plan *p, mb_err *err);
void mb_query_fini(mb_query *jq);           /* idempotent */

/* One task's binding: the input's columns and the plan over them. */
typedef struct mb_qtask {
    size_t ncols;
    char **names;
    mb_sql_column *cols;          /* names[i], types */
    mb_sql_plan *plan;
    mb_sql_rows rows;
    int have_rows;
} mb_qtask;

/* Rank 0: the types of the columns of the file at fd (path for messages)
 * whose grid head g (names, data_start, file_size) is known, into
 * types[0..g->ncols): sniffed, then (jq->agg) --agg's rule: keys and
 * columns only counted VARCHAR, aggregated columns BIGINT when sniffed
 * BIGINT or BOOLEAN and DOUBLE otherwise, then --columns. An override naming no column of the file is MB_ENOENT
 * naming the column and listing the header. */
mb_status mb_query_types(const mb_query *jq, const mb_plan *p, int fd, const char *path,
                         const mb_grid *g, mb_sql_dtype *types, mb_err *err);

/* Every rank: binds the query to columns names/types (copied). A query
 * that does not fit (an unknown column, a type error) is the bind's
 * status with its message; out of memory MB_ENOMEM. */
mb_status mb_query_bind(const mb_query *jq, char *const *names, const mb_sql_dtype *types,
                        size_t ncols, mb_qtask *t, mb_err *err);
void mb_qtask_fini(mb_qtask *t);            /* idempotent */

/* The task's column names and types on the wire (base/pack.h), and back;
 * unpack allocates names and types, which the caller frees. */
mb_status mb_qtask_pack(const mb_qtask *t, mb_buf *b);
mb_status mb_qtask_unpack(mb_rd *rd, size_t ncols, char ***names, mb_sql_dtype **types);

/* The columns as "name TYPE, ..." (the result file's record of them);
 * a new string, NULL when out of memory. */
char *mb_qtask_columns_text(const mb_qtask *t);

/* The column names a --sql job sees in a file without a header:
 * column1..columnN (DuckDB's column0.. count from 0; mpibatch's --group-by
 * names 1..N count from 1, and so do these). */
mb_status mb_query_noheader_names(char **names, size_t ncols);

#endif
