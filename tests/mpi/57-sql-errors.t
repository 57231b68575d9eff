#!/bin/sh
# A --sql job's errors through the real binary: a syntax error names its
# position (exit 64, 65 from a job file); a query that does not fit the
# first file (an unknown column, a type error, a row-level query) blames the
# job and leaves the message visible, unpoisoned; JOIN, subqueries, window
# functions, UNION and WITH are refused by name; a value that is not of its
# column's type poisons the task with file:line:column. --explain prints the
# plan (columns read, filter, keys, aggregates) for the first queued input
# without claiming it, or for --columns alone, under mpirun and without it.
. tests/lib/tap.sh
unset MPIBATCH_QUEUE

mkdir -p "$T/data"
printf 'origin,delay,day\nSFO,10,2024-01-01\nLAX,20,2024-01-02\nSFO,5,2024-01-03\n' > "$T/data/f.csv"
"$MB" enqueue --queue "dir:$T/q" "$T/data/f.csv" > /dev/null

# sql NAME QUERY [ARGS...]: a 2-rank run of QUERY over dir:$T/q, stderr in $T/NAME.log.
sql() {
    name=$1; query=$2; shift 2
    LOG=$T/$name.log mb_run 2 "dir:$T/q" "$T/out" --sql "$query" "$@"
}
# visible_poison QUEUE: "VISIBLE POISON" of the queue.
visible_poison() {
    "$MB" queue stats --queue "$1" > "$T/stats"
    echo "$(sed -n 's/^visible //p' "$T/stats") $(sed -n 's/^poison //p' "$T/stats")"
}

# ---- syntax errors ----
sql syntax "SELECT origin, count(*) FROM FROM input GROUP BY origin"
is $? 64 "a syntax error in --sql exits 64"
contains "$T/syntax.log" '--sql:1:30: syntax error at or near "FROM"' \
    "the syntax error names --sql, line and column, and the token"

printf '[job]\nquery = SELECT origin,\n  sum(delay) FRM input\n  GROUP BY origin\n' > "$T/bad.ini"
LOG=$T/job.log mb_run 2 "dir:$T/q" "$T/out" --job "$T/bad.ini"
is $? 65 "a syntax error in a job file's query exits 65"
contains "$T/job.log" "$T/bad.ini \[job\] query:2:[0-9]+: syntax error at or near \"input\"" \
    "the syntax error names the job file and the query's line"

# ---- the query does not fit the input: the job is at fault ----
sql unknown "SELECT origin, sum(dely) FROM input GROUP BY origin"
is $? 64 "an unknown column exits 64"
contains "$T/unknown.log" "f.csv: --sql:1:20: unknown column 'dely' \(the input has: origin, delay, day\)" \
    "the error names the column, its position and the header"
contains "$T/unknown.log" "the message is released, not poisoned" "the error says the message was released"
is "$(visible_poison "dir:$T/q")" "1 0" "after an unknown column the message is visible, not poisoned"

sql rowlevel "SELECT origin, delay FROM input"
is $? 64 "a row-level query exits 64"
contains "$T/rowlevel.log" "--sql:1:8: a row-level query \(no GROUP BY and no aggregate\)" \
    "a row-level query is refused as such"
sql typeerr "SELECT origin, sum(origin) FROM input GROUP BY origin"
is $? 64 "sum() of a VARCHAR column exits 64"
contains "$T/typeerr.log" "--sql:1:16: sum\(\) takes a number, not VARCHAR" \
    "the type error names the function, its position and the type"

# ---- refused constructs, each named ----
refused() {    # refused NAME QUERY PATTERN WHAT
    sql "$1" "$2"
    is $? 64 "$4 exits 64"
    contains "$T/$1.log" "$3" "$4 is refused by name"
}
refused join "SELECT a.origin, count(*) FROM input a JOIN input b ON a.origin = b.origin GROUP BY a.origin" \
    "--sql:1:32: JOIN is not supported" "a JOIN"
refused subq "SELECT origin, count(*) FROM input WHERE delay > (SELECT 1) GROUP BY origin" \
    "--sql:1:[0-9]+: subqueries are not supported" "a subquery"
refused window "SELECT origin, sum(delay) OVER (PARTITION BY origin) FROM input" \
    "--sql:1:[0-9]+: window functions \(OVER\) are not supported" "a window function"
