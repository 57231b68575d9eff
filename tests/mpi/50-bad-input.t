#!/bin/sh
# Bad input: each malformed CSV fails its own task with file:line:column in
# the log and in the poison reason, the good tasks are committed all the
# same, the run exits 65; a missing input file ends in the poison area after
# more than --max-dequeue failed deliveries, with each cause in the reason.
. tests/lib/tap.sh

mkdir -p "$T/data"
printf 'k,v\na,1\nb,2\n' > "$T/data/good1.csv"
printf 'k,v\na,10\nc,-3.5\n' > "$T/data/good2.csv"
printf 'k,v\na,1\nb,"open\nc,3\n' > "$T/data/unterminated.csv"
printf 'k,v\na,1\nb,2\nc,x7\n' > "$T/data/notanumber.csv"
printf 'k,v\na,1\nb,2,3\n' > "$T/data/fields.csv"
printf 'k,v\na,1\n' > "$T/data/gone.csv"
"$MB" enqueue --queue "dir:$T/q" "$T"/data/*.csv > /dev/null
rm "$T/data/gone.csv"

# v is BIGINT in good1.csv by itself: typed DOUBLE in every file, so that
# the good tasks merge (README, "--group-by/--agg as SQL")
mb_run 2 "dir:$T/q" "$T/out" --group-by k --agg 'count(*), sum(v)' --columns 'v DOUBLE' \
    --max-dequeue 2 --idle-exit 6
is $? 65 "the run exits 65 (bad data in some tasks)"
contains "$T/log" "unterminated.csv:3:3: unterminated quoted field" "unterminated quote: file:line:column"
contains "$T/log" "notanumber.csv:4:3: column 'v': 'x7' is not a DOUBLE" "non-numeric value: file:line:column"
contains "$T/log" "fields.csv:3:1: expected 2 fields, found 3" "wrong field count: file:line:column"
contains "$T/log" "gone.csv: No such file or directory; retry in" "missing file is retried"

n=$(ls "$T/out/.ledger" | wc -l); is "$n" 2 "the two good tasks are committed"
"$MB" results "$T/out" --merge > "$T/merged.csv"
$ORACLE --group-by k --agg 'count(*), sum(v)' "$T/data/good1.csv" "$T/data/good2.csv" > "$T/oracle.csv"
same_file "$T/merged.csv" "$T/oracle.csv" "good results are intact and equal the oracle"

cat "$T"/q/poison/*.reason > "$T/reasons" 2>/dev/null
n=$(find "$T/q/poison" -type f ! -name '*.reason' | wc -l); is "$n" 4 "four messages in the poison area"
contains "$T/reasons" "unterminated.csv:3:3" "poison reason names the position"
contains "$T/reasons" "failed 3 times, more than max-dequeue 2: #1 [^ ]*gone.csv: No such file or directory; #2 [^ ]*gone.csv: No such file" \
    "missing file poisoned after retries, the reason keeps every cause"
st=$("$MB" queue stats --queue "dir:$T/q" | sed -n 's/^poison //p'); is "$st" 4 "queue stats counts the poison area"
done_testing
