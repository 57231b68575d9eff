# shellcheck shell=sh
# shellcheck disable=SC2034 # GEN, ORACLE, ... are used by the scripts that source this
# tap.sh - TAP helpers and fixtures shared by the shell tests (sourced).
# Each test gets a fresh temporary directory $T, removed on exit.
set -u
MB_BUILD=${MB_BUILD:-$(pwd)/build}
MB="$MB_BUILD/mpibatch"
GEN="$MB_BUILD/mpibatch-gen"
ORACLE="python3 $(pwd)/tests/oracle.py"
# When a rank exits non-zero (every expected failure: 65, 74, 75, ...),
# mpirun sends SIGCONT, waits odls_base_sigkill_timeout, SIGTERM, waits
# again, SIGKILL, even when every rank has already exited: 2 s per failed
# run at the default 1 s. A rank reports and agrees on its failure before
# MPI_Finalize, so nothing is lost by not waiting. A test that needs the
# grace period (a SIGTERM to mpirun that the ranks must turn into a stop
# checkpoint: 82-signals) sets MB_MPIRUN_KILL_GRACE=1 before sourcing this.
MPIRUN="mpirun --allow-run-as-root --oversubscribe --mca btl_vader_single_copy_mechanism none"
MPIRUN="$MPIRUN --mca odls_base_sigkill_timeout ${MB_MPIRUN_KILL_GRACE:-0}"
# ob1 is the PML every rank ends up with here (Debian's openmpi-mca-params.conf
# excludes ucx), but choosing among pmls first opens cm and probes its MTLs:
# 0.2 s of each mpirun's 0.4 s. Naming it keeps the transport and drops the
# probe, as hpc-templates/launch/mpibatch-mpirun does on nodes without IB.
MPIRUN="$MPIRUN --mca pml ob1"
T=$(mktemp -d /tmp/mbtest.XXXXXX)
trap '[ -n "${MB_KEEP:-}" ] || rm -rf "$T"' EXIT
tap_n=0
tap_failed=0

# ok STATUS DESCRIPTION: status 0 passes.
ok() {
    tap_n=$((tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        tap_failed=$((tap_failed + 1))
    fi
}

# is GOT WANT DESCRIPTION
is() {
    if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got: '$1'"; echo "#   expected: '$2'"; fi
}

# same_file A B DESCRIPTION: byte-identical files.
same_file() {
    if cmp -s "$1" "$2"; then ok 0 "$3"; else
        ok 1 "$3"
        diff "$1" "$2" 2>&1 | head -10 | sed 's/^/#   /'
    fi
}

# contains FILE PATTERN DESCRIPTION (grep -E)
contains() {
    if grep -qE -- "$2" "$1"; then ok 0 "$3"; else ok 1 "$3"; sed 's/^/#   /' "$1" | head -20; fi
}

done_testing() {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
}

# mb_run NP QUEUE OUT [ARGS...]: mpibatch run under mpirun; stderr is
# appended to ${LOG:-$T/log}. MPIBATCH_FAULT, when set, reaches every rank.
mb_run() {
    np=$1; q=$2; out=$3; shift 3
    xs=""
    [ -n "${MPIBATCH_FAULT:-}" ] && xs="-x MPIBATCH_FAULT"
    # shellcheck disable=SC2086 # MPIRUN and xs are word lists
    $MPIRUN $xs -np "$np" "$MB" run --queue "$q" --out "$out" "$@" 2>>"${LOG:-$T/log}"
}

# now: seconds since the epoch with fractions.
now() { date +%s.%N; }

# elapsed T0 T1: T1 - T0 in seconds (two decimals).
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# rank_pid N: pid of MPI rank N among this test's processes.
rank_pid() {
    for p in $(pgrep -f "$MB run"); do
        if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# wait_for_log FILE PATTERN SECONDS: waits until FILE matches PATTERN.
wait_for_log() {
    i=0
    while [ $i -lt $(($3 * 10)) ]; do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
