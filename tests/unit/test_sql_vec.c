/* test_sql_vec.c - sql/vec: the batch program against the row layer it
 * replaces on the hot path. Seeded random records (plain and unusual
 * numbers, dates, timestamps, NULLs, quoted and bad cells) go through both,
 * batch by batch as chunk.c drives them (a batch the program refuses goes
 * through the row layer record by record), and the group tables must be
 * byte-identical (keys, row counts, packed states), the first error the
 * same record with the same message. No I/O, no MPI. */
#include "sql/vec.h"

#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mb_sql_column cols[] = {
    {"k", {MB_SQL_T_VARCHAR, 0, 0}},   {"i", {MB_SQL_T_BIGINT, 0, 0}},
    {"d", {MB_SQL_T_DOUBLE, 0, 0}},    {"dt", {MB_SQL_T_DATE, 0, 0}},
    {"ts", {MB_SQL_T_TIMESTAMP, 0, 0}}, {"m", {MB_SQL_T_DECIMAL, 12, 2}},
    {"b", {MB_SQL_T_BOOLEAN, 0, 0}},
};
#define NCOLS MB_ARRAY_LEN(cols)
#define NREC 4000
#define BATCH 32

static uint64_t rng = 42;
static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rng >> 33) % n;
}

static char text[NREC][NCOLS][48];
static mb_cell cells[NREC][NCOLS];

/* One cell of column c: mostly plain values, some of every odd form that
 * parses; in the columns of bit mask `bad`, now and then one that does
 * not or that overflows. */
static void gen_cell(int c, char *out, size_t cap, int bad)
{
    static const char *const dbl_odd[] = {"0", "-0", "0.0", "100", "100.000", "0.0001",
                                          "0.00001", "1e5", "1.5E-3", " 2.5", "123456789012345",
                                          "1234567890123456", "0.1234567890123456", "12.",
                                          ".5", "+3.25", "-0.000", "9999999999999999",
                                          "1000000000000000", "10000000000000000",
                                          "0.30000000000000004", "007.250", "-0.00012"};
    static const char *const int_odd[] = {"0", "-0", "007", "+5", " 12", "999999999999999999",
                                          "-99999999999999999", "1000000000000000000"};
    static const char *const bad_cells[] = {"x1", "nan", "inf", "2023-02-29",
                                            "9223372036854775807", "-9223372036854775808"};
    unsigned r = rnd(1000);
    if (r < 60) {
        snprintf(out, cap, "%s", "");
        return;
    }
    if (((unsigned)bad >> c & 1) && r < 62) {
        snprintf(out, cap, "%s", bad_cells[rnd(MB_ARRAY_LEN(bad_cells))]);
        return;
    }
    switch (c) {
    case 0:
        snprintf(out, cap, "%c%c", "abcAB"[rnd(5)], "xyz"[rnd(3)]);
        break;
    case 1:
        if (r < 120)
            snprintf(out, cap, "%s", int_odd[rnd(MB_ARRAY_LEN(int_odd))]);
        else
            snprintf(out, cap, "%d", (int)rnd(2000) - 500);
        break;
    case 2:
        if (r < 200)
            snprintf(out, cap, "%s", dbl_odd[rnd(MB_ARRAY_LEN(dbl_odd))]);
        else
            snprintf(out, cap, "%s%u.%0*u", rnd(3) ? "" : "-", rnd(100000), (int)rnd(7) + 1,
                     rnd(1000000));
        break;
    case 3:
        if (r < 100)
            snprintf(out, cap, "%s", r < 80 ? " 2024-02-29" : "2024-02-29 ");
        else
            snprintf(out, cap, "%04u-%02u-%02u", 1990 + rnd(40), 1 + rnd(12), 1 + rnd(28));
        break;
    case 4:
        snprintf(out, cap, "2024-%02u-%02u%c%02u:%02u:%02u.%u", 1 + rnd(12), 1 + rnd(28),
                 rnd(2) ? 'T' : ' ', rnd(24), rnd(60), rnd(60), rnd(1000000));
        break;
    case 5:
        snprintf(out, cap, "%d.%u", (int)rnd(2000) - 1000, rnd(1000));
        break;
    default:
        snprintf(out, cap, "%s", rnd(2) ? "true" : "false");
        break;
    }
}

