/* test_agg.c - TAP tests for aggregate lists, exact decimals and exact states.
 * Does not test CSV parsing or grouping; `test_agg bench` times mb_num_add
 * instead of testing. */
#include "agg/agg.h"
#include "agg/bigint.h"

#include "tap.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define ALL_NEEDS (MB_NEED_SUM | MB_NEED_SUMSQ | MB_NEED_MINMAX)

/* ---- helpers --------------------------------------------------------- */

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t rnd(void)    /* xorshift64*: reproducible across platforms */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

static mb_status add_text(mb_numstate *s, const char *text, unsigned need)
{
    mb_dec d;
    mb_status st = mb_dec_parse(text, strlen(text), &d, NULL);
    return st != MB_OK ? st : mb_num_add(s, &d, need, NULL);
}

/* Builds a state from texts; returns 0 on success. */
static int build(mb_numstate *s, const char *const *vals, size_t n)
{
    mb_num_init(s);
    for (size_t i = 0; i < n; i++)
        if (add_text(s, vals[i], ALL_NEEDS) != MB_OK)
            return -1;
    return 0;
}

static char fmtbuf[128];

static const char *fmt(const mb_numstate *s, mb_agg_kind k, int int_column)
{
    if (mb_num_format(s, k, int_column, fmtbuf, sizeof fmtbuf) != MB_OK)
        return "(format failed)";
    return fmtbuf;
}

/* ---- aggregate lists ------------------------------------------------- */

static void test_parse_list_ok(void)
{
    mb_aggspec *a;
    size_t n;
    mb_err err;
    mb_status st;

    st = mb_agg_parse_list("count(*), sum(x), mean(x)", &a, &n, &err);
    ok(st == MB_OK && n == 3, "plain list parses into three aggregates");
    if (st == MB_OK && n == 3) {
        ok(a[0].kind == MB_AGG_COUNT_STAR && a[0].column == NULL, "count(*) has no column");
        is_str(a[1].column, "x", "sum column");
        is_str(a[2].text, "mean(x)", "text as written");
    }
    mb_agg_list_free(a, n);

    st = mb_agg_parse_list("  COUNT ( * ) ,Avg( dep delay ) ,\tStdDev(y),count(z),"
                           "MIN(a),max(b),var(c)  ",
                           &a, &n, &err);
    ok(st == MB_OK && n == 7, "case-insensitive, whitespace-tolerant list");
    if (st == MB_OK && n == 7) {
        ok(a[0].kind == MB_AGG_COUNT_STAR, "COUNT ( * ) is count(*)");
        ok(a[1].kind == MB_AGG_MEAN, "avg is an alias of mean");
        is_str(a[1].column, "dep delay", "column with inner space, trimmed");
        is_str(a[1].text, "Avg( dep delay )", "item text trimmed, inner spacing kept");
        is_str(a[0].text, "COUNT ( * )", "count(*) text as written");
        ok(a[2].kind == MB_AGG_STDDEV && a[3].kind == MB_AGG_COUNT && a[4].kind == MB_AGG_MIN &&
               a[5].kind == MB_AGG_MAX && a[6].kind == MB_AGG_VAR,
           "stddev, count(col), min, max, var kinds");
        is_str(a[3].column, "z", "count(col) keeps its column");
        is_str(a[6].text, "var(c)", "last item text has no trailing space");
    }
    mb_agg_list_free(a, n);
    mb_agg_list_free(NULL, 0);
    ok(1, "mb_agg_list_free(NULL) does nothing");
}

static void test_parse_list_errors(void)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"count(*),  median(x)", "column 12: unknown aggregate 'median'"},
        {"sum(", "column 5: expected ')'"},
        {"sum(x", "column 6: expected ')'"},
        {"sum(x, y)", "column 6: expected ')'"},
        {"", "column 1: empty aggregate list"},
        {"   ", "column 1: empty aggregate list"},
        {"count()", "column 7: count() needs a column or '*'"},
        {"sum(  )", "column 5: sum() needs a column"},
        {"sum(*)", "column 5: '*' is only allowed in count(*)"},
        {"max( * )", "column 6: '*' is only allowed in count(*)"},
        {"count(*),,sum(x)", "column 10: expected an aggregate name"},
        {"count(*),", "column 10: expected an aggregate name"},
        {"sum x", "column 5: expected '(' after 'sum'"},
        {"sum(x) y", "column 8: expected ',' or the end of the list"},
        {"sum(a(b))", "column 6: expected ')'"},
        {"(x)", "column 1: expected an aggregate name"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        mb_aggspec *a = (mb_aggspec *)&a;
        size_t n = 99;
        mb_err err;
        mb_status st;

        mb_err_clear(&err);
        st = mb_agg_parse_list(cases[i].text, &a, &n, &err);
        ok(st == MB_EJOB && a == NULL && n == 0, "'%s' is rejected as a job error", cases[i].text);
        is_str(err.msg, cases[i].msg, "error message for '%s'", cases[i].text);
    }
}

