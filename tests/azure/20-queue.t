#!/bin/sh
# The Azure queue back end against Azurite: enqueue, peek, stats and purge;
# the poison area (QUEUE-poison) through peek --poison and purge --poison;
# both message encodings on the wire, each read back by a consumer set to
# the other; bodies over 64 KiB refused before sending; lease expiry and
# redelivery; renewal keeping a task longer than three visibility timeouts
# hidden (never redelivered); a SAS token works; no secret appears in any
# output at maximum verbosity; a wrong key or SAS is a clear 403 without
# secrets.
. tests/lib/tap.sh
. tests/lib/azurite.sh

TQA="$MB_BUILD/tests/test_queue_azure"
azurite_start
Q="$AZ_URL/jobs"

mkdir -p "$T/data"
printf 'k,v\na,1\n' > "$T/data/one.csv"
printf 'k,v\nb,2\n' > "$T/data/two.csv"

# --- enqueue, stats, peek, purge ---------------------------------------------
"$MB" enqueue --queue "$Q" "$T/data/one.csv" "$T/data/two.csv" > "$T/enq.out" 2> "$T/enq.err"
ok $? "enqueue two files (the queue is created)"
"$MB" queue stats --queue "$Q" > "$T/stats"
is "$(sed -n 's/^approximate_messages //p' "$T/stats")" 2 "stats: two messages"
is "$(sed -n 's/^poison //p' "$T/stats")" 0 "stats: no poison queue yet counts 0"
"$MB" queue peek --queue "$Q" > "$T/peek"
is "$(cut -f3 "$T/peek" | sort | tr '\n' ' ')" "$T/data/one.csv $T/data/two.csv " \
    "peek shows both bodies (decoded from base64)"
is "$(cut -f2 "$T/peek" | sort -u)" 0 "peek does not dequeue"
"$MB" queue purge --queue "$Q"; ok $? "purge"
is "$("$MB" queue stats --queue "$Q" | sed -n 's/^approximate_messages //p')" 0 \
    "stats: empty after purge"
"$MB" queue stats --queue "$AZ_URL/nosuchqueue" > /dev/null 2> "$T/nq.err"
is $? 66 "stats of a missing queue exits 66"
contains "$T/nq.err" "queue nosuchqueue: Get Queue Metadata: 404 QueueNotFound" \
    "and says which queue and operation"

# --- the poison area: peek --poison, purge --poison (QUEUE-poison) -------------
PZ="$AZ_URL/poisoned"
printf 'k,v\na,1\nb,oops\n' > "$T/data/bad.csv"
"$MB" enqueue --queue "$PZ" "$T/data/bad.csv" "$T/data/one.csv" > /dev/null
"$MB" queue peek --poison --queue "$PZ" > "$T/pz0"; ok $? "peek --poison before any poisoning (no poison queue yet) exits 0"
is "$(wc -l < "$T/pz0")" 0 "and lists nothing"
"$MB" queue purge --poison --queue "$PZ"; ok $? "purge --poison without a poison queue exits 0"
LOG=$T/pz.log mb_run 1 "$PZ" "$T/out-pz" --group-by k --agg 'sum(v)'
is $? 65 "a run with one bad file exits 65"
"$MB" queue peek --poison --queue "$PZ" > "$T/pz1"; ok $? "peek --poison exits 0"
is "$(wc -l < "$T/pz1")" 1 "peek --poison lists the poisoned message"
contains "$T/pz1" "^[0-9a-f-]{36}	1	.*bad\.csv:3:[0-9]+: .*	$T/data/bad\.csv$" \
    "with the original's id, dequeue count, reason (file:line:column) and body, from the JSON copy"
"$MB" queue peek --poison --queue "$PZ" --format json > "$T/pz1.json"
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=d["messages"][0]; print((d["backend"], d["area"], d["peeked"], d["poison"], m["id"], m["dequeue_count"], "bad.csv:3:" in m["reason"], m["body"], m["body_truncated"]))' "$T/pz1.json")" \
   "('azure', 'poison', 1, 1, '$(cut -f1 "$T/pz1")', 1, True, '$T/data/bad.csv', False)" \
   "peek --poison JSON: backend, area, counts, id, dequeue count, reason, body"
