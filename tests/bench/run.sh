#!/bin/sh
# run.sh - `make bench`: mpibatch against DuckDB, Polars, pandas and GNU
# datamash on seeded CSV group-by data, side by side in one run (a benchmark,
# never part of `make check`'s pass/fail). Installs the peers when missing,
# generates the data sets, runs every query on every tool BENCH_REPS times
# (median wall time, end to end: process start-up included), checks that
# every answer agrees with mpibatch's, and prints one table. Exits non-zero
# only when an answer disagrees (or mpibatch itself fails); a peer that
# cannot be installed or run is shown as n/a with a loud warning.
#
# Usage: tests/bench/run.sh [BUILD_DIR]
# Environment (defaults in brackets):
#   BENCH_BYTES    size of data set (a) [1000000000]; (b) and (d) are a
#                  quarter of it, (c) a half (BENCH_BYTES_B, _C, _D override)
#   BENCH_REPS     repetitions of each run [3]
#   BENCH_SLOW     a run slower than this many seconds is not repeated [20]
#   BENCH_TIMEOUT  bound of any single step, in seconds [900]
#   BENCH_DIR      work directory [/tmp/mpibatch-bench], removed at the end
#                  unless BENCH_KEEP=1
#   MB_NODE_DIR    where the npm peers are installed
#                  [$HOME/.cache/mpibatch/bench-node]
set -eu
cd "$(dirname "$0")/../.."
B=$(cd "${1:-build}" && pwd)
P=$(pwd)/tests/bench/peers
W=${BENCH_DIR:-/tmp/mpibatch-bench}
BYTES=${BENCH_BYTES:-1000000000}
BYTES_B=${BENCH_BYTES_B:-$((BYTES / 4))}
BYTES_C=${BENCH_BYTES_C:-$((BYTES / 2))}
BYTES_D=${BENCH_BYTES_D:-$((BYTES / 4))}
REPS=${BENCH_REPS:-3}
SLOW=${BENCH_SLOW:-20}
TMO=${BENCH_TIMEOUT:-900}
MB_NODE_DIR=${MB_NODE_DIR:-$HOME/.cache/mpibatch/bench-node}
export MB_NODE_DIR
PY=/usr/bin/python3 # Debian's, where python3-pandas lives
# mpibatch runs as users are told to start it: through the launcher, which
# picks the fabric (here: no InfiniBand, so ob1 over shared memory/TCP
# instead of UCX probing devices, 0.2 s less start-up per run).
LAUNCH=$(pwd)/hpc-templates/launch/mpibatch-mpirun
ROOT=""
[ "$(id -u)" -eq 0 ] && ROOT="--allow-run-as-root"

say() { printf 'bench: %s\n' "$*" >&2; }
loud() { printf '\nbench: *** %s ***\n\n' "$*" >&2; }

# --- peers ----------------------------------------------------------------
# Each NA_<peer> is empty when the peer can run, else the reason it cannot.
# shellcheck disable=SC2034 # read through eval in run_tool
NA_mpibatch="" NA_duckdb="" NA_polars="" NA_pandas="" NA_datamash=""

# The npm peers are installed by tests/lib/node_peers.sh, which the SQL
# differential tests share.
. tests/lib/node_peers.sh
npm_peers() {
    if ! command -v node > /dev/null 2>&1 || ! command -v npm > /dev/null 2>&1; then
        NA_duckdb="node/npm missing" NA_polars="node/npm missing"
        return
    fi
    say "npm peers in $MB_NODE_DIR"
    node_peers_install || NA_duckdb="@duckdb/node-api does not install or load (see $MB_NODE_DIR/install.log)"
    timeout 120 node -e "require('module').createRequire('$MB_NODE_DIR/')('nodejs-polars')" \
        > /dev/null 2>&1 || NA_polars="nodejs-polars does not load"
}

