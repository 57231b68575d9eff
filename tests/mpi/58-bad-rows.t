#!/bin/sh
# shellcheck disable=SC2086 # MPIRUN and AGG are word lists
# --max-bad-rows N: with 0 (the default) one bad value fails its task with
# file:line:column, as always; with N, up to N records that do not parse or
# whose values do not fit (a non-numeric value, a wrong field count, a
# quoted multi-line record with a bad value, a record over the 1 KiB cap)
# are skipped and written to OUT/TASK.rejects.csv, line by line as checked
# here, and the result equals the result over the file without them, for
# --agg and --sql; N + 1 bad records fail the task naming the first one
# too many in file order; rejects and results are byte-identical on 1 and 3
# ranks with chunks small enough that bad records fall to different ranks,
# and after kill -9 and a resume from a checkpoint.
. tests/lib/tap.sh
unset MPIBATCH_QUEUE

mkdir -p "$T/data"
long=$(awk 'BEGIN { while (n++ < 1500) printf "z" }')
# gen BAD...: 60 good records of k,v,w (header k,v,w); each BAD is
# "AFTER:TEXT", a bad record written after good record AFTER.
gen() {
    for b in "$@"; do printf "%s\n" "$b"; done | awk -v long="$long" '
        NR == FNR { i = index($0, ":"); bad[substr($0, 1, i - 1)] = substr($0, i + 1); next }
        END {
            print "k,v,w"
            for (i = 1; i <= 60; i++) {
                printf "k%d,%d,x%d\n", i % 5, i * 3 - 50, i
                if (i in bad) { s = bad[i]; gsub(/\\n/, "\n", s); gsub(/LONG/, long, s); print s }
            }
        }' - /dev/null
}
gen "10:k1,abc,x" "25:k2,5,x,extra" '40:"multi\nline",7x,"w, quoted"' "50:k4,1,LONG,extra" \
    > "$T/data/bad.csv"
gen > "$T/data/clean.csv"
F=$T/data/bad.csv
AGG="--group-by k --agg count(*),sum(v),min(v),max(v)"

# ---- default: one bad value fails the task as always ----
"$MB" enqueue --queue "dir:$T/q0" --id bad "$F" > /dev/null
LOG=$T/zero.log mb_run 2 "dir:$T/q0" "$T/out0" $AGG
is $? 65 "without --max-bad-rows a bad value fails its task (exit 65)"
contains "$T/zero.log" "bad.csv:12:4: column 'v': 'abc' is not a BIGINT" \
    "... naming file:line:column"
[ ! -e "$T/out0/bad.csv" ] && [ ! -e "$T/out0/bad.rejects.csv" ]
ok $? "... and nothing is committed, no rejects file"
LOG=$T/zero2.log mb_run 2 "dir:$T/q0" "$T/out0" $AGG --max-bad-rows 0
contains "$T/q0/poison/"*.reason "bad.csv:12:4: column 'v'" "the poison reason names it too"

# ---- --max-bad-rows 5 with 4 bad records, --agg ----
# want_rejects FILE VALUE_REASON: the rejects file of bad.csv (VALUE_REASON:
# how a bad value is reported: "BIGINT", the type of v).
want_rejects() {
    printf 'file,line,column,reason,record_bytes,record\n'
    printf "%s,12,4,column 'v': 'abc' is not a %s,8,\"k1,abc,x\"\n" "$1" "$2"
    printf '%s,28,1,"expected 3 fields, found 4",12,"k2,5,x,extra"\n' "$1"
    printf "%s,45,7,column 'v': '7x' is not a %s,27,\"\"\"multi\nline\"\",7x,\"\"w, quoted\"\"\"\n" "$1" "$2"
    printf '%s,56,1,"expected 3 fields, found 4",1511,"k4,1,%s"\n' "$1" "$(echo "$long" | cut -c1-1019)"
}
want_rejects "$F" BIGINT > "$T/want.rejects"
for np in 1 3; do
    "$MB" enqueue --queue "dir:$T/q$np" --id bad "$F" > /dev/null
        LOG=$T/agg$np.log mb_run $np "dir:$T/q$np" "$T/out$np" $AGG --max-bad-rows 5 --chunk-size 100
    is $? 0 "$np ranks, --max-bad-rows 5, 4 bad records: the task is committed"
done
$ORACLE $AGG "$T/data/clean.csv" > "$T/oracle.csv"
same_file "$T/out1/bad.csv" "$T/oracle.csv" "the result equals the oracle over the file without the bad records"
same_file "$T/out1/bad.rejects.csv" "$T/want.rejects" \
    "rejects: file, line, column, reason, record bytes and record (multi-line quoted; cut at 1 KiB)"
