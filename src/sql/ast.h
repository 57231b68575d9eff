/* ast.h - the syntax tree of one query, as parse.c builds it from
 * libpg_query's parse tree and as the binder reads it.
 *
 * The tree is deliberately small: every function call, whatever SQL's
 * spelling (EXTRACT(f FROM x), TRIM(LEADING FROM x), COALESCE, NULLIF,
 * GREATEST, x || y), is a MB_SQL_FUNC with a lower-case name, so that the
 * binder has one place that knows functions. It says nothing about types
 * or columns of the input: names are resolved by the binder. Every node
 * remembers its byte offset in the query text for error messages. All
 * nodes and strings of a query live in one arena freed with the query. */
#ifndef MB_SQL_AST_H
#define MB_SQL_AST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mb.h"
#include "sql/value.h"

typedef enum mb_sql_kind {
    MB_SQL_LITERAL,   /* lit, text */
    MB_SQL_COLUMN,    /* name */
    MB_SQL_STAR,      /* `*` as an argument: count(*) */
    MB_SQL_OP,        /* op over args[0] (unary) or args[0], args[1] */
    MB_SQL_IS_NULL,   /* args[0] IS [NOT] NULL (negated) */
    MB_SQL_IS_BOOL,   /* args[0] IS [NOT] TRUE|FALSE: lit is TRUE/FALSE */
    MB_SQL_IN,        /* args[0] [NOT] IN (args[1..]) */
    MB_SQL_BETWEEN,   /* args[0] [NOT] BETWEEN args[1] AND args[2] */
    MB_SQL_LIKE,      /* args[0] [NOT] LIKE|ILIKE args[1] [ESCAPE args[2]] */
    MB_SQL_CASE,      /* CASE [args[0]] WHEN args[1] THEN args[2] ...
                         [ELSE args[n-1]]: see has_operand, has_else */
    MB_SQL_CAST,      /* CAST(args[0] AS type) and args[0]::type */
    MB_SQL_FUNC       /* name(args), aggregates and scalar functions alike */
} mb_sql_kind;

typedef enum mb_sql_op {
    MB_SQL_NEG, MB_SQL_PLUS,                        /* unary */
    MB_SQL_ADD, MB_SQL_SUB, MB_SQL_MUL, MB_SQL_DIV, /* `/`: DOUBLE */
    MB_SQL_IDIV,                                    /* `//` */
    MB_SQL_MOD,
    MB_SQL_EQ, MB_SQL_NE, MB_SQL_LT, MB_SQL_LE, MB_SQL_GT, MB_SQL_GE,
    MB_SQL_AND, MB_SQL_OR, MB_SQL_NOT
} mb_sql_op;

typedef enum mb_sql_lit {
    MB_SQL_LIT_INT,      /* text: [-]digits, as written */
    MB_SQL_LIT_NUM,      /* text: [-]digits with a point or an exponent */
    MB_SQL_LIT_STRING,   /* text: the string's bytes, quotes removed */
    MB_SQL_LIT_TRUE,
    MB_SQL_LIT_FALSE,
    MB_SQL_LIT_NULL
} mb_sql_lit;

typedef struct mb_sql_node mb_sql_node;

/* An ORDER BY item, of the query or inside an aggregate call. */
typedef struct mb_sql_sort {
    mb_sql_node *expr;
    bool desc;
    int nulls_first;     /* 1 FIRST, 0 LAST, -1 as written nowhere */
} mb_sql_sort;

struct mb_sql_node {
    mb_sql_kind kind;
    long pos;            /* byte offset in the query text, -1 unknown */
    mb_sql_op op;
    mb_sql_lit lit;
    const char *text;    /* LITERAL's text, NUL-terminated; len bytes */
    size_t len;
    const char *name;    /* COLUMN (as written, case kept; quoted flag
                            says whether it was "quoted"), FUNC
                            (lower-case) */
    bool quoted;
    mb_sql_node **args;
    size_t nargs;
    bool negated;        /* NOT IN, NOT BETWEEN, NOT LIKE, IS NOT ... */
    bool ilike;          /* LIKE: case-insensitive */
    bool has_operand;    /* CASE x WHEN ...: args[0] is x */
    bool has_else;       /* CASE ... ELSE: the last arg */
    bool distinct;       /* FUNC: agg(DISTINCT ...) */
    mb_sql_node *filter; /* FUNC: agg(...) FILTER (WHERE filter) */
    mb_sql_sort *order;  /* FUNC: agg(... ORDER BY ...) */
    size_t norder;
    mb_sql_dtype type;   /* CAST: the target type */
};

/* One item of the select list. */
typedef struct mb_sql_target {
    mb_sql_node *expr;
    const char *alias;   /* AS alias, or NULL */
    long pos;
} mb_sql_target;

typedef struct mb_sql_pool mb_sql_pool;

/* A parsed query: SELECT targets FROM input [WHERE where]
 * [GROUP BY group] [HAVING having] [ORDER BY order]
 * [LIMIT limit] [OFFSET offset]. */
typedef struct mb_sql_query {
    char *sql;                /* the query text (a copy) */
    char *source;             /* where it came from: "--sql", "job.ini:12" */
    mb_sql_target *targets;
    size_t ntargets;
    mb_sql_node *where, *having;
    mb_sql_node **group;
    size_t ngroup;
    mb_sql_sort *order;
    size_t norder;
    int64_t limit;            /* -1: none */
    int64_t offset;           /* 0: none */
    bool distinct;            /* SELECT DISTINCT */
    mb_sql_pool *arena;
} mb_sql_query;

/* Parses one SELECT over the table `input` with libpg_query. `source`
 * names the text in messages. On error returns MB_EUSAGE (a query given
 * on the command line) or MB_EJOB (`source` names a job file, i.e. is not
 * "--sql") with a message of the form
 *     SOURCE:LINE:COL: syntax error at or near "FROM"
 *     SOURCE:LINE:COL: JOIN is not supported (the query reads one table, input)
 * where LINE and COL (1-based, columns in bytes) are positions in `sql`;
 * err->col is the 1-based byte offset of the position in `sql`. On
 * success *out is a new query for mb_sql_query_free. */
mb_status mb_sql_parse(const char *sql, const char *source, mb_sql_query **out, mb_err *err);

void mb_sql_query_free(mb_sql_query *q);    /* NULL-safe */

/* Line and column (1-based; columns in bytes) of byte offset `pos` in
 * `text`; pos beyond the end counts as the end. */
void mb_sql_linecol(const char *text, long pos, long *line, long *col);

/* Records an error about byte offset `pos` of query text `sql` (from
 * `source`) as "SOURCE:LINE:COL: message", with err->col = pos + 1, or as
 * "SOURCE: message" when pos < 0. Returns `code`. */
mb_status mb_sql_verr(mb_err *err, mb_status code, const char *sql, const char *source, long pos,
                      const char *fmt, va_list ap);

/* Writes the node back as SQL text (normalised: lower-case function
 * names, full parentheses) into out[0..cap). Used by --explain and to
 * name result columns that have no alias the way DuckDB does not: callers
 * that need DuckDB's column names use the original text. MB_ELIMIT when
 * it does not fit. */
mb_status mb_sql_node_format(const mb_sql_node *n, char *out, size_t cap);

#endif
