/* test_sql_bind.c - sql/bind and sql/eval: how a query splits into its
 * row, state and group layers, every binder refusal with its position,
 * and the evaluator's documented rules that the DuckDB differential test
 * cannot pin down (three-valued logic in full, LIKE on hostile patterns,
 * overflow, substr before the string, the scratch cap); and the query a
 * --group-by/--agg plan stands for (cli/job.c) binds as that plan. No I/O,
 * no MPI. */
#include "cli/job.h"
#include "sql/eval.h"
#include "sql/plan.h"

#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mb_sql_column cols[] = {
    {"Origin", {MB_SQL_T_VARCHAR, 0, 0}}, {"delay", {MB_SQL_T_BIGINT, 0, 0}},
    {"fare", {MB_SQL_T_DECIMAL, 12, 2}},  {"dist", {MB_SQL_T_DOUBLE, 0, 0}},
    {"day", {MB_SQL_T_DATE, 0, 0}},       {"ts", {MB_SQL_T_TIMESTAMP, 0, 0}},
    {"ok", {MB_SQL_T_BOOLEAN, 0, 0}},
};
#define NCOLS MB_ARRAY_LEN(cols)

static mb_sql_plan *plan(const char *sql, mb_err *e)
{
    mb_sql_query *q = NULL;
    mb_sql_plan *p = NULL;
    if (mb_sql_parse(sql, "--sql", &q, e) == MB_OK)
        (void)mb_sql_bind(q, cols, NCOLS, &p, e);
    mb_sql_query_free(q);
    return p;
}

static void layers(void)
{
    mb_err e = {0};
    mb_sql_plan *p = plan("SELECT upper(origin) AS o, count(*), sum(delay) / count(*) AS m, "
                          "avg(fare) FILTER (WHERE ok), max(day) FROM input WHERE delay > 15 "
                          "GROUP BY upper(Origin) HAVING count(*) > 2 ORDER BY m DESC, 1 "
                          "LIMIT 5 OFFSET 1", &e);
    ok(p != NULL, "a grouped query binds (%s)", p ? "ok" : e.msg);
    if (!p)
        return;
    ok(p->nkeys == 1 && p->keys[0]->type.t == MB_SQL_T_VARCHAR, "one VARCHAR key");
    ok(p->naggs == 4, "count(*) in the select list and in HAVING share one state (%zu states)",
       p->naggs);
    ok(p->aggs[0].fn == MB_SQL_A_COUNT_STAR && p->aggs[1].fn == MB_SQL_A_SUM &&
           p->aggs[2].fn == MB_SQL_A_AVG && p->aggs[2].filter && p->aggs[3].fn == MB_SQL_A_MAX,
       "the states in order of appearance, the FILTER kept with its aggregate");
    ok(p->aggs[1].type.t == MB_SQL_T_DECIMAL && p->aggs[1].type.scale == 0,
       "sum(BIGINT) is an exact DECIMAL(38,0) (DuckDB's HUGEINT)");
    ok(p->aggs[2].type.t == MB_SQL_T_DOUBLE && p->aggs[3].type.t == MB_SQL_T_DATE,
       "avg is DOUBLE, max(DATE) a DATE");
    ok(p->outs[0].expr->kind == MB_SQL_E_KEY, "upper(origin) in the select list is the key "
       "upper(Origin) (names match case-insensitively)");
    ok(p->outs[2].expr->kind == MB_SQL_E_CALL && p->outs[2].expr->fn == MB_SQL_F_DIV &&
           p->outs[2].expr->type.t == MB_SQL_T_DOUBLE, "sum / count is DOUBLE division over states");
    ok(p->used[0] && p->used[1] && p->used[2] && !p->used[3] && p->used[4] && !p->used[5] &&
           p->used[6], "columns read: exactly those the row layer uses");
    ok(p->norder == 2 && p->order[0].expr == p->outs[2].expr && p->order[0].desc &&
           !p->order[0].nulls_first && p->order[1].expr == p->outs[0].expr,
       "ORDER BY an alias and a position reuse the select list; NULLS LAST by default");
    ok(p->limit == 5 && p->offset == 1 && p->having != NULL, "HAVING, LIMIT and OFFSET kept");
    ok(strstr(p->normal, "key1: upper(#1:Origin)->VARCHAR") &&
           strstr(p->normal, "agg3: avg(#3:fare) filter #7:ok->DOUBLE"),
       "the normal form names columns by position and type");
    printf("# %s", p->normal);
    mb_sql_plan_free(p);

    p = plan("SELECT count(*), min(delay) FROM input", &e);
    ok(p && p->nkeys == 0 && p->naggs == 2, "a global aggregate has no keys");
    mb_sql_plan_free(p);
    p = plan("SELECT max(origin), min(Origin), min(ok) FROM input", &e);
    ok(p && p->naggs == 3 && p->aggs[0].type.t == MB_SQL_T_VARCHAR &&
           p->aggs[1].type.t == MB_SQL_T_VARCHAR && p->aggs[2].type.t == MB_SQL_T_BOOLEAN,
       "min/max of VARCHAR are VARCHAR, of BOOLEAN BOOLEAN");
    mb_sql_plan_free(p);
    p = plan("SELECT DISTINCT origin, ok FROM input", &e);
    ok(p && p->nkeys == 2 && p->naggs == 0, "SELECT DISTINCT is GROUP BY its columns");
    mb_sql_plan_free(p);
    p = plan("SELECT day >= '2024-01-01' AS recent, count(*) FROM input GROUP BY recent", &e);
    ok(p && p->keys[0]->args[1]->kind == MB_SQL_E_CONST &&
           p->keys[0]->args[1]->type.t == MB_SQL_T_DATE,
       "a string constant compared with a DATE is a DATE constant; GROUP BY an alias");
    mb_sql_plan_free(p);
}

