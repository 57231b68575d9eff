#!/bin/sh
# Two `mpibatch run` jobs started at once on one directory queue: every task
# is processed exactly once (one ledger entry and one claim each), and the
# merged total equals the oracle.
. tests/lib/tap.sh

mkdir -p "$T/data"
for s in 1 2 3 4 5 6 7 8 9 10 11 12; do
    "$GEN" --profile stress --rows 6000 --seed $s --groups 30 > "$T/data/s$s.csv"
done
AGG='count(*), sum(i), mean(f), stddev(i), max(big)'
"$MB" enqueue --queue "dir:$T/q" "$T"/data/*.csv > /dev/null

LOG=$T/log1 mb_run 2 "dir:$T/q" "$T/out" --group-by k2 --agg "$AGG" --chunk-size 32K &
p1=$!
LOG=$T/log2 mb_run 1 "dir:$T/q" "$T/out" --group-by k2 --agg "$AGG" --chunk-size 32K &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
ok $r1 "first job exits 0"
ok $r2 "second job exits 0"

n=$(ls "$T/out/.ledger" | wc -l); is "$n" 12 "twelve ledger entries"
c1=$(grep -c ": committed " "$T/log1" || true)
c2=$(grep -c ": committed " "$T/log2" || true)
echo "# job 1 committed $c1 tasks, job 2 committed $c2"
is "$((c1 + c2))" 12 "the tasks were committed once in all (by both jobs together)"
ls "$T/out"/*.csv | wc -l > "$T/n"; is "$(cat "$T/n")" 12 "twelve result tables"
"$MB" results "$T/out" --merge > "$T/merged.csv"
$ORACLE --group-by k2 --agg "$AGG" "$T"/data/*.csv > "$T/oracle.csv"
same_file "$T/merged.csv" "$T/oracle.csv" "merged total equals the oracle"
st=$("$MB" queue stats --queue "dir:$T/q" | sed -n 's/^approximate_messages //p')
is "$st" 0 "queue empty afterwards"
done_testing
