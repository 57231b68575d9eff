#!/bin/sh
# shellcheck disable=SC2086 # MPIRUN and OPTS are word lists
# The poison rule counts failed deliveries, not deliveries: a task killed
# again and again while it checkpoints (another consumer's scan recovering
# the expired lease in between, so that every rerun is a new delivery) is
# committed in the end with the default --max-dequeue; so is one stopped by
# SIGUSR1 (exit 75) more often than --max-dequeue; a task that crashes the
# job at the same spot every time, before any progress, ends in the poison
# area with the cause of every failed delivery, and the run that poisons it
# exits 65.
. tests/lib/tap.sh
if [ -n "${MB_SANITIZE:-}" ]; then
    echo "1..0 # SKIP a kill storm, timing-bound; the normal pass runs it"
    exit 0
fi

mkdir -p "$T/data"
"$GEN" --profile flights --rows 100000 --seed 7 > "$T/data/big.csv"
"$GEN" --profile flights --rows 2000 --seed 8 > "$T/data/small.csv"
OPTS="--job jobs/flights.job --chunk-size 64K --visibility-timeout 2 --checkpoint-interval 0.1"
MPIBATCH_FAULT_SLEEP_MS=25
export MPIBATCH_FAULT_SLEEP_MS
MPIRUN="$MPIRUN -x MPIBATCH_FAULT_SLEEP_MS"
"$MB" enqueue --queue "dir:$T/q0" "$T/data/big.csv" > /dev/null
LOG=$T/ref.log mb_run 1 "dir:$T/q0" "$T/ref" --job jobs/flights.job --chunk-size 64K

# --- killed six times, progress every time ------------------------------------
Q="dir:$T/q1"
"$MB" enqueue --queue "$Q" "$T/data/big.csv" > /dev/null
kills=0
while [ $kills -lt 6 ]; do
    : > "$T/k.log"
    setsid $MPIRUN -np 1 "$MB" run --queue "$Q" --out "$T/out1" $OPTS \
        --checkpoint-dir "$T/ck1" 2>> "$T/k.log" &
    pid=$!
    # Kill after this delivery wrote a checkpoint of its own.
    wait_for_log "$T/k.log" "checkpoint [0-9]+ written" 30 || break
    pkill -9 -s "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    cat "$T/k.log" >> "$T/all1.log"
    # The lease expires (2 s after its last renewal) and a scan takes the
    # message back: poll with scans until it is visible again (at most 10 s).
    i=0
    while [ $i -lt 100 ] && ! "$MB" queue stats --queue "$Q" | grep -qx 'leased 0'; do
        sleep 0.1
        i=$((i + 1))
    done
done
is "$kills" 6 "the task was killed six times while checkpointing"
LOG=$T/all1.log mb_run 1 "$Q" "$T/out1" $OPTS --checkpoint-dir "$T/ck1"
is $? 0 "the run after the kills exits 0"
for f in "$T"/ref/*.csv; do
    same_file "$T/out1/${f##*/}" "$f" "the task is committed, byte-identical to an uninterrupted run"
done
is "$(find "$T/q1/poison" -type f | wc -l)" 0 "nothing went to the poison area"
contains "$T/all1.log" "made progress \(a newer checkpoint\); not counted as a failure" \
    "a killed delivery that checkpointed is not counted as a failure"

# --- stopped on request (SIGUSR1, forwarded by mpirun) six times --------------------------------------------
Q="dir:$T/q2"
"$MB" enqueue --queue "$Q" "$T/data/big.csv" > /dev/null
stops=0 n=0
while [ $n -lt 6 ]; do
    : > "$T/s.log"
    $MPIRUN -np 1 "$MB" run --queue "$Q" --out "$T/out2" $OPTS --checkpoint-interval 60 \
        2>> "$T/s.log" &
    pid=$!
    wait_for_log "$T/s.log" "run: queue" 30
    sleep 0.3
    kill -USR1 "$pid"
    wait "$pid"
    [ $? -eq 75 ] && stops=$((stops + 1))
    cat "$T/s.log" >> "$T/all2.log"
    n=$((n + 1))
done
is "$stops" 6 "six runs stopped on request with exit 75"
LOG=$T/s2.log mb_run 1 "$Q" "$T/out2" $OPTS
is $? 0 "the run after the stops exits 0"
is "$(ls "$T/out2/.ledger" | wc -l)" 1 "the task is committed"
is "$(find "$T/q2/poison" -type f | wc -l)" 0 "stops on request are no failures"

# --- crashes at the same spot every time ----------------------------------------
Q="dir:$T/q3"
"$MB" enqueue --queue "$Q" "$T/data/small.csv" > /dev/null
n=0
while [ $n -lt 3 ]; do
    # every rerun reclaims the lease of the run before it at once, also
    # after two crashes in a row (the renewed lease is recorded again)
    MPIBATCH_FAULT=after-chunk LOG=$T/c$n.log mb_run 1 "$Q" "$T/out3" $OPTS --max-dequeue 2 \
        --checkpoint-dir "$T/ck3"
    n=$((n + 1))
done
contains "$T/c2.log" "reclaimed from the previous run with its lease" \
    "the third run reclaims the lease the second one renewed"
LOG=$T/c.log mb_run 1 "$Q" "$T/out3" $OPTS --max-dequeue 2 --checkpoint-dir "$T/ck3"
is $? 65 "the run that poisons the crashing task exits 65"
is "$(find "$T/q3/poison" -type f ! -name '*.reason' | wc -l)" 1 "the crashing task is in the poison area"
cat "$T"/q3/poison/*.reason > "$T/reason3" 2>/dev/null
contains "$T/reason3" "failed 3 times, more than max-dequeue 2: #1 ended without an outcome \(the job crashed or was killed\) and made no progress; #2 ended" \
    "the reason names every failed delivery and its cause"
contains "$T/c.log" "1 task\(s\) rejected" "the poisoned task is counted as rejected"
is "$(ls "$T/out3/.ledger" 2>/dev/null | wc -l)" 0 "nothing was committed for it"
done_testing
