#!/bin/sh
# --group-by/--agg is shorthand for a SQL query and runs as that query:
# each --agg job below and the query it stands for (README, "--group-by/--agg
# as SQL"), written out by hand with its --columns, give the same
# OUT/TASK.csv files, merged results and JSON (per task and merged) on the
# same files, byte for byte, and their result files record the same
# column types and plan. The jobs cover every aggregate (count(*), count(col),
# sum, mean/avg, min, max, var, stddev), one and two group columns, NULLs
# (empty fields, a quoted empty field), keys with commas, quotes, leading
# spaces and digits, negative numbers and decimals. Then `run --agg ...
# --explain` prints that query and its plan, and the printed query, run
# with the printed column types, gives the same answer.
. tests/lib/tap.sh
same_file() { # A B DESCRIPTION
    if cmp -s "$1" "$2"; then ok 0 "$3"; else
        ok 1 "$3"
        diff "$1" "$2" | head -10 | sed 's/^/#   /'
    fi
}
# attrs FILE.h5: the columns and plan attributes a result records (the
# query texts differ in quoting and spacing)
attrs() {
    h5dump -A "$1" 2> /dev/null | grep -A3 -E 'ATTRIBUTE "(columns|plan)"' |
        grep -v 'DATATYPE\|DATASPACE'
}

mkdir -p "$T/data"
python3 - "$T/data" <<'EOF'
import random, sys
d = sys.argv[1]
keys1 = ['a', 'b', '', '""', '" sp"', '"c,d"', '"q""t"', 'Z', 'a ']
keys2 = ['01', '1', '-2', '', 'x']
for seed in (1, 2):
    rnd = random.Random(seed)
    with open("%s/m%d.csv" % (d, seed), "w") as f:
        f.write("k1,k2,i,d,t\n")
        for r in range(3000):
            i = "" if rnd.random() < 0.1 else str(rnd.randint(-10**6, 10**6))
            if rnd.random() < 0.1:
                dv = ""
            else:
                dv = "%d.%0*d" % (rnd.randint(-999, 999), rnd.randint(1, 3), rnd.randint(0, 999))
                dv = dv if not dv.startswith("0.") or rnd.random() < 0.5 else "-" + dv
            t = rnd.choice(["x", "y", "", '"z,w"'])
            f.write("%s,%s,%s,%s,%s\n" % (rnd.choice(keys1), rnd.choice(keys2), i, dv, t))
EOF
for s in 1 2; do
    "$GEN" --profile flights --rows 20000 --seed $s > "$T/data/f$s.csv"
done

