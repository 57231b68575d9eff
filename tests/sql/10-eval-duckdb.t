#!/bin/sh
# 10-eval-duckdb.t - the SQL row layer (parser, binder, evaluator) against
# DuckDB, the oracle of query semantics: every operator and function on
# seeded data with NULLs, then random well-typed compositions, value by
# value (tests/sql/eval_diff.mjs). Two seeds in the normal pass, one
# under ASan (where the evaluator's memory safety is the point).
. tests/lib/tap.sh
. tests/lib/node_peers.sh
need_duckdb
seeds="1 2"
[ -n "${MB_SANITIZE:-}" ] && seeds="3"
# shellcheck disable=SC2086 # a word list of seeds
diff_runs tests/sql/eval_diff.mjs "$MB_BUILD/tests/sqleval" 400 $seeds
