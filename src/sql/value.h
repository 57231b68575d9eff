/* value.h - the SQL types of mpibatch's queries and their values: parsing
 * a CSV cell or a literal into a typed value, writing a value as DuckDB
 * writes it, and sniffing a column's type from the head of a file.
 *
 * Types follow DuckDB's: BIGINT, DECIMAL(w,s) (w <= 38, kept exact as a
 * scaled 128-bit integer), DOUBLE, VARCHAR, BOOLEAN, DATE (days since
 * 1970-01-01) and TIMESTAMP (microseconds since 1970-01-01 00:00:00, no
 * time zone). A value never owns memory: VARCHAR bytes point into the
 * cell or literal it came from. No I/O, no MPI. */
#ifndef MB_SQL_VALUE_H
#define MB_SQL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/mb.h"
#include "agg/agg.h"

typedef enum mb_sql_type {
    MB_SQL_T_NULL,        /* the type of a bare NULL: unknown until bound */
    MB_SQL_T_BOOLEAN,
    MB_SQL_T_BIGINT,
    MB_SQL_T_DECIMAL,
    MB_SQL_T_DOUBLE,
    MB_SQL_T_VARCHAR,
    MB_SQL_T_DATE,
    MB_SQL_T_TIMESTAMP
} mb_sql_type;

#define MB_SQL_DEC_MAX_WIDTH 38

typedef struct mb_sql_dtype {
    mb_sql_type t;
    uint8_t width, scale;     /* DECIMAL only: 1..38, 0..width */
} mb_sql_dtype;

typedef struct mb_sql_value {
    mb_sql_type t;
    bool null;
    uint8_t scale;            /* DECIMAL: the value is u.dec * 10^-scale */
    union {
        bool b;
        int64_t i;            /* BIGINT, DATE (days), TIMESTAMP (us) */
        double d;
        mb_i128 dec;
        struct {
            const char *p;
            size_t n;
        } s;
    } u;
} mb_sql_value;

/* Parses a type name as written in --columns, a job file's [columns] or
 * a CAST: BIGINT (also INT, INTEGER, INT8, INT4, SMALLINT, HUGEINT...),
 * DECIMAL or NUMERIC [(w[,s])] (default (18,3) as in DuckDB), DOUBLE
 * (FLOAT8, FLOAT, REAL), VARCHAR (TEXT, STRING, CHAR, BPCHAR),
 * BOOLEAN (BOOL), DATE, TIMESTAMP (DATETIME). Case-insensitive, spaces
 * allowed around the parts. MB_EUSAGE with a message naming the text on
 * error; err->col is the 1-based column in `text` at fault. */
mb_status mb_sql_dtype_parse(const char *text, size_t len, mb_sql_dtype *out, mb_err *err);

/* The type's name as DuckDB writes it ("DECIMAL(18,3)", "BIGINT") into
 * out[0..cap); MB_ELIMIT when it does not fit. */
mb_status mb_sql_dtype_name(mb_sql_dtype t, char *out, size_t cap);

/* Parses cell[0..len) as a value of type `t` (an empty cell is the
 * caller's business: it is NULL in CSV, an error here). Accepts what
 * DuckDB's CSV reader accepts for the type: integers with an optional sign
 * in the int64 range; decimals with at most `t.scale` places after
 * rounding half away from zero and at most width - scale integer digits;
 * doubles as strtod reads them plus inf/nan; booleans true/false/t/f/1/0
 * (case-insensitive); dates YYYY-MM-DD; timestamps YYYY-MM-DD[ |T]HH:MM[:SS
 * [.fraction]] with an optional Z or +HH[:MM] offset (converted to UTC).
 * MB_EDATA (or MB_ERANGE for a number too large) with a message naming
 * the type ("'12x' is not a BIGINT"); *out is then unspecified. VARCHAR
 * takes any bytes and points into `cell`. */
mb_status mb_sql_value_parse(const char *cell, size_t len, mb_sql_dtype t, mb_sql_value *out,
                             mb_err *err);

/* Writes v as DuckDB writes it in CSV output: integers in decimal,
 * DECIMAL with exactly `scale` places, DOUBLE as the shortest text that
 * reads back to the same double (mb_format_double: "0.1", "100.0",
 * "1e+20", "inf", "nan"),
 * BOOLEAN true/false, DATE YYYY-MM-DD, TIMESTAMP "YYYY-MM-DD HH:MM:SS"
 * with a fraction only when it is not zero (trailing zeros dropped),
 * VARCHAR as is. NULL writes the empty string. MB_ELIMIT when out[0..cap)
 * is too small. */
mb_status mb_sql_value_format(const mb_sql_value *v, char *out, size_t cap);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t mb_sql_days_from_civil(int64_t y, unsigned m, unsigned d);
void mb_sql_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* Type sniffing: feed the cells of one column from the head of a file;
 * the result is the first type of BOOLEAN, BIGINT, DECIMAL(18,s) (numbers
 * with at most 18 digits, s the most places seen, s <= 9), DOUBLE, DATE,
 * TIMESTAMP, VARCHAR that every non-empty cell parses as. A column with no
 * non-empty cell is VARCHAR. Deterministic: the result depends only on the
 * set of cells. */
typedef struct mb_sql_sniff {
    unsigned ok;          /* bit per candidate still possible */
    unsigned maxscale;    /* most decimal places seen */
    unsigned maxint;      /* most integer digits seen */
    uint64_t n;           /* non-empty cells seen */
} mb_sql_sniff;

void mb_sql_sniff_init(mb_sql_sniff *s);
void mb_sql_sniff_add(mb_sql_sniff *s, const char *cell, size_t len);
mb_sql_dtype mb_sql_sniff_result(const mb_sql_sniff *s);

#endif