static void test_needs(void)
{
    ok(mb_agg_needs(MB_AGG_COUNT) == MB_NEED_COUNT && mb_agg_needs(MB_AGG_COUNT_STAR) == 0,
       "counts need nothing but n");
    ok(mb_agg_needs(MB_AGG_SUM) == MB_NEED_SUM && mb_agg_needs(MB_AGG_MEAN) == MB_NEED_SUM,
       "sum and mean need the sum");
    ok((mb_agg_needs(MB_AGG_VAR) & MB_NEED_SUMSQ) && (mb_agg_needs(MB_AGG_STDDEV) & MB_NEED_SUM),
       "var and stddev need sum and sum of squares");
    ok(mb_agg_needs(MB_AGG_MIN) == MB_NEED_MINMAX && mb_agg_needs(MB_AGG_MAX) == MB_NEED_MINMAX,
       "min and max need the extremes");
}

/* ---- decimals -------------------------------------------------------- */

static int dec_is(const char *text, const char *m, int32_t scale, int nonint)
{
    mb_dec d;
    mb_bigint b;
    uint64_t w[2];
    char buf[64];
    mb_i128 v;

    if (mb_dec_parse(text, strlen(text), &d, NULL) != MB_OK)
        return 0;
    v = d.m < 0 ? -d.m : d.m;
    w[0] = (uint64_t)(mb_u128)v;
    w[1] = (uint64_t)((mb_u128)v >> 64);
    mb_bigint_set_limbs(&b, w, 2);
    if (mb_bigint_format(&b, d.m < 0, buf, sizeof buf) != 0)
        return 0;
    if (strcmp(buf, m) != 0 || d.scale != scale || (d.nonint != 0) != nonint) {
        printf("#   '%s': got m=%s scale=%d nonint=%d\n", text, buf, (int)d.scale, d.nonint);
        return 0;
    }
    return 1;
}

static void test_dec_parse_ok(void)
{
    static const struct {
        const char *text, *m;
        int32_t scale;
        int nonint;
    } cases[] = {
        {"1e5", "100000", 0, 1},
        {".5", "5", 1, 1},
        {"5.", "5", 0, 1},
        {"-0", "0", 0, 0},
        {"+3", "3", 0, 0},
        {"1.50", "15", 1, 1},
        {"1E-3", "1", 3, 1},
        {"  42\t", "42", 0, 0},
        {"-12.340", "-1234", 2, 1},
        {"0.000", "0", 0, 1},
        {"1.5e3", "1500", 0, 1},
        {"1500e-3", "15", 1, 1},
        {"00012", "12", 0, 0},
        {"100", "100", 0, 0},
        {"-100.25", "-10025", 2, 1},
        {"12345678901234567890123456789012345678", "12345678901234567890123456789012345678", 0, 0},
        {"-99999999999999999999999999999999999999", "-99999999999999999999999999999999999999", 0,
         0},
        {"0000000000000000000000000000000000000000001", "1", 0, 0},
        {"1e37", "10000000000000000000000000000000000000", 0, 1},
        {"1e-38", "1", 38, 1},
        {"0.00000000000000000000000000000000000001", "1", 38, 1},
        {"1.000000000000000000000000000000000000000000000", "1", 0, 1},
        {"0e999999999999", "0", 0, 1},
        {"123.456e-2", "123456", 5, 1},
        {"9999999999999999999", "9999999999999999999", 0, 0},
        {"18446744073709551615", "18446744073709551615", 0, 0},
        {"-9223372036854775808", "-9223372036854775808", 0, 0},
        {"0.12345678901234567890", "1234567890123456789", 19, 1},
        {"1234567890.1234567890123", "12345678901234567890123", 13, 1},
        {"0.00000000000000000000000000000000000100", "1", 36, 1},
        {"0000000000000000000000012345678901234567890123", "12345678901234567890123", 0, 0},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++)
        ok(dec_is(cases[i].text, cases[i].m, cases[i].scale, cases[i].nonint),
           "'%s' parses to %s * 10^-%d", cases[i].text, cases[i].m, (int)cases[i].scale);
}

static void test_dec_parse_errors(void)
{
    static const char *const bad[] = {"",    "-",    "1e",  "inf", "nan",  "0x10", "1,5",
                                      "1 2", ".",    "e5",  "1e+", "1.2.3", "--1", " ",
                                      "1e5.5", "+-1", "1e5e5", "12a", "NaN", "-inf"};
    static const char *const big[] = {
        "123456789012345678901234567890123456789", "1e38", "1e-39", "1e999999999999",
        "1e-999999999999", "0.000000000000000000000000000000000000001",
        "99999999999999999999999999999999999999.5"};
    mb_dec d;
    mb_err err;

    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        mb_err_clear(&err);
        ok(mb_dec_parse(bad[i], strlen(bad[i]), &d, &err) == MB_EDATA && err.msg[0] != '\0',
           "'%s' is not a number (MB_EDATA with message)", bad[i]);
    }
    for (size_t i = 0; i < MB_ARRAY_LEN(big); i++) {
        mb_err_clear(&err);
        ok(mb_dec_parse(big[i], strlen(big[i]), &d, &err) == MB_ERANGE && err.msg[0] != '\0',
           "'%.20s' is out of the exact range (MB_ERANGE)", big[i]);
    }
    ok(mb_dec_parse("12", 1, &d, NULL) == MB_OK && d.m == 1, "length bounds the text");
    mb_err_clear(&err);
    mb_dec_parse("abc", 3, &d, &err);
    is_str(err.msg, "'abc' is not a number", "message quotes the text");
}

