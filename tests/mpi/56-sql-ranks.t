#!/bin/sh
# --sql jobs drained with 1, 2, 3 and 4 ranks: every per-task answer
# (OUT/TASK.csv) and state file (OUT/TASK.h5) is byte-identical across rank
# counts, for queries with WHERE, FILTER, expressions, time buckets,
# HAVING/ORDER BY/LIMIT, a global aggregate, sums of DOUBLE values,
# min/max of VARCHAR and BOOLEAN, and DOUBLE sums over the whole double
# range with infinities and NaN (Q5, its own files); then kill -9 of the
# whole job after a checkpoint and a rerun resume from it and give the same
# bytes (Q1, Q4 with its string states and Q5 with its exact double states
# in the checkpoints); results --merge and --format json read the SQL
# results back, and Q5's sums are the correctly rounded exact sums
# (Python's math.fsum).
. tests/lib/tap.sh

MPIBATCH_PARALLEL_GRID_MIN=1
export MPIBATCH_PARALLEL_GRID_MIN

mkdir -p "$T/data"
for s in 1 2 3; do
    "$GEN" --profile flights --rows 30000 --seed $s > "$T/data/f$s.csv"
done

Q1="SELECT origin, count(*) AS n, avg(dep_delay) FILTER (WHERE dep_delay > 15) AS late,
    sum(air_time) AS t, stddev_samp(arr_delay) AS s, min(date) AS first
    FROM input WHERE distance > 300 GROUP BY origin HAVING count(*) > 10
    ORDER BY n DESC, origin LIMIT 12"
Q2="SELECT date_trunc('month', date) AS m, upper(carrier) AS c, sum(distance * 1.5) AS d,
    count(remarks) AS r, bool_or(arr_delay > 60) AS late, max(air_time / 3) AS a
    FROM input GROUP BY m, c ORDER BY m, c"
Q3="SELECT count(*), sum(air_time / 7), avg(distance), var_pop(dep_delay),
    sum(CASE WHEN remarks IS NULL THEN 1 ELSE 0 END) AS no_remarks FROM input"
# Q4: string states (quoted remarks with commas and doubled quotes, NULLs,
# a group that has only NULLs under FILTER), BOOLEAN min/max
Q4="SELECT origin, min(dest) AS lo, max(dest) AS hi, max(remarks) AS r, min(remarks) AS rl,
    min(carrier || '/' || dest) FILTER (WHERE dep_delay > 300) AS lc,
    max(remarks) FILTER (WHERE distance < 0) AS none, min(dep_delay > 0) AS b,
    max(arr_delay > 60) AS b2 FROM input GROUP BY origin ORDER BY hi DESC, origin"
COLS="air_time DOUBLE"
# Q5: doubles from subnormals to 1e300, -0.0, values that cancel (1e300 -
# 1e300: a naive sum depends on the order), inf/-inf/NaN in group "nf"
Q5="SELECT g, count(x) AS n, sum(x) AS s, avg(x) AS a, min(x) AS lo, max(x) AS hi,
    var_pop(x) FILTER (WHERE abs(x) < 1e10) AS v, sum(x * 3) AS s3
    FROM input GROUP BY g ORDER BY g"
mkdir -p "$T/data5"
python3 - "$T/data5" <<'PY'
import random, sys
vals = ['1e-300', '-1e-300', '1e300', '-1e300', '5e-324', '-5e-324', '2.5e-310', '-0.0',
        '0.1', '0.2', '0.3', '1', '-7.25', '1234.5678', '2.2250738585072014e-308', '1e-40']
for seed in (1, 2):
    rnd = random.Random(seed)
    with open("%s/x%d.csv" % (sys.argv[1], seed), "w") as f:
        f.write("g,x\n")
        for r in range(150000):
            g = rnd.choice(['a', 'b', 'cancel', 'tiny'])
            if g == 'cancel':
                x = rnd.choice(['1e300', '-1e300', '1e300', '-1e300', '0.1'])
            elif g == 'tiny':
                x = rnd.choice(['5e-324', '2.5e-310', '-1e-300', '1e-300', '-0.0', '1e-320'])
            else:
                x = rnd.choice(vals)
            if rnd.random() < 0.05:
                x = ''
            f.write("%s,%s\n" % (g, x))
        f.write("nf,inf\nnf,1\nnf,-inf\nnf,nan\ninf,inf\ninf,2.5\nninf,-inf\nninf,1e300\n")
PY

qdata() { if [ "$1" = q5 ]; then echo "$T/data5"; else echo "$T/data"; fi; }
qcols() { if [ "$1" = q5 ]; then echo "g VARCHAR, x DOUBLE"; else echo "$COLS"; fi; }

