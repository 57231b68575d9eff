#!/bin/sh
# kill -9 of the whole job (mpirun and every rank, as an eviction would) at
# 20 seeded random moments of a multi-task run with frequent checkpoints;
# after each, reruns drain the queue, and the merged result and every
# per-task table are byte-identical to an uninterrupted run, with every task
# exactly once in the ledger. MB_KILL_ROUNDS changes the number of moments.
# The ranks sit in process groups of their own (Open MPI puts them there),
# so "the whole job" is mpirun's session: pkill -9 -s.
. tests/lib/tap.sh
MPIBATCH_FAULT_SLEEP_MS=12
. tests/lib/restart.sh

span=$(sed -n 's/.*run: done: .* in \([0-9.]*\) s$/\1/p' "$T/ref.log")
echo "# an uninterrupted run takes $span s"
rounds=${MB_KILL_ROUNDS:-20}
resumed=0
seed=1
while [ $seed -le "$rounds" ]; do
    d="$T/k$seed"
    delay=$(awk -v s=$seed -v span="$span" 'BEGIN { srand(s); printf "%.2f", 0.3 + rand() * (span + 0.3) }')
    start_job "$d" 2 --checkpoint-interval 0.1
    sleep "$delay"
    pkill -9 -s "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    drain "$d" 2
    ok $? "seed $seed: killed at ${delay}s, reruns drained the queue"
    same_as_ref "$d"
    ok $? "seed $seed: merged and per-task results byte-identical, every task once in the ledger"
    grep -q "resuming from" "$d/rerun.log" && resumed=$((resumed + 1))
    seed=$((seed + 1))
done
echo "# $resumed of $rounds reruns resumed a task from a checkpoint"
[ "$resumed" -gt 0 ]; ok $? "some reruns resumed from a checkpoint"
done_testing
