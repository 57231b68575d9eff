#!/bin/sh
# shellcheck disable=SC2086 # MPIRUN and OPTS are word lists
# Kill storm: two consumers drain one queue of MB_STORM_TASKS tasks (default
# 100) while whole sessions (mpirun and its ranks) are killed with SIGKILL
# at seeded moments 0.3-2 s apart for MB_STORM_SECONDS (default 40), with
# the default --max-dequeue and frequent checkpoints; every tenth task is
# long enough to be killed several times while it checkpoints. Then the queue is
# drained without kills. Every task is in the ledger exactly once, none was
# committed twice, the merged result and every per-task table are
# byte-identical to an uninterrupted run, queue and poison area are empty
# and no temporary file is left. `make soak` runs the long form.
. tests/lib/tap.sh
if [ -n "${MB_SANITIZE:-}" ]; then
    echo "1..0 # SKIP the storm is timing-bound; the normal pass runs it"
    exit 0
fi

tasks=${MB_STORM_TASKS:-100}
secs=${MB_STORM_SECONDS:-40}
seed=${MB_STORM_SEED:-1}
mkdir -p "$T/data"
i=1
while [ $i -le "$tasks" ]; do
    rows=$((4000 + (i * 337) % 5000))
    [ $((i % 10)) -eq 0 ] && rows=60000     # long tasks, killed while they checkpoint
    "$GEN" --profile flights --rows $rows --seed $i > "$T/data/f$i.csv"
    i=$((i + 1))
done
OPTS="--job jobs/flights.job --chunk-size 32K --visibility-timeout 2"
"$MB" enqueue --queue "dir:$T/refq" "$T"/data/*.csv > /dev/null
LOG=$T/ref.log mb_run 1 "dir:$T/refq" "$T/ref" $OPTS
ok $? "uninterrupted reference run of $tasks tasks"
"$MB" results "$T/ref" --merge > "$T/ref.csv"

MPIBATCH_FAULT_SLEEP_MS=15
export MPIBATCH_FAULT_SLEEP_MS
Q="dir:$T/q"
"$MB" enqueue --queue "$Q" "$T"/data/*.csv > /dev/null

# consumer NAME NP: sessions one after another until told to stop.
consumer() {
    while [ ! -e "$T/stop" ]; do
        setsid $MPIRUN -x MPIBATCH_FAULT_SLEEP_MS -np "$2" "$MB" run --queue "$Q" \
            --out "$T/out" $OPTS --checkpoint-dir "$T/ck-$1" --checkpoint-interval 0.2 \
            --idle-exit 1 2>> "$T/$1.log" &
        echo $! > "$T/$1.pid"
        wait $!
        echo $? >> "$T/$1.rc"
        sleep 0.1
    done
}
consumer a 1 2> /dev/null &
ca=$!
consumer b 2 2> /dev/null &
cb=$!

# The killer: seeded delays of 0.3-2 s, seeded choice of the victim.
awk -v s="$seed" -v secs="$secs" 'BEGIN {
    srand(s); t = 0
    while (t < secs) { d = 0.3 + rand() * 1.7; t += d; printf "%.2f %s\n", d, rand() < 0.5 ? "a" : "b" }
}' > "$T/plan"
kills=0
while read -r delay who; do
    sleep "$delay"
    p=$(cat "$T/$who.pid" 2>/dev/null) || continue
    pkill -9 -s "$p" 2>/dev/null && kills=$((kills + 1))
done < "$T/plan"
touch "$T/stop"
wait "$ca" "$cb"

# Drain without kills (leases of killed sessions expire after 2 s).
n=0
while [ $n -lt 20 ]; do
    LOG=$T/drain.log mb_run 2 "$Q" "$T/out" $OPTS --checkpoint-dir "$T/ck-a" --idle-exit 1
    left=$("$MB" queue stats --queue "$Q" | sed -n 's/^approximate_messages //p')
    [ "$left" = 0 ] && break
    sleep 1
    n=$((n + 1))
done
"$MB" queue stats --queue "$Q" > "$T/stats"
is "$(sed -n 's/^approximate_messages //p' "$T/stats")" 0 "the queue is empty"
is "$(sed -n 's/^poison //p' "$T/stats")" 0 "the poison area is empty"

committed=$(find "$T/out/.ledger" -name '*.json' | wc -l)
lost=$((tasks - committed))
cat "$T"/a.log "$T"/b.log "$T"/drain.log | sed -n 's/.*task \([^:]*\): committed .*/\1/p' |
    sort | uniq -d > "$T/dups"
dups=$(wc -l < "$T/dups")
mism=0
for f in "$T/ref"/*.csv; do cmp -s "$f" "$T/out/$(basename "$f")" || mism=$((mism + 1)); done
"$MB" results "$T/out" --merge > "$T/merged.csv"
cmp -s "$T/merged.csv" "$T/ref.csv" || mism=$((mism + 1))
find "$T/out" "$T/q" "$T"/ck-* -name '*.tmp*' > "$T/temps" 2>/dev/null
temps=$(wc -l < "$T/temps")
resumed=$(cat "$T"/a.log "$T"/b.log | grep -c "resuming from")
summary="storm: $tasks tasks, $kills kills in ${secs} s, $resumed resumes from checkpoints;\
 lost $lost, duplicated $dups, mismatches $mism, temp files left $temps"
echo "# $summary"
echo "$summary" >&2      # prove shows stderr: the figures reach `make soak`'s output
[ "$kills" -ge $((secs / 3)) ]; ok $? "the storm killed $kills sessions"
is "$lost" 0 "no task lost"
is "$dups" 0 "no task committed twice"
is "$mism" 0 "merged and per-task results byte-identical to the uninterrupted run"
is "$temps" 0 "no temporary file left"
sed 's/^/#   /' "$T/temps" >&2
grep -E "error:" "$T"/a.log "$T"/b.log "$T"/drain.log > "$T/errors"
is "$(wc -l < "$T/errors")" 0 "no errors logged"
sed 's/^/#   /' "$T/errors" | head -5
done_testing