/* ---- known answers --------------------------------------------------- */

typedef struct answer {
    const char *vals[8];
    size_t n;
    int int_column;
    const char *sum, *mean, *min, *max, *var, *stddev;
} answer;

static void check_answer(const answer *a)
{
    mb_numstate s;
    char name[64], count[32];

    snprintf(name, sizeof name, "%s,%s%s", a->vals[0], a->n > 1 ? a->vals[1] : "",
             a->n > 2 ? ",..." : "");
    if (!ok(build(&s, a->vals, a->n) == 0, "[%s] values add", name))
        return;
    snprintf(count, sizeof count, "%zu", a->n);
    is_str(fmt(&s, MB_AGG_COUNT, 0), count, "[%s] count", name);
    is_str(fmt(&s, MB_AGG_SUM, a->int_column), a->sum, "[%s] sum", name);
    is_str(fmt(&s, MB_AGG_MEAN, a->int_column), a->mean, "[%s] mean", name);
    is_str(fmt(&s, MB_AGG_MIN, a->int_column), a->min, "[%s] min", name);
    is_str(fmt(&s, MB_AGG_MAX, a->int_column), a->max, "[%s] max", name);
    is_str(fmt(&s, MB_AGG_VAR, a->int_column), a->var, "[%s] var", name);
    is_str(fmt(&s, MB_AGG_STDDEV, a->int_column), a->stddev, "[%s] stddev", name);
}

/* Expected strings are Python's repr(float(Fraction(...))) (correctly
 * rounded, shortest round trip) and repr(math.sqrt(float(var))); exact
 * integers by hand. */
static const answer answers[] = {
    {{"1", "2", "3", "4"}, 4, 1, "10", "2.5", "1", "4", "1.6666666666666667",
     "1.2909944487358056"},
    {{"1", "2", "3"}, 3, 1, "6", "2.0", "1", "3", "1.0", "1.0"},
    {{"-5", "3", "-2.5"}, 3, 0, "-4.5", "-1.5", "-5.0", "3.0", "16.75", "4.092676385936225"},
    {{"1", "1.5", "2.25"}, 3, 0, "4.75", "1.5833333333333333", "1.0", "2.25",
     "0.3958333333333333", "0.6291528696058958"},
    {{"9223372036854775807", "9223372036854775807", "10"}, 3, 1, "18446744073709551624",
     "6.148914691236517e+18", "10", "9223372036854775807", "2.8356863910078204e+37",
     "5.325116328314171e+18"},
    {{"9223372036854775807", "9223372036854775807", "10"}, 3, 0, "1.8446744073709552e+19",
     "6.148914691236517e+18", "10.0", "9.223372036854776e+18", "2.8356863910078204e+37",
     "5.325116328314171e+18"},
    {{"-9223372036854775807", "-9223372036854775807", "-10"}, 3, 1, "-18446744073709551624",
     "-6.148914691236517e+18", "-9223372036854775807", "-10", "2.8356863910078204e+37",
     "5.325116328314171e+18"},
    {{"99999999999999999999999999999999999999", "-12345678901234567890123456789012345678",
      "1e37"},
     3, 0, "9.765432109876543e+37", "3.2551440366255144e+37", "-1.2345678901234568e+37",
     "1e+38", "3.536813488889397e+75", "5.947111474396118e+37"},
    {{"0.1", "0.2"}, 2, 0, "0.3", "0.15",
     "0.1", "0.2", "0.005",
     "0.07071067811865475"},
    {{"0.1", "0.1", "0.1", "0.1", "0.1", "0.1", "0.1", "0.1"}, 8, 0, "0.8",
     "0.1", "0.1", "0.1", "0.0", "0.0"},
    {{"7.3", "7.3", "7.3", "7.3", "7.3"}, 5, 0, "36.5", "7.3",
     "7.3", "7.3", "0.0", "0.0"},
    {{"1e-30", "1e-30", "1e-30", "2e-30"}, 4, 0, "5e-30",
     "1.25e-30", "1e-30", "2e-30",
     "2.5e-61", "4.9999999999999995e-31"},
    {{"0.123456", "1.000001", "-3.999999", "123456.654321"}, 4, 0, "123453.777779",
     "30863.44444475", "-3.999999", "123456.654321", "3810445567.057815",
     "61728.8066226605"},
    /* Ties and sticky bits at 2^53: half-even down, half-even up, above half. */
    {{"9007199254740993"}, 1, 0, "9007199254740992.0", "9007199254740992.0", "9007199254740992.0",
     "9007199254740992.0", "", ""},
    {{"9007199254740995"}, 1, 0, "9007199254740996.0", "9007199254740996.0", "9007199254740996.0",
     "9007199254740996.0", "", ""},
    {{"9007199254740993.1"}, 1, 0, "9007199254740994.0", "9007199254740994.0", "9007199254740994.0",
     "9007199254740994.0", "", ""},
    {{"-0", "0"}, 2, 1, "0", "0.0", "0", "0", "0.0", "0.0"},
    {{"-0.0", "0.0"}, 2, 0, "0.0", "0.0", "0.0", "0.0", "0.0", "0.0"},
};