n=$(grep -c "" "$T/out1/bad.rejects.csv"); is "$n" 6 "rejects: a header and 4 records, one of them over two lines"
same_file "$T/out3/bad.rejects.csv" "$T/out1/bad.rejects.csv" "3 ranks, 100-byte chunks: the same rejects file"
same_file "$T/out3/bad.csv" "$T/out1/bad.csv" "... the same result"
cmp -s "$T/out3/bad.h5" "$T/out1/bad.h5"; ok $? "... and the same result file, byte for byte"
contains "$T/agg3.log" "task bad: committed 60 rows, 5 groups, 4 bad rows skipped" \
    "the committed line counts the bad rows"
contains "$T/out3/.ledger/bad.json" '"rejected":4,' "the ledger entry records them"
contains "$T/out3/.ledger/bad.json" '"rejects":\{"size":[0-9]+,"sha256":"[0-9a-f]{64}"\}' \
    "... and the rejects file's size and SHA-256"
h5dump -a rejected_rows "$T/out3/bad.h5" > "$T/attr" 2>&1
contains "$T/attr" '\(0\): 4' "the result's rejected_rows attribute is 4"
"$MB" results "$T/out3" > /dev/null; ok $? "results reads the task"
cp "$T/out3/bad.rejects.csv" "$T/rejects.keep"
printf 'X' | dd of="$T/out3/bad.rejects.csv" bs=1 seek=20 conv=notrunc 2> /dev/null
"$MB" results "$T/out3" > /dev/null 2> "$T/rej.err"
is $? 65 "results refuses a task whose rejects file was changed after the commit"
contains "$T/rej.err" "bad.rejects.csv: damaged result file of task bad: its SHA-256 differs" \
    "... naming the file"
cp "$T/rejects.keep" "$T/out3/bad.rejects.csv"

# a job file's [job] max_bad_rows; the limit enters the fingerprint
printf '[job]\ngroup_by = k\naggregates = count(*),sum(v),min(v),max(v)\nmax_bad_rows = 4\n' > "$T/j.ini"
"$MB" enqueue --queue "dir:$T/qj" --id bad "$F" > /dev/null
LOG=$T/job.log mb_run 2 "dir:$T/qj" "$T/outj" --job "$T/j.ini"
is $? 0 "a job file's max_bad_rows = 4 lets the 4 bad records pass"
same_file "$T/outj/bad.rejects.csv" "$T/want.rejects" "... with the same rejects"
"$MB" enqueue --queue "dir:$T/qj2" --id bad "$F" > /dev/null
LOG=$T/fp.log mb_run 2 "dir:$T/qj2" "$T/out3" $AGG --max-bad-rows 4
is $? 65 "another --max-bad-rows on the same --out is another job (exit 65)"
contains "$T/fp.log" "fingerprint" "... refused by its fingerprint"
"$MB" run --help | grep -q -- "--max-bad-rows N"; ok $? "run --help lists --max-bad-rows"

# ---- the same through --sql ----
Q="SELECT k, count(*) AS n, sum(v) AS s, min(v) AS lo FROM input GROUP BY k ORDER BY k"
"$MB" enqueue --queue "dir:$T/qs" --id bad "$F" > /dev/null
"$MB" enqueue --queue "dir:$T/qs" --id clean "$T/data/clean.csv" > /dev/null
LOG=$T/sql.log mb_run 3 "dir:$T/qs" "$T/outs" --sql "$Q" --columns "v BIGINT" --max-bad-rows 5 --chunk-size 100
is $? 0 "--sql, --max-bad-rows 5: both tasks are committed"
same_file "$T/outs/bad.csv" "$T/outs/clean.csv" "the answer equals the answer over the file without the bad records"
want_rejects "$F" BIGINT > "$T/want.sql.rejects"
same_file "$T/outs/bad.rejects.csv" "$T/want.sql.rejects" "--sql rejects, line by line"
[ ! -e "$T/outs/clean.rejects.csv" ]; ok $? "a task without bad records has no rejects file"

# ---- a group key that is not valid UTF-8 leaves no group behind; ----
# ---- a record with many more fields than the header is a bad row  ----
printf 'k,v\na,1\n\377b,2\nc,3\nd,1,2,3,4\n' > "$T/data/utf.csv"
"$MB" enqueue --queue "dir:$T/qu" --id utf "$T/data/utf.csv" > /dev/null
LOG=$T/utf.log mb_run 2 "dir:$T/qu" "$T/outu" --group-by k --agg 'count(*),sum(v)' --max-bad-rows 2
is $? 0 "--agg: a key that is not UTF-8 and a record with 5 fields of 2 are bad rows"
printf 'k,count(*),sum(v)\na,1,1\nc,1,3\n' > "$T/want.utf"
same_file "$T/outu/utf.csv" "$T/want.utf" "... skipped without a trace in the result"
printf "file,line,column,reason,record_bytes,record\n%s,3,1,a group key that is not valid UTF-8,4,\"\377b,2\"\n%s,5,7,too many fields,9,\"d,1,2,3,4\"\n" \
    "$T/data/utf.csv" "$T/data/utf.csv" > "$T/want.utf.rejects"
