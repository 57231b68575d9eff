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
    # ASan finds memory errors in C code: it needs every C path run once,
    # not every scenario the normal pass runs. So the integration tests
    # here are the ones that together reach every line of src/ that the
    # unit tests do not, as measured with gcov per test (December 2026;
    # a new test is not added here by itself: measure and add it if it
    # reaches C code nothing here does). In, and why:
    #   sql/10-eval-duckdb   the scalar evaluator on every operator and type
    #   sql/20-query-duckdb  SQL planning and the batch program (sqlrun)
    #   sql/40-merge-duckdb  results --merge of SQL states, HDF5 results read back
    #   mpi/10-cli           every subcommand's options, usage errors, --help
    #   mpi/16-operator      log formats, status files, queue stats/peek/purge, poison area
    #   mpi/20-ranks         1-4 ranks, >100k groups (the Alltoallv shuffle), grids built in parts
    #   mpi/40-crash         a crash between commit and delete, the redelivery acknowledged
    #   mpi/52-odd-inputs    a FIFO, a directory, a device as input: poisoned, never hung
    #   mpi/53-job-error     a job that does not fit the data; queue redrive
    #   mpi/55-alloc-sweep   an allocation failure at sampled points, with leak checks
    #   mpi/57-sql-errors    SQL that is refused, bad values under --sql, --explain
    #   mpi/58-bad-rows      --max-bad-rows: bad records skipped and reported, across a resume
    #   mpi/59-agg-is-sql    --group-by/--agg through the SQL engine
    #   mpi/70-ckpt          collective HDF5 checkpoints on 1-3 ranks, every byte flipped
    #   mpi/75-imds          Azure Scheduled Events and managed identity (IMDS mock)
    #   mpi/84-ckpt-damage   resume from a checkpoint; damaged newest ones passed over
    #   mpi/86-results-damage  results --merge over 300 damaged .h5/.csv/ledger files
    #   mpi/88-out-full      a full --out: the commit's ENOSPC cleanup paths
    #   azure/10-auth ... 40-faults  the Azure queue, its signing, retries and faults
    # Left to the normal pass (they reach no C line the list above does not,
    # or, marked *, only a few the normal pass covers):
    #   sql/30-run-duckdb (SQL answers; its paths are 20, 40, 56-59's),
    #   mpi/15-install, 30-concurrent, 50-bad-input (the same paths as 40,
    #   52, 58), 56-sql-ranks* (SQL on 1-4 ranks: 20 and 57-59's paths),
    #   60-memory (RSS means nothing under ASan), 80-kill, 81-rank-kill,
    #   82-signals, 83-restart-ranks, 85-eviction (stop and resume: 40, 75
    #   and 84's paths), 87-stale-results*, 90-two-hosts (TCP between two
    #   namespaces: the same C code), 91-launch (shell), and the timing-bound
    #   51-poison-rule*, 86-ckpt-full-disk*, 89-kill-storm*.
    set -- tests/sql/10-eval-duckdb.t tests/sql/20-query-duckdb.t tests/sql/40-merge-duckdb.t
    for t in 10-cli 16-operator 20-ranks 40-crash 52-odd-inputs 53-job-error 55-alloc-sweep \
             57-sql-errors 58-bad-rows 59-agg-is-sql 70-ckpt 75-imds 84-ckpt-damage \
             86-results-damage 88-out-full; do
        set -- "$@" "tests/mpi/$t.t"
    done
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