static void gen(int bad)
{
    for (size_t i = 0; i < NREC; i++)
        for (size_t c = 0; c < NCOLS; c++) {
            gen_cell((int)c, text[i][c], sizeof text[i][c], bad);
            cells[i][c].p = text[i][c];
            cells[i][c].len = strlen(text[i][c]);
            cells[i][c].quoted = 0;
            cells[i][c].escaped = 0;
        }
}

/* Runs the records through the row layer alone (vec NULL) or in batches
 * through the program; returns the index of the record that failed, or
 * NREC, with its message in msg. */
static size_t run(mb_sql_rows *r, mb_sql_vec *v, mb_groups *g, char *msg, size_t cap)
{
    mb_buf key;
    mb_err e = {0};
    size_t fail = NREC;
    mb_buf_init(&key, (size_t)1 << 20);
    msg[0] = '\0';
    for (size_t a = 0; a < NREC && fail == NREC; a += BATCH) {
        size_t n = NREC - a < BATCH ? NREC - a : BATCH;
        if (v && mb_sql_vec_apply(v, &cells[a][0], NCOLS, n, &e) == MB_OK) {
            size_t kept = mb_sql_vec_kept(v);
            mb_sql_vec_prefetch(v, g);
            for (size_t j = 0; j < kept; j++)
                if (mb_sql_vec_locate(v, j, g, &e) != MB_OK) {
                    fail = a + mb_sql_vec_record(v, j);
                    snprintf(msg, cap, "%s", e.msg);
                    kept = 0;
                    break;
                }
            for (size_t j = 0; j < kept; j++)
                if (mb_sql_vec_fold(v, j, g, &e) != MB_OK) {
                    fail = a + mb_sql_vec_record(v, j);
                    snprintf(msg, cap, "%s", e.msg);
                    break;
                }
            continue;
        }
        for (size_t i = a; i < a + n; i++) {
            bool keep;
            key.len = 0;
            if (mb_sql_rows_apply(r, cells[i], &keep, &key, &e) != MB_OK ||
                (keep && mb_sql_rows_fold(r, g, key.p, key.len, &e) != MB_OK)) {
                fail = i;
                snprintf(msg, cap, "%s", e.msg);
                break;
            }
        }
    }
    mb_buf_fini(&key);
    return fail;
}

static void check(const char *sql, int bad)
{
    mb_err e = {0};
    mb_sql_query *q = NULL;
    mb_sql_plan *p = NULL;
    mb_sql_rows r;
    mb_sql_vec *v = NULL;
    mb_groups g1, g2;
    char m1[MB_ERR_MAX], m2[MB_ERR_MAX];
    size_t f1, f2, same = 0;

    if (mb_sql_parse(sql, "--sql", &q, &e) != MB_OK ||
        mb_sql_bind(q, cols, NCOLS, &p, &e) != MB_OK) {
        ok(0, "%s binds: %s", sql, e.msg);
        mb_sql_query_free(q);
        return;
    }
    gen(bad);
    if (mb_sql_rows_init(&r, p, &e) != MB_OK || mb_sql_vec_new(&r, &v, &e) != MB_OK || !v) {
        ok(0, "%s: the batch program builds (%s)", sql, e.msg);
        mb_sql_plan_free(p);
        mb_sql_query_free(q);
        return;
    }
    mb_groups_init(&g1, r.needs, r.nacc, (size_t)1 << 28);
    mb_groups_init(&g2, r.needs, r.nacc, (size_t)1 << 28);
    f1 = run(&r, NULL, &g1, m1, sizeof m1);
    f2 = run(&r, v, &g2, m2, sizeof m2);
    if (g1.n == g2.n && f1 == f2 && strcmp(m1, m2) == 0) {
        mb_buf b1, b2;
        mb_buf_init(&b1, (size_t)1 << 20);
        mb_buf_init(&b2, (size_t)1 << 20);
        for (size_t gi = 0; gi < g1.n; gi++) {
            b1.len = b2.len = 0;
            if (mb_groups_pack(&g1, gi, &b1) == MB_OK && mb_groups_pack(&g2, gi, &b2) == MB_OK &&
                b1.len == b2.len && memcmp(b1.p, b2.p, b1.len) == 0)
                same++;
        }
        mb_buf_fini(&b1);
        mb_buf_fini(&b2);
    }
    ok(g1.n > 0 && same == g1.n && f1 == f2 && strcmp(m1, m2) == 0,
       "%s%s: %zu of %zu groups byte-identical, stop at record %zu/%zu (%s | %s)",
       bad ? "[bad cells] " : "", sql, same, g1.n, f1, f2, m1, m2);
    mb_groups_fini(&g1);
    mb_groups_fini(&g2);
    mb_sql_vec_free(v);
    mb_sql_rows_fini(&r);
    mb_sql_plan_free(p);
    mb_sql_query_free(q);
}