same_file "$T/outu/utf.rejects.csv" "$T/want.utf.rejects" "... its raw bytes are in the rejects file, and so is the record with 5 fields"
"$MB" enqueue --queue "dir:$T/qu2" --id utf "$T/data/utf.csv" > /dev/null
LOG=$T/utf2.log mb_run 2 "dir:$T/qu2" "$T/outu2" --max-bad-rows 2 \
    --sql "SELECT k, count(*) AS n, sum(v) AS s FROM input GROUP BY k ORDER BY k"
is $? 0 "--sql: the same"
printf 'k,n,s\na,1,1\nc,1,3\n' > "$T/want.utf2"
same_file "$T/outu2/utf.csv" "$T/want.utf2" "... skipped without a trace in the answer"
contains "$T/outu2/utf.rejects.csv" "utf.csv,3,1,a group key that is not valid UTF-8,4," "... and listed"
contains "$T/outu2/utf.rejects.csv" 'utf.csv,5,7,too many fields,9,"d,1,2,3,4"' "... with the record with 5 fields"

# ---- more than N: the task fails, naming the first one too many ----
gen "3:k1,a,x" "9:k2,b,x" "17:k3,1,2,3" "30:k1,c,x" "44:k2,d,x" "52:k3,e,x" "58:k4,f,x" > "$T/data/six.csv"
for np in 1 3; do
    "$MB" enqueue --queue "dir:$T/q6$np" --id six "$T/data/six.csv" > /dev/null
        LOG=$T/six$np.log mb_run $np "dir:$T/q6$np" "$T/out6$np" $AGG --max-bad-rows 5 --chunk-size 64
    is $? 65 "$np ranks: 7 bad records under --max-bad-rows 5 fail the task (exit 65)"
    cat "$T/q6$np/poison/"*.reason > "$T/six$np.reason" 2>/dev/null
    contains "$T/six$np.reason" "six.csv:59:4: column 'v': 'e' is not a BIGINT \(bad record 6, more than --max-bad-rows 5\)" \
        "... poisoned naming the 6th bad record in file order"
    [ ! -e "$T/out6$np/six.csv" ] && [ ! -e "$T/out6$np/six.rejects.csv" ]
    ok $? "... with nothing committed"
done

# ---- kill -9 and a resume from a checkpoint ----
awk 'BEGIN {
    print "k,v,w"
    for (i = 1; i <= 30000; i++) {
        printf "k%d,%d,x%d\n", i % 7, (i * 7919) % 2001 - 1000, i
        if (i % 4000 == 0) printf "k%d,bad%d,x\n", i % 7, i
        if (i % 9000 == 0) printf "k%d,1\n", i % 7
    }
}' > "$T/data/big.csv"
"$MB" enqueue --queue "dir:$T/qr" --id big "$T/data/big.csv" > /dev/null
LOG=$T/ref.log mb_run 1 "dir:$T/qr" "$T/ref" $AGG --max-bad-rows 20 --chunk-size 8K
is $? 0 "reference: an uninterrupted 1-rank run of a 10-bad-record file"
n=$(($(grep -c '' "$T/ref/big.rejects.csv") - 1)); is "$n" 10 "... rejects 10 records"
"$MB" enqueue --queue "dir:$T/qk" --id big "$T/data/big.csv" > /dev/null
MPIBATCH_FAULT_SLEEP_MS=40 setsid $MPIRUN -x MPIBATCH_FAULT_SLEEP_MS -np 2 "$MB" run \
    --queue "dir:$T/qk" --out "$T/k" $AGG --max-bad-rows 20 --chunk-size 8K \
    --checkpoint-dir "$T/ck" --checkpoint-interval 0.1 --visibility-timeout 2 2> "$T/k1.log" &
pid=$!
wait_for_log "$T/k1.log" "checkpoint [0-9]+ written: ([3-9]|[1-9][0-9])[0-9] of" 60
ok $? "a 2-rank run wrote a checkpoint of 30 or more chunks"
pkill -9 -s "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ ! -e "$T/k/.ledger/big.json" ]; ok $? "killed with -9 before the commit"
# The lease of the killed run expires (2 s after its last renewal): scan
# until a scan takes the message back (at most 10 s), then resume.
i=0
while [ $i -lt 100 ] && ! "$MB" queue stats --queue "dir:$T/qk" | grep -qx 'leased 0'; do
    sleep 0.1
    i=$((i + 1))
done
LOG=$T/k2.log mb_run 3 "dir:$T/qk" "$T/k" $AGG --max-bad-rows 20 --chunk-size 8K \
    --checkpoint-dir "$T/ck" --visibility-timeout 2
is $? 0 "3 ranks resume the task"
contains "$T/k2.log" "resuming from" "... from the checkpoint"
same_file "$T/k/big.rejects.csv" "$T/ref/big.rejects.csv" "after kill -9 and resume: the same rejects file"
same_file "$T/k/big.csv" "$T/ref/big.csv" "... the same result"
cmp -s "$T/k/big.h5" "$T/ref/big.h5"; ok $? "... and the same result file, byte for byte"
done_testing