deb_peers() {
    missing=""
    "$PY" -c "import pandas" > /dev/null 2>&1 || missing="python3-pandas"
    command -v datamash > /dev/null 2>&1 || missing="$missing datamash"
    if [ -n "$missing" ]; then
        if [ "$(id -u)" -eq 0 ]; then
            say "installing$missing with apt-get"
            # shellcheck disable=SC2086 # a list of package names
            { timeout 600 apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
                    --no-install-recommends $missing; } > "$W/apt.log" 2>&1 ||
                loud "apt-get install$missing failed (see $W/apt.log)"
        else
            loud "not root: cannot install$missing"
        fi
    fi
    "$PY" -c "import pandas" > /dev/null 2>&1 || NA_pandas="python3-pandas missing"
    command -v datamash > /dev/null 2>&1 || NA_datamash="datamash missing"
}

peer_version() { # the versions of the peers, for the table's heading
    node -e "const r = require('module').createRequire('$MB_NODE_DIR/');
             for (const p of ['@duckdb/node-api', 'nodejs-polars'])
               try { console.log(p + ' ' + r(p + '/package.json').version) } catch (e) {}" \
        2> /dev/null || true
    "$PY" -c "import pandas; print('pandas', pandas.__version__)" 2> /dev/null || true
    datamash --version 2> /dev/null | head -n 1 || true
}

# --- data -----------------------------------------------------------------
rm -rf "$W"
mkdir -p "$W"
npm_peers
deb_peers
for p in duckdb polars pandas datamash; do
    eval "na=\$NA_$p"
    # shellcheck disable=SC2154 # na is set by the eval
    [ -z "$na" ] || loud "peer $p is not available: $na; its rows show n/a"
done

# ~1M groups in id3 at 1 GB, whatever the size (db-benchmark's N/K would
# give 220k); id1 and id2 keep 100 values.
gen() { # NAME PROFILE BYTES
    say "generating $1: $2, $3 bytes"
    timeout "$TMO" "$B/mpibatch-gen" --profile "$2" --bytes "$3" --groups 100 \
        --high "$(($3 / 1000 > 0 ? $3 / 1000 : 1))" > "$W/$1.csv"
}
gen a groupby "$BYTES"
gen b groupby-quoted "$BYTES_B"
gen c groupby-wide "$BYTES_C"
say "generating d: flights, about $BYTES_D bytes"
timeout "$TMO" "$B/mpibatch-gen" --profile flights --seed 7 --rows "$((BYTES_D / 59 + 1))" \
    > "$W/d.csv"

# --- running --------------------------------------------------------------
TIMES=$W/times.tsv  # data set, query, tool, cores, seconds or a word
BAD=$W/mismatch.txt # the first disagreement
: > "$TIMES"
: > "$W/groups.tsv"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# One bounded run of a tool; appends its time (or why not) to TIMES and
# leaves its answer in $W/res/DATA.QUERY.TOOL.csv.
run_tool() { # DATA QUERY TOOL KEYS AGGS
    d=$1 q=$2 t=$3 keys=$4 aggs=$5
    in=$W/$d.csv res=$W/res/$d.$q.$t.csv log=$W/log/$d.$q.$t.log
    cores=1
    case "$t" in *-2) cores=2 ;; esac
    eval "na=\$NA_${t%-[12]}"
    [ "$d" = b ] && [ "$t" = datamash ] && na="no CSV quoting"
    if [ -n "${na:-}" ]; then
        printf '%s\t%s\t%s\t%s\tn/a (%s)\n' "$d" "$q" "$t" "$cores" "$na" >> "$TIMES"
        return 0
    fi
    case "$t" in
    mpibatch-*)
        rm -rf "$W/q" "$W/out"
        "$B/mpibatch" enqueue --queue "dir:$W/q" "$in" > /dev/null
        set -- "$LAUNCH" $ROOT -np "$cores" "$B/mpibatch" run --queue "dir:$W/q" --out "$W/out" \
            --group-by "$keys" --agg "$aggs"
        ;;
    duckdb-*) set -- node "$P/duckdb.mjs" "$in" "$res" "$cores" "$keys" "$aggs" v1 ;;
    polars-*) set -- env POLARS_MAX_THREADS="$cores" node "$P/polars.mjs" "$in" "$res" \
        "$cores" "$keys" "$aggs" v1 ;;
    pandas) set -- "$PY" "$P/pandas_peer.py" "$in" "$res" 1 "$keys" "$aggs" v1 ;;
    datamash) # its `sort` would use every core: held to one, as labelled
        set -- sh "$P/datamash.sh" "$in" "$res" 1 "$keys" "$aggs" v1
        command -v taskset > /dev/null 2>&1 && set -- taskset -c 0 "$@"
        ;;
    esac
    t0=$(now)
    if timeout "$TMO" "$@" > "$log" 2>&1; then
        s=$(since "$t0")
    else
        rc=$?
        s="failed"
        [ "$rc" -eq 124 ] && s="timeout"
        loud "$t on $d/$q: $s (exit $rc), see $log"
    fi
    case "$t" in
    mpibatch-*)
        if [ "$s" = failed ] || [ "$s" = timeout ]; then
            echo "mpibatch $t failed on $d/$q" >> "$BAD"
        else
            timeout "$TMO" "$B/mpibatch" results "$W/out" --merge > "$res"
        fi
        ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$d" "$q" "$t" "$cores" "$s" >> "$TIMES"
}