static void refused(const char *sql, const char *want)
{
    mb_err e = {0};
    mb_sql_plan *p = plan(sql, &e);
    ok(!p && e.code == MB_EUSAGE && strstr(e.msg, want) && e.col > 0, "%s -> %s", sql, e.msg);
    mb_sql_plan_free(p);
}

static void refusals(void)
{
    refused("SELECT origin, count(*) FROM input", "1:8: column 'origin' must appear in the GROUP BY");
    refused("SELECT count(*) FROM input WHERE sum(delay) > 1", "not allowed in WHERE");
    refused("SELECT sum(max(delay)) FROM input", "cannot be nested");
    refused("SELECT count(*) FROM input GROUP BY nope", "1:37: unknown column 'nope' (the input has: "
            "Origin, delay");
    refused("SELECT origin FROM input", "row-level query");
    refused("SELECT sum(origin) FROM input", "sum() takes a number, not VARCHAR");
    refused("SELECT count(*) FROM input WHERE day > 'yesterday'", "1:40: 'yesterday' is not a DATE");
    refused("SELECT count(*) FROM input WHERE delay", "WHERE must be BOOLEAN, not BIGINT");
    refused("SELECT count(*) FROM input GROUP BY 3", "position 3 is not in the select list");
    refused("SELECT count(*) FROM input GROUP BY count(*)", "GROUP BY cannot contain aggregates");
    refused("SELECT median(delay) FROM input", "median() is not supported yet");
    refused("SELECT count(DISTINCT delay) FROM input", "count(DISTINCT ...) is not supported yet");
    refused("SELECT frob(delay), count(*) FROM input GROUP BY 1", "unknown function frob()");
    refused("SELECT upper(delay), count(*) FROM input GROUP BY 1", "upper() takes VARCHAR, not BIGINT");
    refused("SELECT delay // 1.5, count(*) FROM input GROUP BY 1", "// takes integers");
    refused("SELECT date_trunc('fortnight', day), count(*) FROM input GROUP BY 1",
            "unknown date part 'fortnight'");
    refused("SELECT strftime(ts, '%Q'), count(*) FROM input GROUP BY 1", "unsupported conversion '%Q'");
    refused("SELECT round(fare, delay), count(*) FROM input GROUP BY 1", "must be an integer constant");
    refused("SELECT origin = delay, count(*) FROM input GROUP BY 1", "cannot compare VARCHAR and BIGINT");
    refused("SELECT count(*) FROM input HAVING origin = 'x'", "must appear in the GROUP BY");
    refused("SELECT substr(origin, 1, 2, 3), count(*) FROM input GROUP BY 1", "takes 2 to 3 arguments");
}

/* ---- evaluation ---- */

static mb_sql_value row[NCOLS];

