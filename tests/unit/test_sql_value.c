/* test_sql_value.c - sql/value: type names, cells parsed per type (and
 * refused), values written as DuckDB writes them, calendar arithmetic
 * against a day-by-day walk, and type sniffing. No I/O, no MPI. */
#include "sql/value.h"

#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static mb_sql_dtype T(mb_sql_type t) { return (mb_sql_dtype){t, 0, 0}; }

static mb_sql_dtype dtype(const char *text)
{
    mb_sql_dtype t = {MB_SQL_T_NULL, 0, 0};
    mb_err e;
    if (mb_sql_dtype_parse(text, strlen(text), &t, &e) != MB_OK)
        t.t = MB_SQL_T_NULL;
    return t;
}

static void type_names(void)
{
    static const char *const cases[][2] = {
        {"BIGINT", "BIGINT"},          {"int", "BIGINT"},
        {" Integer ", "BIGINT"},       {"decimal", "DECIMAL(18,3)"},
        {"DECIMAL(10,2)", "DECIMAL(10,2)"}, {"numeric ( 38 , 0 )", "DECIMAL(38,0)"},
        {"decimal(5)", "DECIMAL(5,0)"}, {"double", "DOUBLE"},
        {"FLOAT8", "DOUBLE"},          {"varchar", "VARCHAR"},
        {"varchar(10)", "VARCHAR"},    {"text", "VARCHAR"},
        {"bool", "BOOLEAN"},           {"date", "DATE"},
        {"timestamp", "TIMESTAMP"},    {"DATETIME", "TIMESTAMP"},
    };
    static const char *const bad[] = {"", "bigint(3)", "decimal(39,1)", "decimal(5,6)",
                                      "decimal(0)", "decimal(10,2", "blob", "int int",
                                      "timestamptz", "decimal(,2)"};
    char name[32];
    mb_err e;
    mb_sql_dtype t;

    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        t = dtype(cases[i][0]);
        (void)mb_sql_dtype_name(t, name, sizeof name);
        is_str(name, cases[i][1], "type '%s'", cases[i][0]);
    }
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        mb_status st = mb_sql_dtype_parse(bad[i], strlen(bad[i]), &t, &e);
        ok(st == MB_EUSAGE && e.col >= 1, "type '%s' refused: %s (col %ld)", bad[i], e.msg,
           e.col);
    }
    ok(mb_sql_dtype_name(dtype("DECIMAL(10,2)"), name, 5) == MB_ELIMIT && name[0] == '\0',
       "a name that does not fit is MB_ELIMIT");
}

/* cell parsed as `type` and written back must give `want`. */
static void round_trip(const char *type, const char *cell, const char *want)
{
    mb_sql_value v;
    mb_err e = {0};
    char out[64];
    mb_status st = mb_sql_value_parse(cell, strlen(cell), dtype(type), &v, &e);
    if (st != MB_OK) {
        ok(0, "%s '%s': %s", type, cell, e.msg);
        return;
    }
    (void)mb_sql_value_format(&v, out, sizeof out);
    is_str(out, want, "%s '%s' -> '%s'", type, cell, want);
}

static void refused(const char *type, const char *cell, mb_status want)
{
    mb_sql_value v;
    mb_err e = {0};
    mb_status st = mb_sql_value_parse(cell, strlen(cell), dtype(type), &v, &e);
    ok(st == want && strlen(e.msg) > 0, "%s '%s' refused (%s): %s", type, cell,
       mb_strerror(want), e.msg);
}

static void cells(void)
{
    round_trip("bigint", "42", "42");
    round_trip("bigint", " -17 ", "-17");
    round_trip("bigint", "+5", "5");
    round_trip("bigint", "9223372036854775807", "9223372036854775807");
    round_trip("bigint", "-9223372036854775808", "-9223372036854775808");
    refused("bigint", "9223372036854775808", MB_ERANGE);
    refused("bigint", "1.5", MB_EDATA);
    refused("bigint", "12x", MB_EDATA);
    refused("bigint", "-", MB_EDATA);
    refused("bigint", "", MB_EDATA);
    round_trip("decimal(18,3)", "1.5", "1.500");
    round_trip("decimal(18,3)", "-0.0005", "-0.001");       /* half away from zero */
    round_trip("decimal(18,3)", "0.0004", "0.000");
    round_trip("decimal(18,3)", "1e2", "100.000");
    round_trip("decimal(4,2)", "99.99", "99.99");
    refused("decimal(4,2)", "100", MB_ERANGE);
    round_trip("decimal(38,0)", "-12345678901234567890123456789012345678",
               "-12345678901234567890123456789012345678");
    round_trip("decimal(10,4)", ".5", "0.5000");
    refused("decimal(18,3)", "abc", MB_EDATA);
    round_trip("double", "0.1", "0.1");
    round_trip("double", "100", "100.0");
    round_trip("double", "1e20", "1e+20");
    round_trip("double", "1.5e-7", "1.5e-07");
    round_trip("double", "123456789012345680", "1.2345678901234568e+17");
    round_trip("double", "0.0001", "0.0001");
    round_trip("double", "-2.5", "-2.5");
    round_trip("double", "inf", "inf");
    round_trip("double", "-Infinity", "-inf");
    round_trip("double", "nan", "nan");
    round_trip("double", "1234567890123456", "1234567890123456.0");
    round_trip("double", "0.3333333333333333", "0.3333333333333333");
    refused("double", "0x10", MB_EDATA);
    refused("double", "1.2.3", MB_EDATA);
    round_trip("boolean", "TRUE", "true");
    round_trip("boolean", "f", "false");
    round_trip("boolean", "1", "true");
    refused("boolean", "yes please", MB_EDATA);
    round_trip("varchar", "  as is ", "  as is ");
    round_trip("date", "2024-02-29", "2024-02-29");
    round_trip("date", "1969-12-31", "1969-12-31");
    round_trip("date", "0001-01-01", "0001-01-01");
    refused("date", "2023-02-29", MB_EDATA);
    refused("date", "2024-13-01", MB_EDATA);
    refused("date", "2024-1-1", MB_EDATA);
    refused("date", "2024-01-01x", MB_EDATA);
    round_trip("timestamp", "2024-03-01 12:34:56", "2024-03-01 12:34:56");
    round_trip("timestamp", "2024-03-01T12:34:56.5", "2024-03-01 12:34:56.5");
    round_trip("timestamp", "2024-03-01T12:34:56.123456789", "2024-03-01 12:34:56.123456");
    round_trip("timestamp", "2024-03-01 00:30:00+01:00", "2024-02-29 23:30:00");
    round_trip("timestamp", "2024-03-01 12:00Z", "2024-03-01 12:00:00");
    round_trip("timestamp", "2024-03-01", "2024-03-01 00:00:00");
    round_trip("timestamp", "1969-12-31 23:59:59.999999", "1969-12-31 23:59:59.999999");
    refused("timestamp", "2024-03-01 24:00:00", MB_EDATA);
    refused("timestamp", "2024-03-01 12:3", MB_EDATA);
    refused("timestamp", "2024-03-01 12:30:00.", MB_EDATA);
}

