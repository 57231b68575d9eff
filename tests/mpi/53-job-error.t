#!/bin/sh
# A job error does not poison the queue: with a typo in a column name, the
# run stops with exit 64 (65 for a job file) at the first file and names the job as the cause,
# and every message is still in the queue, unpoisoned. Once a file has fit
# the job (in this run or in --out), a file that lacks the column is that
# file's fault and is poisoned. `queue redrive` moves poisoned messages
# back (one by --id, or all), as first deliveries; until it is committed,
# `results --merge` warns that the output lacks a poisoned task.
. tests/lib/tap.sh

mkdir -p "$T/data"
for i in 1 2 3; do printf 'k,bytes\na,%s\nb,2\n' "$i" > "$T/data/f$i.csv"; done
printf 'k,other\na,1\n' > "$T/data/g.csv"
"$MB" enqueue --queue "dir:$T/q" "$T"/data/f*.csv > /dev/null

mb_run 2 "dir:$T/q" "$T/out" --group-by k --agg 'sum(byts)'
is $? 64 "a job (of the command line) that fits no file: exit 64"
contains "$T/log" "unknown column 'byts' \(the input has: k, bytes\)" "the error names the missing column"
contains "$T/log" "the job is taken to be at fault" "the error blames the job, not the file"
"$MB" queue stats --queue "dir:$T/q" > "$T/stats"
is "$(sed -n 's/^visible //p' "$T/stats")" 3 "all three messages are still visible"
is "$(sed -n 's/^poison //p' "$T/stats")" 0 "none was poisoned"

LOG=$T/log2 mb_run 2 "dir:$T/q" "$T/out" --group-by k --agg 'sum(bytes)'
is $? 0 "the fixed job drains the queue"
is "$(ls "$T/out/.ledger" | wc -l)" 3 "three tasks committed"

# Now a file without the column: the job has fit files in --out before.
"$MB" enqueue --queue "dir:$T/q" "$T/data/g.csv" > /dev/null
LOG=$T/log3 mb_run 1 "dir:$T/q" "$T/out" --group-by k --agg 'sum(bytes)'
is $? 65 "a file that does not fit a proven job: exit 65"
is "$(find "$T/q/poison" -type f ! -name '*.reason' | wc -l)" 1 "that file is poisoned"
contains "$T/q/poison/"*.reason "g.csv: .*unknown column 'bytes' \(the input has: k, other\)" "the reason names file and column"
"$MB" results "$T/out" --merge > /dev/null 2> "$T/merge.err"
contains "$T/merge.err" "1 task\(s\) of this output ended in the poison area" \
    "results --merge warns that a task of the queue ended in poison"

id=$(find "$T/q/poison" -type f ! -name '*.reason' -exec basename {} \; | sed 's/\.[0-9]*$//')
"$MB" queue redrive --queue "dir:$T/q" --id nosuchid > /dev/null 2>&1
is $? 66 "redrive of an unknown id exits 66"
"$MB" queue redrive --queue "dir:$T/q" --id "$id" > "$T/redrive"
is "$(cat "$T/redrive")" "redriven 1" "redrive --id moves that message back"
"$MB" queue stats --queue "dir:$T/q" > "$T/stats"
is "$(sed -n 's/^visible //p' "$T/stats")" 1 "it is visible again"
is "$(sed -n 's/^poison //p' "$T/stats")" 0 "the poison area is empty"
"$MB" queue peek --queue "dir:$T/q" | cut -f2 > "$T/count"
is "$(cat "$T/count")" 0 "it comes back as a first delivery (dequeue count 0)"
printf 'k,bytes\na,5\n' > "$T/data/g.csv"    # the file is mended
LOG=$T/log4 mb_run 1 "dir:$T/q" "$T/out" --group-by k --agg 'sum(bytes)'
is $? 0 "the redriven task is committed once its file is mended"
is "$(ls "$T/out/.ledger" | wc -l)" 4 "four tasks committed"
"$MB" results "$T/out" --merge > /dev/null 2> "$T/merge.err"
is "$(grep -c 'poison area' "$T/merge.err")" 0 "once committed, the warning is gone"
"$MB" queue redrive --queue "dir:$T/q" > "$T/redrive"
is "$(cat "$T/redrive")" "redriven 0" "redrive of an empty poison area moves nothing"
done_testing