refused union "SELECT origin, count(*) FROM input GROUP BY origin UNION SELECT origin, count(*) FROM input GROUP BY origin" \
    "--sql:1:[0-9]+: UNION is not supported" "a UNION"
refused cte "WITH x AS (SELECT * FROM input) SELECT origin, count(*) FROM x GROUP BY origin" \
    "--sql:1:[0-9]+: WITH \(common table expressions\) is not supported" "a CTE"
is "$(visible_poison "dir:$T/q")" "1 0" "after every refusal the message is still visible, not poisoned"

LOG=$T/both.log mb_run 2 "dir:$T/q" "$T/out" --sql "SELECT count(*) FROM input" --agg 'count(*)'
is $? 64 "--sql with --agg exits 64"
contains "$T/both.log" "--sql and --group-by/--agg are two ways" "the usage error names both ways"

# ---- a bad value poisons its task ----
printf 'origin,delay\nSFO,10\nLAX,abc\n' > "$T/data/bad.csv"
"$MB" enqueue --queue "dir:$T/q2" "$T/data/bad.csv" > /dev/null
LOG=$T/value.log mb_run 2 "dir:$T/q2" "$T/out2" --sql "SELECT origin, sum(delay) FROM input GROUP BY origin" \
    --columns "delay BIGINT"
is $? 65 "a value that is not of its --columns type: exit 65 (a task rejected)"
"$MB" queue peek --queue "dir:$T/q2" --poison > "$T/poison"
contains "$T/poison" "bad.csv:3:5: column 'delay': 'abc' is not a BIGINT" \
    "the poison reason names file:line:column, the column, the value and the type"
is "$(visible_poison "dir:$T/q2")" "0 1" "the task was poisoned"

# A DOUBLE variance that is not finite is refused, as DuckDB refuses it
# ("VARSAMP is out of range!"): that task is poisoned, the next one answered;
# sums over inf and NaN are answered (inf + -inf is nan).
printf 'origin,x\nSFO,1\nSFO,inf\nLAX,2\n' > "$T/data/inf.csv"
printf 'origin,x\nSFO,1e300\nSFO,-1e300\nSFO,1\nLAX,inf\nLAX,-inf\nLAX,nan\n' > "$T/data/fin.csv"
"$MB" enqueue --queue "dir:$T/q3" "$T/data/inf.csv" "$T/data/fin.csv" > /dev/null
LOG=$T/var.log mb_run 2 "dir:$T/q3" "$T/out3" \
    --sql "SELECT origin, sum(x) AS s, var_samp(x) FILTER (WHERE abs(x) < 1e10) AS v,
           var_pop(x) FILTER (WHERE origin = 'SFO' AND (abs(x) < 1e10 OR x > 1e301)) AS vp
           FROM input GROUP BY origin ORDER BY origin" \
    --columns "x DOUBLE"
is $? 65 "a variance over inf: exit 65 (a task rejected)"
"$MB" queue peek --queue "dir:$T/q3" --poison > "$T/poison3"
contains "$T/poison3" "var_pop\(x\) FILTER .* is out of range \(not a finite double" \
    "the poison reason names the aggregate that is out of range"
is "$(visible_poison "dir:$T/q3")" "0 1" "that task was poisoned"
printf 'origin,s,v,vp\nLAX,nan,,\nSFO,1.0,,0.0\n' > "$T/fin.want"
same_file "$T/fin.want" "$(ls "$T/out3"/*.csv)" \
    "the other task: 1e300 + -1e300 + 1 is 1.0, inf + -inf + nan is nan, var_samp of 1 value NULL"

# ---- --explain ----
Q="SELECT origin, sum(delay) AS s, count(*) FROM input WHERE day >= '2024-01-02' GROUP BY origin ORDER BY s DESC LIMIT 5"
"$MB" queue peek --queue "dir:$T/q" > "$T/peek.before"
$MPIRUN -np 2 "$MB" run --queue "dir:$T/q" --out "$T/xo" --sql "$Q" --explain > "$T/x1" 2> "$T/x1.err"
is $? 0 "--explain under mpirun -np 2 exits 0"
contains "$T/x1" "^input: $T/data/f.csv \(task [0-9a-f]+, message [^ ]+, the first visible message of dir:$T/q, peeked, not claimed\); types sniffed from its head$" \
    "the first line names the queued input and how its columns were typed"
