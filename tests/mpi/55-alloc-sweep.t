#!/bin/sh
# Every allocation failure ends cleanly. MPIBATCH_FAULT=alloc:N fails the
# Nth allocation of each thread (src/base/mem.h); alloc:0 counts them (K).
# For N over 1..K of a small job (two tasks from a directory queue, small
# chunks, a checkpoint after every round), a run exits 0 or 70 (out of
# memory is EX_SOFTWARE: never a signal, a hang, or a code that blames the
# data or the queue), says "out of memory" on an error line when it fails,
# and a clean rerun on the same queue, output and checkpoint directory
# drains the queue with results byte-identical to a run that never failed:
# nothing lost, poisoned or counted twice, also when the rerun resumes from
# a checkpoint of the failed run.
#
# One rank runs as an MPI singleton, without mpirun, so that the ASan pass
# (MB_SANITIZE=1) can check each failing run for leaks: under mpirun the
# launcher and Open MPI's runtime keep memory until exit in every rank, and
# tests/run.sh turns leak detection off for that. A singleton's leaks are
# reported with whole stacks and tests/lib/lsan.supp drops those of Open
# MPI, PMIx, hwloc, HDF5 and libcurl, so what is left is the project's own.
# Two ranks (under mpirun, without leak detection) sweep a subset of N,
# failing both ranks alike or rank 1 alone (alloc:N@1).
#
# N is swept with a stride so that the test stays under a minute (a larger
# one under ASan); MB_ALLOC_STRIDE=1 sweeps every N.
. tests/lib/tap.sh

mkdir -p "$T/data"
printf 'k,v\na,1\nb,2\na,3\nc,4\nb,5\na,-6.5\n' > "$T/data/f1.csv"
printf 'k,v\nc,1.5\nb,\n"d,e",7\n' > "$T/data/f2.csv"
JOB="--group-by k --agg count(*),sum(v),min(v),max(v) --chunk-size 8 --checkpoint-interval 0"
SUPP=$(pwd)/tests/lib/lsan.supp
VIS=2                     # the lease of a run that died with its message
if [ -n "${MB_SANITIZE:-}" ]; then
    POINTS1=12 POINTS2=3  # an ASan run with leak stacks takes ~2.5 s
else
    POINTS1=24 POINTS2=6
fi

# job NP DIR [FAULT]: one run on DIR's queue, output and checkpoints;
# stdout and stderr go to DIR/out.log and DIR/err.log.
job() {
    j_np=$1; j_d=$2; j_fault=${3:-}
    # shellcheck disable=SC2086 # JOB is a word list
    set -- run --queue "dir:$j_d/q" --out "$j_d/out" --checkpoint-dir "$j_d/ck" \
        --visibility-timeout $VIS $JOB
    if [ "$j_np" = 1 ]; then
        if [ -n "${MB_SANITIZE:-}" ] && [ -n "$j_fault" ]; then
            MPIBATCH_FAULT=$j_fault LSAN_OPTIONS="suppressions=$SUPP" \
                ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=30:abort_on_error=0 \
                timeout -k 5 60 "$MB" "$@" > "$j_d/out.log" 2> "$j_d/err.log"
        else
            MPIBATCH_FAULT=$j_fault timeout -k 5 60 "$MB" "$@" > "$j_d/out.log" 2> "$j_d/err.log"
        fi
    else
        # shellcheck disable=SC2086 # MPIRUN is a word list
        MPIBATCH_FAULT=$j_fault timeout -k 5 60 $MPIRUN -x MPIBATCH_FAULT -np "$j_np" \
            "$MB" "$@" > "$j_d/out.log" 2> "$j_d/err.log"
    fi
}

# fresh DIR: a queue of the two files.
fresh() {
    mkdir -p "$1"
    "$MB" enqueue --queue "dir:$1/q" "$T/data/f1.csv" "$T/data/f2.csv" > /dev/null
}

# snapshot DIR: what a run leaves that must not depend on failures: the
# merged result, each task's CSV, and the queue's counts.
snapshot() {
    "$MB" results "$1/out" --merge 2>&1
    for f in "$1"/out/*.csv; do echo "== ${f##*/}"; cat "$f"; done
    "$MB" queue stats --queue "dir:$1/q" | grep -E '^(visible|leased|poison) '
}