"$MB" queue purge --queue "$PZ"; ok $? "plain purge"
is "$("$MB" queue stats --queue "$PZ" | sed -n 's/^\(approximate_messages\|poison\) //p' | tr '\n' ' ')" "0 1 " \
    "plain purge leaves QUEUE-poison alone"
"$MB" queue redrive --queue "$PZ" --id "$(cut -f1 "$T/pz1")" > "$T/pz.redrive"
is "$(cat "$T/pz.redrive")" "redriven 1" "the id peek --poison shows is the one redrive --id takes"
LOG=$T/pz.log mb_run 1 "$PZ" "$T/out-pz" --group-by k --agg 'sum(v)'
is $? 65 "the redriven bad file is poisoned again"
"$MB" enqueue --queue "$PZ" "$T/data/two.csv" > /dev/null
"$MB" queue purge --poison --queue "$PZ"; ok $? "purge --poison exits 0"
is "$("$MB" queue stats --queue "$PZ" | sed -n 's/^\(approximate_messages\|poison\) //p' | tr '\n' ' ')" "1 0 " \
    "purge --poison empties QUEUE-poison and leaves the queue alone"
is "$("$MB" queue peek --poison --queue "$PZ" | wc -l)" 0 "peek --poison shows nothing after it"
# A copy that is not ours (Azure Functions moves the bare body): shown as it is.
"$MB" enqueue --queue "$PZ-poison" "$T/data/two.csv" > /dev/null
"$MB" queue peek --poison --queue "$PZ" > "$T/pz2"
is "$(cut -f2- "$T/pz2")" "0	-	$T/data/two.csv" "a foreign poison message: its own count, no reason ('-'), its body"
"$MB" queue purge --queue "$PZ"

# --- encodings on the wire and on receive ------------------------------------
proxy_start --log-bodies
"$MB" enqueue --queue "$PROXY_URL/enc" --message-encoding text "$T/data/one.csv" > /dev/null
ok $? "enqueue as text"
"$MB" enqueue --queue "$PROXY_URL/enc" "$T/data/two.csv" > /dev/null
ok $? "enqueue as base64 (the default)"
b64=$(printf %s "$T/data/two.csv" | base64 -w0)
contains "$PROXY_LOG" "POST.*<MessageText>$T/data/one.csv</MessageText>" "text went over the wire as text"
contains "$PROXY_LOG" "POST.*<MessageText>$b64</MessageText>" "base64 went over the wire as base64"
"$MB" queue peek --queue "$Q" --message-encoding base64 > /dev/null
"$MB" queue peek --queue "$AZ_URL/enc" --message-encoding base64 > "$T/peek64"
"$MB" queue peek --queue "$AZ_URL/enc" --message-encoding text > "$T/peektext"
want="$T/data/one.csv $T/data/two.csv "
is "$(cut -f3 "$T/peek64" | sort | tr '\n' ' ')" "$want" "a base64 consumer reads both encodings"
is "$(cut -f3 "$T/peektext" | sort | tr '\n' ' ')" "$want" "a text consumer reads both encodings"

# --- size limit: refused before sending --------------------------------------
: > "$PROXY_LOG"
MB_AZ_QUEUE_URL="$PROXY_URL/limit" "$TQA" limit > "$T/limit.tap" 2>&1
ok $? "limit driver: $(grep -c '^ok' "$T/limit.tap") checks pass"
grep '^not ok' "$T/limit.tap" | sed 's/^/# /'
is "$(grep -c 'POST' "$PROXY_LOG")" 2 "only the two bodies within the limit were sent"
proxy_stop

