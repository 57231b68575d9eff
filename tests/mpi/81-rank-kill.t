#!/bin/sh
# kill -9 of one rank (not rank 0) in the middle of a task: the job ends in
# bounded time instead of hanging, and the rerun's results are
# byte-identical to an uninterrupted run.
. tests/lib/tap.sh
. tests/lib/restart.sh

start_job "$T/a" 2 --checkpoint-interval 0.2
wait_for_log "$T/a/first.log" "committed" 20; ok $? "the first task was committed"
victim=$(rank_pid 1)
[ -n "$victim" ]; ok $? "found rank 1 (pid $victim)"
t0=$(now)
kill -9 "$victim"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
t1=$(now)
! kill -0 "$pid" 2>/dev/null; ok $? "the job ended $(elapsed "$t0" "$t1") s after the kill (limit 30 s)"
wait "$pid" 2>/dev/null
sleep 1
left=$(ps -s "$pid" -o pid=,stat= | awk '$2 !~ /^Z/ { printf "%s ", $1 }')
[ -z "$left" ]; ok $? "no rank is left behind ($left)"
[ -n "$left" ] && ps -o pid,ppid,stat,cmd -p "${left% }" | sed 's/^/# /'
pkill -9 -s "$pid" 2>/dev/null
drain "$T/a" 2; ok $? "reruns drain the queue"
same_as_ref "$T/a"; ok $? "results byte-identical to the uninterrupted run"
done_testing
