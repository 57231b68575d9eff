/* test_sql_parse.c - sql/parse: queries through libpg_query into the
 * syntax tree, written back in normal form; every refused construct named
 * with its line and column; constants that libpg_query's JSON loses read
 * back from the text. No I/O, no MPI. */
#include "sql/ast.h"

#include "tap.h"

#include <stdio.h>
#include <string.h>

/* The normal form of a query's select list, ";"-separated, plus clauses. */
static void normal_form(const mb_sql_query *q, char *out, size_t cap)
{
    char buf[1024];
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < q->ntargets; i++) {
        (void)mb_sql_node_format(q->targets[i].expr, buf, sizeof buf);
        n += (size_t)snprintf(out + n, cap - n, "%s%s%s%s", i ? "; " : "", buf,
                              q->targets[i].alias ? " AS " : "",
                              q->targets[i].alias ? q->targets[i].alias : "");
    }
    if (q->where) {
        (void)mb_sql_node_format(q->where, buf, sizeof buf);
        n += (size_t)snprintf(out + n, cap - n, " WHERE %s", buf);
    }
    for (size_t i = 0; i < q->ngroup; i++) {
        (void)mb_sql_node_format(q->group[i], buf, sizeof buf);
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : " GROUP BY ", buf);
    }
    if (q->having) {
        (void)mb_sql_node_format(q->having, buf, sizeof buf);
        n += (size_t)snprintf(out + n, cap - n, " HAVING %s", buf);
    }
    for (size_t i = 0; i < q->norder; i++) {
        (void)mb_sql_node_format(q->order[i].expr, buf, sizeof buf);
        n += (size_t)snprintf(out + n, cap - n, "%s%s%s%s", i ? ", " : " ORDER BY ", buf,
                              q->order[i].desc ? " DESC" : "",
                              q->order[i].nulls_first < 0 ? ""
                              : q->order[i].nulls_first ? " NULLS FIRST" : " NULLS LAST");
    }
    if (q->limit >= 0)
        n += (size_t)snprintf(out + n, cap - n, " LIMIT %lld", (long long)q->limit);
    if (q->offset)
        (void)snprintf(out + n, cap - n, " OFFSET %lld", (long long)q->offset);
}

static void parses(const char *sql, const char *want)
{
    mb_sql_query *q = NULL;
    mb_err e = {0};
    char got[4096];
    if (mb_sql_parse(sql, "--sql", &q, &e) != MB_OK) {
        ok(0, "parses: %s (%s)", sql, e.msg);
        return;
    }
    normal_form(q, got, sizeof got);
    is_str(got, want, "%s", sql);
    mb_sql_query_free(q);
}

static void refuses(const char *sql, const char *source, mb_status code, const char *want)
{
    mb_sql_query *q = NULL;
    mb_err e = {0};
    mb_status st = mb_sql_parse(sql, source, &q, &e);
    char shown[256];
    snprintf(shown, sizeof shown, "%s", sql);
    for (char *c = shown; *c; c++)          /* one TAP line per test */
        *c = *c == '\n' ? ' ' : *c;
    ok(st == code && q == NULL && strstr(e.msg, want) != NULL, "refused: %s -> %s", shown,
       e.msg);
    if (st == MB_OK)
        mb_sql_query_free(q);
}