# --- lease expiry and redelivery; renewal (C driver) -------------------------
MB_AZ_QUEUE_URL="$AZ_URL/lease" "$TQA" lease > "$T/lease.tap" 2>&1
ok $? "lease expiry: claim (1 s), wait 2 s, claim again: same message, dequeue count 2"
grep '^not ok' "$T/lease.tap" | sed 's/^/# /'
MB_AZ_QUEUE_URL="$AZ_URL/renew" "$TQA" renew > "$T/renew.tap" 2>&1
ok $? "renewal: a 2 s lease renewed every second stays hidden from a second consumer for 6 s"
grep '^not ok' "$T/renew.tap" | sed 's/^/# /'

# --- renewal in a real run: a task longer than three visibility timeouts ------
# slow_run NAME NP SLEEP_RANK0 SLEEP_OTHERS: a --visibility-timeout 1 run of
# one task made slow per chunk, while a consumer polls the queue with peek
# (which sees visible messages only); $T/NAME.log, $seen, $task_s,
# $renewals.
"$GEN" --profile stress --rows 6000 --seed 7 --groups 5 > "$T/data/slow.csv"
slow_run() {
    name=$1 np=$2 s0=$3 s1=${4:-0}
    "$MB" enqueue --queue "$AZ_URL/$name" "$T/data/slow.csv" > /dev/null
    set -- run --queue "$AZ_URL/$name" --out "$T/out-$name" --group-by k2 --agg 'count(*)' \
        --chunk-size 16K --visibility-timeout 1 --idle-exit 1 --verbose
    # shellcheck disable=SC2086 # MPIRUN is a word list
    if [ "$np" -eq 1 ]; then
        $MPIRUN -np 1 env MPIBATCH_FAULT_SLEEP_MS="$s0" "$MB" "$@" 2> "$T/$name.log" &
    else
        $MPIRUN -np 1 env MPIBATCH_FAULT_SLEEP_MS="$s0" "$MB" "$@" : \
            -np $((np - 1)) env MPIBATCH_FAULT_SLEEP_MS="$s1" "$MB" "$@" 2> "$T/$name.log" &
    fi
    run_pid=$!
    seen=0 claimed=0
    while kill -0 $run_pid 2>/dev/null; do
        "$MB" queue peek --queue "$AZ_URL/$name" > "$T/$name.peek" 2>/dev/null
        # Visible before the run claims it (mpirun takes a moment to start);
        # from the first empty peek on, any sighting is a lapsed lease.
        if [ -s "$T/$name.peek" ]; then
            [ $claimed -eq 1 ] && seen=$((seen + 1))
        else
            claimed=1
        fi
        sleep 0.2
    done
    wait $run_pid; rc=$?
    task_s=$(sed -n 's/.*committed .* in \([0-9.]*\) s.*/\1/p' "$T/$name.log" | head -1)
    renewals=$(grep -c 'lease renewed' "$T/$name.log")
    echo "# $name: task took ${task_s:-?} s, $renewals renewals, message seen $seen times"
}

# Two ranks, rank 1 slow: rank 0 renews while it waits for rank 1.
slow_run slow 2 0 400
ok $rc "slow two-rank run exits 0"
ok "$(awk -v s="${task_s:-0}" 'BEGIN { print (s > 3 ? 0 : 1) }')" "the task ran longer than three visibility timeouts"
is "$seen" 0 "a polling consumer never saw the message while the task ran"
ok "$([ "$renewals" -ge 3 ] && echo 0 || echo 1)" "the lease was renewed at least three times"
ok "$(grep -q 'lease lost' "$T/slow.log" && echo 1 || echo 0)" "the lease was never lost"
is "$(ls "$T/out-slow/.ledger" | wc -l)" 1 "the task is in the ledger once"
is "$(grep -c ': committed ' "$T/slow.log")" 1 "and was committed once"

# One rank, slow itself: rank 0 renews between its own chunks too.
slow_run slow1 1 400
[ "$seen" -eq 0 ] && [ "$renewals" -ge 3 ]; ok $? "single busy rank: message stays hidden, lease renewed"
is "$(ls "$T/out-slow1/.ledger" | wc -l)" 1 "single rank: the task is in the ledger once all the same"

