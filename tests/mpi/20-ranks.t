#!/bin/sh
# Same multi-file queue drained with 1, 2, 3 and 4 ranks: every per-task
# result file is byte-identical across rank counts, and the merged total
# equals the independent oracle (Python csv + exact fractions). The data has
# NULLs, negative and huge integers, mixed-scale decimals and exponents, text
# keys with commas, quotes and newlines, a multi-column key, and one file
# with more than 100k groups.
. tests/lib/tap.sh

# Every file gets its grid built in parts by all ranks (on its own only
# files of 32 MiB and more do); the stress files' quoted newlines make some
# parts start inside a field, which must fall back to the serial build.
MPIBATCH_PARALLEL_GRID_MIN=1
export MPIBATCH_PARALLEL_GRID_MIN

mkdir -p "$T/data"
"$GEN" --profile stress --rows 4000 --seed 11 --groups 40 > "$T/data/a.csv"
"$GEN" --profile stress --rows 30000 --seed 12 --groups 7 > "$T/data/b.csv"
"$GEN" --profile flights --rows 20000 --seed 13 > "$T/data/c.csv"
"$GEN" --profile stress --rows 260000 --seed 14 --groups 1000000 > "$T/data/many.csv"
AGG='count(*), count(i), sum(i), mean(f), min(f), max(big), var(i), stddev(f), sum(big), avg(i), min(i), max(i), sum(f), var(f)'

# The flights file has other columns: give it its own job.
for np in 1 2 3 4; do
    "$MB" enqueue --queue "dir:$T/q$np" "$T/data/a.csv" "$T/data/b.csv" "$T/data/many.csv" >/dev/null
    mb_run "$np" "dir:$T/q$np" "$T/out$np" --group-by k1,k2 --agg "$AGG" --chunk-size 96K
    ok $? "np=$np: stress queue drained"
    "$MB" enqueue --queue "dir:$T/f$np" "$T/data/c.csv" >/dev/null
    mb_run "$np" "dir:$T/f$np" "$T/fout$np" --job jobs/flights.job --chunk-size 64K
    ok $? "np=$np: flights queue drained"
done

n1=$(ls "$T/out1"/*.csv | wc -l)
is "$n1" 3 "three task results"
for np in 2 3 4; do
    for f in "$T/out1"/*.csv "$T/out1"/*.h5 "$T/fout1"/*.csv; do
        d=$(dirname "$f"); d=${d%1}$np
        same_file "$f" "$d/$(basename "$f")" "np=$np: $(basename "$d")/$(basename "$f") identical to np=1"
    done
done

groups=$(cat "$T/out1/.ledger"/*.json | sed -n 's/.*"groups": *\([0-9]*\).*/\1/p' | sort -n | tail -1)
[ "$groups" -ge 100000 ]; ok $? "the large task has >= 100k groups ($groups)"

"$MB" results "$T/out2" --merge > "$T/merged.csv"; ok $? "results --merge"
$ORACLE --group-by k1,k2 --agg "$AGG" "$T/data/a.csv" "$T/data/b.csv" "$T/data/many.csv" > "$T/oracle.csv"
ok $? "oracle ran"
same_file "$T/merged.csv" "$T/oracle.csv" "merged stress result equals the oracle"

"$MB" results "$T/fout3" --merge > "$T/fmerged.csv"
$ORACLE --group-by origin --agg "$(sed -n 's/^aggregates *= *//p' jobs/flights.job)" "$T/data/c.csv" > "$T/foracle.csv"
same_file "$T/fmerged.csv" "$T/foracle.csv" "flights result equals the oracle"

# Both ways of building a grid in parts happened above: joined, and (a
# quoted newline at a split point) declined and built serially.
for np in 2 3; do
    "$MB" enqueue --queue "dir:$T/g$np" "$T/data/b.csv" >/dev/null
    LOG=$T/grid$np.log mb_run "$np" "dir:$T/g$np" "$T/gout$np" --group-by k1,k2 --agg "$AGG" \
        --chunk-size 96K -v
    for f in "$T/gout$np"/*.csv; do
        cmp -s "$T/out1/${f##*/}" "$f"
        ok $? "np=$np, grid in parts: same result as one rank"
    done
done
grep -q "chunk grid built in 2 parts" "$T/grid2.log"
ok $? "np=2: the parts joined"
grep -q "chunk grid parts did not join" "$T/grid3.log"
ok $? "np=3: a part began inside a quoted field; the grid was built serially"

# Key fields longer than 64 bytes are stored as variable-length strings in
# the HDF5 result (shorter ones fixed-length): both must merge back.
awk 'BEGIN { print "name,v"; srand(5);
             for (i = 0; i < 3000; i++) {
                 k = i % 37; s = sprintf("key-%02d-", k);
                 if (k % 3 == 0) for (j = 0; j < 12; j++) s = s "long-long-";
                 printf "%s,%d\n", s, int(rand() * 1000) - 500 } }' > "$T/data/long.csv"
for np in 1 2; do
    "$MB" enqueue --queue "dir:$T/l$np" "$T/data/long.csv" >/dev/null
    mb_run "$np" "dir:$T/l$np" "$T/lout$np" --group-by name --agg 'count(*), sum(v), min(v)' \
        --chunk-size 8K
    ok $? "np=$np: long keys drained"
    "$MB" results "$T/lout$np" --merge > "$T/lmerged$np.csv"
done
$ORACLE --group-by name --agg 'count(*), sum(v), min(v)' "$T/data/long.csv" > "$T/loracle.csv"
same_file "$T/lmerged1.csv" "$T/loracle.csv" "long keys, 1 rank: merged result equals the oracle"
same_file "$T/lmerged2.csv" "$T/loracle.csv" "long keys, 2 ranks: merged result equals the oracle"
for f in "$T/lout1"/*.h5; do
    cmp -s "$f" "$T/lout2/${f##*/}"
    ok $? "long keys: HDF5 result byte-identical on 1 and 2 ranks"
    h5dump -H -d keys "$f" | grep -q "H5T_VLEN { H5T_STD_U8LE"
    ok $? "long keys are stored as variable-length byte strings"
done

for np in 1 2 3 4; do
    st=$("$MB" queue stats --queue "dir:$T/q$np" | sed -n 's/^approximate_messages //p')
    is "$st" 0 "np=$np: queue empty afterwards"
done
done_testing
