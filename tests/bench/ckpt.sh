#!/bin/sh
# shellcheck disable=SC2086 # MPIRUN and JOB split into words on purpose
# ckpt.sh - cost of checkpointing (a benchmark, not a test): a >= 1 GB input
# drained by 2 ranks with no checkpoints, checkpoints every 60 s and every
# 1 s; checkpoint size and write time; time from restart to the first new
# chunk after a stop. Usage: tests/bench/ckpt.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
B=$(cd "${1:-build}" && pwd)
W=${BENCH_DIR:-/tmp/mpibatch-bench-ckpt}
ROOT=""
[ "$(id -u)" -eq 0 ] && ROOT="--allow-run-as-root"
MPIRUN="mpirun $ROOT --oversubscribe -np 2"
JOB="--group-by id1,id2 --agg count(*),sum(v1),mean(v3),stddev(v3)"
rm -rf "$W"
mkdir -p "$W"
"$B/mpibatch-gen" --profile groupby --bytes 1100000000 --groups 100 > "$W/in.csv"
size=$(stat -c %s "$W/in.csv")
echo "input: $size bytes, group by id1,id2 (10k groups), 2 ranks, chunk 4 MiB"

run() { # NAME [ARGS]: one drain of a fresh queue; prints the wall time
    name=$1
    shift
    rm -rf "$W/q" "$W/out" "$W/ck"
    "$B/mpibatch" enqueue --queue "dir:$W/q" "$W/in.csv" > /dev/null
    t0=$(date +%s.%N)
    $MPIRUN "$B/mpibatch" run --queue "dir:$W/q" --out "$W/out" $JOB "$@" 2> "$W/$name.log"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

cat "$W/in.csv" > /dev/null
t_none=$(run none)
t_60=$(run every60 --checkpoint-dir "$W/ck" --checkpoint-interval 60)
t_1=$(run every1 --checkpoint-dir "$W/ck" --checkpoint-interval 1)
n1=$(grep -c "checkpoint .* written" "$W/every1.log" || true)
wt=$(sed -n 's/.*checkpoint .* written: .* \([0-9.]*\) kB, \([0-9.]*\) s$/\1 \2/p' "$W/every1.log" |
     awk '{ kb += $1; s += $2; n++ } END { if (n) printf "%.0f kB, %.3f s", kb / n, s / n; else print "none" }')
printf '%-34s %8s s\n' "no checkpoints" "$t_none" "checkpoint every 60 s" "$t_60" \
    "checkpoint every 1 s ($n1 written)" "$t_1"
echo "checkpoint (mean of $n1): $wt (states of both ranks, written collectively)"

# Restart: stop a run mid-task with SIGUSR1, then time the resume.
rm -rf "$W/q" "$W/out" "$W/ck"
"$B/mpibatch" enqueue --queue "dir:$W/q" "$W/in.csv" > /dev/null
$MPIRUN "$B/mpibatch" run --queue "dir:$W/q" --out "$W/out" $JOB --checkpoint-dir "$W/ck" \
    --checkpoint-interval 60 2> "$W/stop.log" &
pid=$!
sleep 1
kill -USR1 $pid
wait $pid || true
ls -l "$W"/ck/*/ckpt-*.h5 | awk '{ print "checkpoint file: " $5 " bytes" }'
$MPIRUN "$B/mpibatch" run --queue "dir:$W/q" --out "$W/out" $JOB --checkpoint-dir "$W/ck" \
    2> "$W/resume.log"
sed -n 's/.*\(resuming from\)[^:]*: \(.*\)/resume: \2/p; s/.*first new chunk done \([0-9.]*\) s after start/restart to first new chunk: \1 s (process start to the first chunk after the resume)/p' "$W/resume.log"
rm -rf "$W"