static const char *eval_text(const char *expr, char *out, size_t cap)
{
    char sql[512];
    mb_err e = {0};
    mb_sql_scratch s;
    mb_sql_value v;
    snprintf(sql, sizeof sql, "SELECT %s FROM input GROUP BY 1", expr);
    mb_sql_plan *p = plan(sql, &e);
    if (!p) {
        snprintf(out, cap, "BIND: %s", e.msg);
        return out;
    }
    mb_sql_scratch_init(&s, 64);
    mb_sql_env env = {row, NULL, NULL, &s};
    if (mb_sql_eval(p->keys[0], &env, &v, &e) != MB_OK)
        snprintf(out, cap, "ERROR %s: %s", mb_strerror(e.code), e.msg);
    else if (v.null)
        snprintf(out, cap, "NULL");
    else
        (void)mb_sql_value_format(&v, out, cap);
    mb_sql_scratch_fini(&s);
    mb_sql_plan_free(p);
    return out;
}

static void evals(const char *expr, const char *want)
{
    char got[256];
    is_str(eval_text(expr, got, sizeof got), want, "%s = %s", expr, want);
}

static void three_valued(void)
{
    static const char *const v[] = {"true", "false", "NULL"};
    /* AND/OR over {T, F, NULL}: Kleene's tables. */
    static const char *const and_[3][3] = {{"true", "false", "NULL"},
                                           {"false", "false", "false"},
                                           {"NULL", "false", "NULL"}};
    static const char *const or_[3][3] = {{"true", "true", "true"},
                                          {"true", "false", "NULL"},
                                          {"true", "NULL", "NULL"}};
    char e[128];
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            snprintf(e, sizeof e, "CAST(%s AS BOOLEAN) AND CAST(%s AS BOOLEAN)", v[a], v[b]);
            evals(e, and_[a][b]);
            snprintf(e, sizeof e, "CAST(%s AS BOOLEAN) OR CAST(%s AS BOOLEAN)", v[a], v[b]);
            evals(e, or_[a][b]);
        }
    evals("NOT CAST(NULL AS BOOLEAN)", "NULL");
    evals("1 IN (2, NULL)", "NULL");
    evals("1 NOT IN (2, NULL)", "NULL");
    evals("1 IN (1, NULL)", "true");
    evals("NULL BETWEEN 1 AND 2", "NULL");
    evals("3 BETWEEN NULL AND 2", "false");
    evals("CAST(NULL AS BOOLEAN) IS NOT TRUE", "true");
}

static void rules(void)
{
    char got[256];
    evals("9223372036854775807 + 1", "ERROR number out of range: BIGINT overflow in +");
    evals("-9223372036854775807 - 2", "ERROR number out of range: BIGINT overflow in -");
    evals("abs(-9223372036854775807 - 1)", "ERROR number out of range: BIGINT overflow in abs");
    evals("7 // 0", "NULL");
    evals("7 % 0", "NULL");
    evals("-7 // 2", "-3");
    evals("-7 % 2", "-1");
    evals("1 / 0", "inf");
    evals("CAST(2.5 AS BIGINT)", "3");
    evals("CAST(-2.5 AS BIGINT)", "-3");
    evals("CAST('x' AS BIGINT)", "BIND: --sql:1:13: 'x' is not a BIGINT");   /* folded */
    evals("substr('42', -3, 2)", "42");
    evals("substr('hello', 0, 2)", "h");
    evals("substr('hello', 2)", "ello");
    evals("upper('straße çà')", "STRAßE ÇÀ");
    evals("length('Ünïcode')", "7");
    evals("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' LIKE '%a%a%a%a%a%a%a%a%a%a%b'", "false");
    evals("'a%b' LIKE 'a!%b' ESCAPE '!'", "true");
    evals("'axb' LIKE 'a!%b' ESCAPE '!'", "false");
    evals("date_trunc('week', DATE '2024-03-03')", "2024-02-26 00:00:00");
    evals("extract(isodow FROM DATE '2024-03-03')", "7");
    evals("extract(dow FROM DATE '2024-03-03')", "0");
    evals("date_trunc('hour', TIMESTAMP '1969-12-31 23:59:59.5')", "1969-12-31 23:00:00");
    evals("strftime(TIMESTAMP '2021-01-03 15:04:05', '%G-W%V-%u %I%p')", "2020-W53-7 03PM");
    /* The scratch cap (64 bytes here) bounds one row's strings. */
    ok(strstr(eval_text("repeat_me || '0123456789012345678901234567890123456789' || "
                        "'0123456789012345678901234567890123456789'", got, sizeof got),
              "unknown column") != NULL, "(sanity) unknown names fail at bind");
    is_str(eval_text("'0123456789012345678901234567890123456789' || "
                     "'0123456789012345678901234567890123456789'", got, sizeof got),
           "ERROR limit exceeded: the strings of one row need more than 64 bytes",
           "a row's strings beyond the scratch cap are MB_ELIMIT");
}