static void test_known_answers(void)
{
    mb_numstate s;
    static const char *const tenth[10] = {"0.1", "0.1", "0.1", "0.1", "0.1",
                                          "0.1", "0.1", "0.1", "0.1", "0.1"};

    for (size_t i = 0; i < MB_ARRAY_LEN(answers); i++)
        check_answer(&answers[i]);
    build(&s, tenth, 10);
    is_str(fmt(&s, MB_AGG_SUM, 0), "1.0", "sum of ten 0.1 is exactly 1");
    ok(s.nonint == 1 && s.scale == 1, "0.1 marks the state non-integer at scale 1");
}

static void test_nulls(void)
{
    mb_numstate s;
    static const char *const one[] = {"42"};

    mb_num_init(&s);
    is_str(fmt(&s, MB_AGG_COUNT, 0), "0", "count of nothing is 0");
    is_str(fmt(&s, MB_AGG_SUM, 1), "", "sum of nothing is NULL");
    is_str(fmt(&s, MB_AGG_MEAN, 0), "", "mean of nothing is NULL");
    is_str(fmt(&s, MB_AGG_MIN, 0), "", "min of nothing is NULL");
    is_str(fmt(&s, MB_AGG_MAX, 1), "", "max of nothing is NULL");
    is_str(fmt(&s, MB_AGG_VAR, 0), "", "var of nothing is NULL");
    build(&s, one, 1);
    is_str(fmt(&s, MB_AGG_SUM, 1), "42", "sum of one value");
    is_str(fmt(&s, MB_AGG_VAR, 0), "", "var of one value is NULL");
    is_str(fmt(&s, MB_AGG_STDDEV, 0), "", "stddev of one value is NULL");
    ok(mb_num_format(&s, MB_AGG_SUM, 1, fmtbuf, 2) == MB_ELIMIT && fmtbuf[0] == '\0',
       "too small a buffer is MB_ELIMIT and leaves an empty string");
    ok(mb_num_format(&s, MB_AGG_MEAN, 0, fmtbuf, 2) == MB_ELIMIT, "same for doubles");
    ok(mb_num_format(&s, MB_AGG_SUM, 1, fmtbuf, 3) == MB_OK, "exactly enough room is fine");
    mb_num_init(&s);
    mb_num_count(&s);
    mb_num_count(&s);
    is_str(fmt(&s, MB_AGG_COUNT, 0), "2", "mb_num_count counts");
}

/* A state read back from a damaged checkpoint must not crash or loop. */
static void test_corrupt_state(void)
{
    mb_numstate good, bad;
    static const char *const v[] = {"1.5", "2"};
    mb_err err;

    build(&good, v, 2);
    bad = good;
    bad.scale = 1000;
    mb_err_clear(&err);
    ok(mb_num_merge(&good, &bad, ALL_NEEDS, &err) == MB_EINTERNAL && err.msg[0] != '\0',
       "merging a state with scale 1000 is MB_EINTERNAL");
    ok(mb_num_format(&bad, MB_AGG_MEAN, 0, fmtbuf, sizeof fmtbuf) == MB_EINTERNAL &&
           fmtbuf[0] == '\0',
       "formatting it is MB_EINTERNAL with an empty result");
    bad = good;
    bad.n = -3;
    ok(mb_num_merge(&bad, &good, ALL_NEEDS, NULL) == MB_EINTERNAL, "negative n is rejected");
    bad = good;
    memset(bad.sumsq.w, 0, sizeof bad.sumsq.w);
    ok(mb_num_format(&bad, MB_AGG_VAR, 0, fmtbuf, sizeof fmtbuf) == MB_EINTERNAL,
       "a sum of squares below sum^2/n is MB_EINTERNAL, not a negative variance");
}

/* ---- overflow -------------------------------------------------------- */

#define NINES38 "99999999999999999999999999999999999999"

