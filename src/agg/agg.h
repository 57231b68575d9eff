/* agg.h - aggregate specifications and their exact, mergeable states.
 *
 * Every numeric value is parsed as an exact decimal (mb_dec) and every
 * state keeps exact integers at a decimal scale: count, sum, sum of squares,
 * min and max. Merging states is therefore associative and commutative
 * bit for bit, which is why results do not depend on the number of ranks,
 * the assignment of chunks, or restarts. Rounding to double happens once,
 * when a result is formatted, and is correct rounding of the exact value.
 * No I/O, no MPI. */
#ifndef MB_AGG_H
#define MB_AGG_H

#include "base/mb.h"

#include "agg/state.h"

__extension__ typedef __int128 mb_i128;
__extension__ typedef unsigned __int128 mb_u128;

typedef enum mb_agg_kind {
    MB_AGG_COUNT_STAR,
    MB_AGG_COUNT,
    MB_AGG_SUM,
    MB_AGG_MEAN,     /* alias avg */
    MB_AGG_MIN,
    MB_AGG_MAX,
    MB_AGG_VAR,      /* sample variance, n - 1 */
    MB_AGG_STDDEV    /* sqrt of the sample variance */
} mb_agg_kind;

typedef struct mb_aggspec {
    mb_agg_kind kind;
    char *column;    /* NULL for count(*) */
    char *text;      /* as written in the job, trimmed: "sum(delay)" */
} mb_aggspec;

/* Parses "count(*), sum(delay), avg(x)" into a new array. Names are
 * case-insensitive; column names are taken as written (trimmed). On error
 * returns MB_EJOB with a message naming the 1-based character column in
 * `text` ("column 12: unknown aggregate 'median'"), the same column in
 * err->col. */
mb_status mb_agg_parse_list(const char *text, mb_aggspec **out, size_t *n, mb_err *err);
void mb_agg_list_free(mb_aggspec *a, size_t n);     /* NULL-safe */

/* An exact decimal: m * 10^-scale. */
typedef struct mb_dec {
    mb_i128 m;
    int32_t scale;   /* 0..MB_DEC_MAX_SCALE */
    int nonint;      /* written with a fraction or an exponent */
} mb_dec;

#define MB_DEC_MAX_SCALE 38

/* Parses a decimal number: [+-]digits[.digits][(e|E)[+-]digits] (also
 * ".5" and "5."), surrounding spaces allowed. At most 38 significant
 * digits and 38 decimal places after the exponent is applied. Returns
 * MB_EDATA for text that is not such a number (inf, nan, hex, empty) and
 * MB_ERANGE for a number outside the exact range, with a message in err. */
mb_status mb_dec_parse(const char *p, size_t len, mb_dec *out, mb_err *err);



/* What the aggregates of one column need maintained. */
enum {
    MB_NEED_COUNT = 0,     /* n only: count(col); values are not parsed */
    MB_NEED_SUM = 1,       /* sum, mean */
    MB_NEED_SUMSQ = 2,     /* var, stddev (implies the sum) */
    MB_NEED_MINMAX = 4,    /* min, max */
    MB_NEED_STR = 8,       /* min, max of strings (--sql VARCHAR): the group
                              table keeps the strings (agg/strmm.h); never
                              combined with the other bits */
    MB_NEED_DBL = 16       /* sum, avg, var, stddev, min, max of DOUBLE
                              (--sql): the group table keeps the exact sum
                              of the doubles (agg/fsum.h), with MB_NEED_SUMSQ
                              also that of their squares, and the double min
                              and max (group.h, mb_dstate); combined with no
                              other bit but MB_NEED_SUMSQ */
};

/* Needs of one aggregate kind (0 for counts). */
unsigned mb_agg_needs(mb_agg_kind k);



void mb_num_init(mb_numstate *s);

/* Adds one non-NULL value. MB_ERANGE (with message) if an exact
 * accumulator would overflow; the state is then unchanged. */
mb_status mb_num_add(mb_numstate *s, const mb_dec *v, unsigned need, mb_err *err);

/* Counts one non-NULL value of a column whose aggregates need only n. */
static inline void mb_num_count(mb_numstate *s) { s->n++; }

/* dst := dst (+) src. Exact; MB_ERANGE on overflow (dst unchanged). */
mb_status mb_num_merge(mb_numstate *dst, const mb_numstate *src, unsigned need, mb_err *err);

/* Formats the value of aggregate `k` over state `s` into out[0..cap):
 * counts and, when `int_column` is set, sum/min/max as exact integers;
 * everything else as the correctly rounded double of the exact value,
 * printed by mb_format_double (shortest round trip); stddev is the sqrt() of
 * that rounded variance. A NULL result (no values; fewer than two for
 * var/stddev) is the empty string. Returns MB_ELIMIT if cap is too small.
 * count(*) is not a column aggregate: callers format the group's row count. */
mb_status mb_num_format(const mb_numstate *s, mb_agg_kind k, int int_column, char *out,
                        size_t cap);

