#!/bin/sh
# demo.sh - the main job on the embedded default queue: generates seeded
# flight records, enqueues one message per file to a dir: queue, drains it
# with `mpirun -np 2 mpibatch run`, prints the merged result table, then
# runs a --sql job (jobs/late-flights.job) over the same files.
# Usage: jobs/demo.sh   (DEMO_DIR, BUILD and NP may be set)
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
D=${DEMO_DIR:-/tmp/mpibatch-demo}
NP=${NP:-2}
ROOT=""
[ "$(id -u)" -eq 0 ] && ROOT="--allow-run-as-root"

rm -rf "$D"
mkdir -p "$D/data"
for s in 1 2 3 4 5 6; do
    "$B/mpibatch-gen" --profile flights --rows 80000 --seed "$s" > "$D/data/flights-$s.csv"
done
echo "== generated $(du -sh "$D/data" | cut -f1) of flight records in $D/data"
echo "== enqueue (task id, input)"
"$B/mpibatch" enqueue --queue "dir:$D/queue" "$D"/data/*.csv
echo "== mpirun -np $NP mpibatch run --job jobs/flights.job"
mpirun $ROOT --oversubscribe -np "$NP" "$B/mpibatch" run --queue "dir:$D/queue" \
    --out "$D/out" --job jobs/flights.job --chunk-size 1M
echo "== queue afterwards"
"$B/mpibatch" queue stats --queue "dir:$D/queue"
echo "== merged result over all tasks (mpibatch results $D/out --merge)"
"$B/mpibatch" results "$D/out" --merge
echo "== the same files, one SQL query: mpirun -np $NP mpibatch run --job jobs/late-flights.job"
"$B/mpibatch" enqueue --queue "dir:$D/sqlqueue" "$D"/data/*.csv > /dev/null
mpirun $ROOT --oversubscribe -np "$NP" "$B/mpibatch" run --queue "dir:$D/sqlqueue" \
    --out "$D/sqlout" --job jobs/late-flights.job --chunk-size 1M < /dev/null
echo "== merged answer (mpibatch results $D/sqlout --merge)"
"$B/mpibatch" results "$D/sqlout" --merge