static void calendar(void)
{
    int64_t y = 1600, bad = 0;
    unsigned m = 1, d = 1;
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = mb_sql_days_from_civil(1600, 1, 1);

    /* Walk 1600-01-01 .. 2400-12-31 a day at a time. */
    for (int64_t z = first; y <= 2400; z++) {
        int64_t yy;
        unsigned mm, dd;
        mb_sql_civil_from_days(z, &yy, &mm, &dd);
        if (yy != y || mm != m || dd != d || mb_sql_days_from_civil(y, m, d) != z)
            bad++;
        unsigned len = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100) || y % 400 == 0));
        if (++d > len) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    ok(bad == 0, "days <-> civil agree with a day-by-day walk over 801 years (%lld bad)",
       (long long)bad);
    ok(mb_sql_days_from_civil(1970, 1, 1) == 0, "1970-01-01 is day 0");
}

static mb_sql_dtype sniff(const char *const *cellv)
{
    mb_sql_sniff s;
    mb_sql_sniff_init(&s);
    for (; *cellv; cellv++)
        mb_sql_sniff_add(&s, *cellv, strlen(*cellv));
    return mb_sql_sniff_result(&s);
}

static void sniffing(void)
{
    static const char *const ints[] = {"1", "-2", "", "300", NULL};
    static const char *const decs[] = {"1", "2.5", "-3.125", NULL};
    static const char *const dbls[] = {"1", "2.5e3", NULL};
    static const char *const longdec[] = {"1234567890.123456789", NULL};
    static const char *const bools[] = {"true", "FALSE", "", NULL};
    static const char *const dates[] = {"2024-01-01", "1999-12-31", NULL};
    static const char *const tss[] = {"2024-01-01", "2024-01-01 10:00:00", NULL};
    static const char *const strs[] = {"1", "x", NULL};
    static const char *const empty[] = {"", " ", NULL};
    static const char *const zeroone[] = {"0", "1", NULL};
    char name[32];
    struct {
        const char *const *cells;
        const char *want;
    } cases[] = {
        {ints, "BIGINT"},     {decs, "DECIMAL(18,3)"}, {dbls, "DOUBLE"},
        {longdec, "DOUBLE"},  {bools, "BOOLEAN"},      {dates, "DATE"},
        {tss, "TIMESTAMP"},   {strs, "VARCHAR"},       {empty, "VARCHAR"},
        {zeroone, "BIGINT"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        (void)mb_sql_dtype_name(sniff(cases[i].cells), name, sizeof name);
        is_str(name, cases[i].want, "sniff case %zu", i);
    }
}

/* Every double written must read back to itself, and no shorter text. */
static void double_shortest(void)
{
    uint64_t x = 88172645463325252u;
    int bad = 0;
    char out[64];
    for (int i = 0; i < 100000; i++) {
        double d;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(&d, &x, sizeof d);
        if (isnan(d) || isinf(d))
            continue;
        if (mb_format_double(d, out, sizeof out) != MB_OK || strtod(out, NULL) != d)
            bad++;
    }
    ok(bad == 0, "100000 random doubles read back exactly (%d bad)", bad);
    ok(mb_format_double(-0.0, out, sizeof out) == MB_OK && strcmp(out, "-0.0") == 0,
       "-0.0 keeps its sign (%s)", out);
    ok(mb_format_double(0.1, out, 3) == MB_ELIMIT, "a buffer too small is MB_ELIMIT");
}

int main(void)
{
    type_names();
    cells();
    calendar();
    sniffing();
    double_shortest();
    {
        mb_sql_value v = {0};
        char out[8] = "x";
        v.t = MB_SQL_T_BIGINT;
        v.null = true;
        ok(mb_sql_value_format(&v, out, sizeof out) == MB_OK && out[0] == '\0',
           "NULL writes the empty string");
        (void)T;
    }
    return tap_done();
}