static void test_overflow(void)
{
    mb_numstate s, before, tiny;
    mb_err err;
    mb_dec d;
    int fails = 0;

    mb_num_init(&s);
    for (int i = 0; i < 6; i++)
        fails += add_text(&s, NINES38, ALL_NEEDS) != MB_OK;
    ok(fails == 0, "six 38-digit values add");
    before = s;
    mb_dec_parse("1e-38", 5, &d, NULL);
    mb_err_clear(&err);
    ok(mb_num_add(&s, &d, MB_NEED_SUM, &err) == MB_ERANGE, "rescaling past 256 bits: MB_ERANGE");
    ok(memcmp(&s, &before, sizeof s) == 0, "state unchanged after the overflow");
    ok(strstr(err.msg, "out of range") != NULL, "overflow message says so: %s", err.msg);

    mb_num_init(&tiny);
    add_text(&tiny, "1e-38", ALL_NEEDS);
    ok(mb_num_merge(&s, &tiny, ALL_NEEDS, &err) == MB_ERANGE, "merge overflow: MB_ERANGE");
    ok(memcmp(&s, &before, sizeof s) == 0, "merge destination unchanged after the overflow");

    mb_num_init(&s);
    for (int i = 0; i < 3; i++)
        add_text(&s, NINES38, ALL_NEEDS);
    ok(add_text(&s, "1e-38", ALL_NEEDS) == MB_OK, "three 38-digit values rescale by 10^38 fine");
    is_str(fmt(&s, MB_AGG_SUM, 0), "3e+38", "and their sum is right");

    mb_num_init(&s);
    s.n = INT64_MAX;
    before = s;
    ok(add_text(&s, "1", ALL_NEEDS) == MB_ERANGE && memcmp(&s, &before, sizeof s) == 0,
       "count overflow: MB_ERANGE, state unchanged");
    ok(mb_num_merge(&s, &tiny, ALL_NEEDS, &err) == MB_ERANGE, "count overflow in merge");
}

/* Sums that reach exactly 2^255 - 1: one more unit overflows on every path
 * (fast add, general add, merge), one less does not. */
static void test_overflow_edge(void)
{
    static const char *const max[] = {NINES38, NINES38, NINES38, NINES38, NINES38,
                                      "78960446186580977117854925043439539271",
                                      "0.34992332820282019728792003956564819967"};
    mb_numstate s, before, one;
    mb_err err;

    ok(build(&s, max, 7) == 0, "a sum of exactly 2^255 - 1 units of 10^-38 is in range");
    is_str(fmt(&s, MB_AGG_SUM, 0), "5.7896044618658096e+38", "... and formats");
    before = s;
    ok(add_text(&s, "1e-38", MB_NEED_SUM) == MB_ERANGE && !memcmp(&s, &before, sizeof s),
       "one more unit (fast path) overflows, state unchanged");
    ok(add_text(&s, "1e-38", ALL_NEEDS) == MB_ERANGE && !memcmp(&s, &before, sizeof s),
       "same with every accumulator maintained");
    ok(add_text(&s, "1", MB_NEED_SUM) == MB_ERANGE && !memcmp(&s, &before, sizeof s),
       "a rescaled value (general path) overflows, state unchanged");
    mb_num_init(&one);
    add_text(&one, "1e-38", ALL_NEEDS);
    mb_err_clear(&err);
    ok(mb_num_merge(&s, &one, ALL_NEEDS, &err) == MB_ERANGE && !memcmp(&s, &before, sizeof s),
       "merging one more unit overflows, destination unchanged");
    ok(strstr(err.msg, "sum") != NULL, "the message names the sum: %s", err.msg);
    ok(add_text(&s, "-1e-38", ALL_NEEDS) == MB_OK && add_text(&s, "1e-38", ALL_NEEDS) == MB_OK,
       "one unit less, then back to the maximum, is fine");

    /* A sum of squares at 2^511 - 1 cannot be reached by adding in any
     * reasonable time, but a state read from a checkpoint may hold it. */
    mb_num_init(&s);
    s.n = 1;
    memset(s.sumsq.w, 0xff, sizeof s.sumsq.w);
    s.sumsq.w[7] = INT64_MAX;
    before = s;
    ok(add_text(&s, "1", ALL_NEEDS) == MB_ERANGE && !memcmp(&s, &before, sizeof s),
       "sum of squares past 2^511 - 1 (fast path carry): MB_ERANGE, state unchanged");
    s.sumsq.w[7] = INT64_MAX - 1;
    ok(add_text(&s, "1", ALL_NEEDS) == MB_OK && s.sumsq.w[7] == (uint64_t)INT64_MAX &&
           s.sumsq.w[0] == 0 && s.sumsq.w[6] == 0,
       "one below carries through every limb");
}

/* The 128-bit fast path must carry into and borrow from the upper half of
 * the sum, and carry the sum of squares past 128 bits. */