run_q() {    # run_q NP NAME QUERY [ARGS]: the name's files through one job
    np=$1; name=$2; q=$3; shift 3
    "$MB" enqueue --queue "dir:$T/$name-q$np" "$(qdata "$name")"/*.csv > /dev/null
    mb_run "$np" "dir:$T/$name-q$np" "$T/$name-$np" --sql "$q" --columns "$(qcols "$name")" \
        --chunk-size 48K "$@"
}

for np in 1 2 3 4; do
    run_q "$np" q1 "$Q1"; ok $? "np=$np: Q1 (filter, FILTER, HAVING, ORDER BY, LIMIT) drained"
    run_q "$np" q2 "$Q2"; ok $? "np=$np: Q2 (time bucket, expressions) drained"
    run_q "$np" q3 "$Q3"; ok $? "np=$np: Q3 (global aggregate, DOUBLE sums) drained"
    run_q "$np" q4 "$Q4"; ok $? "np=$np: Q4 (min/max of VARCHAR and BOOLEAN) drained"
    run_q "$np" q5 "$Q5"; ok $? "np=$np: Q5 (DOUBLE sums over the whole range) drained"
done
is "$(ls "$T/q1-1"/*.csv | wc -l)" 3 "three task answers"
set -- "$T/q1-1"/*.csv
is "$(sed -n '1p' "$1")" "origin,n,late,t,s,first" \
    "the answer's header names the select list"
for q in q1 q2 q3 q4 q5; do
    for np in 2 3 4; do
        for f in "$T/$q-1"/*.csv "$T/$q-1"/*.h5; do
            same_file "$f" "$T/$q-$np/$(basename "$f")" \
                "np=$np: $q/$(basename "$f") identical to np=1"
        done
    done
done
# The DOUBLE sum is of exact values: not what a naive sum in file order gives.
f=$(ls "$T/q3-1"/*.csv | head -1)
awk -F, 'NR == 2 && $2 != "" { found = 1 } END { exit !found }' "$f"
ok $? "Q3 has a sum of DOUBLE values"

# Q5: every sum is the exact sum rounded once (math.fsum), the mean that
# divided by n; inf + -inf is NaN; the answers merged over both files too.
"$MB" results "$T/q5-3" --merge > "$T/m5.csv"; ok $? "results --merge of DOUBLE sums"
python3 - "$T/data5" "$T/m5.csv" <<'PY'
import csv, glob, math, sys
def check(files, answer):
    xs = {}
    for path in files:
        for r in csv.DictReader(open(path, newline='')):
            if r['x'] != '':
                xs.setdefault(r['g'], []).append(float(r['x']))
    got = {r['g']: r for r in csv.DictReader(open(answer, newline=''))}
    assert sorted(got) == sorted(xs), (answer, sorted(got))
    for g, v in xs.items():
        fin = [x for x in v if math.isfinite(x)]
        if len(fin) == len(v):
            s = math.fsum(v) + 0.0
            want = [repr(s), repr(s / len(v)), repr(min(v)), repr(max(v))]
        else:
            want = {'nf': ['nan', 'nan', '-inf', 'nan'], 'inf': ['inf', 'inf', '2.5', 'inf'],
                    'ninf': ['-inf', '-inf', '-inf', '1e+300']}[g]
        have = [got[g]['s'], got[g]['a'], got[g]['lo'], got[g]['hi']]
        assert have == want, (answer, g, have, want)
        assert got[g]['n'] == str(len(v)), (g, got[g]['n'])
check(glob.glob(sys.argv[1] + '/*.csv'), sys.argv[2])
PY
ok $? "Q5 merged: sum is fsum of the values, avg that / n, min/max, inf and NaN rules"
for f in "$T/q5-1"/*.csv; do
    grep -q '^cancel,' "$f" && grep -q '^tiny,' "$f"
done
ok $? "Q5 answers hold the groups that cancel and that sum subnormals"

# results: per task, merged, JSON.
"$MB" results "$T/q1-2" > "$T/all.csv"; ok $? "results of a --sql out dir"
is "$(head -1 "$T/all.csv")" "task,origin,n,late,t,s,first" "per-task results lead with the task"
is "$(($(wc -l < "$T/all.csv") - 1))" 36 "12 rows of each of the three tasks"
"$MB" results "$T/q1-2" --merge > "$T/m2.csv"; ok $? "results --merge"
"$MB" results "$T/q1-4" --merge > "$T/m4.csv"
same_file "$T/m2.csv" "$T/m4.csv" "merged answers equal on 2 and 4 ranks"
is "$(($(wc -l < "$T/m2.csv") - 1))" 12 "the merged answer keeps LIMIT 12"
"$MB" results "$T/q3-1" --merge --format json > "$T/m3.json"; ok $? "results --merge --format json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d) == 1 and d[0]["count_star()"] == 90000, d' \
    "$T/m3.json"
ok $? "the merged global count over three files is 90000, as JSON"

# min/max of VARCHAR: the states keep the strings; merged, they are the
# extremes over all three files.
"$MB" results "$T/q4-3" --merge > "$T/m4s.csv"; ok $? "results --merge of string min/max"
python3 - "$T/m4s.csv" "$T"/data/*.csv <<'PY'
import csv, sys
want = {}
for path in sys.argv[2:]:
    for r in csv.DictReader(open(path, newline='')):
        w = want.setdefault(r['origin'], [None, None])
        d = r['dest'].encode()
        w[0] = d if w[0] is None or d < w[0] else w[0]
        w[1] = d if w[1] is None or d > w[1] else w[1]
got = {r['origin']: [r['lo'].encode(), r['hi'].encode()] for r in csv.DictReader(open(sys.argv[1], newline=''))}
assert got == want, (got, want)
PY
ok $? "merged min(dest)/max(dest) per origin equal the bytewise extremes over the files"

# kill -9 after a checkpoint, resume: the same bytes, finished chunks not redone.
kill_resume() {    # kill_resume NAME QUERY: against the answers of $T/NAME-1
    d=$T/kill-$1
    "$MB" enqueue --queue "dir:$d/q" "$(qdata "$1")"/*.csv > /dev/null
    # Chunks slowed (20 ms each) so that the kill lands in the middle of a
    # task; only this run needs it.
    # shellcheck disable=SC2086 # MPIRUN is a word list
    MPIBATCH_FAULT_SLEEP_MS=20 setsid $MPIRUN -x MPIBATCH_FAULT_SLEEP_MS -np 2 "$MB" run \
        --queue "dir:$d/q" --out "$d/out" --sql "$2" \
        --columns "$(qcols "$1")" --chunk-size 48K --checkpoint-dir "$d/ck" --checkpoint-interval 0.1 \
        --visibility-timeout 2 2> "$d/first.log" &
    pid=$!
    wait_for_log "$d/first.log" "checkpoint [0-9]+ written: [1-9]" 60
    ok $? "$1: a checkpoint was written before the kill"
    pkill -9 -s "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # The lease of the killed run lapses (2 s after its last renewal): scan
    # until a scan takes the message back (at most 10 s).
    i=0
    while [ $i -lt 100 ] && [ "$("$MB" queue stats --queue "dir:$d/q" | sed -n 's/^leased //p')" != 0 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    i=0
    while [ $i -lt 10 ]; do
        LOG=$d/rerun.log mb_run 3 "dir:$d/q" "$d/out" --sql "$2" --columns "$(qcols "$1")" \
            --chunk-size 48K --checkpoint-dir "$d/ck" --visibility-timeout 2
        [ "$("$MB" queue stats --queue "dir:$d/q" | sed -n 's/^approximate_messages //p')" = 0 ] && break
        sleep 1; i=$((i + 1))
    done
    grep -q "resuming from" "$d/rerun.log"; ok $? "$1: the rerun resumed a task from its checkpoint"
    for f in "$T/$1-1"/*.csv "$T/$1-1"/*.h5; do
        same_file "$f" "$d/out/$(basename "$f")" \
            "$1: after kill -9 and resume on 3 ranks: $(basename "$f")"
    done
    is "$(ls "$d/out/.ledger" | wc -l)" "$(ls "$(qdata "$1")"/*.csv | wc -l)" \
        "$1: every task once in the ledger"
}
kill_resume q1 "$Q1"
kill_resume q4 "$Q4"
kill_resume q5 "$Q5"

# Resuming under another query is refused as a fingerprint mismatch.
"$MB" enqueue --queue "dir:$T/fq" "$T/data/f1.csv" > /dev/null
LOG=$T/fp.log mb_run 1 "dir:$T/fq" "$T/q1-1" --sql "SELECT count(*) FROM input"
is $? 65 "another query on the out dir of a first one: exit 65"
grep -q "fingerprint" "$T/fp.log"; ok $? "the refusal names the fingerprint"
# --explain types string and boolean min/max as their argument.
"$MB" run --explain --sql "$Q4" --columns "date DATE, carrier VARCHAR, flight BIGINT,
    origin VARCHAR, dest VARCHAR, dep_delay BIGINT, arr_delay BIGINT, distance BIGINT,
    air_time DOUBLE, remarks VARCHAR" > "$T/explain4.txt" 2>&1
grep -q '^agg1: min(#5:dest)->VARCHAR$' "$T/explain4.txt" &&
    grep -q '^agg[0-9]*: min(>(#6:dep_delay, 0::BIGINT)->BOOLEAN)->BOOLEAN$' "$T/explain4.txt"
ok $? "--explain: min(dest) is VARCHAR, min(dep_delay > 0) BOOLEAN"

# A string that would become a min or max and is not UTF-8 is a data error
# naming the file and the record's line.
printf 'g,s\na,ok\na,z\377\n' > "$T/bad.csv"
"$MB" enqueue --queue "dir:$T/bq" "$T/bad.csv" > /dev/null
LOG=$T/bad.log mb_run 1 "dir:$T/bq" "$T/bad-out" --sql "SELECT g, max(s) FROM input GROUP BY g" \
    --max-dequeue 1
grep -q "bad.csv:3:1: a min()/max() string that is not valid UTF-8" "$T/bad.log"
ok $? "max() over a string that is not UTF-8: file:line in the error"
done_testing