# One bounded run of a SQL query (`mpibatch run --sql`, DuckDB, Polars'
# SQL context; pandas and datamash have no SQL); as run_tool.
run_sql() { # DATA QUERY TOOL SQL TYPES
    d=$1 q=$2 t=$3 sql=$4 types=$5
    in=$W/$d.csv res=$W/res/$d.$q.$t.csv log=$W/log/$d.$q.$t.log
    cores=1
    case "$t" in *-2) cores=2 ;; esac
    eval "na=\$NA_${t%-[12]}"
    case "$t" in pandas | datamash) na="no SQL" ;; esac
    if [ -n "${na:-}" ]; then
        printf '%s\t%s\t%s\t%s\tn/a (%s)\n' "$d" "$q" "$t" "$cores" "$na" >> "$TIMES"
        return 0
    fi
    case "$t" in
    mpibatch-*)  # the types are sniffed, as a user would let them be
        rm -rf "$W/q" "$W/out"
        "$B/mpibatch" enqueue --queue "dir:$W/q" "$in" > /dev/null
        set -- "$LAUNCH" $ROOT -np "$cores" "$B/mpibatch" run --queue "dir:$W/q" --out "$W/out" \
            --sql "$sql"
        ;;
    duckdb-*) set -- node "$P/sql.mjs" duckdb "$in" "$res" "$cores" "$sql" "$types" ;;
    polars-*) set -- env POLARS_MAX_THREADS="$cores" node "$P/sql.mjs" polars "$in" "$res" \
        "$cores" "$sql" "$types" ;;
    esac
    t0=$(now)
    if timeout "$TMO" "$@" > "$log" 2>&1; then
        s=$(since "$t0")
    else
        rc=$?
        s="failed"
        [ "$rc" -eq 124 ] && s="timeout"
        loud "$t on $d/$q: $s (exit $rc), see $log"
    fi
    case "$t" in
    mpibatch-*)
        if [ "$s" = failed ] || [ "$s" = timeout ]; then
            echo "mpibatch $t failed on $d/$q" >> "$BAD"
        else
            timeout "$TMO" "$B/mpibatch" results "$W/out" --merge > "$res"
        fi
        ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$d" "$q" "$t" "$cores" "$s" >> "$TIMES"
}

