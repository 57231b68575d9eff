#!/bin/sh
# Faults between mpibatch and Azurite, injected by tests/lib/fault_proxy.py:
# bursts of 503 are retried under one client request id; 429 Retry-After
# and x-ms-retry-after-ms are honoured; dropped and reset connections are
# retried; 400 and 403 are not retried; a hanging server and a permanent
# outage end in exit 69 within the retry deadline; a pipeline through random
# 503s, drops and lost responses loses nothing and counts nothing twice.
. tests/lib/tap.sh
. tests/lib/azurite.sh

azurite_start
mkdir -p "$T/data"
printf 'k,v\na,1\n' > "$T/data/one.csv"
"$MB" enqueue --queue "$AZ_URL/jobs" "$T/data/one.csv" > /dev/null
META='/jobs?comp=metadata'

# lines: the proxy log lines of the main queue's metadata requests.
lines() { grep -F "$META" "$PROXY_LOG"; }

# gap_ms N: ms between the first and the N-th logged request.
gap_ms() { lines | awk -v n="$1" 'NR == 1 { t = $1 } NR == n { print $1 - t }'; }

# stats [ARGS]: queue stats through the proxy; output in $T/out, $T/err.
stats() { "$MB" queue stats --queue "$PROXY_URL/jobs" "$@" > "$T/out" 2> "$T/err"; }

# --- 503 x3, then success -------------------------------------------------------
PROXY_LOG=$T/p1.log; proxy_start --rule "GET $META 3 status 503"
stats; ok $? "three 503s, then success: stats exits 0"
is "$(sed -n 's/^approximate_messages //p' "$T/out")" 1 "and reports the message"
is "$(lines | wc -l)" 4 "four requests went out"
is "$(lines | cut -f4 | sort -u | wc -l)" 1 "all with the same x-ms-client-request-id"
is "$(lines | cut -f5 | tr '\n' ' ')" "status 503 status 503 status 503 forward 200 " \
    "three 503s, then the answer from Azurite"
contains "$T/err" "503 ServerBusy; retry 1 in" "retries are logged with the status and code"

# --- 429 with Retry-After: 1 -----------------------------------------------------
PROXY_LOG=$T/p2.log; proxy_start --rule "GET $META 1 status 429 Retry-After:1"
stats; ok $? "429 then success"
g=$(gap_ms 2); echo "# retry came after $g ms"
ok "$([ "${g:-0}" -ge 1000 ] && [ "$g" -lt 3000 ] && echo 0 || echo 1)" "Retry-After: 1 honoured (1 s <= wait < 3 s)"

# --- 500 with x-ms-retry-after-ms: 200 ------------------------------------------
PROXY_LOG=$T/p3.log; proxy_start --rule "GET $META 1 status 500 x-ms-retry-after-ms:200"
stats; ok $? "500 then success"
g=$(gap_ms 2); echo "# retry came after $g ms"
ok "$([ "${g:-0}" -ge 200 ] && [ "$g" -lt 1500 ] && echo 0 || echo 1)" "x-ms-retry-after-ms: 200 honoured"

# --- dropped and reset connections --------------------------------------------------
PROXY_LOG=$T/p4.log; proxy_start --rule "GET $META 1 drop" --rule "GET $META 1 reset"
stats; ok $? "a dropped and a reset connection, then success"
is "$(lines | wc -l)" 3 "three requests"
is "$(lines | cut -f4 | sort -u | wc -l)" 1 "with one client request id"

# --- never retried: 403 and 400 ------------------------------------------------------
PROXY_LOG=$T/p5.log; proxy_start --rule "GET $META * status 403"
stats; is $? 69 "403: exit 69"
is "$(lines | wc -l)" 1 "403: exactly one request"
contains "$T/err" "queue jobs: Get Queue Metadata: 403 AuthenticationFailed: the account key or SAS is wrong" \
    "403: clear message"
PROXY_LOG=$T/p6.log; proxy_start --rule "GET $META * status 400 code=InvalidQueryParameterValue"
stats; is $? 69 "400: exit 69"
is "$(lines | wc -l)" 1 "400: exactly one request"
contains "$T/err" "Get Queue Metadata: 400 InvalidQueryParameterValue" "400: names the Azure code"