static void test_carries(void)
{
    static const char *const to_2_128[] = {NINES38, NINES38, NINES38,
                                           "40282366920938463463374607431768211458"};
    static const char *const neg_2_128[] = {"-" NINES38, "-" NINES38, "-" NINES38,
                                            "-40282366920938463463374607431768211458"};
    mb_numstate s, m;

    build(&s, to_2_128, 4);
    is_str(fmt(&s, MB_AGG_SUM, 1), "340282366920938463463374607431768211455", "sum is 2^128 - 1");
    add_text(&s, "1", ALL_NEEDS);
    is_str(fmt(&s, MB_AGG_SUM, 1), "340282366920938463463374607431768211456", "+1 carries");
    add_text(&s, "-1", ALL_NEEDS);
    is_str(fmt(&s, MB_AGG_SUM, 1), "340282366920938463463374607431768211455", "-1 borrows");
    build(&s, neg_2_128, 4);
    add_text(&s, "-1", ALL_NEEDS);
    is_str(fmt(&s, MB_AGG_SUM, 1), "-340282366920938463463374607431768211456",
           "negative sum borrows past -2^128");
    add_text(&s, "2", ALL_NEEDS);
    is_str(fmt(&s, MB_AGG_SUM, 1), "-340282366920938463463374607431768211454", "and carries back");

    mb_num_init(&s);
    add_text(&s, "18446744073709551615", ALL_NEEDS);
    add_text(&s, "0", ALL_NEEDS);
    add_text(&s, "18446744073709551615", ALL_NEEDS);
    is_str(fmt(&s, MB_AGG_SUM, 1), "36893488147419103230", "sum of two 2^64 - 1");
    is_str(fmt(&s, MB_AGG_VAR, 1), "1.1342745564031281e+38", "var with squares past 2^128");
    is_str(fmt(&s, MB_AGG_STDDEV, 1), "1.0650232656628343e+19", "stddev likewise");
    mb_num_init(&m);
    add_text(&m, "18446744073709551615", ALL_NEEDS);
    {
        mb_numstate r;
        mb_num_init(&r);
        add_text(&r, "0", ALL_NEEDS);
        mb_num_merge(&m, &r, ALL_NEEDS, NULL);
        mb_num_init(&r);
        add_text(&r, "18446744073709551615", ALL_NEEDS);
        mb_num_merge(&m, &r, ALL_NEEDS, NULL);
    }
    ok(memcmp(&m, &s, sizeof s) == 0, "merged states equal the added state past 2^128");
}

/* ---- order independence ---------------------------------------------- */

#define NV 400

/* A random decimal text: mostly 6-decimal values, sometimes integers,
 * fewer places, huge magnitudes or exponents. */
static void random_value(char *buf, size_t cap)
{
    size_t kind = rnd_below(10);
    const char *sign = rnd_below(3) == 0 ? "-" : "";
    uint64_t a = rnd() % 1000000, b = rnd() % 1000000;

    if (kind < 5)
        snprintf(buf, cap, "%s%" PRIu64 ".%06" PRIu64, sign, a, b);
    else if (kind < 7)
        snprintf(buf, cap, "%s%" PRIu64, sign, rnd() >> rnd_below(64));
    else if (kind == 7)
        snprintf(buf, cap, "%s%" PRIu64 ".%02" PRIu64, sign, a, b % 100);
    else if (kind == 8)
        snprintf(buf, cap, "%s%" PRIu64 "%018" PRIu64 ".%" PRIu64, sign, rnd() % 100000,
                 rnd() % UINT64_C(1000000000000000000), b);
    else
        snprintf(buf, cap, "%s%" PRIu64 "e%d", sign, a, (int)rnd_below(20) - 12);
}

