#!/bin/sh
# 40-merge-duckdb.t - results --merge of --sql jobs over three tasks equals
# DuckDB's answer over the concatenated files, with HAVING, ORDER BY,
# LIMIT/OFFSET, FILTER, a global aggregate and min/max of VARCHAR (HAVING
# and ORDER BY on string states) and BOOLEAN: post-aggregation is applied
# to the merged states of all groups, not to the rows each task kept
# (tests/sql/merge_diff.mjs).
. tests/lib/tap.sh
. tests/lib/node_peers.sh
need_duckdb
mkdir -p "$T/data"
for s in 1 2 3; do
    "$GEN" --profile flights --rows 20000 --seed $s > "$T/data/f$s.csv"
done
set -- \
    "SELECT origin, count(*) AS late, avg(dep_delay) AS d, max(arr_delay) AS worst,
        sum(air_time) / 60 AS hours FROM input WHERE dep_delay > 15 GROUP BY origin
        HAVING count(*) >= 20 ORDER BY late DESC, origin LIMIT 10" \
    "SELECT carrier, count(*) AS n, sum(distance) AS d, min(date) AS first, max(date) AS last
        FROM input GROUP BY carrier HAVING sum(distance) > 1000 ORDER BY d DESC LIMIT 5 OFFSET 1" \
    "SELECT count(*), count(remarks), avg(arr_delay), stddev_pop(dep_delay), sum(air_time)
        FROM input WHERE origin <> dest" \
    "SELECT extract(dow FROM date) AS dow, origin, count(*) FILTER (WHERE arr_delay > 0) AS late,
        var_samp(distance) AS v FROM input GROUP BY dow, origin ORDER BY late DESC, dow, origin
        LIMIT 7" \
    "SELECT origin, min(remarks) AS r, max(carrier || '/' || dest) AS m,
        min(dest) FILTER (WHERE dep_delay > 200) AS far, max(remarks) FILTER (WHERE distance < 0)
        AS none, max(arr_delay > 100) AS b FROM input GROUP BY origin
        HAVING max(remarks) >= 'M' ORDER BY m DESC, r, origin LIMIT 8 OFFSET 2" \
    "SELECT min(remarks), max(remarks), min(origin || dest), max(date > '2026-06-01') FROM input"
i=0 qs="["
for query in "$@"; do               # (mb_run sets q)
    i=$((i + 1))
    "$MB" enqueue --queue "dir:$T/q$i" "$T"/data/*.csv > /dev/null
    mb_run 2 "dir:$T/q$i" "$T/out$i" --sql "$query" --columns "air_time DOUBLE" --chunk-size 64K
    ok $? "query $i: three tasks on 2 ranks"
    "$MB" results "$T/out$i" --merge > "$T/merged$i.csv"
    ok $? "query $i: results --merge"
    qs="$qs$(python3 -c 'import json,sys; print(json.dumps({"q": sys.argv[1], "merged": sys.argv[2]}))' "$query" "$T/merged$i.csv"),"
done
qs="${qs%,}]"
files=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$T"/data/*.csv)
node tests/sql/merge_diff.mjs "$MB_NODE_DIR" "$T" "$files" "$qs" > "$T/diff.tap"
rc=$?
while IFS= read -r line; do
    case "$line" in
    "ok "*|"not ok "*) tap_n=$((tap_n + 1)); echo "${line%% [0-9]*} $tap_n ${line#* [0-9]* }" ;;
    "1.."*) ;;
    *) echo "$line" ;;
    esac
done < "$T/diff.tap"
[ "$(grep -c '^ok' "$T/diff.tap")" -eq $# ]; ok $? "all $# merged answers equal DuckDB's (status $rc)"
done_testing
