#!/bin/sh
# run.sh - the whole suite through prove: the unit tests (C, TAP), then the
# integration tests (shell, TAP) that drive build/mpibatch under mpirun,
# against Azurite, and on a local Slurm cluster.
# Usage: tests/run.sh [BUILD_DIR [TEST...]] (default: every test)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build}
[ $# -gt 0 ] && shift
MB_BUILD=$(cd "$BUILD" && pwd)
export MB_BUILD
# npm caches and Azurite live under $HOME; a CI shell may come without it.
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
export HOME
# Open MPI refuses to run as root without these; CI runs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ $# -gt 0 ]; then
    exec prove --timer "$@" < /dev/null
fi
set -- "$BUILD"/tests/test_* tests/sql/*.t tests/mpi/*.t
[ -n "$(ls tests/azure/*.t 2>/dev/null)" ] && set -- "$@" tests/azure/*.t
if [ -n "${MB_SANITIZE:-}" ]; then
    export UBSAN_OPTIONS=print_stacktrace=1
    # The unit tests that do not start MPI run with leak detection first;
    # Open MPI keeps memory until exit on purpose, so the rest run without.
    nompi=""
    for t in "$BUILD"/tests/test_*; do
        grep -q "mb_dist_init" "tests/unit/${t##*/}.c" 2>/dev/null || nompi="$nompi $t"
    done
    # shellcheck disable=SC2086 # a word list of test programs
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 prove --timer $nompi < /dev/null || exit 1
    export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
    set -- tests/sql/*.t tests/mpi/*.t
    [ -n "$(ls tests/azure/*.t 2>/dev/null)" ] && set -- "$@" tests/azure/*.t
    for t in "$BUILD"/tests/test_*; do
        case " $nompi " in *" $t "*) ;; *) set -- "$t" "$@" ;; esac
    done
else
    # Templates and the Slurm daemons test deployment, not memory safety:
    # once is enough.
    [ -n "$(ls tests/slurm/*.t 2>/dev/null)" ] && set -- "$@" tests/slurm/*.t
fi
exec prove --timer "$@" < /dev/null
