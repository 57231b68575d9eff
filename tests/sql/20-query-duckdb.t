#!/bin/sh
# 20-query-duckdb.t - whole queries against DuckDB: seeded random
# aggregation queries (keys that are expressions, every aggregate with and
# without FILTER, WHERE, HAVING, expressions over aggregates, ORDER BY with
# NULLS FIRST/LAST, LIMIT/OFFSET, global aggregates, SELECT DISTINCT), on
# seeded data and on an empty file, through build/tests/sqlrun: the query
# engine in one process over the exact group table that mpibatch's ranks
# reduce (tests/sql/query_diff.mjs). 2 x 300 random queries in the normal
# pass, 100 under ASan.
. tests/lib/tap.sh
. tests/lib/node_peers.sh
need_duckdb
if [ -n "${MB_SANITIZE:-}" ]; then
    diff_runs tests/sql/query_diff.mjs "$MB_BUILD/tests/sqlrun" 100 5
else
    diff_runs tests/sql/query_diff.mjs "$MB_BUILD/tests/sqlrun" 300 1 2
fi