# Compares every peer's first answer with mpibatch's one-rank answer.
check() { # DATA QUERY [KEYS]
    ref=$W/res/$1.$2.mpibatch-1.csv
    [ -f "$ref" ] && printf '%s\t%s\t%s\n' "$1" "$2" "$(($(wc -l < "$ref") - 1))" >> "$W/groups.tsv"
    for f in "$W/res/$1.$2".*.csv; do
        [ "$f" = "$ref" ] && continue
        [ -f "$ref" ] || break
        if ! msg=$(timeout "$TMO" "$PY" "$P/compare.py" "$ref" "$f" ${3:+--keys "$3"}); then
            t=${f#"$W/res/$1.$2."}
            loud "MISMATCH $1/$2 ${t%.csv}: $msg"
            [ -s "$BAD" ] || echo "$1/$2 ${t%.csv}: $msg" > "$BAD"
        fi
    done
}

TOOLS="mpibatch-1 mpibatch-2 duckdb-1 duckdb-2 polars-1 polars-2 pandas datamash"
QUERIES="few:id1:count(*),sum(v1),mean(v3)
many:id3:count(*),sum(v1),mean(v3)
two:id1,id2:count(*),sum(v1),mean(v3)
all:id1:count(*),sum(v1),mean(v1),min(v1),max(v1),stddev(v1),sum(v3),mean(v3),min(v3),max(v3),stddev(v3)"

bench() { # DATA QUERY-NAMES: every query on every tool, reps interleaved
    d=$1
    mkdir -p "$W/res" "$W/log"
    timeout "$TMO" cat "$W/$d.csv" > /dev/null # into the page cache
    for qn in $2; do
        line=$(printf '%s\n' "$QUERIES" | grep "^$qn:")
        keys=$(echo "$line" | cut -d: -f2)
        aggs=$(echo "$line" | cut -d: -f3)
        say "data set $d, query $qn: group by $keys: $aggs"
        r=1
        while [ "$r" -le "$REPS" ]; do
            for t in $TOOLS; do
                # a slow tool runs once: its first time is its median
                if [ "$r" -gt 1 ] && awk -F'\t' -v d="$d" -v q="$qn" -v t="$t" -v s="$SLOW" \
                    '$1 == d && $2 == q && $3 == t && ($5 !~ /^[0-9.]+$/ || $5 > s) { f = 1 }
                     END { exit !f }' "$TIMES"; then
                    continue
                fi
                run_tool "$d" "$qn" "$t" "$keys" "$aggs"
            done
            [ "$r" -eq 1 ] && check "$d" "$qn"
            r=$((r + 1))
        done
    done
}

# SQL cases: name, data set, key columns, query; the types as the peers
# are told them (mpibatch sniffs its own).
TYPES_A="id1 VARCHAR, id2 VARCHAR, id3 VARCHAR, id4 BIGINT, id5 BIGINT, id6 BIGINT, v1 BIGINT, v2 BIGINT, v3 DOUBLE"
TYPES_D="date DATE, carrier VARCHAR, flight BIGINT, origin VARCHAR, dest VARCHAR, dep_delay BIGINT, arr_delay BIGINT, distance BIGINT, air_time DOUBLE, remarks VARCHAR"
SQL_CASES="sql-filter|a|1|SELECT id1, count(*) AS n, sum(v1) AS s, avg(v3) AS m FROM input WHERE v2 > 10 AND id4 < 50 GROUP BY id1 ORDER BY id1
sql-month|d|1|SELECT strftime(date, '%Y-%m') AS month, count(*) AS n, avg(dep_delay) AS d, max(arr_delay) AS worst FROM input WHERE distance > 500 GROUP BY month ORDER BY month
sql-minmax|d|1|SELECT origin, min(carrier) AS lo, max(dest) AS hi, min(date) AS first, count(remarks) AS n FROM input GROUP BY origin ORDER BY origin"

bench_sql() { # DATA: the SQL cases over it, reps interleaved
    d=$1
    mkdir -p "$W/res" "$W/log"
    timeout "$TMO" cat "$W/$d.csv" > /dev/null
    types=$TYPES_A
    [ "$d" = d ] && types=$TYPES_D
    printf '%s\n' "$SQL_CASES" | while IFS='|' read -r qn qd nk sql; do
        [ "$qd" = "$d" ] || continue
        say "data set $d, $qn: $sql"
        r=1
        while [ "$r" -le "$REPS" ]; do
            for t in $TOOLS; do
                run_sql "$d" "$qn" "$t" "$sql" "$types"
            done
            [ "$r" -eq 1 ] && check "$d" "$qn" "$nk"
            r=$((r + 1))
        done
    done
}

say "peers: duckdb ${NA_duckdb:-ok}, polars ${NA_polars:-ok}, pandas ${NA_pandas:-ok}, datamash ${NA_datamash:-ok}"
bench a "few many two all"
bench_sql a
bench b "few many"
bench c "few many"
bench_sql d

# --- the machine's ceiling ------------------------------------------------
cc -O2 -o "$W/membw" "$P/membw.c" 2> "$W/log/membw.log" || loud "cc membw.c failed"
r=1
while [ "$r" -le "$REPS" ]; do
    t0=$(now)
    timeout "$TMO" cat "$W/a.csv" > /dev/null
    printf 'ceiling\tcat\tcat\t1\t%s\n' "$(since "$t0")" >> "$TIMES"
    r=$((r + 1))
done
mbw=n/a
[ -x "$W/membw" ] && mbw=$(timeout "$TMO" "$W/membw" 5 2>> "$W/log/membw.log" || echo n/a)

# --- peak RSS per rank, the largest query ---------------------------------
rss() { # NP: peak RSS of every rank on a/many, in MB
    rm -rf "$W/q" "$W/out"
    "$B/mpibatch" enqueue --queue "dir:$W/q" "$W/a.csv" > /dev/null
    timeout "$TMO" "$LAUNCH" $ROOT -np "$1" /usr/bin/time -f 'peak-rss-kb %M' "$B/mpibatch" run \
        --queue "dir:$W/q" --out "$W/out" --group-by id3 \
        --agg 'count(*),sum(v1),mean(v3)' 2>&1 |
        awk '/^peak-rss-kb/ { printf "%s%.0f MB", n++ ? ", " : "", $2 / 1024 }'
}
rss1=$(rss 1 || echo n/a)
rss2=$(rss 2 || echo n/a)

# --- the table ------------------------------------------------------------
{
    echo "$("$B/mpibatch" --version 2>&1 | head -n 1) on $(nproc) cores," \
        "$(date -u +%Y-%m-%dT%H:%MZ), median of $REPS run(s) (a run slower than ${SLOW} s is not repeated)"
    peer_version | paste -sd, - | sed 's/,/, /g; s/^/peers: /'
} > "$W/head.txt"
for d in a b c d; do
    printf '%s\t%s\n' "$d" "$(stat -c %s "$W/$d.csv")"
done > "$W/sizes.tsv"
printf 'ceiling\t%s\n' "$(stat -c %s "$W/a.csv")" >> "$W/sizes.tsv"
"$PY" "$P/table.py" "$W/times.tsv" "$W/sizes.tsv" "$W/groups.tsv" "$mbw" < "$W/head.txt"
echo "peak RSS per rank, a/many (group by id3): 1 rank: $rss1; 2 ranks: $rss2"
echo "vs mpibatch: peer median / mpibatch median on as many cores (> 1: mpibatch is faster)."
echo "mpibatch runs through hpc-templates/launch/mpibatch-mpirun (fabric picked for the machine)."
echo "ceiling: \`cat a.csv > /dev/null\` from the page cache; memory loop: tests/bench/peers/membw.c"
echo "(one core sums a 512 MiB buffer, best of 5). datamash runs under taskset -c 0 (one core)."

status=0
if [ -s "$BAD" ]; then
    echo "ANSWERS DISAGREE: $(head -n 1 "$BAD")"
    status=1
else
    echo "answers agree"
fi
if [ "${BENCH_KEEP:-0}" = 1 ]; then
    say "kept $W"
else
    rm -rf "$W"
fi
exit "$status"
