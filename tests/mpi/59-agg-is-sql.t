#!/bin/sh
# --group-by/--agg is shorthand for a SQL query: each --agg job below and
# the query it stands for (README, "--group-by/--agg as SQL"), written out
# by hand with its --columns, give the same OUT/TASK.csv files, merged
# results and JSON (per task and merged) on the same files: byte for byte,
# except that sums, means and variances of DOUBLE columns agree to 1e-12
# (near_file below says why). The jobs cover every aggregate
# (count(*), count(col), sum, mean/avg, min, max, var, stddev), one and two
# group columns, NULLs (empty fields, a quoted empty field), keys with
# commas, quotes, leading spaces and digits, negative numbers and decimals.
# Then `run --agg ... --explain` prints that query and its plan, and the
# printed query, run with the printed column types, gives the same answer.
. tests/lib/tap.sh
# near_file A B DESCRIPTION: A and B are the same text except for numbers
# that agree within 1e-12 relative. An --agg job adds the exact decimal
# value of each cell's text; its query adds, for a DOUBLE column, the exact
# binary double of each cell (agg/fsum.h), so sums, means and variances of
# non-integer columns can differ in their last digits. Everything else is
# compared byte for byte.
near_file() {
    if python3 - "$1" "$2" > "$T/near.out" 2>&1 <<'PYEOF'
import re, sys
num = re.compile(r'-?[0-9]+(?:\.[0-9]+)?(?:e[-+][0-9]+)?')
a, b = (open(f).read().split('\n') for f in sys.argv[1:3])
if len(a) != len(b):
    sys.exit("%d lines against %d" % (len(a), len(b)))
for i, (x, y) in enumerate(zip(a, b)):
    if x == y:
        continue
    nx, ny = num.findall(x), num.findall(y)
    if num.sub('#', x) != num.sub('#', y) or len(nx) != len(ny):
        sys.exit("line %d differs in text:\n%s\n%s" % (i + 1, x, y))
    for u, v in zip(nx, ny):
        fu, fv = float(u), float(v)
        if abs(fu - fv) > 1e-12 * max(abs(fu), abs(fv)):
            sys.exit("line %d: %s against %s" % (i + 1, u, v))
PYEOF
    then ok 0 "$3"; else ok 1 "$3"; sed 's/^/#   /' "$T/near.out" | head -10; fi
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
        near_file "$f" "$T/$name-sql/$(basename "$f")" "$name: $(basename "$f") is the same (DOUBLE sums to 1e-12)"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ]; ok $? "$name: there are answers to compare ($n)"
    "$MB" results "$T/$name-agg" --merge > "$T/$name-agg.merged"
    ok $? "$name: results --merge of the --agg job"
    "$MB" results "$T/$name-sql" --merge > "$T/$name-sql.merged"
    ok $? "$name: results --merge of the SQL job"
    near_file "$T/$name-agg.merged" "$T/$name-sql.merged" "$name: the merged totals are the same (DOUBLE sums to 1e-12)"
    for how in "" "--merge"; do
        "$MB" results "$T/$name-agg" $how --format json > "$T/$name-agg.json"
        "$MB" results "$T/$name-sql" $how --format json > "$T/$name-sql.json"
        near_file "$T/$name-agg.json" "$T/$name-sql.json" "$name: results ${how:+$how }--format json is the same (DOUBLE sums to 1e-12)"
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
"$MB" run --queue "dir:$T/xq" --group-by k1 --agg 'sum(k1)' --explain > "$T/xk" 2> "$T/xk.err"
is $? 64 "a key also aggregated: the query does not bind, a usage error on the command line"
contains "$T/xk.err" "m1.csv: --agg:1:[0-9]+: sum\(\) takes a number, not VARCHAR" \
    "the error names the position in the job's query..."
contains "$T/xk" '^query .*SELECT nullif\("k1", '"''"'\) AS "k1", sum\("k1"\)' "... which is printed first"
printf '[job]\ngroup_by = k1\naggregates = sum(k1)\n' > "$T/k.job"
"$MB" run --queue "dir:$T/xq" --job "$T/k.job" --explain > /dev/null 2> "$T/xj.err"
is $? 65 "the same from a job file exits 65"
contains "$T/xj.err" "k.job \[job\] aggregates:1:[0-9]+: sum\(\)" "naming the job file's aggregates"

xq_sql=$(sed -n 's/^query (the --group-by\/--agg job as SQL): //p' "$T/explain")
cols=$(sed -n 's/^input columns: //p' "$T/explain")
"$MB" enqueue --queue "dir:$T/xa" "$T/data/m1.csv" > /dev/null
"$MB" enqueue --queue "dir:$T/xs" "$T/data/m1.csv" > /dev/null
mb_run 2 "dir:$T/xa" "$T/xa-out" --group-by k1,k2 --agg "$AGG"
ok $? "the explained --agg job drains"
mb_run 2 "dir:$T/xs" "$T/xs-out" --columns "$cols" --sql "$xq_sql"
ok $? "the printed query drains with the printed column types"
f=$(ls "$T/xa-out"/*.csv)
near_file "$f" "$T/xs-out/$(basename "$f")" "the printed query's answer is the job's (DOUBLE sums to 1e-12)"

done_testing
