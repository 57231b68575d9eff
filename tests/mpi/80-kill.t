#!/bin/sh
# kill -9 of the whole job (mpirun and every rank, as an eviction would) at
# 20 seeded random moments of a multi-task run with frequent checkpoints;
# after each, reruns drain the queue, and the merged result and every
# per-task table are byte-identical to an uninterrupted run, with every task
# exactly once in the ledger. MB_KILL_ROUNDS changes the number of moments.
. tests/lib/tap.sh

mkdir -p "$T/data"
for s in 1 2 3 4; do
    "$GEN" --profile flights --rows 40000 --seed $s > "$T/data/f$s.csv"
done
OPTS="--job jobs/flights.job --chunk-size 64K --checkpoint-interval 0.1 --visibility-timeout 2"
MPIBATCH_FAULT_SLEEP_MS=12
export MPIBATCH_FAULT_SLEEP_MS
MPIRUN="$MPIRUN -x MPIBATCH_FAULT_SLEEP_MS"

"$MB" enqueue --queue "dir:$T/refq" "$T"/data/*.csv > /dev/null
t0=$(date +%s.%N)
mb_run 2 "dir:$T/refq" "$T/ref" $OPTS --checkpoint-dir "$T/refck"
ok $? "uninterrupted reference run"
t1=$(date +%s.%N)
span=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
echo "# an uninterrupted run takes $span s"
"$MB" results "$T/ref" --merge > "$T/ref.csv"

# Reruns until the queue is empty (a message claimed just before the kill
# and not yet recorded comes back when its 2 s lease expires).
drain() {
    i=0
    while [ $i -lt 10 ]; do
        LOG=$1/rerun.log mb_run 2 "dir:$1/q" "$1/out" $OPTS --checkpoint-dir "$1/ck" || return 1
        left=$("$MB" queue stats --queue "dir:$1/q" | sed -n 's/^approximate_messages //p')
        [ "$left" = 0 ] && return 0
        sleep 1
        i=$((i + 1))
    done
    return 1
}

rounds=${MB_KILL_ROUNDS:-20}
resumed=0
seed=1
while [ $seed -le "$rounds" ]; do
    d="$T/k$seed"
    mkdir -p "$d"
    "$MB" enqueue --queue "dir:$d/q" "$T"/data/*.csv > /dev/null
    delay=$(awk -v s=$seed -v span="$span" 'BEGIN { srand(s); printf "%.2f", 0.1 + rand() * span }')
    setsid $MPIRUN -np 2 "$MB" run --queue "dir:$d/q" --out "$d/out" $OPTS \
        --checkpoint-dir "$d/ck" 2> "$d/first.log" &
    pid=$!
    sleep "$delay"
    pkill -9 -s "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    drain "$d"
    ok $? "seed $seed: killed at ${delay}s, reruns drained the queue"
    "$MB" results "$d/out" --merge > "$d/merged.csv"
    same=0
    cmp -s "$d/merged.csv" "$T/ref.csv" || same=1
    for f in "$T/ref"/*.csv; do cmp -s "$f" "$d/out/$(basename "$f")" || same=1; done
    ok $same "seed $seed: merged and per-task results byte-identical to the uninterrupted run"
    n=$(ls "$d/out/.ledger" | wc -l)
    is "$n" 4 "seed $seed: every task exactly once in the ledger"
    grep -q "resuming from" "$d/rerun.log" && resumed=$((resumed + 1))
    seed=$((seed + 1))
done
echo "# $resumed of $rounds reruns resumed a task from a checkpoint"
[ "$resumed" -gt 0 ]; ok $? "some reruns resumed from a checkpoint"
done_testing
