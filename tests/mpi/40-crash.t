#!/bin/sh
# A crash between commit and delete (injected: SIGKILL right after the
# ledger entry is durable): the redelivered message is acknowledged without
# reprocessing, every task is in the ledger exactly once, and the merged
# total equals the oracle.
. tests/lib/tap.sh

mkdir -p "$T/data"
for s in 1 2 3 4 5; do
    "$GEN" --profile flights --rows 3000 --seed $s > "$T/data/f$s.csv"
done
"$MB" enqueue --queue "dir:$T/q" "$T"/data/*.csv > /dev/null

MPIBATCH_FAULT=after-commit
export MPIBATCH_FAULT
LOG=$T/log1 mb_run 2 "dir:$T/q" "$T/out" --job jobs/flights.job --visibility-timeout 2
r=$?
unset MPIBATCH_FAULT
[ "$r" -ne 0 ]; ok $? "the injected crash kills the job (exit $r)"
n=$(ls "$T/out/.ledger" | wc -l); is "$n" 1 "one task committed before the crash"
st=$("$MB" queue stats --queue "dir:$T/q" | sed -n 's/^approximate_messages //p')
is "$st" 5 "its message was not deleted"

# The crashed run's lease expires after 2 s; wait for it.
LOG=$T/log2 mb_run 2 "dir:$T/q" "$T/out" --job jobs/flights.job --idle-exit 5
ok $? "the rerun exits 0"
contains "$T/log2" "already committed; acknowledging the redelivered message" \
    "the redelivered message is acknowledged"
c=$(grep -c ": committed " "$T/log2"); is "$c" 4 "the rerun commits only the four other tasks"
n=$(ls "$T/out/.ledger" | wc -l); is "$n" 5 "every task is in the ledger exactly once"
"$MB" results "$T/out" --merge > "$T/merged.csv"
$ORACLE --group-by origin --agg "$(sed -n 's/^aggregates *= *//p' jobs/flights.job)" "$T"/data/*.csv > "$T/oracle.csv"
same_file "$T/merged.csv" "$T/oracle.csv" "merged total equals the oracle"
st=$("$MB" queue stats --queue "dir:$T/q" | sed -n 's/^approximate_messages //p')
is "$st" 0 "queue empty afterwards"
done_testing