contains "$T/x1" "^input columns: origin VARCHAR, delay BIGINT, day DATE$" "the input's columns, sniffed"
contains "$T/x1" "^columns read: #1:origin VARCHAR, #2:delay BIGINT, #3:day DATE$" "the columns read"
contains "$T/x1" "^filter: >=\(#3:day, 2024-01-02::DATE\)->BOOLEAN$" "the filter"
contains "$T/x1" "^key1: #1:origin$" "the key"
contains "$T/x1" "^agg1: sum\(#2:delay\)->DECIMAL\(38,0\)$" "the first aggregate"
contains "$T/x1" "^agg2: count_star\(\)->BIGINT$" "the second aggregate"
contains "$T/x1" "^limit: 5$" "the limit"
is "$(grep -c '^columns read' "$T/x1")" 1 "the plan is printed once, by rank 0"
"$MB" queue peek --queue "dir:$T/q" > "$T/peek.after"
same_file "$T/peek.before" "$T/peek.after" "--explain claims nothing (same message, same dequeue count)"
[ ! -e "$T/xo" ]; ok $? "--explain writes no --out"

"$MB" run --queue "dir:$T/q" --sql "$Q" --columns "delay DOUBLE" --explain > "$T/x2" 2> "$T/x2.err"
is $? 0 "--explain without mpirun exits 0"
contains "$T/x2" "types sniffed from its head, then --columns$" "the first line says --columns was applied"
contains "$T/x2" "^agg1: sum\(#2:delay\)->DOUBLE$" "--columns overrides the sniffed type"

"$MB" run --sql "$Q" --columns "origin VARCHAR, delay DOUBLE, day DATE" --explain > "$T/x3" 2> "$T/x3.err"
is $? 0 "--explain with --columns and no queue exits 0"
contains "$T/x3" "^input: none \(no queue: no --queue, no MPIBATCH_QUEUE\); the columns and their types are exactly --columns$" \
    "the first line says the columns are --columns alone"
contains "$T/x3" "^columns read: #1:origin VARCHAR, #2:delay DOUBLE, #3:day DATE$" "the columns read, as --columns types them"
contains "$T/x3" "^filter: >=\(#3:day, 2024-01-02::DATE\)->BOOLEAN$" "the filter, over --columns"
contains "$T/x3" "^key1: #1:origin$" "the key, over --columns"
contains "$T/x3" "^agg1: sum\(#2:delay\)->DOUBLE$" "the aggregate, over --columns"

"$MB" enqueue --queue "dir:$T/qe" "$T/data/f.csv" > /dev/null
"$MB" queue purge --queue "dir:$T/qe"
"$MB" run --queue "dir:$T/qe" --sql "$Q" --columns "origin VARCHAR, delay DOUBLE, day DATE" --explain > "$T/x4" 2>&1
is $? 0 "--explain over an empty queue with --columns exits 0"
contains "$T/x4" "^input: none \(the queue dir:$T/qe has no visible message\)" "the first line says the queue is empty"
"$MB" run --queue "dir:$T/qe" --sql "$Q" --explain > "$T/x5" 2>&1
is $? 64 "--explain with no input and no --columns exits 64"
contains "$T/x5" "no input to type the query's columns from: the queue dir:$T/qe has no visible message" \
    "the error says why there is nothing to explain"

$MPIRUN -np 2 "$MB" run --queue "dir:$T/q" --sql "SELECT origin, count(*) FROM FROM input GROUP BY origin" \
    --explain > "$T/x6" 2>&1
is $? 64 "--explain of a query with a syntax error exits 64"
is "$(grep -c -- '--sql:1:30: syntax error at or near "FROM"' "$T/x6")" 1 \
    "the syntax error is reported once, with its position"
"$MB" run --queue "dir:$T/q" --sql "SELECT origin, sum(dely) FROM input GROUP BY origin" --explain > "$T/x7" 2>&1
is $? 64 "--explain of a query that does not fit the input exits 64"
contains "$T/x7" "f.csv: --sql:1:20: unknown column 'dely' \(the input has: origin, delay, day\)" \
    "--explain names the input, the column and the header"
