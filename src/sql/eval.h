/* eval.h - evaluating a plan's expressions (plan.h) over one row or one
 * group, with SQL's three-valued logic and DuckDB's semantics.
 *
 * Evaluation trusts the binder: every expression's arguments have the
 * types its result type was decided from, so this code never promotes
 * or guesses. What can still fail is data: an exact operation that
 * overflows (MB_ERANGE: "BIGINT overflow in a + b"), a CAST of a value
 * that does not parse (MB_EDATA), and memory for strings (MB_ELIMIT when a
 * row's strings pass the scratch cap). The caller adds the file, line and
 * column. No I/O, no MPI. */
#ifndef MB_SQL_EVAL_H
#define MB_SQL_EVAL_H

#include "sql/plan.h"

/* Memory for the strings one evaluation makes (upper(), ||, CAST to
 * VARCHAR): a buffer reset by the caller between rows. Values point into
 * it until the reset; `max` caps the bytes of one row. */
typedef struct mb_sql_scratch {
    struct sblock *head;
    size_t total, max;
} mb_sql_scratch;

void mb_sql_scratch_init(mb_sql_scratch *s, size_t max);
void mb_sql_scratch_fini(mb_sql_scratch *s);
void mb_sql_scratch_reset(mb_sql_scratch *s);

/* What an expression reads: the row layer reads cols (indexed by input
 * column; only the columns the plan uses need be set), the group layer
 * keys and aggs (finalized values). */
typedef struct mb_sql_env {
    const mb_sql_value *cols;
    const mb_sql_value *keys;
    const mb_sql_value *aggs;
    mb_sql_scratch *scratch;
} mb_sql_env;

/* Evaluates e into *out (of type e->type, or NULL). */
mb_status mb_sql_eval(const mb_sql_expr *e, const mb_sql_env *env, mb_sql_value *out,
                      mb_err *err);

/* Evaluates a BOOLEAN expression as a filter: *pass is true only when the
 * value is TRUE (FALSE and NULL reject the row or group). */
mb_status mb_sql_eval_pred(const mb_sql_expr *e, const mb_sql_env *env, bool *pass,
                           mb_err *err);

/* Converts v to type `to` as CAST does (strings parsed and trimmed,
 * numbers rounded half away from zero into integers and decimals, DATE
 * <-> TIMESTAMP, anything to VARCHAR). MB_EDATA/MB_ERANGE when the value
 * does not convert, MB_EUSAGE when the types never do. */
mb_status mb_sql_cast(const mb_sql_value *v, mb_sql_dtype to, mb_sql_scratch *s,
                      mb_sql_value *out, mb_err *err);

/* Whether CAST from `from` to `to` is defined at all. */
bool mb_sql_cast_ok(mb_sql_type from, mb_sql_type to);

/* Orders two non-NULL values of one type (DECIMALs of one scale): <0, 0,
 * >0. Strings bytewise, doubles with NaN above every number and equal to
 * itself, -0 equal to 0 (as DuckDB orders them). */
int mb_sql_value_cmp(const mb_sql_value *a, const mb_sql_value *b);

/* The truth of comparison fn (=, <>, <, <=, >, >=) given c, the sign of
 * mb_sql_value_cmp of its two arguments. */
bool mb_sql_cmp_holds(mb_sql_fn fn, int c);

/* The double nearest to a DECIMAL's exact value (m * 10^-scale). */
double mb_sql_dec_to_double(mb_i128 m, unsigned scale);

#endif