static void shuffle(size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd_below(i), t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* Adds vals[idx[lo..hi)] through a random tree of sub-states and merges. */
static int tree_state(mb_numstate *s, mb_dec *vals, size_t *idx, size_t lo, size_t hi)
{
    mb_numstate left, right;
    size_t mid;

    mb_num_init(s);
    if (hi - lo <= 8) {
        for (size_t i = lo; i < hi; i++)
            if (mb_num_add(s, &vals[idx[i]], ALL_NEEDS, NULL) != MB_OK)
                return -1;
        return 0;
    }
    mid = lo + 1 + rnd_below(hi - lo - 1);
    if (tree_state(&left, vals, idx, lo, mid) || tree_state(&right, vals, idx, mid, hi))
        return -1;
    if (rnd_below(2)) {
        *s = right;
        return mb_num_merge(s, &left, ALL_NEEDS, NULL) == MB_OK ? 0 : -1;
    }
    *s = left;
    return mb_num_merge(s, &right, ALL_NEEDS, NULL) == MB_OK ? 0 : -1;
}

static int same_output(const mb_numstate *a, const mb_numstate *b)
{
    static const mb_agg_kind kinds[] = {MB_AGG_COUNT, MB_AGG_SUM, MB_AGG_MEAN, MB_AGG_MIN,
                                        MB_AGG_MAX,   MB_AGG_VAR, MB_AGG_STDDEV};
    char x[128], y[128];

    for (size_t i = 0; i < MB_ARRAY_LEN(kinds); i++) {
        if (mb_num_format(a, kinds[i], 0, x, sizeof x) != MB_OK ||
            mb_num_format(b, kinds[i], 0, y, sizeof y) != MB_OK || strcmp(x, y) != 0)
            return 0;
    }
    return 1;
}

static void test_order_independence(void)
{
    static mb_dec vals[NV];
    static size_t idx[NV];
    mb_numstate ref, s;
    char buf[96];
    int bad_bytes = 0, bad_text = 0, bad_add = 0;
    int32_t maxscale = 0;

    for (size_t i = 0; i < NV; i++) {
        random_value(buf, sizeof buf);
        if (mb_dec_parse(buf, strlen(buf), &vals[i], NULL) != MB_OK)
            bad_add++;
        if (vals[i].scale > maxscale)
            maxscale = vals[i].scale;
        idx[i] = i;
    }
    ok(bad_add == 0, "%d random values parse", NV);
    tree_state(&ref, vals, idx, 0, 0);
    mb_num_init(&s);
    ok(memcmp(&ref, &s, sizeof s) == 0, "an empty tree is the initial state");
    mb_num_init(&ref);
    for (size_t i = 0; i < NV; i++)
        bad_add += mb_num_add(&ref, &vals[i], ALL_NEEDS, NULL) != MB_OK;
    for (int round = 0; round < 200; round++) {
        shuffle(idx, NV);
        if (round % 2 == 0) {
            mb_num_init(&s);
            for (size_t i = 0; i < NV; i++)
                bad_add += mb_num_add(&s, &vals[idx[i]], ALL_NEEDS, NULL) != MB_OK;
        } else {
            bad_add += tree_state(&s, vals, idx, 0, NV) != 0;
        }
        bad_bytes += memcmp(&s, &ref, sizeof s) != 0;
        bad_text += !same_output(&s, &ref);
    }
    ok(bad_add == 0, "no add or merge failed");
    ok(bad_bytes == 0, "200 orders and merge trees give identical state bytes (%d differ)",
       bad_bytes);
    ok(bad_text == 0, "... and identical formatted results (%d differ)", bad_text);
    ok(ref.scale == maxscale && maxscale > 6 && ref.nonint,
       "scale is the largest among the values (%d)", (int)maxscale);
}

/* Merging empty states, in either direction, is the identity. */
static void test_merge_identity(void)
{
    static const char *const v[] = {"1.25", "-3", "7e-3"};
    mb_numstate a, b, e;

    build(&a, v, 3);
    b = a;
    mb_num_init(&e);
    ok(mb_num_merge(&b, &e, ALL_NEEDS, NULL) == MB_OK && memcmp(&a, &b, sizeof a) == 0,
       "state (+) empty == state");
    ok(mb_num_merge(&e, &a, ALL_NEEDS, NULL) == MB_OK && memcmp(&a, &e, sizeof a) == 0,
       "empty (+) state == state");
}

/* ---- correct rounding cross-check ------------------------------------ */

/* num/den with both below 2^53 takes the one-division fast path; scaling
 * both by 5^40 gives the same rational through the exact slow path. */
static void test_ratio_paths(void)
{
    int bad = 0;

    for (int i = 0; i < 20000; i++) {
        uint64_t a = rnd() >> (11 + rnd_below(40)), b = (rnd() >> (11 + rnd_below(40))) | 1;
        mb_bigint num, den;
        double fast, slow;

        mb_bigint_set_u64(&num, a);
        mb_bigint_set_u64(&den, b);
        fast = mb_bigint_ratio(&num, &den);
        mb_bigint_mul_pow10(&num, 40);
        mb_bigint_mul_pow10(&den, 40);
        slow = mb_bigint_ratio(&num, &den);
        if (fast != (double)a / (double)b || slow != fast) {
            if (bad++ < 3)
                printf("#   %" PRIu64 "/%" PRIu64 ": fast %.17g slow %.17g\n", a, b, fast, slow);
        }
    }
    ok(bad == 0, "slow exact path agrees with IEEE division on 20000 ratios");
}

static void hex_bigint(mb_bigint *b, const char *hex)
{
    uint64_t w[MB_BIGINT_LIMBS] = {0};
    size_t end = strlen(hex), k = 0;

    for (; end > 0 && k < MB_BIGINT_LIMBS; k++) {
        size_t st = end > 16 ? end - 16 : 0;
        char t[17];
        memcpy(t, hex + st, end - st);
        t[end - st] = '\0';
        w[k] = strtoull(t, NULL, 16);
        end = st;
    }
    mb_bigint_set_limbs(b, w, k);
}

/* Wide ratios whose first quotient estimate is one too big (found by
 * instrumenting the correction step); expected values from Python's
 * float(Fraction(num, den)). */
static void test_ratio_wide(void)
{
    static const struct {
        const char *num, *den;
        double want;
    } cases[] = {
        {"a3725909a167c0a9d44b8fa99ec6b0703be5128c6cd6a85",
         "3741155dac57819cb6d226d646cc0adcf12a632b819f69", 0x1.7aa280bb5b661p+5},
        {"47f7bd1ae2792df3aab2b43487b9423dadd639912d2442c5a900c2224ea6ec4e93a62",
         "286ec73491a8f7194f71001", 0x1.c7a9fcbd4c001p+184},
        {"295a7a906ba0a845d67e9d7023e987dc3c2", "4308fb11348e66e45d65b6bfd3",
         0x1.3bd9526ea6f98p+35},
        /* here the uncorrected estimate would even round differently */
        {"149a8d03d0c01c395cc5c8176ed90cd39b08be13b56460fc183ebcb6a21dcf1e5d99e246",
         "2072e9f640849bbcb71a095bd5d", 0x1.45195cfb5d0f4p+179},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        mb_bigint num, den;
        double got;
        hex_bigint(&num, cases[i].num);
        hex_bigint(&den, cases[i].den);
        got = mb_bigint_ratio(&num, &den);
        ok(got == cases[i].want, "wide ratio %zu rounds correctly (%a)", i, got);
    }
}

static void test_bigint_format(void)
{
    mb_bigint a;
    char buf[200];
    uint64_t w[2] = {0, 1};

    mb_bigint_set_limbs(&a, w, 2);
    ok(mb_bigint_format(&a, 1, buf, sizeof buf) == 0 &&
           strcmp(buf, "-18446744073709551616") == 0,
       "2^64 prints exactly");
    mb_bigint_set_u64(&a, 1);
    mb_bigint_mul_pow10(&a, 100);
    ok(mb_bigint_format(&a, 0, buf, sizeof buf) == 0 && strlen(buf) == 101 && buf[0] == '1' &&
           strspn(buf + 1, "0") == 100,
       "10^100 prints exactly");
}

/* ---- benchmark ------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench(void)
{
    enum { N = 1 << 16, REPS = 200 };
    static mb_dec vals[N];
    static char text[N][24];
    mb_numstate s, all;
    double t0, t1, t2;
    size_t len[N];

    for (size_t i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "%s%" PRIu64 ".%06" PRIu64, rnd() % 4 ? "" : "-",
                 rnd() % 100000, rnd() % 1000000);
        len[i] = strlen(text[i]);
    }
    t0 = now();
    for (int r = 0; r < REPS; r++)
        for (size_t i = 0; i < N; i++)
            mb_dec_parse(text[i], len[i], &vals[i], NULL);
    t1 = now();
    mb_num_init(&s);
    for (int r = 0; r < REPS; r++)
        for (size_t i = 0; i < N; i++)
            mb_num_add(&s, &vals[i], ALL_NEEDS, NULL);
    t2 = now();
    all = s;
    printf("mb_dec_parse: %.2f ns/value\n", (t1 - t0) * 1e9 / ((double)N * REPS));
    printf("mb_num_add (sum+sumsq+minmax, 6 decimals): %.2f ns/value\n",
           (t2 - t1) * 1e9 / ((double)N * REPS));
    mb_num_init(&s);
    t1 = now();
    for (int r = 0; r < REPS; r++)
        for (size_t i = 0; i < N; i++)
            mb_num_add(&s, &vals[i], MB_NEED_SUM, NULL);
    t2 = now();
    printf("mb_num_add (sum only): %.2f ns/value\n", (t2 - t1) * 1e9 / ((double)N * REPS));
    t1 = now();
    for (int r = 0; r < 1000000; r++)
        mb_num_format(&all, (r & 1) ? MB_AGG_MEAN : MB_AGG_STDDEV, 0, fmtbuf, sizeof fmtbuf);
    t2 = now();
    printf("mb_num_format (mean/stddev): %.0f ns/call (%s)\n", (t2 - t1) * 1e3, fmtbuf);
    return 0;
}

/* The short-number fast path of mb_dec_parse against the general path: a
 * leading space keeps a text off the fast path, and the general path trims
 * it, so both must give the same status, digits, scale and flag. */
static void test_dec_fast_path(void)
{
    static const char alphabet[] = "0000123456789..-+e";
    size_t bad = 0, parsed = 0;

    for (int i = 0; i < 200000; i++) {
        char t[32], sp[34];
        size_t n = 1 + rnd_below(i % 4 ? 12 : 24);
        mb_dec a, b;
        mb_status sa, sb;

        for (size_t k = 0; k < n; k++)
            t[k] = alphabet[rnd_below(k == 0 ? sizeof alphabet - 1 : sizeof alphabet - 4)];
        t[n] = '\0';
        snprintf(sp, sizeof sp, " %s", t);
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        sa = mb_dec_parse(t, n, &a, NULL);
        sb = mb_dec_parse(sp, n + 1, &b, NULL);
        if (sa != sb || (sa == MB_OK && (a.m != b.m || a.scale != b.scale ||
                                         (a.nonint != 0) != (b.nonint != 0)))) {
            if (bad++ < 5)
                printf("# '%s': %d (scale %d) vs %d (scale %d)\n", t, (int)sa, (int)a.scale,
                       (int)sb, (int)b.scale);
        }
        parsed += sa == MB_OK;
    }
    ok(bad == 0 && parsed > 50000, "fast and general decimal parsing agree on 200000 random "
       "texts (%zu numbers, %zu differ)", parsed, bad);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return bench();
    test_parse_list_ok();
    test_parse_list_errors();
    test_needs();
    test_dec_parse_ok();
    test_dec_parse_errors();
    test_dec_fast_path();
    test_known_answers();
    test_nulls();
    test_corrupt_state();
    test_overflow();
    test_carries();
    test_overflow_edge();
    test_order_independence();
    test_merge_identity();
    test_ratio_paths();
    test_ratio_wide();
    test_bigint_format();
    return tap_done();
}
