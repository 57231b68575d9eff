#!/bin/sh
# A full --out (a small tmpfs), on 1 and 2 ranks: with room for nothing,
# for part of the .h5, for the .h5 alone, or for the .h5 and part of the
# .csv, the commit fails
# and the run ends with exit 74 without a crash; neither file of the pair is
# visible without a ledger entry, no temporary is left, the task committed
# before is unharmed, and once space is freed a rerun commits the task with
# the right answer.
. tests/lib/tap.sh

mnt=$T/out
mkdir -p "$mnt" "$T/data"
if ! mount -t tmpfs -o size=6m tmpfs "$mnt" 2>/dev/null; then
    echo "1..0 # SKIP cannot mount a tmpfs here"
    exit 0
fi
trap 'umount "$mnt" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

printf 'k,v\na,1\nb,2\na,3\n' > "$T/data/small.csv"
"$GEN" --profile groupby --rows 20000 --groups 3000 --seed 88 > "$T/data/big.csv"
JOB="--group-by id1 --agg count(*),sum(v1),max(v3)"
SJOB="--group-by k --agg count(*)"

# The sizes of the big task's files, from a run on ordinary storage.
"$MB" enqueue --queue "dir:$T/refq" "$T/data/big.csv" > /dev/null
# shellcheck disable=SC2086 # JOB is a word list
LOG=$T/ref.log mb_run 1 "dir:$T/refq" "$T/ref" $JOB --idle-exit 0
h5=$(stat -c %s "$T"/ref/*.h5)
csv=$(stat -c %s "$T"/ref/*.csv)
echo "# big task: .h5 $h5 bytes, .csv $csv bytes"

avail() { df -B1 --output=avail "$mnt" | tail -1 | tr -d ' '; }
page=4096

for np in 1 2; do
    rooms="none part-of-h5 h5 h5-and-part"
    [ "$np" = 2 ] && rooms="part-of-h5 h5-and-part"
    for room in $rooms; do
        name="$np rank(s), room for $room"
        umount "$mnt"
        mount -t tmpfs -o size=6m tmpfs "$mnt"
        rm -rf "$T/q"
        # A task committed before the disk fills up.
        "$MB" enqueue --queue "dir:$T/q" --id small "$T/data/small.csv" > /dev/null
        # shellcheck disable=SC2086
        LOG=$T/small.log mb_run "$np" "dir:$T/q" "$mnt" $SJOB --idle-exit 0
        "$MB" results "$mnt" > "$T/before.csv"
        case $room in
        none) free=0 ;;
        part-of-h5) free=$((h5 / 2 / page * page)) ;;
        h5) free=$(((h5 + page - 1) / page * page)) ;;
        h5-and-part) free=$(((h5 + csv / 2 + page - 1) / page * page)) ;;
        esac
        fill=$(($(avail) - free))
        [ "$fill" -gt 0 ] && dd if=/dev/zero of="$mnt/filler" bs=4096 count=$((fill / 4096)) 2>/dev/null
        "$MB" enqueue --queue "dir:$T/q" --id big "$T/data/big.csv" > /dev/null
        # shellcheck disable=SC2086
        LOG=$T/full.log mb_run "$np" "dir:$T/q" "$mnt" $JOB --idle-exit 0
        rc=$?
        is "$rc" 74 "$name: the run ends with exit 74 (I/O error), no crash"
        n=$(find "$mnt" -maxdepth 2 -name 'big.*' | wc -l)
        is "$n" 0 "$name: no file of the uncommitted task is visible"
        n=$(find "$mnt" -name '.*.tmp.*' | wc -l)
        is "$n" 0 "$name: no temporary is left"
        "$MB" results "$mnt" > "$T/after.csv" 2> "$T/after.err"
        ok $? "$name: the output still reads back"
        same_file "$T/after.csv" "$T/before.csv" "$name: the committed task is unharmed"
        rm -f "$mnt/filler"
        sleep 1.2          # the message was released with a 1 s delay
        # shellcheck disable=SC2086
        LOG=$T/rerun.log mb_run "$np" "dir:$T/q" "$mnt" $JOB --idle-exit 0
        is $? 0 "$name: after space is freed the rerun commits the task"
        cmp -s "$mnt/big.csv" "$(ls "$T"/ref/*.csv)"
        ok $? "$name: with the right answer"
        "$MB" results "$mnt" > /dev/null 2> "$T/check.err"
        ok $? "$name: and results verifies it"
    done
done
done_testing