# --- a hanging server and a permanent outage: exit 69 within the deadline ------------
PROXY_LOG=$T/p7.log; proxy_start --hang-max 30 --rule "GET $META * hang"
t0=$(now); stats --retry-deadline 3; rc=$?; t=$(elapsed "$t0" "$(now)")
is $rc 69 "hanging server: exit 69"
echo "# gave up after $t s"
ok "$(awk -v t="$t" 'BEGIN { print (t >= 2.5 && t < 6 ? 0 : 1) }')" "hanging server: within the 3 s deadline (+ one attempt)"
contains "$T/err" "gave up after [0-9]+ attempts? in [0-9.]+ s \(retry deadline 3 s\)" "hanging server: clear message"

PROXY_LOG=$T/p8.log; proxy_start --rule "* * * status 503"
t0=$(now); stats --retry-deadline 3; rc=$?; t=$(elapsed "$t0" "$(now)")
is $rc 69 "503 forever: queue stats exits 69"
echo "# gave up after $t s and $(lines | wc -l) requests"
ok "$(awk -v t="$t" 'BEGIN { print (t < 5 ? 0 : 1) }')" "503 forever: within a few seconds"
contains "$T/err" "Get Queue Metadata: gave up after [0-9]+ attempts .*: 503 ServerBusy" "503 forever: clear message"
t0=$(now)
LOG=$T/runlog mb_run 1 "$PROXY_URL/jobs" "$T/out-dead" --group-by k --agg 'count(*)' --retry-deadline 3
rc=$?; t=$(elapsed "$t0" "$(now)")
is $rc 69 "503 forever: run exits 69"
echo "# run gave up after $t s"
contains "$T/runlog" "Get Messages: gave up after" "run: clear message"

# --- a pipeline through random faults: nothing lost, nothing counted twice ------------
for s in 1 2 3 4 5 6; do
    "$GEN" --profile stress --rows 2000 --seed $s --groups 10 > "$T/data/c$s.csv"
done
"$MB" enqueue --queue "$AZ_URL/chaos" "$T"/data/c*.csv > /dev/null
PROXY_LOG=$T/p9.log; proxy_start --rule "DELETE /chaos/messages/ every:3 lose" \
    --rule "* /chaos every:5 status 503" --rule "* /chaos every:7 drop" \
    --rule "* /chaos every:11 delay 300"
LOG=$T/chaoslog mb_run 2 "$PROXY_URL/chaos" "$T/out-chaos" --group-by k2 \
    --agg 'count(*), sum(i)' --chunk-size 32K --visibility-timeout 2 --idle-exit 5
ok $? "chaos run exits 0"
echo "# $(cut -f5 "$T/p9.log" | sed 's/ (.*//; s/ [0-9]*$//' | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
is "$(ls "$T/out-chaos/.ledger" | wc -l)" 6 "six ledger entries"
is "$(grep -c ': committed ' "$T/chaoslog")" 6 "each task committed once"
"$MB" results "$T/out-chaos" --merge > "$T/chaos.csv"
$ORACLE --group-by k2 --agg 'count(*), sum(i)' "$T"/data/c*.csv > "$T/chaos.oracle"
same_file "$T/chaos.csv" "$T/chaos.oracle" "merged total equals the oracle"
is "$("$MB" queue stats --queue "$AZ_URL/chaos" | sed -n 's/^approximate_messages //p')" 0 \
    "the queue is empty"
proxy_stop

# --- Azurite gone: connection refused until the deadline --------------------------------
azurite_stop
t0=$(now)
"$MB" queue stats --queue "$AZ_URL/jobs" --retry-deadline 3 > "$T/out" 2> "$T/err"; rc=$?
t=$(elapsed "$t0" "$(now)")
is $rc 69 "Azurite stopped: exit 69"
echo "# gave up after $t s"
ok "$(awk -v t="$t" 'BEGIN { print (t < 5 ? 0 : 1) }')" "Azurite stopped: within a few seconds"
contains "$T/err" "gave up after .*(connect|Connection refused)" "Azurite stopped: clear message"
done_testing