/* The query of an --agg plan with names that need quoting binds: keys,
 * states, output names as the aggregates were written, keys NULLS FIRST. */
static void agg_as_sql(void)
{
    char *group[] = {"k\"q", "two words"};
    char *aggs[] = {"count(*)", "mean(x)", "count(t)", "stddev(x)"};
    static const mb_sql_column acols[] = {
        {"k\"q", {MB_SQL_T_VARCHAR, 0, 0}}, {"two words", {MB_SQL_T_VARCHAR, 0, 0}},
        {"x", {MB_SQL_T_DOUBLE, 0, 0}},     {"t", {MB_SQL_T_VARCHAR, 0, 0}}};
    mb_plan p;
    mb_err e = {0};
    char *sql = NULL;
    mb_sql_query *q = NULL;
    mb_sql_plan *sp = NULL;

    if (!ok(mb_plan_from_lists(&p, group, 2, aggs, 4, &e) == MB_OK, "an --agg plan"))
        return;
    p.header = 1;
    ok(mb_plan_agg_query(&p, &sql, &e) == MB_OK && sql, "its query is written");
    is_str(sql ? sql : "", "SELECT nullif(\"k\"\"q\", '') AS \"k\"\"q\", nullif(\"two words\", '') "
           "AS \"two words\", count(*) AS \"count(*)\", avg(\"x\") AS \"mean(x)\", count(\"t\") "
           "AS \"count(t)\", stddev_samp(\"x\") AS \"stddev(x)\" FROM input GROUP BY 1, 2 "
           "ORDER BY 1 NULLS FIRST, 2 NULLS FIRST", "the query: quoted names, DuckDB's aggregates");
    if (sql && mb_sql_parse(sql, "--agg", &q, &e) == MB_OK)
        (void)mb_sql_bind(q, acols, MB_ARRAY_LEN(acols), &sp, &e);
    ok(sp != NULL, "it parses and binds (%s)", sp ? "ok" : e.msg);
    if (sp) {
        ok(sp->nkeys == 2 && sp->naggs == 4 && sp->nouts == 6, "two keys, four states, six "
           "output columns");
        ok(strcmp(sp->outs[0].name, "k\"q") == 0 && strcmp(sp->outs[3].name, "mean(x)") == 0,
           "output columns are named as --agg names them");
        ok(sp->norder == 2 && sp->order[0].nulls_first && sp->order[1].nulls_first &&
               !sp->order[0].desc, "keys ascending, the NULL (empty) key first");
    }
    ok(mb_plan_column_use(&p, "two words") == MB_PLAN_USE_KEY &&
           mb_plan_column_use(&p, "x") == MB_PLAN_USE_NUMBER &&
           mb_plan_column_use(&p, "t") == MB_PLAN_USE_COUNTED &&
           mb_plan_column_use(&p, "X") == MB_PLAN_USE_NONE,
       "column uses: key, number, counted only, and names match exactly");
    p.header = 0;
    ok(mb_plan_column_use(&p, "columnx") == MB_PLAN_USE_NUMBER &&
           mb_plan_column_use(&p, "x") == MB_PLAN_USE_NONE,
       "without a header --agg's column N is the query's columnN");
    mb_sql_plan_free(sp);
    mb_sql_query_free(q);
    free(sql);
    mb_plan_fini(&p);
}

int main(void)
{
    memset(row, 0, sizeof row);
    for (size_t i = 0; i < NCOLS; i++) {
        row[i].t = cols[i].type.t;
        row[i].null = true;
    }
    layers();
    refusals();
    three_valued();
    rules();
    agg_as_sql();
    return tap_done();
}
