#!/bin/sh
# The command line: help for every command, version, usage errors (64), bad
# job files (65) with file:line:column, enqueue giving one task per file.
. tests/lib/tap.sh

"$MB" --help > "$T/h" 2>&1; ok $? "--help exits 0"
contains "$T/h" "enqueue" "--help lists the commands"
for c in enqueue run results queue; do
    "$MB" $c --help > "$T/h" 2>&1; ok $? "$c --help exits 0"
    contains "$T/h" "^Usage: mpibatch $c" "$c --help shows its usage"
done
contains "$T/h" "--queue URL" "queue --help documents --queue"
"$MB" run --help > "$T/h"
contains "$T/h" "job file: \[run\] chunk_size" "run --help names the job-file key of an option"
"$MB" --version > "$T/v"; ok $? "--version exits 0"
contains "$T/v" "^mpibatch [0-9]+\.[0-9]+" "--version prints the version"

"$MB" frobnicate 2> "$T/e"; is $? 64 "unknown command exits 64"
"$MB" run --bogus 2> "$T/e"; is $? 64 "unknown option exits 64"
contains "$T/e" "unknown option '--bogus'" "unknown option is named"
"$MB" run --queue "dir:$T/q" --group-by a --agg 'count(*)' 2> "$T/e"; is $? 64 "run without --out exits 64"
contains "$T/e" "--out DIR is required" "missing --out is explained"
"$MB" run --queue "dir:$T/q" --out "$T/o" --chunk-size 12Q --group-by a --agg 'count(*)' 2> "$T/e"
is $? 64 "bad --chunk-size exits 64"
contains "$T/e" "chunk-size: '12Q' is not a whole number" "bad number is explained"
"$MB" run --queue "dir:$T/q" --out "$T/o" --group-by a --agg 'count(*), median(x)' 2> "$T/e"
is $? 65 "unknown aggregate exits 65"
contains "$T/e" "--agg: column 11: unknown aggregate 'median'" "unknown aggregate names its column"

# Options with a fixed value set: another value is a usage error naming the
# option and its values; --help, the man page and the completion show them.
"$MB" queue stats --queue "dir:$T/q" --format xml 2> "$T/e"; is $? 64 "queue --format xml exits 64"
contains "$T/e" "error: --format: 'xml' is not one of text, json$" "the error names --format and its values"
"$MB" results "$T/o" --format text 2> "$T/e"; is $? 64 "results --format text exits 64 (results are csv or json)"
contains "$T/e" "--format: 'text' is not one of csv, json$" "results --format lists csv and json"
"$MB" enqueue --queue "dir:$T/q" --message-encoding b64 "$T/x.csv" 2> "$T/e"; is $? 64 "--message-encoding b64 exits 64"
contains "$T/e" "--message-encoding: 'b64' is not one of base64, text$" "the error lists base64 and text"
[ ! -d "$T/q" ]; ok $? "a bad --message-encoding is refused before the queue is touched"
"$MB" status "$T" --log-format yaml 2> "$T/e"; is $? 64 "--log-format yaml exits 64"
contains "$T/e" "--log-format: 'yaml' is not one of text, json$" "the error lists text and json"
"$MB" queue --help > "$T/h"
contains "$T/h" "^ +\(values: text, json\)$" "queue --help shows the values of --format"
contains "$T/h" "^ +\(values: base64, text\)$" "queue --help shows the values of --message-encoding"
"$MB" results --help > "$T/h"
contains "$T/h" "^ +\(values: csv, json\)$" "results --help shows its own values of --format"
"$MB" --help-man > "$T/man"
contains "$T/man" '^Values: \\fBbase64\\fR, \\fBtext\\fR$' "the man page lists the values of --message-encoding"
is "$(grep -c "^Values: " "$T/man")" 7 "the man page lists values under each enum option of each section (3 + 3 + 1)"
"$MB" --help-completion > "$T/comp"
# complete WORD...: what the completion offers for the last word.
complete_words() {
    bash -c '. "$1" || exit 1; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mpibatch; echo "${COMPREPLY[*]}"' \
        sh "$T/comp" "$@"
}
is "$(complete_words mpibatch queue stats --format "")" "text json" "completion: queue --format offers text json"
is "$(complete_words mpibatch results o --format "")" "csv json" "completion: results --format offers csv json"
is "$(complete_words mpibatch status --log-format "")" "text json" "completion: --log-format offers text json"
is "$(complete_words mpibatch run --message-encoding "")" "base64 text" "completion: --message-encoding offers base64 text"
"$MB" queue stats --queue "dir:$T/q" --format JSON > /dev/null 2> "$T/e"; is $? 66 "--format JSON is taken as json (case aside); the queue is missing: 66"
printf '[job]\ngroup_by = a\naggregates = count(*)\n[queue]\nmessage_encoding = utf8\n' > "$T/bad5.job"
"$MB" run --queue "dir:$T/q" --out "$T/o" --job "$T/bad5.job" 2> "$T/e"; is $? 65 "a bad [queue] message_encoding exits 65"
contains "$T/e" "bad5.job:5:20: message-encoding: 'utf8' is not one of base64, text" "and names file:line:column and the values"
"$MB" queue stats --poison --queue "dir:$T/q" 2> "$T/e"; is $? 64 "queue stats --poison exits 64"
contains "$T/e" "--poison goes with peek and purge only" "--poison is explained"