# --- SAS token; no secret in any output at maximum verbosity ----------------------
# An account SAS for the queue service, signed here with Azurite's key.
SAS=$(python3 - "$AZ_ACCOUNT" "$AZ_KEY" <<'EOF'
import base64, hashlib, hmac, sys, urllib.parse
f = dict(sv="2019-12-12", ss="q", srt="sco", sp="rwdlacup", se="2099-01-01T00:00:00Z",
         spr="https,http")
sts = "\n".join([sys.argv[1], f["sp"], f["ss"], f["srt"], "", f["se"], "", f["spr"], f["sv"], ""])
key = base64.b64decode(sys.argv[2])
f["sig"] = base64.b64encode(hmac.new(key, sts.encode(), hashlib.sha256).digest()).decode()
print(urllib.parse.urlencode(f))
EOF
)
SIG=${SAS#*sig=}
SIG_RAW=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$SIG")
sas() { env -u AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_SAS_TOKEN="$SAS" "$@"; }
sas "$MB" enqueue --verbose --queue "$AZ_URL/sas" "$T/data/one.csv" > "$T/sas.out" 2> "$T/sas.err"
ok $? "enqueue with a SAS token"
sas "$MB" queue stats --verbose --queue "$AZ_URL/sas" > "$T/sas.stats" 2>> "$T/sas.err"
is "$(sed -n 's/^approximate_messages //p' "$T/sas.stats")" 1 "stats with a SAS token"
(
    unset AZURE_STORAGE_CONNECTION_STRING
    AZURE_STORAGE_SAS_TOKEN=$SAS; export AZURE_STORAGE_SAS_TOKEN
    LOG=$T/sas.log mb_run 1 "$AZ_URL/sas" "$T/out-sas" --group-by k --agg 'count(*)' --verbose
)
ok $? "a verbose run with a SAS token"
"$MB" enqueue --verbose --queue "$AZ_URL/skey" "$T/data/two.csv" > "$T/sk.out" 2> "$T/sk.err"
LOG=$T/sk.log mb_run 1 "$AZ_URL/skey" "$T/out-sk" --group-by k --agg 'count(*)' --verbose
ok $? "a verbose run with SharedKey"
env -u AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_SAS_TOKEN="${SAS%%sig=*}sig=AAAA$SIG" \
    "$MB" queue stats --verbose --queue "$AZ_URL/sas" > "$T/sasbad.out" 2> "$T/sasbad.err"
is $? 69 "a wrong SAS signature exits 69"
contains "$T/sasbad.err" "403 AuthenticationFailed: the account key or SAS is wrong" "with a clear 403"
cat "$T"/sas.* "$T"/sk.* "$T"/sasbad.* "$T"/out-sas/* "$T"/out-sk/* > "$T/all-output" 2>/dev/null
ok "$(grep -qF -e "$AZ_KEY" -e "$SIG" -e "$SIG_RAW" -e "SharedKey $AZ_ACCOUNT:" "$T/all-output" && echo 1 || echo 0)" \
    "no key, SAS signature or Authorization header in any output, log or result ($(wc -l < "$T/all-output") lines)"

# --- wrong key ------------------------------------------------------------------
BADKEY=$(openssl rand -base64 64 | tr -d '\n')
AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$AZ_ACCOUNT;AccountKey=$BADKEY;QueueEndpoint=$AZ_URL;" \
    "$MB" queue stats --queue "$Q" > "$T/bad.out" 2> "$T/bad.err"
is $? 69 "a wrong key exits 69"
contains "$T/bad.err" "queue jobs: Get Queue Metadata: 403 AuthenticationFailed: the account key or SAS is wrong" \
    "with a clear 403 message"
ok "$(grep -qF -e "$BADKEY" -e "SharedKey" "$T/bad.err" "$T/bad.out" && echo 1 || echo 0)" \
    "the message shows neither the key nor the signature"
is "$(grep -c 'retry' "$T/bad.err")" 0 "a 403 is not retried"
done_testing
