#!/bin/sh
# 30-run-duckdb.t - the SQL differential through `mpibatch run --sql`
# under mpirun on 2 ranks: the seeded random queries of query_diff.mjs
# (filters, expressions over every type, NULLs, quoted and long strings,
# every aggregate with and without FILTER, HAVING/ORDER BY/LIMIT, global
# aggregates) over a seeded file and an empty one, each query one job of
# two tasks with 2 KiB chunks, every answer equal to DuckDB's. 300 queries
# in the normal pass; the ASan pass skips it (the SQL paths under ASan:
# test_sql_vec, 56-58, and the fuzz_sql corpus).
. tests/lib/tap.sh
if [ -n "${MB_SANITIZE:-}" ]; then
    echo "1..0 # SKIP the differential is for answers; the normal pass runs it"
    exit 0
fi
. tests/lib/node_peers.sh
need_duckdb
MB_DIFF_WORK=$T
export MB MPIRUN MB_DIFF_WORK
diff_runs tests/sql/query_diff.mjs tests/sql/mbrun.sh 300 3