# Job files: errors name file:line:column.
printf '[job]\ngroup_by = a\naggregates = count(*), sum(x\n' > "$T/bad1.job"
"$MB" run --queue "dir:$T/q" --out "$T/o" --job "$T/bad1.job" 2> "$T/e"; is $? 65 "bad aggregate list in job file exits 65"
contains "$T/e" "bad1.job:3:[0-9]+: job.aggregates: column [0-9]+: " "job file error names line and column"
printf '[job]\ngroup_by = a\naggregates = count(*)\ncolour = red\n' > "$T/bad2.job"
"$MB" run --queue "dir:$T/q" --out "$T/o" --job "$T/bad2.job" 2> "$T/e"; is $? 65 "unknown job key exits 65"
contains "$T/e" "bad2.job:4:1: unknown key 'colour' in section \[job\]" "unknown key is named with its position"
printf '[job]\ngroup_by = a\naggregates = count(*)\n[run]\nchunk_size = lots\n' > "$T/bad3.job"
"$MB" run --queue "dir:$T/q" --out "$T/o" --job "$T/bad3.job" 2> "$T/e"; is $? 65 "bad number in job file exits 65"
contains "$T/e" "bad3.job:5:14: chunk-size: 'lots'" "bad value points at the value"
printf 'group_by = a\n[job\n' > "$T/bad4.job"
"$MB" run --queue "dir:$T/q" --out "$T/o" --job "$T/bad4.job" 2> "$T/e"; is $? 65 "INI syntax error exits 65"
contains "$T/e" "bad4.job:[12]:" "INI syntax error names the line"
"$MB" run --queue "dir:$T/q" --out "$T/o" --job "$T/none.job" 2> "$T/e"; is $? 65 "missing job file exits 65"

# enqueue: one message per file; the same file twice is the same task.
printf 'a,b\n1,2\n' > "$T/x.csv"
"$MB" enqueue --queue "dir:$T/q" "$T/x.csv" > "$T/id1"; ok $? "enqueue exits 0"
"$MB" enqueue --queue "dir:$T/q" "$T/x.csv" > "$T/id2"
same_file "$T/id1" "$T/id2" "the same file enqueued twice gives the same task id"
"$MB" enqueue --queue "dir:$T/q" "$T/missing.csv" 2> "$T/e"; is $? 66 "enqueue of a missing file exits 66"
"$MB" enqueue --queue "dir:$T/q" --id 'bad/id' "$T/x.csv" 2> "$T/e"; is $? 64 "enqueue with a bad --id exits 64"
"$MB" enqueue --queue "dir:$T/q" --id daily-1 "$T/x.csv" > "$T/id3"
contains "$T/id3" "^daily-1	" "enqueue --id sets the task id"
n=$("$MB" queue stats --queue "dir:$T/q" | sed -n 's/^visible //p'); is "$n" 3 "queue stats counts the messages"
"$MB" queue peek --queue "dir:$T/q" > "$T/peek"; contains "$T/peek" "x.csv" "queue peek shows the bodies"
"$MB" queue purge --queue "dir:$T/q"; ok $? "queue purge exits 0"
n=$("$MB" queue stats --queue "dir:$T/q" | sed -n 's/^visible //p'); is "$n" 0 "queue is empty after purge"
"$MB" queue stats --queue "dir:$T/nope" 2> "$T/e"; is $? 66 "stats of a missing queue exits 66"
done_testing
