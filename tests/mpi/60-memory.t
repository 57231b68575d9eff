#!/bin/sh
# Memory stays bounded: a generated file of more than 1 GB is processed by
# two ranks whose peak RSS (from /usr/bin/time -v) stays far below the file
# size. Not a timing test: the figures are printed as diagnostics only.
. tests/lib/tap.sh

if [ -n "${MB_SANITIZE:-}" ]; then echo "1..0 # SKIP RSS is not meaningful under ASan"; exit 0; fi
"$GEN" --profile groupby --bytes 1100000000 --groups 100 > "$T/big.csv"
size=$(stat -c %s "$T/big.csv")
[ "$size" -ge 1000000000 ]; ok $? "input is at least 1 GB ($size bytes)"
"$MB" enqueue --queue "dir:$T/q" "$T/big.csv" > /dev/null
$MPIRUN -np 2 /usr/bin/time -v "$MB" run --queue "dir:$T/q" --out "$T/out" \
    --group-by id1 --agg 'count(*), sum(v1), mean(v3), stddev(v3), min(v2), max(v3)' 2> "$T/log"
ok $? "run over the large file exits 0"
sed -n 's/.*info: \(task .*committed.*\)/# \1/p' "$T/log"
grep "Maximum resident set size" "$T/log" | sed 's/^[[:space:]]*/# per rank: /'
worst=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$T/log" | sort -n | tail -1)
[ -n "$worst" ] && [ "$worst" -lt 131072 ]; ok $? "peak RSS per rank ${worst:-?} KiB < 128 MiB (file: $((size / 1048576)) MiB)"
rows=$(sed -n 's/.*"rows":\([0-9]*\).*/\1/p' "$T/out/.ledger"/*.json)
lines=$(($(wc -l < "$T/big.csv") - 1))
is "$rows" "$lines" "every record was counted once"
done_testing
