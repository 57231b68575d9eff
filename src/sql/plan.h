/* plan.h - a bound query: the plan that every rank runs over its chunks.
 *
 * The binder (bind.c) turns a syntax tree (ast.h) and the input's columns
 * into three layers, the shape of every query mpibatch runs:
 *
 *   rows    WHERE, the group keys, and each aggregate's argument and
 *           FILTER: expressions over the input's columns, evaluated per row
 *           on every rank;
 *   states  one mergeable state per aggregate and group (count, exact sums,
 *           min/max, ...): what ranks reduce, checkpoint and store;
 *   groups  the select list, HAVING and ORDER BY: expressions over the keys
 *           (MB_SQL_E_KEY) and finalized aggregates (MB_SQL_E_AGG),
 *           evaluated once per group after the reduction, then LIMIT/OFFSET.
 *
 * Every expression carries its result type, decided at bind time as DuckDB
 * decides it, so evaluation never looks at types it was not promised. A
 * plan owns all its memory. No I/O, no MPI. */
#ifndef MB_SQL_PLAN_H
#define MB_SQL_PLAN_H

#include "sql/ast.h"
#include "sql/value.h"

typedef enum mb_sql_ekind {
    MB_SQL_E_CONST,      /* v */
    MB_SQL_E_COLUMN,     /* input column idx */
    MB_SQL_E_KEY,        /* group key idx (group layer only) */
    MB_SQL_E_AGG,        /* aggregate idx's final value (group layer only) */
    MB_SQL_E_CALL        /* fn(args) */
} mb_sql_ekind;

typedef enum mb_sql_fn {
    MB_SQL_F_NEG, MB_SQL_F_ADD, MB_SQL_F_SUB, MB_SQL_F_MUL, MB_SQL_F_DIV, MB_SQL_F_IDIV,
    MB_SQL_F_MOD,
    MB_SQL_F_EQ, MB_SQL_F_NE, MB_SQL_F_LT, MB_SQL_F_LE, MB_SQL_F_GT, MB_SQL_F_GE,
    MB_SQL_F_AND, MB_SQL_F_OR, MB_SQL_F_NOT,
    MB_SQL_F_IS_NULL,    /* flags: MB_SQL_NEGATED for IS NOT NULL */
    MB_SQL_F_IS_TRUE,    /* IS [NOT] TRUE */
    MB_SQL_F_IS_FALSE,   /* IS [NOT] FALSE */
    MB_SQL_F_IN,         /* args[0] IN args[1..]; NEGATED */
    MB_SQL_F_BETWEEN,    /* NEGATED */
    MB_SQL_F_LIKE,       /* args: value, pattern[, escape]; NEGATED, ILIKE */
    MB_SQL_F_CASE,       /* args: (when, then)* [else]: HAS_ELSE */
    MB_SQL_F_COALESCE, MB_SQL_F_NULLIF, MB_SQL_F_CAST, MB_SQL_F_GREATEST, MB_SQL_F_LEAST,
    MB_SQL_F_ABS, MB_SQL_F_ROUND, MB_SQL_F_FLOOR, MB_SQL_F_CEIL,
    MB_SQL_F_LOWER, MB_SQL_F_UPPER, MB_SQL_F_LENGTH, MB_SQL_F_SUBSTR, MB_SQL_F_TRIM,
    MB_SQL_F_LTRIM, MB_SQL_F_RTRIM, MB_SQL_F_CONCAT, MB_SQL_F_CONCAT_OP,
    MB_SQL_F_DATE_TRUNC, /* args[0]: the part as a constant; flags: the part */
    MB_SQL_F_DATE_PART,  /* likewise */
    MB_SQL_F_STRFTIME
} mb_sql_fn;

enum {
    MB_SQL_NEGATED = 1,
    MB_SQL_ILIKE = 2,
    MB_SQL_HAS_ELSE = 4
};

/* Date and time parts for date_trunc and date_part/extract. */
typedef enum mb_sql_part {
    MB_SQL_P_MICROSECOND, MB_SQL_P_MILLISECOND, MB_SQL_P_SECOND, MB_SQL_P_MINUTE,
    MB_SQL_P_HOUR, MB_SQL_P_DAY, MB_SQL_P_WEEK, MB_SQL_P_MONTH, MB_SQL_P_QUARTER,
    MB_SQL_P_YEAR, MB_SQL_P_DECADE, MB_SQL_P_CENTURY, MB_SQL_P_MILLENNIUM,
    MB_SQL_P_DOW, MB_SQL_P_ISODOW, MB_SQL_P_DOY, MB_SQL_P_EPOCH
} mb_sql_part;

