#!/bin/sh
# The newest checkpoint truncated, bit-flipped or half-written (and a stale
# temporary beside it): the previous checkpoint is used with a warning, and
# the results are byte-identical to an uninterrupted run.
. tests/lib/tap.sh
. tests/lib/restart.sh

start_job "$T/base" 2 --checkpoint-interval 0.05
wait_for_log "$T/base/first.log" "committed" 20
sleep 0.3
kill -USR1 "$pid"
wait "$pid"
is $? 75 "a job stopped with checkpoints"
n=$(ls "$T"/base/ck/*/ckpt-*.h5 | wc -l)
is "$n" 2 "the last two checkpoints are kept"

for damage in truncated bitflip halfwritten; do
    d="$T/$damage"
    cp -a "$T/base" "$d"
    ck=$(newest_ckpt "$d")
    size=$(stat -c %s "$ck")
    case $damage in
    truncated) truncate -s 1024 "$ck" ;;
    halfwritten) truncate -s $((size / 2)) "$ck" ;;
    bitflip)
        off=$((size * 3 / 5))
        b=$(od -An -tu1 -j "$off" -N1 "$ck" | tr -d ' ')
        printf '%b' "$(printf '\\%03o' $(((b + 1) % 256)))" | dd of="$ck" bs=1 seek="$off" conv=notrunc 2>/dev/null
        ;;
    esac
    : > "$(dirname "$ck")/.ckpt-999.h5.tmp"
    "$MB" inspect "$ck" > "$d/inspect" 2>&1
    [ $? -ne 0 ]; ok $? "$damage: inspect reports the newest checkpoint damaged"
    drain "$d" 2; ok $? "$damage: the rerun drains the queue"
    contains "$d/rerun.log" "damaged" "$damage: the rerun warns about the damaged checkpoint"
    contains "$d/rerun.log" "resuming from .*ckpt-" "$damage: the rerun resumed from the previous one"
    same_as_ref "$d"; ok $? "$damage: results byte-identical"
done

# A checkpoint made for another job is refused unless --fresh.
cp -a "$T/base" "$T/other"
$MPIRUN -np 2 "$MB" run --queue "dir:$T/other/q" --out "$T/other/out2" \
    --group-by carrier --agg 'count(*)' --chunk-size 64K --checkpoint-dir "$T/other/ck" 2> "$T/other/log"
is $? 65 "a checkpoint of another job is refused (exit 65)"
contains "$T/other/log" "was made for a different job .* --fresh" "the refusal explains --fresh"
$MPIRUN -np 2 "$MB" run --queue "dir:$T/other/q" --out "$T/other/out2" \
    --group-by carrier --agg 'count(*)' --chunk-size 64K --checkpoint-dir "$T/other/ck" --fresh 2> "$T/other/log2"
ok $? "--fresh discards it and the run completes"
n=$(ls "$T/other/out2/.ledger" | wc -l); is "$n" 2 "the two tasks left in the queue are committed after --fresh"
done_testing