int main(void)
{
    static const char *const queries[] = {
        "SELECT k, count(*), sum(d), avg(d), min(d), max(d), stddev(d), sum(i), min(dt), "
        "max(ts), avg(m), count(b) FROM input GROUP BY k",
        "SELECT i, count(*), sum(d), var_pop(d) FROM input GROUP BY i",
        "SELECT k, sum(d) FILTER (WHERE b), max(i) FILTER (WHERE NOT b), count(*) FROM input "
        "GROUP BY k",
        "SELECT dt, i % 7, count(*), sum(i * 3 - 1), avg(d) FILTER (WHERE b) FROM input "
        "WHERE i > 10 AND d < 5000 GROUP BY dt, i % 7",
        "SELECT strftime(ts, '%Y-%m-%d %H:%M:%S.%f %j'), date_trunc('month', dt), count(*), "
        "sum(i + 1) FROM input WHERE k LIKE 'a%' OR i IS NULL GROUP BY 1, 2",
        "SELECT CASE WHEN i > 0 THEN 'p' ELSE 'n' END, sum(CASE WHEN i <> 0 THEN 100 // i END), "
        "max(coalesce(d, 0)), bool_or(b), min(ts) FROM input GROUP BY 1",
        "SELECT upper(k) || '-' || (1 + 2), count(*), sum(d * 2), avg(d + 0.5), "
        "sum(CAST(d AS DECIMAL(30,3))) FROM input WHERE NOT (d IS NULL) GROUP BY 1",
        "SELECT count(*), sum(i * i), max(i - 9223372036854775806) FROM input",
        "SELECT i % 20 < 10, i % 20 <= 10, i % 20 = 10, i % 20 <> 10, i % 20 > 10, "
        "i % 20 >= 10, k < 'bx', k >= 'bx', dt < ts, b AND i % 3 = 0, b OR i % 3 = 0, "
        "NOT b, count(*) FROM input GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12",
        "SELECT ts, dt, i, m, count(*), max(d) FROM input GROUP BY ts, dt, i, m",
        "SELECT strftime(dt, '%Y/%m/%d %H%M%S'), strftime(ts, 'T%Y-%m %H:%M:%S'), "
        "strftime(dt - 800000, '%Y-%m'), count(*), count(strftime(ts, '%%%Y')) FROM input "
        "GROUP BY 1, 2, 3",
        "SELECT date_trunc('hour', ts), count(*), min(m), sum(m) FROM input "
        "WHERE ts BETWEEN '2024-03-01' AND '2024-09-01' GROUP BY 1",
        /* strings of min/max: bare, made, filtered, all NULL in a group */
        "SELECT i % 5, min(k), max(k), max(upper(k) || '|' || i) FILTER (WHERE b), "
        "min(CASE WHEN i > 0 THEN k END), count(k) FROM input GROUP BY 1",
        "SELECT k, min(k), max(strftime(ts, '%Y-%m')) FROM input WHERE k <> 'ab' GROUP BY k",
        /* nullif's kernel: strings, integers, doubles, NULL on either side */
        "SELECT nullif(k, 'ab'), nullif(k, ''), nullif(i % 3, 0), count(*), "
        "sum(nullif(d, 0.5)), count(nullif(b, true)) FROM input GROUP BY 1, 2, 3",
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(queries); i++) {
        check(queries[i], 0);
        check(queries[i], 0x7f);
    }
    /* A cell the row path parses for every record WHERE keeps is an error
     * even where the aggregate's FILTER says no. */
    check("SELECT k, sum(d) FILTER (WHERE b), max(i) FILTER (WHERE NOT b), count(*) FROM input "
          "GROUP BY k", 1 << 1 | 1 << 2);
    check("SELECT k, sum(d) FILTER (WHERE b), max(i) FILTER (WHERE NOT b), count(*) FROM input "
          "GROUP BY k", 1 << 2);
    return tap_done();
}
