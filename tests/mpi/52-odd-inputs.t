#!/bin/sh
# shellcheck disable=SC2086 # MPIRUN and OPTS are word lists
# Inputs that are not regular files never hang a job: a FIFO (no writer),
# a directory and a character device in place of a task's file are each
# poisoned at once with the kind of file named, while the good task is
# committed, within a time limit. enqueue refuses them with exit 66
# (EX_NOINPUT). A column the job uses that the header names twice is a data
# error naming both fields. --max-dequeue 0 (never poison) is accepted.
. tests/lib/tap.sh

mkdir -p "$T/data"
printf 'k,v\na,1\nb,2\n' > "$T/data/good.csv"
for f in fifo dir dev; do printf 'k,v\na,1\n' > "$T/data/$f.csv"; done
printf 'k,v,k\na,1,x\n' > "$T/data/dupe.csv"
printf 'k,v,v\na,1,2\n' > "$T/data/dupe-unused.csv"
"$MB" enqueue --queue "dir:$T/q" "$T"/data/*.csv > /dev/null
rm "$T/data/fifo.csv" "$T/data/dir.csv" "$T/data/dev.csv"
mkfifo "$T/data/fifo.csv"
mkdir "$T/data/dir.csv"
ln -s /dev/zero "$T/data/dev.csv"

timeout 60 $MPIRUN -np 2 "$MB" run --queue "dir:$T/q" --out "$T/out" --group-by k \
    --agg 'count(*)' --max-dequeue 0 2> "$T/log"
is $? 65 "the run ends (no hang) with exit 65; --max-dequeue 0 is accepted"
contains "$T/log" "fifo.csv: not a regular file \(a FIFO\)" "a FIFO is refused, named as such"
contains "$T/log" "dir.csv: not a regular file \(a directory\)" "a directory is refused"
contains "$T/log" "dev.csv: not a regular file \(a character device\)" "a device is refused"
contains "$T/log" "dupe.csv: .*column name 'k' is ambiguous: the header has 'k' \(field 1\) and 'k' \(field 3\)" \
    "a duplicated column the job uses is an error naming both fields"
is "$(ls "$T/out/.ledger" | wc -l)" 2 "the good task and the one whose duplicate is unused are committed"
is "$(find "$T/q/poison" -type f ! -name '*.reason' | wc -l)" 4 "the four bad tasks are poisoned"

"$MB" enqueue --queue "dir:$T/q2" "$T/data/dir.csv" > /dev/null 2> "$T/enq.log"
is $? 66 "enqueue of a directory exits 66"
timeout 10 "$MB" enqueue --queue "dir:$T/q2" "$T/data/fifo.csv" > /dev/null 2>> "$T/enq.log"
is $? 66 "enqueue of a FIFO exits 66 (and does not hang)"
contains "$T/enq.log" "not a regular file" "enqueue says why"
done_testing