"$MB" run --queue "dir:$T/q" --sql "$Q" --columns "nosuch DOUBLE" --explain > "$T/x12" 2>&1
is $? 65 "--explain with --columns naming a column the input lacks exits 65, as a run does"
contains "$T/x12" "f.csv: --columns names 'nosuch', which the file does not have \(its columns: origin, delay, day\)" \
    "the error names the input, the column and the header"
LOG=$T/nosuch.log mb_run 2 "dir:$T/q" "$T/out" --sql "$Q" --columns "nosuch DOUBLE"
is $? 65 "a run with that --columns exits 65 too"
"$MB" run --queue "dir:$T/q" --job "$T/bad.ini" --explain > "$T/x8" 2>&1
is $? 65 "--explain of a job file whose query has a syntax error exits 65"
contains "$T/x8" "$T/bad.ini \[job\] query:2:" "the error names the job file"

printf '[job]\nquery = SELECT origin,\n  sum(delay) AS s\n  FROM input GROUP BY origin\n[columns]\ndelay = DOUBLE\n' > "$T/ok.ini"
"$MB" run --queue "dir:$T/q" --job "$T/ok.ini" --explain > "$T/x9" 2>&1
is $? 0 "--explain of a job file's query exits 0"
contains "$T/x9" "^agg1: sum\(#2:delay\)->DOUBLE$" "the job file's [columns] types the input"

printf 'SFO,10\nLAX,20\n' > "$T/data/nh.csv"
"$MB" enqueue --queue "dir:$T/qn" "$T/data/nh.csv" > /dev/null
"$MB" run --queue "dir:$T/qn" --no-header --sql "SELECT column1, sum(column2) FROM input GROUP BY column1" \
    --explain > "$T/x10" 2>&1
is $? 0 "--explain of a file without a header exits 0"
contains "$T/x10" "^columns read: #1:column1 VARCHAR, #2:column2 BIGINT$" "its columns are column1..N"

"$MB" run --queue "dir:$T/q" --group-by origin --agg 'count(*)' --explain > "$T/x11" 2>&1
is $? 0 "--explain of a --group-by/--agg job exits 0"
contains "$T/x11" "^query \(the --group-by/--agg job as SQL\): SELECT nullif\(\"origin\", ''\) AS \"origin\", count\(\*\) AS \"count\(\*\)\" FROM input GROUP BY 1 ORDER BY 1 NULLS FIRST$" \
    "it prints the query the job stands for"
"$MB" run --queue "dir:$T/qn" --no-header --group-by 1 --agg 'sum(2)' --explain > "$T/x12" 2>&1
is $? 0 "--explain of an --agg job over a file without a header exits 0"
contains "$T/x12" "SELECT nullif\(\"column1\", ''\) AS \"1\", sum\(\"column2\"\) AS \"sum\(2\)\" FROM" \
    "--agg's column N is the query's columnN, named N in the answer"
contains "$T/x12" "^input columns: column1 VARCHAR, column2 BIGINT$" "the key is VARCHAR, the summed column BIGINT"

# An answer out of range (a DECIMAL(38,0) sum past 38 digits) is bad data
# found when the task is finished: that task is poisoned, the next one is
# committed, the run goes on and exits 65.
python3 -c "print('k,x'); [print('a,' + '9' * 38) for _ in range(20)]" > "$T/data/big38.csv"
printf 'k,x\na,1\n' > "$T/data/ok38.csv"
"$MB" enqueue --queue "dir:$T/q38" --id big38 "$T/data/big38.csv" > /dev/null
"$MB" enqueue --queue "dir:$T/q38" --id ok38 "$T/data/ok38.csv" > /dev/null
LOG=$T/r38.log mb_run 2 "dir:$T/q38" "$T/out38" --sql "SELECT k, sum(x) AS s FROM input GROUP BY k" \
    --columns "x DECIMAL(38,0)"
is $? 65 "a sum past 38 digits: the run exits 65"
contains "$T/r38.log" "sum\(x\) is out of range \(1999999999999999999999999999999999999980\)" \
    "the error names the aggregate and the value"
n=$(cat "$T"/q38/poison/*.reason 2>/dev/null | grep -c "out of range")
is "$n" 1 "that task is poisoned, at once"
printf 'k,s\na,1\n' > "$T/ok38.want"
cmp -s "$T/out38/ok38.csv" "$T/ok38.want"
ok $? "the other task is committed"

echo "# 57-sql-errors: $tap_n checks, $tap_failed failed"
done_testing
