/* vec.h - the row layer (rows.h) over a batch of records at once: the
 * plan's row expressions compiled into one flat program of typed
 * operations over vectors of values, evaluated a batch at a time.
 *
 * The program is built once per plan: WHERE, the group keys and every
 * accumulator's argument and FILTER, in post order, each distinct
 * subexpression once (a key and an argument that are the same expression
 * share their vector), constant subexpressions folded at build time, each
 * operation's kernel chosen then (comparisons, AND/OR/NOT have their own
 * loops; other functions call the scalar evaluator's code for one node
 * over argument values already computed, so their semantics are the
 * scalar evaluator's by construction). A batch is evaluated column by
 * column: the cells WHERE reads are parsed first, WHERE runs over the
 * batch and narrows a selection vector, then only the selected records'
 * other cells are parsed and the rest of the program runs over them.
 * The plain-column case takes no detour: a key that is a bare column is
 * its cell's bytes (BIGINT and DATE keys are written without printf), and
 * an aggregate whose argument is a bare BIGINT, DATE or DOUBLE column goes from
 * the cell straight to the exact decimal the row path would accumulate
 * (for DOUBLE, the one its shortest round-trip text gives: no strtod, no
 * printing) when the cell is a short plain number.
 *
 * Operations are evaluated eagerly (every argument of CASE, AND, OR,
 * COALESCE over the whole selection), so that the per-row evaluator's
 * exact behaviour on bad data is kept by a rule instead of by mirroring
 * it: ANY error in a batch (a cell that does not parse, an overflow, a
 * string cap) makes mb_sql_vec_apply return MB_EAGAIN, and the caller runs
 * that batch again record by record through mb_sql_rows_apply and
 * mb_sql_rows_fold, which report the error the row path always reported,
 * or none when the error came from a branch the row path does not take.
 * Nothing of a batch is folded before mb_sql_vec_apply succeeds. No I/O,
 * no MPI. */
#ifndef MB_SQL_VEC_H
#define MB_SQL_VEC_H

#include "sql/rows.h"

#define MB_SQL_VEC_MAX 64        /* records per batch at most */

typedef struct mb_sql_vec mb_sql_vec;

/* A program for r's plan (r must outlive it), or *out NULL (and MB_OK)
 * when the plan keeps to the row path (an accumulator of a type that is
 * accumulated as text other than DOUBLE). MB_ENOMEM. */
mb_status mb_sql_vec_new(const mb_sql_rows *r, mb_sql_vec **out, mb_err *err);
void mb_sql_vec_free(mb_sql_vec *v);           /* NULL-safe */

/* Evaluates n <= MB_SQL_VEC_MAX records, record i's field c at
 * cells[i * stride + c] (only the plan's columns are read). MB_OK: the
 * records WHERE keeps are mb_sql_vec_kept(v) and for each of them
 * mb_sql_vec_fold may be called, in order. MB_EAGAIN: some record met an
 * error (err says which, but the caller must redo the batch record by
 * record to learn the first one the row path reports). */
mb_status mb_sql_vec_apply(mb_sql_vec *v, const mb_cell *cells, size_t stride, size_t n,
                           mb_err *err);

/* How many records of the last batch WHERE kept, and which (the j-th kept
 * record's index in the batch) and its encoded group key. */
size_t mb_sql_vec_kept(const mb_sql_vec *v);
size_t mb_sql_vec_record(const mb_sql_vec *v, size_t j);
const char *mb_sql_vec_key(const mb_sql_vec *v, size_t j, size_t *len);

/* Hashes the kept records' keys and prefetches their places in g (the
 * slots, then the records they lead to), so that the folds of a batch
 * overlap their cache misses; call it once per batch, before the folds. */
void mb_sql_vec_prefetch(mb_sql_vec *v, const mb_groups *g);

/* Finds (or makes) the group of the j-th kept record in g and prefetches
 * its DOUBLE states: the errors of mb_groups_get. Called for every kept
 * record of a batch, after mb_sql_vec_prefetch and before the folds, so
 * that the folds find their states cached. */
mb_status mb_sql_vec_locate(mb_sql_vec *v, size_t j, mb_groups *g, mb_err *err);

/* Folds the j-th kept record into the group mb_sql_vec_locate found, as
 * mb_sql_rows_fold does for one record (the same errors). */
mb_status mb_sql_vec_fold(const mb_sql_vec *v, size_t j, mb_groups *g, mb_err *err);

#endif
