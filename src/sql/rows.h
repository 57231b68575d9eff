/* rows.h - a plan's row layer over records: the bridge between the query
 * engine and mpibatch's exact group table (agg/group.h).
 *
 * A plan's aggregates become accumulators of the existing engine: one per
 * distinct (argument, FILTER) pair, each an exact mb_acc with the needs of
 * the aggregates that read it (count, sum, sum of squares, min/max). Per
 * record the row layer parses the cells the plan reads, applies WHERE,
 * writes the group key and the text of each accumulator's value, which
 * the engine adds exactly as it adds CSV cells: so checkpoints, reduction
 * across ranks and result files need nothing new. Values are written as
 * exact decimals: BIGINT and DECIMAL as they are, DATE as days and
 * TIMESTAMP as microseconds since 1970, BOOLEAN as 1/0.
 * min/max of VARCHAR are the exception: their accumulator (MB_NEED_STR)
 * takes the value's bytes (kept in `text`) into the group table's string
 * state (agg/strmm.h). So are sum, avg, var, stddev, min and max of
 * DOUBLE: their accumulator (MB_NEED_DBL) takes the double itself (kept in
 * `dbl`) into the group table's exact double state (agg/fsum.h), every
 * double, inf and NaN included.
 *
 * Key fields are (u32 length, text) pairs as the engine encodes CSV keys;
 * a NULL key field is the one byte 0x00, which no text key holds (NUL
 * bytes are refused in keys). No I/O, no MPI. */
#ifndef MB_SQL_ROWS_H
#define MB_SQL_ROWS_H

#include "agg/group.h"
#include "base/pack.h"
#include "csv/csv.h"
#include "sql/eval.h"

typedef struct mb_sql_acc {
    const mb_sql_expr *arg;      /* NULL: counts the rows FILTER keeps */
    const mb_sql_expr *filter;   /* NULL: none */
    unsigned need;               /* MB_NEED_* */
} mb_sql_acc;

typedef struct mb_sql_rows {
    const mb_sql_plan *plan;
    mb_sql_acc *accs;
    size_t nacc;
    size_t *agg_acc;             /* per aggregate: its accumulator, SIZE_MAX for
                                    a plain count(*) (the group's row count) */
    unsigned *needs;             /* per accumulator, for mb_groups_init */
    mb_sql_value *vals;          /* per input column */
    bool *first;                 /* per input column: WHERE reads it, so it is
                                    parsed before the others (a record WHERE
                                    rejects costs no more parsing) */
    mb_sql_scratch scratch;
    mb_buf text;                 /* the accumulators' texts, back to back */
    mb_buf cells;                /* the record's unescaped cells */
    size_t *off, *len;           /* per accumulator; len SIZE_MAX: NULL, or
                                    the value is in dec[] (dec_ok) */
    mb_dec *dec;                 /* per accumulator: the value as an exact
                                    decimal, when its type is exact (no
                                    text round trip on the hot path) */
    bool *dec_ok;
    double *dbl;                 /* per accumulator of MB_NEED_DBL: the value, */
    bool *dbl_ok;                /* when there is one */
    long col;                    /* after an error: the input column whose
                                    cell did not parse, or -1 */
} mb_sql_rows;

mb_status mb_sql_rows_init(mb_sql_rows *r, const mb_sql_plan *p, mb_err *err);
void mb_sql_rows_fini(mb_sql_rows *r);            /* idempotent */

/* Applies the row layer to one record (cells[i] the i-th field of the
 * input; only the plan's columns are read, those WHERE reads first: a
 * record WHERE rejects is not parsed further, so a bad value in another
 * column of it is not an error). *keep is false when WHERE
 * rejects the record; otherwise the key is appended to `key` and r->off,
 * r->len give each accumulator's value text in r->text. Errors: MB_EDATA
 * or MB_ERANGE with a message; r->col names the cell's column when the
 * error is a cell that is not of its column's type. The record's values
 * are valid until the next call. */
mb_status mb_sql_rows_apply(mb_sql_rows *r, const mb_cell *cells, bool *keep, mb_buf *key,
                            mb_err *err);

/* Folds the record mb_sql_rows_apply kept (its key in key[0..len)) into
 * g: the group's row count and every accumulator with a value. MB_ELIMIT
 * when g's memory cap is passed, MB_ERANGE/MB_EDATA when a value does not
 * fit its exact accumulator. */
mb_status mb_sql_rows_fold(const mb_sql_rows *r, mb_groups *g, const char *key, size_t len,
                           mb_err *err);

#endif
