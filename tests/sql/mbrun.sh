#!/bin/sh
# mbrun.sh FULL EMPTY COLUMNS SQL - the SQL differential's driver through
# the real thing: one `mpibatch run --sql SQL --columns COLUMNS` job of two
# tasks (the two files) on MB_DIFF_NP ranks (default 2) with small chunks,
# so that every answer is reduced across ranks. Writes, per task (full,
# empty), DIR/TASK.status (0 answered, else the exit status) and DIR/TASK.out
# (the committed answer, or "ERROR: ..." with the poison reason or the
# log's error), DIR being WORKDIR/mbrun (MB_DIFF_WORK). Needs MB and MPIRUN.
d=${MB_DIFF_WORK:?}/mbrun
rm -rf "$d"
mkdir -p "$d"
"$MB" enqueue --queue "dir:$d/q" --id full "$1" > /dev/null &&
    "$MB" enqueue --queue "dir:$d/q" --id empty "$2" > /dev/null || exit 70
MPIBATCH_PARALLEL_GRID_MIN=1
export MPIBATCH_PARALLEL_GRID_MIN
# shellcheck disable=SC2086 # MPIRUN is a word list
$MPIRUN -x MPIBATCH_PARALLEL_GRID_MIN -np "${MB_DIFF_NP:-2}" "$MB" run -q --queue "dir:$d/q" \
    --out "$d/out" --sql "$4" --columns "$3" --chunk-size 2K 2> "$d/log"
rc=$?
for t in full empty; do
    if [ -f "$d/out/$t.csv" ]; then
        cp "$d/out/$t.csv" "$d/$t.out"
        echo 0 > "$d/$t.status"
    else
        why=$("$MB" queue peek --poison --queue "dir:$d/q" 2>/dev/null | grep -m1 "$t" ||
              grep -m1 -i "error" "$d/log")
        echo "ERROR: exit $rc: $why" > "$d/$t.out"
        echo "${rc#0}" | sed 's/^$/65/' > "$d/$t.status"
    fi
done
exit 0
