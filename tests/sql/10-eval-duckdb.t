#!/bin/sh
# 10-eval-duckdb.t - the SQL row layer (parser, binder, evaluator) against
# DuckDB, the oracle of query semantics: every operator and function on
# seeded data with NULLs, then random well-typed compositions, value by
# value (tests/sql/eval_diff.mjs). Two seeds in the normal pass, one
# under ASan (where the evaluator's memory safety is the point).
. tests/lib/tap.sh
. tests/lib/node_peers.sh
if ! node_peers_install; then
    echo "not ok 1 - DuckDB (@duckdb/node-api) installs from npm into $MB_NODE_DIR"
    sed 's/^/# /' "$MB_NODE_DIR/install.log" 2>/dev/null | tail -5
    echo "1..1"
    exit 1
fi
seeds="1 2"
[ -n "${MB_SANITIZE:-}" ] && seeds="3"
rc=0
n=0
for seed in $seeds; do
    # Each run prints its own TAP; renumber into one plan.
    node tests/sql/eval_diff.mjs "$MB_NODE_DIR" "$MB_BUILD/tests/sqleval" "$T" "$seed" 400 \
        > "$T/run.tap" 2> "$T/run.err" || rc=1
    while IFS= read -r line; do
        case "$line" in
        "ok "*|"not ok "*)
            n=$((n + 1))
            st=${line%% [0-9]*}
            echo "$st $n ${line#* [0-9]* }" ;;
        "1.."*) ;;
        *) echo "$line" ;;
        esac
    done < "$T/run.tap"
    [ -s "$T/run.err" ] && sed 's/^/# stderr: /' "$T/run.err" | head -5
    grep -q '^# .* passed, .* failed' "$T/run.tap" || { echo "not ok $((n += 1)) - seed $seed: the run ended early"; rc=1; }
done
echo "1..$n"
exit $rc
