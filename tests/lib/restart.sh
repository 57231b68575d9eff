# shellcheck shell=sh
# shellcheck disable=SC2086,SC2034 # OPTS and MPIRUN split on purpose; pid is for the caller
# restart.sh - fixture for the checkpoint/restart tests (sourced after
# tap.sh): three seeded flight files, chunks slowed down so that a signal or
# a kill lands in the middle of a task, an uninterrupted reference result,
# and helpers to start, stop, drain and compare runs.
mkdir -p "$T/data"
for s in 1 2 3; do
    "$GEN" --profile flights --rows 40000 --seed $s > "$T/data/f$s.csv"
done
OPTS="--job jobs/flights.job --chunk-size 64K --visibility-timeout 2"
MPIBATCH_FAULT_SLEEP_MS=${MPIBATCH_FAULT_SLEEP_MS:-40}
export MPIBATCH_FAULT_SLEEP_MS
MPIRUN="$MPIRUN -x MPIBATCH_FAULT_SLEEP_MS"

"$MB" enqueue --queue "dir:$T/refq" "$T"/data/*.csv > /dev/null
# Every test that sources this compares with the reference: without one
# they would compare nothing, so a failed reference run ends the test.
if ! LOG=$T/ref.log mb_run 2 "dir:$T/refq" "$T/ref" $OPTS ||
    ! "$MB" results "$T/ref" --merge > "$T/ref.csv" || [ ! -s "$T/ref.csv" ]; then
    echo "Bail out! the uninterrupted reference run failed (see below)"
    sed 's/^/# /' "$T/ref.log" | tail -20
    exit 1
fi

# start_job DIR NP [ARGS]: a run in the background on DIR/q; sets $pid.
start_job() {
    d=$1; np=$2; shift 2
    mkdir -p "$d"
    [ -d "$d/q" ] || "$MB" enqueue --queue "dir:$d/q" "$T"/data/*.csv > /dev/null
    setsid $MPIRUN -np "$np" "$MB" run --queue "dir:$d/q" --out "$d/out" $OPTS \
        --checkpoint-dir "$d/ck" "$@" 2>> "$d/first.log" &
    pid=$!
}

# drain DIR NP: reruns until the queue is empty (at most 10 runs).
drain() {
    i=0
    while [ $i -lt 10 ]; do
        LOG=$1/rerun.log mb_run "$2" "dir:$1/q" "$1/out" $OPTS --checkpoint-dir "$1/ck" || return 1
        left=$("$MB" queue stats --queue "dir:$1/q" | sed -n 's/^approximate_messages //p')
        [ "$left" = 0 ] && return 0
        sleep 1
        i=$((i + 1))
    done
    return 1
}

# same_as_ref DIR: 0 when merged and per-task results equal the reference.
same_as_ref() {
    "$MB" results "$1/out" --merge > "$1/merged.csv" || return 1
    cmp -s "$1/merged.csv" "$T/ref.csv" || return 1
    for f in "$T/ref"/*.csv; do cmp -s "$f" "$1/out/$(basename "$f")" || return 1; done
    [ "$(ls "$1/out/.ledger" | wc -l)" -eq 3 ]
}

# newest_ckpt DIR: the newest checkpoint file under DIR/ck.
newest_ckpt() { ls "$1"/ck/*/ckpt-*.h5 2>/dev/null | sort | tail -1; }