# both NAME FILES_GLOB COLUMNS SQL GROUP_BY AGG: the --agg job and its
# query, each drained by 2 ranks from its own queue.
both() {
    name=$1; glob=$2; cols=$3; sql=$4; gb=$5; agg=$6
    # shellcheck disable=SC2086 # $glob is a file name pattern
    "$MB" enqueue --queue "dir:$T/$name-aq" "$T"/data/$glob > /dev/null
    # shellcheck disable=SC2086
    "$MB" enqueue --queue "dir:$T/$name-sq" "$T"/data/$glob > /dev/null
    mb_run 2 "dir:$T/$name-aq" "$T/$name-agg" --group-by "$gb" --agg "$agg" --chunk-size 16K
    ok $? "$name: the --agg job drains"
    mb_run 2 "dir:$T/$name-sq" "$T/$name-sql" --columns "$cols" --sql "$sql" --chunk-size 16K
    ok $? "$name: its SQL query drains"
    n=0
    for f in "$T/$name-agg"/*.csv; do
        same_file "$f" "$T/$name-sql/$(basename "$f")" "$name: $(basename "$f") is the same"
        h=${f%.csv}.h5
        attrs "$h" > "$T/a.attrs"
        attrs "$T/$name-sql/$(basename "$h")" > "$T/s.attrs"
        [ -s "$T/a.attrs" ] && cmp -s "$T/a.attrs" "$T/s.attrs"
        ok $? "$name: $(basename "$h") records the same columns and plan"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]; ok $? "$name: there are answers to compare ($n)"
    "$MB" results "$T/$name-agg" --merge > "$T/$name-agg.merged"
    ok $? "$name: results --merge of the --agg job"
    "$MB" results "$T/$name-sql" --merge > "$T/$name-sql.merged"
    ok $? "$name: results --merge of the SQL job"
    same_file "$T/$name-agg.merged" "$T/$name-sql.merged" "$name: the merged totals are the same"
    for how in "" "--merge"; do
        "$MB" results "$T/$name-agg" $how --format json > "$T/$name-agg.json"
        "$MB" results "$T/$name-sql" $how --format json > "$T/$name-sql.json"
        same_file "$T/$name-agg.json" "$T/$name-sql.json" "$name: results ${how:+$how }--format json is the same"
    done
}

# One key with NULLs and odd text; every aggregate over an integer column
# (exact sums, min, max) and a decimal one (doubles); a counted text column.
both m1 'm*.csv' "k1 VARCHAR, d DOUBLE, t VARCHAR" \
    'SELECT nullif(k1, '"''"') AS k1, count(*) AS "count(*)", count(i) AS "count(i)",
       count(t) AS "count(t)", sum(i) AS "sum(i)", avg(i) AS "mean(i)", min(i) AS "min(i)",
       max(i) AS "max(i)", var_samp(i) AS "var(i)", stddev_samp(i) AS "stddev(i)",
       sum(d) AS "sum(d)", avg(d) AS "avg(d)", min(d) AS "min(d)", max(d) AS "max(d)",
       var_samp(d) AS "var(d)", stddev_samp(d) AS "stddev(d)"
     FROM input GROUP BY 1 ORDER BY 1 NULLS FIRST' \
    k1 'count(*), count(i), count(t), sum(i), mean(i), min(i), max(i), var(i), stddev(i),
        sum(d), avg(d), min(d), max(d), var(d), stddev(d)'

# Two keys, the second of digits ("01" and "1" are two groups, as text).
both m2 'm*.csv' "k1 VARCHAR, k2 VARCHAR, d DOUBLE" \
    'SELECT nullif(k1, '"''"') AS k1, nullif(k2, '"''"') AS k2, count(*) AS "count(*)",
       sum(d) AS "sum(d)", avg(d) AS "mean(d)", stddev_samp(i) AS "stddev(i)", min(i) AS "min(i)"
     FROM input GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST' \
    k1,k2 'count(*), sum(d), mean(d), stddev(i), min(i)'

# Generated flights: negative delays, a decimal column, two keys.
both f1 'f*.csv' "carrier VARCHAR, origin VARCHAR, air_time DOUBLE" \
    'SELECT nullif(carrier, '"''"') AS carrier, nullif(origin, '"''"') AS origin,
       count(*) AS "count(*)", sum(dep_delay) AS "sum(dep_delay)",
       avg(dep_delay) AS "mean(dep_delay)", min(arr_delay) AS "min(arr_delay)",
       max(air_time) AS "max(air_time)", var_samp(air_time) AS "var(air_time)",
       stddev_samp(dep_delay) AS "stddev(dep_delay)", count(remarks) AS "count(remarks)"
     FROM input GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST' \
    carrier,origin 'count(*), sum(dep_delay), mean(dep_delay), min(arr_delay), max(air_time),
        var(air_time), stddev(dep_delay), count(remarks)'

# --explain: the query an --agg job stands for, and its plan.
AGG='count(*), count(t), sum(i), mean(d), min(d), max(i), var(d), stddev(i)'
"$MB" enqueue --queue "dir:$T/xq" "$T/data/m1.csv" > /dev/null
"$MB" run --queue "dir:$T/xq" --group-by k1,k2 --agg "$AGG" --explain > "$T/explain" 2> "$T/explain.err"
ok $? "run --group-by --agg --explain exits 0"
contains "$T/explain" "^query \(the --group-by/--agg job as SQL\): SELECT nullif\(\"k1\", ''\) AS \"k1\", nullif\(\"k2\", ''\) AS \"k2\", count\(\*\) AS \"count\(\*\)\", count\(\"t\"\) AS \"count\(t\)\", sum\(\"i\"\) AS \"sum\(i\)\", avg\(\"d\"\) AS \"mean\(d\)\", min\(\"d\"\) AS \"min\(d\)\", max\(\"i\"\) AS \"max\(i\)\", var_samp\(\"d\"\) AS \"var\(d\)\", stddev_samp\(\"i\"\) AS \"stddev\(i\)\" FROM input GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST$" \
    "--explain prints the query the job stands for"
contains "$T/explain" "^input columns: k1 VARCHAR, k2 VARCHAR, i BIGINT, d DOUBLE, t VARCHAR$" \
    "keys and counted columns are VARCHAR, an integer column BIGINT, a decimal one DOUBLE"
contains "$T/explain" "^agg1: count_star\(\)->BIGINT$" "the plan lists the aggregate states"
contains "$T/explain" "^order: key2 asc nulls first$" "and the order of the keys"
"$MB" queue stats --queue "dir:$T/xq" > "$T/xstats"
contains "$T/xstats" "^visible 1$" "--explain claimed nothing"
"$MB" run --queue "dir:$T/xq" --group-by k1 --explain > /dev/null 2>&1
is $? 64 "--explain of an incomplete --agg job is a usage error"
# A key also aggregated: the key stays text, the aggregate reads it as a
# number (CAST(k AS DOUBLE)).
printf 'k,v\n1,x\n2.5,y\n1,z\n,w\n' > "$T/data/kk.csv"
"$MB" enqueue --queue "dir:$T/kq" "$T/data/kk.csv" > /dev/null
"$MB" run --queue "dir:$T/kq" --group-by k --agg 'sum(k)' --explain > "$T/xk" 2> "$T/xk.err"
ok $? "a key also aggregated: --explain exits 0"
contains "$T/xk" '^query .*SELECT nullif\("k", '"''"'\) AS "k", sum\(CAST\("k" AS DOUBLE\)\) AS "sum\(k\)"' \
    "the key is cast to DOUBLE where it is summed"
mb_run 1 "dir:$T/kq" "$T/kk-out" --group-by k --agg 'count(*), sum(k)'
ok $? "the job drains"
printf 'k,count(*),sum(k)\n,1,\n1,2,2.0\n2.5,1,2.5\n' > "$T/kk.want"
same_file "$(ls "$T"/kk-out/*.csv)" "$T/kk.want" "keys as text, their sums as doubles, the empty key first"
printf '[job]\ngroup_by = k1\naggregates = sum(k3)\n' > "$T/k.job"
"$MB" run --queue "dir:$T/xq" --job "$T/k.job" --explain > /dev/null 2> "$T/xj.err"
is $? 65 "a job file naming a column the input lacks exits 65"
contains "$T/xj.err" "k.job \[job\] aggregates \(as SQL, see --explain\):1:[0-9]+: .*k3" "naming the job file's aggregates and the column"

# Files that type an aggregated column differently are two plans, which
# results --merge refuses to add up, naming the column and the cure.
printf 'k,v\na,1\n' > "$T/data/g1.csv"
printf 'k,v\na,2.5\n' > "$T/data/g2.csv"
"$MB" enqueue --queue "dir:$T/gq" "$T/data/g1.csv" "$T/data/g2.csv" > /dev/null
mb_run 1 "dir:$T/gq" "$T/g-out" --group-by k --agg 'sum(v)'
ok $? "integers in one file, a fraction in the other: both tasks commit"
"$MB" results "$T/g-out" --merge > /dev/null 2> "$T/g.err"
is $? 65 "results --merge refuses to add a BIGINT and a DOUBLE plan"
contains "$T/g.err" "column 'v' is (BIGINT|DOUBLE) there, (DOUBLE|BIGINT) here: --columns \"v DOUBLE\"" \
    "naming the column and the --columns that types both alike"
"$MB" enqueue --queue "dir:$T/gq2" "$T/data/g1.csv" "$T/data/g2.csv" > /dev/null
mb_run 1 "dir:$T/gq2" "$T/g2-out" --group-by k --agg 'sum(v)' --columns 'v DOUBLE'
"$MB" results "$T/g2-out" --merge > "$T/g2.merged"
printf 'k,sum(v)\na,3.5\n' > "$T/g2.want"
same_file "$T/g2.merged" "$T/g2.want" "with --columns the tasks merge"

xq_sql=$(sed -n 's/^query (the --group-by\/--agg job as SQL): //p' "$T/explain")
cols=$(sed -n 's/^input columns: //p' "$T/explain")
"$MB" enqueue --queue "dir:$T/xa" "$T/data/m1.csv" > /dev/null
"$MB" enqueue --queue "dir:$T/xs" "$T/data/m1.csv" > /dev/null
mb_run 2 "dir:$T/xa" "$T/xa-out" --group-by k1,k2 --agg "$AGG"
ok $? "the explained --agg job drains"
mb_run 2 "dir:$T/xs" "$T/xs-out" --columns "$cols" --sql "$xq_sql"
ok $? "the printed query drains with the printed column types"
f=$(ls "$T/xa-out"/*.csv)
same_file "$f" "$T/xs-out/$(basename "$f")" "the printed query's answer is the job's"

done_testing
