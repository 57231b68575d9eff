#!/bin/sh
# A job stopped with a checkpoint resumes on another number of ranks (2 -> 3
# and 4 -> 1) with results byte-identical to an uninterrupted run: states
# are keyed by chunk, not by rank.
. tests/lib/tap.sh
. tests/lib/restart.sh

for case in "2 3" "4 1"; do
    # shellcheck disable=SC2086 # split "FROM TO"
    set -- $case
    d="$T/r$1to$2"
    start_job "$d" "$1"
    wait_for_log "$d/first.log" "committed" 30
    ok $? "$1 ranks: a first task was committed before the stop"
    sleep 0.2
    kill -USR1 "$pid"
    wait "$pid"
    is $? 75 "$1 ranks stopped with exit 75"
    drain "$d" "$2"; ok $? "$2 ranks drain the rest"
    contains "$d/rerun.log" "resuming from" "$1 -> $2: the rerun resumed from the checkpoint"
    same_as_ref "$d"; ok $? "$1 -> $2 ranks: results byte-identical"
done
done_testing