static void expressions(void)
{
    parses("SELECT origin, sum(delay) / count(*) AS m FROM input GROUP BY origin",
           "origin; (sum(delay) / count(*)) AS m GROUP BY origin");
    parses("select Origin, COUNT(*) from input group by 1 order by 2 desc nulls last limit 5",
           "Origin; count(*) GROUP BY 1 ORDER BY 2 DESC NULLS LAST LIMIT 5");
    parses("SELECT -5, 0, -2147483649, 1.5, -1.5, 1e3, '', 'a''b', true, false, null "
           "FROM input",
           "-5; 0; -2147483649; 1.5; -1.5; 1e3; ''; 'a''b'; true; false; NULL");
    parses("SELECT x // 2, x % 3, -x, a != b, a = b AND NOT c OR d FROM input",
           "(x // 2); (x % 3); (-x); (a <> b); (((a = b) AND (NOT c)) OR d)");
    parses("SELECT count(DISTINCT x) FILTER (WHERE y > 0), string_agg(a, ',' ORDER BY a "
           "DESC NULLS FIRST) FROM input",
           "count(DISTINCT x) FILTER (WHERE (y > 0)); string_agg(a, ',' ORDER BY a DESC "
           "NULLS FIRST)");
    parses("SELECT extract(year FROM d), trim(LEADING 'x' FROM s), trim(s), "
           "substring(s FROM 2 FOR 3), coalesce(a, b), nullif(a, b), greatest(a, b), "
           "least(a, 1) FROM input",
           "date_part('year', d); ltrim(s, 'x'); trim(s); substr(s, 2, 3); coalesce(a, b); "
           "nullif(a, b); greatest(a, b); least(a, 1)");
    parses("SELECT x NOT IN (1, 2), x BETWEEN 1 AND 2, x NOT BETWEEN 1 AND 2, "
           "s NOT ILIKE 'a%' ESCAPE '!', s LIKE 'b_', x IS NOT NULL, x IS NULL, "
           "x IS NOT TRUE, x IS FALSE FROM input",
           "(x NOT IN (1, 2)); (x BETWEEN 1 AND 2); (x NOT BETWEEN 1 AND 2); "
           "(s NOT ILIKE 'a%' ESCAPE '!'); (s LIKE 'b_'); (x IS NOT NULL); (x IS NULL); "
           "(x IS NOT TRUE); (x IS FALSE)");
    parses("SELECT CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END, CASE k WHEN 'x' THEN 1 END "
           "FROM input",
           "CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END; CASE k WHEN 'x' THEN 1 END");
    parses("SELECT CAST(x AS decimal(10,2)), x::varchar(3), DATE '2024-01-01', "
           "ts::timestamp, x::int, x::double FROM input",
           "CAST(x AS DECIMAL(10,2)); CAST(x AS VARCHAR); CAST('2024-01-01' AS DATE); "
           "CAST(ts AS TIMESTAMP); CAST(x AS BIGINT); CAST(x AS DOUBLE)");
    parses("SELECT a || b || 'c', upper(\"Quoted Name\"), input.x, t.y FROM input AS t",
           "((a || b) || 'c'); upper(Quoted Name); x; y");
    parses("SELECT date_trunc('hour', ts) AS h, count(*) FROM input WHERE status >= 500 "
           "GROUP BY h HAVING count(*) > 10 ORDER BY h LIMIT 10 OFFSET 20",
           "date_trunc('hour', ts) AS h; count(*) WHERE (status >= 500) GROUP BY h "
           "HAVING (count(*) > 10) ORDER BY h LIMIT 10 OFFSET 20");
    parses("SELECT min(\"when\") FROM input", "min(when)");
    parses("SELECT count(*) FROM input LIMIT ALL", "count(*)");
}

static void columns_keep_case(void)
{
    mb_sql_query *q = NULL;
    mb_err e;
    ok(mb_sql_parse("SELECT DepDelay, \"ArrDelay\" FROM input", "--sql", &q, &e) == MB_OK &&
           strcmp(q->targets[0].expr->name, "DepDelay") == 0 && !q->targets[0].expr->quoted &&
           strcmp(q->targets[1].expr->name, "ArrDelay") == 0 && q->targets[1].expr->quoted,
       "column names keep their spelling; quoted ones are marked");
    mb_sql_query_free(q);
}