typedef struct mb_sql_expr mb_sql_expr;

struct mb_sql_expr {
    mb_sql_ekind kind;
    mb_sql_fn fn;
    mb_sql_dtype type;       /* the result type; MB_SQL_T_NULL: always NULL */
    unsigned flags;          /* MB_SQL_NEGATED ... */
    int part;                /* DATE_TRUNC, DATE_PART: mb_sql_part */
    size_t idx;              /* COLUMN, KEY, AGG */
    mb_sql_value v;          /* CONST; VARCHAR bytes owned by the plan */
    mb_sql_expr **args;
    size_t nargs;
    long pos;                /* byte offset in the query, for messages */
};

typedef enum mb_sql_aggfn {
    MB_SQL_A_COUNT_STAR, MB_SQL_A_COUNT, MB_SQL_A_SUM, MB_SQL_A_AVG, MB_SQL_A_MIN,
    MB_SQL_A_MAX, MB_SQL_A_VAR_SAMP, MB_SQL_A_VAR_POP, MB_SQL_A_STDDEV_SAMP,
    MB_SQL_A_STDDEV_POP, MB_SQL_A_BOOL_AND, MB_SQL_A_BOOL_OR
} mb_sql_aggfn;

/* One aggregate of the query; equal calls share one (count(*) in the
 * select list and in HAVING is one state). */
typedef struct mb_sql_agg {
    mb_sql_aggfn fn;
    mb_sql_expr *arg;        /* row layer; NULL for count(*) */
    mb_sql_expr *filter;     /* row layer; NULL when none */
    mb_sql_dtype type;       /* the final value's type */
    char *text;              /* normal form, for --explain and fingerprints */
} mb_sql_agg;

typedef struct mb_sql_out {
    mb_sql_expr *expr;       /* group layer */
    char *name;              /* result column name */
} mb_sql_out;

typedef struct mb_sql_order {
    mb_sql_expr *expr;       /* group layer */
    bool desc;
    bool nulls_first;        /* resolved: DuckDB's default is NULLS LAST */
} mb_sql_order;

/* An input column as the binder sees it. */
typedef struct mb_sql_column {
    const char *name;
    mb_sql_dtype type;
} mb_sql_column;

typedef struct mb_sql_plan {
    char *sql;               /* the query text */
    char *normal;            /* the normal form of the whole plan: the
                                fingerprint of what is computed */
    size_t ncolumns;         /* of the input */
    bool *used;              /* per input column: read by the row layer */
    mb_sql_dtype *coltypes;  /* per input column */
    mb_sql_expr *where;      /* row layer, BOOLEAN, or NULL */
    mb_sql_expr **keys;      /* row layer */
    size_t nkeys;
    mb_sql_agg *aggs;
    size_t naggs;
    mb_sql_out *outs;
    size_t nouts;
    mb_sql_expr *having;     /* group layer, BOOLEAN, or NULL */
    mb_sql_order *order;
    size_t norder;
    int64_t limit;           /* -1: none */
    int64_t offset;
    struct mb_sql_pool *pool;
} mb_sql_plan;

/* Binds query q to the input's columns (names matched case-insensitively,
 * as DuckDB does). On error returns q's error code (MB_EUSAGE for --sql,
 * MB_EJOB for a job file) with "SOURCE:LINE:COL: message" naming the
 * position in the query, err->col set as mb_sql_parse does. The plan does
 * not refer to q or cols afterwards. */
mb_status mb_sql_bind(const mb_sql_query *q, const mb_sql_column *cols, size_t ncols,
                      mb_sql_plan **out, mb_err *err);

void mb_sql_plan_free(mb_sql_plan *p);      /* NULL-safe */

/* Whether two bound expressions compute the same thing (same tree, same
 * columns, types and constants). */
bool mb_sql_expr_equal(const mb_sql_expr *a, const mb_sql_expr *b);

/* Writes the plan as --explain shows it (columns read with their types,
 * filter, keys, states, the group layer, order and limit), one item per
 * line, into out[0..cap). MB_ELIMIT when it does not fit. */
mb_status mb_sql_plan_explain(const mb_sql_plan *p, const mb_sql_column *cols, char *out,
                              size_t cap);

#endif
