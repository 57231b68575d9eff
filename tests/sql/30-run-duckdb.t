#!/bin/sh
# 30-run-duckdb.t - the SQL differential through `mpibatch run --sql`
# under mpirun on 2 ranks: the seeded random queries of query_diff.mjs
# (filters, expressions over every type, NULLs, quoted and long strings,
# every aggregate with and without FILTER, HAVING/ORDER BY/LIMIT, global
# aggregates) over a seeded file and an empty one, each query one job of
# two tasks with 2 KiB chunks, every answer equal to DuckDB's. 300 queries
# in the normal pass, 40 under ASan.
. tests/lib/tap.sh
. tests/lib/node_peers.sh
need_duckdb
MB_DIFF_WORK=$T
export MB MPIRUN MB_DIFF_WORK
if [ -n "${MB_SANITIZE:-}" ]; then
    diff_runs tests/sql/query_diff.mjs tests/sql/mbrun.sh 40 7
else
    diff_runs tests/sql/query_diff.mjs tests/sql/mbrun.sh 300 3
fi
