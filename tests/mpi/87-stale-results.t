#!/bin/sh
# Stale results: a redelivered task is acknowledged only when the ledger
# entry was written by the same job (plan fingerprint) from the same input
# (size, mtime with ns, inode). A second job with other aggregates on the
# same file and --out stops with exit 65 naming the task, OUT and both
# fingerprints, and its message is released, not poisoned. A file rewritten
# in place and redelivered goes to the poison area with a reason telling to
# enqueue it with a new --id, never to the old answer.
. tests/lib/tap.sh

mkdir -p "$T/data"
rows() { # rows N: a CSV of N rows over 3 keys
    awk -v n="$1" 'BEGIN { print "k,v"; for (i = 1; i <= n; i++) printf "k%d,%d\n", i % 3, i }'
}
rows 10 > "$T/data/f.csv"
f=$T/data/f.csv
size10=$(stat -c %s "$f")
JOB_A="--group-by k --agg count(*)"
stats() { "$MB" queue stats --queue "dir:$T/q" | tr '\n' ' '; }

"$MB" enqueue --queue "dir:$T/q" "$f" > "$T/ids"
task=$(cut -f1 "$T/ids")
# shellcheck disable=SC2086 # JOB_A is a word list
mb_run 1 "dir:$T/q" "$T/out" $JOB_A --idle-exit 0
is $? 0 "job A commits the task"
"$MB" results "$T/out" --merge > "$T/a.csv"
$ORACLE --group-by k --agg 'count(*)' "$f" > "$T/a-oracle.csv"
same_file "$T/a.csv" "$T/a-oracle.csv" "job A's result is right"

# The same work item again, same job, file untouched: acknowledged.
"$MB" enqueue --queue "dir:$T/q" "$f" > /dev/null
# shellcheck disable=SC2086
LOG=$T/same.log mb_run 1 "dir:$T/q" "$T/out" $JOB_A --idle-exit 0
is $? 0 "a redelivery for the same job and input is acknowledged"
contains "$T/same.log" "task $task: already committed; acknowledging" "... as already committed"
is "$(stats)" "approximate_messages 0 visible 0 leased 0 poison 0 " "... and deleted"

# Job B: other aggregates, same file, same --out.
"$MB" enqueue --queue "dir:$T/q" "$f" > /dev/null
LOG=$T/b.log mb_run 2 "dir:$T/q" "$T/out" --group-by k --agg 'count(*), sum(v)' --idle-exit 0
is $? 65 "job B on job A's --out stops with exit 65"
fp_a=$(sed -n 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/p' "$T/out/.ledger/$task.json")
contains "$T/b.log" "task $task: $T/out belongs to another job" "the error names the task and OUT"
contains "$T/b.log" "fingerprint $fp_a, this job's is [0-9a-f]{64}" "... and both fingerprints"
if grep -q "already committed" "$T/b.log"; then ok 1 "job B is not given job A's result"; else ok 0 "job B is not given job A's result"; fi
is "$(stats)" "approximate_messages 1 visible 1 leased 0 poison 0 " "job B's message is released, not poisoned"
"$MB" results "$T/out" --merge > "$T/a2.csv"
same_file "$T/a2.csv" "$T/a-oracle.csv" "job A's result is untouched"
"$MB" queue purge --queue "dir:$T/q"

# The file rewritten in place (10 -> 100 rows, same inode) and redelivered.
rows 100 > "$T/new.csv"
cat "$T/new.csv" > "$f"
"$MB" enqueue --queue "dir:$T/q" "$f" > /dev/null
# shellcheck disable=SC2086
LOG=$T/changed.log mb_run 2 "dir:$T/q" "$T/out" $JOB_A --idle-exit 0
is $? 65 "a changed input is rejected (exit 65)"
if grep -q "already committed" "$T/changed.log"; then ok 1 "the changed input does not get the old answer"; else ok 0 "the changed input does not get the old answer"; fi
cat "$T"/q/poison/*.reason > "$T/reasons" 2>/dev/null
contains "$T/reasons" "input $f changed since task $task was committed \(size $size10 -> $(stat -c %s "$f")" "the poison reason says what changed"
contains "$T/reasons" "enqueue it with a new --id to process the new version" "... and what to do"
"$MB" results "$T/out" --merge > "$T/a3.csv"
same_file "$T/a3.csv" "$T/a-oracle.csv" "the committed result is untouched"

# Same size, new content: only the mtime tells.
"$MB" queue purge --queue "dir:$T/q"
sed 's/k1,/k2,/' "$T/new.csv" > "$T/new2.csv"
"$MB" enqueue --queue "dir:$T/q" --id same-size "$f" > /dev/null
# shellcheck disable=SC2086
LOG=$T/v1.log mb_run 1 "dir:$T/q" "$T/out2" $JOB_A --idle-exit 0
sleep 0.05
cat "$T/new2.csv" > "$f"
"$MB" enqueue --queue "dir:$T/q" --id same-size "$f" > /dev/null
# shellcheck disable=SC2086
LOG=$T/v2.log mb_run 1 "dir:$T/q" "$T/out2" $JOB_A --idle-exit 0
is $? 65 "a same-size rewrite is rejected too"
contains "$T/v2.log" "changed since task same-size was committed \(mtime" "... by its mtime"

# Enqueued with a new --id, the new version is processed.
"$MB" enqueue --queue "dir:$T/q" --id f-v2 "$f" > /dev/null
# shellcheck disable=SC2086
LOG=$T/v3.log mb_run 1 "dir:$T/q" "$T/out" $JOB_A --idle-exit 0
is $? 0 "the new version with a new --id is committed"
$ORACLE --group-by k --agg 'count(*)' "$T/data/f.csv" > "$T/b-oracle.csv"
cp "$T/out/f-v2.csv" "$T/b.csv"
same_file "$T/b.csv" "$T/b-oracle.csv" "... with the new version's answer"
done_testing