/* The exact sum, min or max (k) of s as decimal text with s->scale
 * places ("-12.500"); MB_ELIMIT when out[0..cap) is too small. For the
 * query engine, which types the value itself. s->n must be > 0. */
mb_status mb_num_exact(const mb_numstate *s, mb_agg_kind k, char *out, size_t cap);

/* The correctly rounded double of the mean (k MB_AGG_MEAN), the sum
 * (MB_AGG_SUM) or the variance (MB_AGG_VAR; pop: the population's, else
 * the sample's, which needs n >= 2) of s, n > 0. MB_EINTERNAL otherwise. */
mb_status mb_num_double(const mb_numstate *s, mb_agg_kind k, int pop, double *out);

/* Writes v in decimal into out[0..cap), NUL-terminated, as printf's
 * "%" PRId64 would. MB_ELIMIT (out emptied) when it does not fit. */
mb_status mb_format_i64(int64_t v, char *out, size_t cap);

/* Writes d into out[0..cap) as the shortest text that reads back to the
 * same double, laid out as DuckDB and Python's repr() write doubles:
 * "417.1", "100.0", "0.0001", "1e-05", "1.5e+16", "-0.0", "inf", "-inf",
 * "nan", "-nan" (a NaN keeps its sign, as in DuckDB). The one double
 * formatter of mpibatch: --agg results and SQL values alike. MB_ELIMIT
 * (out emptied) when it does not fit. */
mb_status mb_format_double(double d, char *out, size_t cap);

/* ---- compact accumulators: the in-memory form of a state ------------
 *
 * A group table holds one accumulator per (group, column) instead of a
 * 176-byte mb_numstate: a 16-byte header and, as `need` asks, a 128-bit sum,
 * sum of squares, min and max. Nearly every state fits; one that outgrows
 * 128 bits moves, whole and exact, to a full mb_numstate in a spill array,
 * and its accumulator then holds only the index. Reading an accumulator
 * back (mb_acc_get) gives exactly the state mb_num_add and mb_num_merge
 * would have built, so files, messages and results do not see the
 * difference. */
typedef struct mb_acc {
    int64_t n;           /* non-NULL values */
    int32_t scale;
    uint32_t flags;      /* MB_ACC_* */
    mb_i128 v[];         /* sum (SUM or SUMSQ), sumsq, min, max, as needed;
                            when spilled, v[0] is the spill index */
} mb_acc;

enum { MB_ACC_NONINT = 1, MB_ACC_SPILLED = 2 };

typedef struct mb_spill {
    mb_numstate *v;
    size_t n, cap;
} mb_spill;

/* Bytes of an accumulator for `need` (a multiple of 16). */
size_t mb_acc_size(unsigned need);

/* Adds one non-NULL value; as mb_num_add (MB_ERANGE leaves it unchanged),
 * plus MB_ENOMEM when a state must spill and memory is out. */
mb_status mb_acc_add(mb_acc *a, const mb_dec *v, unsigned need, mb_spill *sp, mb_err *err);

/* Parses text[0..len) as mb_dec_parse does and adds it: the same result
 * and errors, with short plain numbers taken without building an mb_dec. */
mb_status mb_acc_add_text(mb_acc *a, const char *text, size_t len, unsigned need,
                          mb_spill *sp, mb_err *err);

/* Counts one value of a column that needs only n. */
static inline void mb_acc_count(mb_acc *a) { a->n++; }

/* The full state an accumulator holds. */
void mb_acc_get(const mb_acc *a, unsigned need, const mb_spill *sp, mb_numstate *out);

/* a := a (+) src, as mb_num_merge. */
mb_status mb_acc_merge(mb_acc *a, const mb_numstate *src, unsigned need, mb_spill *sp,
                       mb_err *err);

/* The layout of packed accumulators as this binary writes them (the
 * states of a checkpoint, group.h's mb_groups_pack): a version, then the
 * header, the 128-bit members in the order they follow it, the spilled
 * form and which members each aggregate kind needs, with sizes and
 * offsets taken from the structs themselves. Together with the job's
 * fingerprint (which fixes the aggregates) it determines every byte of a
 * packed state, so two binaries with the same text read each other's
 * checkpoints; MB_ACC_LAYOUT_VERSION is bumped when the meaning changes
 * without the sizes changing. Writes it NUL-terminated into out[0..cap);
 * MB_ELIMIT when it does not fit (MB_ACC_LAYOUT_CAP always does). */
#define MB_ACC_LAYOUT_VERSION 3
#define MB_ACC_LAYOUT_CAP 1024
mb_status mb_acc_layout(char *out, size_t cap);

/* a := a (+) src for a src that is not spilled (its bytes as packed by
 * mb_groups_pack, so checked: MB_EDATA when n, scale or flags are out of
 * range). */
mb_status mb_acc_merge_acc(mb_acc *a, const mb_acc *src, unsigned need, mb_spill *sp,
                           mb_err *err);

#endif