fresh "$T/ref"
job 1 "$T/ref"
is $? 0 "the reference run succeeds"
snapshot "$T/ref" > "$T/ref.snap"
contains "$T/ref.snap" '^a,3,-2\.5,-6\.5,3\.0$' "the reference result is right"

# count NP FAULT: K, the most allocations of any thread of a rank.
count() {
    rm -rf "$T/count"
    fresh "$T/count"
    job "$1" "$T/count" "$2"
    sed -n 's/^mpibatch: fault: alloc: \([0-9]*\) allocations$/\1/p' "$T/count/err.log" |
        sort -n | tail -1
}

# cases NP FAULT_SUFFIX K POINTS: appends the swept cases "NP alloc:N"
# to $T/cases, about POINTS of them spread over 1..K.
cases() {
    stride=${MB_ALLOC_STRIDE:-$(( ($3 + $4 - 1) / $4 ))}
    [ "$stride" -ge 1 ] || stride=1
    echo "# $1 rank(s), alloc:N$2: K = $3, N = 1..$3 step $stride"
    n=1
    while [ "$n" -le "$3" ]; do
        echo "$1 alloc:$n$2" >> "$T/cases"
        n=$((n + stride))
    done
}

k1=$(count 1 alloc:0)
[ -n "$k1" ] && [ "$k1" -gt 50 ]
ok $? "alloc:0 reports the allocations of a 1-rank job (K = ${k1:-none})"
k2=$(count 2 alloc:0)
k2r1=$(count 2 alloc:0@1)
[ -n "$k2" ] && [ -n "$k2r1" ] && [ "$k2r1" -lt "$k2" ]
ok $? "alloc:0@1 counts rank 1 alone ($k2r1 of the $k2 of rank 0)"
: > "$T/cases"
[ -n "$k1" ] && cases 1 "" "$k1" "$POINTS1"
[ -n "$k2" ] && cases 2 "" "$k2" "$((POINTS2 / 3))"
[ -n "$k2r1" ] && cases 2 @1 "$k2r1" "$POINTS2"

# The failing runs first, each on a queue of its own, then one wait for
# the leases and retry delays they left, then the reruns.
# (fd 3: mpirun forwards its stdin to rank 0)
while read -r np fault <&3; do
    d=$T/$np.$fault
    fresh "$d"
    job "$np" "$d" "$fault"
    echo $? > "$d/rc"
    cp "$d/err.log" "$d/fault.err"
done 3< "$T/cases"
sleep $((VIS + 1))
while read -r np fault <&3; do
    d=$T/$np.$fault
    rc=$(cat "$d/rc")
    why=""
    case $rc in
        0) ;;
        70) grep -qE 'mpibatch(\[[0-9]+\])?: error: .*out of memory' "$d/fault.err" ||
            why="exit 70 without an 'error: ... out of memory' line" ;;
        124|137) why="hung (killed by timeout)" ;;
        *) why="exit $rc" ;;
    esac
    grep -q 'LeakSanitizer' "$d/fault.err" && why="$why; leaks"
    grep -qE 'AddressSanitizer|runtime error:|Assertion .* failed' "$d/fault.err" &&
        why="$why; a sanitizer or assertion report"
    job "$np" "$d"
    rerun=$?
    [ "$rerun" -eq 0 ] || why="$why; the rerun exits $rerun"
    snapshot "$d" > "$d/snap"
    cmp -s "$T/ref.snap" "$d/snap" || why="$why; results differ from the reference"
    if [ -z "$why" ]; then
        ok 0 "$np rank(s), $fault: exit $rc, the clean rerun gives the reference results"
    else
        ok 1 "$np rank(s), $fault: ${why#; }"
        grep -vE ' info: ' "$d/fault.err" | head -40 | sed 's/^/#   /'
        diff "$T/ref.snap" "$d/snap" | head -10 | sed 's/^/#   /'
    fi
done 3< "$T/cases"
done_testing
