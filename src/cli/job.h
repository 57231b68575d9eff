/* job.h - job files and the plan: which columns are grouped, which
 * aggregates are computed over which columns, in which CSV dialect.
 *
 * A job file is INI (read with inih); its keys are options of the command
 * line (cli.c's table), and options given on the command line win. The plan
 * is what every rank needs to aggregate a file: a query, which core/query.h
 * binds to each file's columns. A --group-by/--agg plan is the SQL query
 * its lists stand for (mb_plan_agg_query), which --explain shows. */
#ifndef MB_JOB_H
#define MB_JOB_H

#include "agg/agg.h"
#include "cli/cli.h"
#include "csv/csv.h"

/* A job's plan is its query (`sql`; ngroup, nagg and ncol are 0). A plan
 * of lists (sql NULL) is the --group-by/--agg lists a query was written
 * from (`agg` below), or those of a result file of the old --agg layout
 * (mb_plan_from_lists). */
typedef struct mb_plan {
    size_t ngroup;
    char **group;            /* group column names */
    size_t nagg;
    mb_aggspec *aggs;
    size_t ncol;             /* distinct aggregated columns */
    char **cols;
    unsigned *needs;         /* per column: MB_NEED_* */
    size_t *agg_col;         /* per aggregate: index into cols, SIZE_MAX for count(*) */
    mb_csv_dialect dialect;
    int header;
    /* The query and its source ("--sql", "JOB [job] query") and
     * --columns, bound per task (core/query.h). */
    char *sql, *sql_source, *columns;
    /* A --group-by/--agg job: its lists (group, aggs), of which `sql` is
     * the query (mb_plan_agg_query) and whose typing rule
     * (mb_plan_column_use) its columns follow before --columns; owned.
     * NULL for a --sql job and for the lists themselves. */
    struct mb_plan *agg;
    /* --max-bad-rows: records a task may skip (0: none, the first fails
     * it); part of the fingerprint when not 0, since it changes results */
    uint64_t max_bad_rows;
    char fingerprint[65];    /* SHA-256 of the canonical plan */
} mb_plan;

/* Reads the job file named by o->job (if any) into `o`, leaving options
 * given on the command line alone. Errors (MB_EJOB) name file:line:column;
 * err->col holds that column too (1-based, in the line). */
mb_status mb_job_load(mb_opts *o, mb_err *err);

/* Builds the plan from o->sql, or o->group_by and o->agg, and the
 * dialect options. Either way the plan is a query: --group-by/--agg are
 * shorthand for the one mb_plan_agg_query writes, run with --agg's typing
 * rule (p->agg). The fingerprint covers the query text, --columns, the
 * dialect, --max-bad-rows when not 0, and the typing rule when it
 * applies. */
mb_status mb_plan_build(mb_plan *p, const mb_opts *o, mb_err *err);

/* Builds a plan from lists (used when reading stored results). Copies. A
 * NULL entry (a nil string in a damaged file) is MB_EDATA. */
mb_status mb_plan_from_lists(mb_plan *p, char *const *group, size_t ngroup,
                             char *const *aggtexts, size_t nagg, mb_err *err);

void mb_plan_fini(mb_plan *p);

/* The SQL query a --group-by/--agg plan stands for, as a new string:
 * `SELECT nullif("k", '') AS "k", count(*) AS "count(*)", avg("x") AS
 * "mean(x)", ... FROM input GROUP BY 1 ORDER BY 1 NULLS FIRST`: each key
 * with its empty field as NULL, each aggregate under DuckDB's name (avg,
 * var_samp, stddev_samp) and named as written, keys ordered bytewise with
 * the empty key first; a key column that is also summed (or averaged,
 * ...) is read as CAST(k AS DOUBLE) there; without a header column N is
 * "columnN". Run over
 * columns typed by mb_plan_column_use's rule, it gives the --agg answer
 * (README, "--group-by/--agg as SQL"). MB_ENOMEM, MB_ELIMIT. */
mb_status mb_plan_agg_query(const mb_plan *p, char **out, mb_err *err);

/* What an --agg plan does with the input column a --sql query calls
 * `name`, which decides its type in the equivalent query: a key is
 * VARCHAR (keys are text in --agg); a column of sum/mean/min/max/var/
 * stddev is a number (BIGINT if sniffed BIGINT or BOOLEAN, else DOUBLE);
 * a column only counted is VARCHAR; any other keeps its sniffed type. */
typedef enum mb_plan_use {
    MB_PLAN_USE_NONE,
    MB_PLAN_USE_KEY,
    MB_PLAN_USE_NUMBER,
    MB_PLAN_USE_COUNTED
} mb_plan_use;

mb_plan_use mb_plan_column_use(const mb_plan *p, const char *name);

#endif