static void refusals(void)
{
    refuses("SELECT count(*) FRO input", "--sql", MB_EUSAGE,
            "--sql:1:21: syntax error at or near \"input\"");
    refuses("SELECT count(*)\nFROM input\nWHERE x >", "job.ini", MB_EJOB,
            "job.ini:3:10: syntax error at end of input");
    refuses("SELECT count(*) FROM input JOIN other ON true", "--sql", MB_EUSAGE,
            "JOIN is not supported");
    refuses("SELECT count(*) FROM input, other", "--sql", MB_EUSAGE, "joins are not supported");
    refuses("SELECT count(*) FROM other", "--sql", MB_EUSAGE, "1:22: unknown table 'other'");
    refuses("SELECT count(*) FROM (SELECT 1) s", "--sql", MB_EUSAGE, "subqueries in FROM");
    refuses("SELECT count(*) FROM input WHERE x IN (SELECT 1)", "--sql", MB_EUSAGE,
            "subqueries are not supported");
    refuses("SELECT (SELECT 1) FROM input", "--sql", MB_EUSAGE, "subqueries are not supported");
    refuses("WITH t AS (SELECT 1) SELECT count(*) FROM input", "--sql", MB_EUSAGE,
            "WITH (common table expressions)");
    refuses("SELECT count(*) FROM input UNION SELECT count(*) FROM input", "--sql", MB_EUSAGE,
            "UNION is not supported");
    refuses("SELECT sum(x) OVER () FROM input", "--sql", MB_EUSAGE, "1:8: window functions");
    refuses("SELECT * FROM input", "--sql", MB_EUSAGE, "row-level query");
    refuses("SELECT count(*) FROM input GROUP BY ROLLUP (a)", "--sql", MB_EUSAGE, "ROLLUP");
    refuses("SELECT count(*) FROM input LIMIT -1", "--sql", MB_EUSAGE,
            "LIMIT must be a non-negative integer");
    refuses("SELECT count(*) FROM input LIMIT x", "--sql", MB_EUSAGE, "LIMIT must be");
    refuses("SELECT count(*)", "--sql", MB_EUSAGE, "must read FROM input");
    refuses("", "--sql", MB_EUSAGE, "the query is empty");
    refuses("SELECT 1 FROM input; SELECT 2 FROM input", "--sql", MB_EUSAGE, "one statement");
    refuses("INSERT INTO input VALUES (1)", "--sql", MB_EUSAGE, "INSERT is not supported");
    refuses("SELECT x::interval FROM input", "--sql", MB_EUSAGE, "interval is not supported");
    refuses("SELECT x::blob FROM input", "--sql", MB_EUSAGE, "unknown type");
    refuses("SELECT current_date FROM input", "--sql", MB_EUSAGE, "CURRENT_DATE");
    refuses("SELECT x ~ 'a' FROM input", "--sql", MB_EUSAGE, "regular-expression");
    refuses("SELECT x IS DISTINCT FROM y FROM input", "--sql", MB_EUSAGE, "DISTINCT FROM");
    refuses("SELECT DISTINCT ON (a) a FROM input", "--sql", MB_EUSAGE, "DISTINCT ON");
    refuses("SELECT $1 FROM input", "--sql", MB_EUSAGE, "parameters");
    refuses("SELECT count(*) FROM input WHERE k = '\xff'", "--sql", MB_EUSAGE,
            "1:39: the query is not valid UTF-8");
    refuses("SELECT other.x FROM input", "--sql", MB_EUSAGE, "unknown table 'other'");
    refuses("SELECT count(*) FROM input WHERE é > 'ü' AND", "--sql", MB_EUSAGE,
            "--sql:1:47: syntax error at end of input");
}

static void deep_nesting(void)
{
    static char sql[8192];
    size_t n = (size_t)snprintf(sql, sizeof sql, "SELECT ");
    for (int i = 0; i < 600; i++)
        sql[n++] = '(';
    sql[n++] = 'x';
    for (int i = 0; i < 600; i++)
        sql[n++] = ')';
    snprintf(sql + n, sizeof sql - n, " FROM input");
    mb_sql_query *q = NULL;
    mb_err e = {0};
    mb_status st = mb_sql_parse(sql, "--sql", &q, &e);
    ok(st == MB_OK || (st == MB_EUSAGE && strlen(e.msg) > 0),
       "600 nested parentheses: parsed or refused cleanly (%s)", st ? e.msg : "ok");
    mb_sql_query_free(q);
    n = (size_t)snprintf(sql, sizeof sql, "SELECT x");
    for (int i = 0; i < 400; i++)
        n += (size_t)snprintf(sql + n, sizeof sql - n, " + -x");
    snprintf(sql + n, sizeof sql - n, " FROM input");
    st = mb_sql_parse(sql, "--sql", &q, &e);
    ok(st == MB_EUSAGE && strstr(e.msg, "nested too deeply"), "a tree deeper than the limit "
       "is refused: %s", e.msg);
    mb_sql_query_free(q);
}

int main(void)
{
    expressions();
    columns_keep_case();
    refusals();
    deep_nesting();
    return tap_done();
}
