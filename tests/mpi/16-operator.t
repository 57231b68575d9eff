#!/bin/sh
# The operator's view: log lines carry an ISO 8601 UTC time and the host
# (text), or are one JSON object each (--log-format, or [run] log_format in a
# job file), scrubbed of secrets either way; a slowed run logs progress with
# rates and an ETA; its status file shows the job running while it runs,
# idle on an empty queue, and its outcome after (done, stopped, failed with
# the error), stale when a running job stops updating it;
# queue stats and peek give JSON with the right counts and the lease;
# peek --poison lists poisoned messages with their reasons (text and JSON)
# and purge --poison deletes them, plain purge leaving them alone.
. tests/lib/tap.sh

mkdir -p "$T/data"
for s in 1 2; do
    "$GEN" --profile flights --rows 40000 --seed $s > "$T/data/f$s.csv"
done
host=$(hostname)
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'

# json_lines FILE: 0 when every line is a JSON object with time, host,
# rank, level and msg, the host this one's, the rank an integer or null.
json_lines() {
    python3 - "$1" "$host" <<'EOF'
import json, re, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    assert list(o) == ["time", "host", "rank", "level", "msg"], o
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o
    assert o["host"] == sys.argv[2], o
    assert o["rank"] is None or isinstance(o["rank"], int), o
    assert o["level"] in ("error", "warning", "info", "debug"), o
    assert isinstance(o["msg"], str) and o["msg"], o
    n += 1
assert n > 0
EOF
}

# jq_py FILE EXPR: prints the Python expression EXPR over the JSON document d.
jq_py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# ---- plain commands: text and JSON lines, secrets scrubbed --------------
sig='sv=2022&sig=c2VjcmV0U0VDUkVUc2VjcmV0%2B&se=1'
"$MB" enqueue --queue "dir:$T/q0" "/nope/x.csv?$sig" 2> "$T/plain.log"; is $? 66 "enqueue of a missing file exits 66"
contains "$T/plain.log" "^$TS $host mpibatch: error: /nope/x\.csv" "a plain command's line: time, host, no rank"
"$MB" enqueue --queue "dir:$T/q0" --log-format json "/nope/x.csv?$sig" 2> "$T/plain.json"
json_lines "$T/plain.json"; ok $? "--log-format json: the error is a JSON object with time, host, rank, level, msg"
is "$(jq_py "$T/plain.json" 'd["rank"]')" None "a plain command's JSON line has rank null"
! grep -q "c2VjcmV0" "$T/plain.log" "$T/plain.json"; ok $? "the SAS signature is scrubbed from text and JSON lines"
"$MB" status "$T" --log-format yaml 2> "$T/e"; is $? 64 "an unknown --log-format exits 64"

# ---- queue stats and peek in JSON ---------------------------------------
"$MB" enqueue --queue "dir:$T/qp" "$T"/data/*.csv > /dev/null
"$MB" queue stats --queue "dir:$T/qp" --format json > "$T/stats0.json"; ok $? "queue stats --format json exits 0"
is "$(jq_py "$T/stats0.json" '(d["approximate_messages"], d["visible"], d["leased"], d["poison"], d["leases"])')" \
   "(2, 2, 0, 0, [])" "queue stats JSON: 2 messages, both visible, no leases"
"$MB" queue peek --queue "dir:$T/qp" --format json > "$T/peek0.json"; ok $? "queue peek --format json exits 0"
is "$(jq_py "$T/peek0.json" '(d["peeked"], d["visible"], len(d["messages"]), sorted(m["body"] for m in d["messages"]) == ["'"$T"'/data/f1.csv", "'"$T"'/data/f2.csv"], all(m["dequeue_count"] == 0 and m["id"] for m in d["messages"]))')" \
   "(2, 2, 2, True, True)" "queue peek JSON: both messages with id, dequeue count and body"
"$MB" queue purge --queue "dir:$T/qp" --format json 2> "$T/e"; is $? 64 "--format json with purge is a usage error"

# ---- the poison area: peek --poison (text, JSON), purge --poison ---------
printf 'k,v\na,1\nb,oops\n' > "$T/bad.csv"
printf 'k,v\na,1\n' > "$T/good.csv"
"$MB" enqueue --queue "dir:$T/qz" "$T/bad.csv" "$T/good.csv" > /dev/null
LOG=$T/poison.log mb_run 1 "dir:$T/qz" "$T/outz" --group-by k --agg 'sum(v)'
is $? 65 "a run with one bad file exits 65"
"$MB" queue peek --poison --queue "dir:$T/qz" > "$T/pz.txt"; ok $? "queue peek --poison exits 0"
is "$(wc -l < "$T/pz.txt")" 1 "peek --poison lists the one poisoned message"
is "$(cut -f2 "$T/pz.txt")" 1 "with its dequeue count"
contains "$T/pz.txt" "^[0-9]{20}-[0-9a-f]{16}	1	.*bad\.csv:3:[0-9]+: .*	$T/bad\.csv$" "id, dequeue count, the reason naming file:line:column, the body"
"$MB" queue peek --queue "dir:$T/qz" > "$T/pq.txt"
is "$(wc -l < "$T/pq.txt")" 0 "plain peek does not show the poisoned message"
"$MB" queue peek --poison --queue "dir:$T/qz" --format json > "$T/pz.json"; ok $? "queue peek --poison --format json exits 0"
is "$(jq_py "$T/pz.json" '(d["area"], d["peeked"], d["poison"], d["visible"], len(d["messages"]))')" \
   "('poison', 1, 1, 0, 1)" "peek --poison JSON: the poison area, one message, the counts"
is "$(jq_py "$T/pz.json" '(d["messages"][0]["id"] == "'"$(cut -f1 "$T/pz.txt")"'", d["messages"][0]["dequeue_count"], "bad.csv:3:" in d["messages"][0]["reason"], d["messages"][0]["body"], d["messages"][0]["body_truncated"])')" \
   "(True, 1, True, '$T/bad.csv', False)" "peek --poison JSON: id, dequeue count, reason, body, not truncated"
"$MB" queue peek --queue "dir:$T/qz" --format json > "$T/pq.json"
is "$(jq_py "$T/pq.json" '(d["area"], d["peeked"], d["poison"])')" "('queue', 0, 1)" "plain peek JSON says area queue"
"$MB" enqueue --queue "dir:$T/qz" "$T/good.csv" --id again > /dev/null
"$MB" queue purge --queue "dir:$T/qz"; ok $? "plain purge"
is "$("$MB" queue stats --queue "dir:$T/qz" | sed -n 's/^\(visible\|poison\) //p' | tr '\n' ' ')" "0 1 " \
   "plain purge empties the queue and leaves the poison area alone"
"$MB" queue purge --poison --queue "dir:$T/qz"; ok $? "queue purge --poison exits 0"
is "$("$MB" queue stats --queue "dir:$T/qz" | sed -n 's/^poison //p')" 0 "purge --poison empties the poison area"
is "$("$MB" queue peek --poison --queue "dir:$T/qz" | wc -l)" 0 "peek --poison shows nothing after it"
ls "$T"/qz/poison/*.reason > /dev/null 2>&1; is $? 2 "and the reason files went with the messages"
"$MB" enqueue --queue "dir:$T/qz" "$T/good.csv" --id kept > /dev/null
"$MB" queue purge --poison --queue "dir:$T/qz"
is "$("$MB" queue stats --queue "dir:$T/qz" | sed -n 's/^visible //p')" 1 "purge --poison leaves the queue alone"
"$MB" queue purge --poison --format json --queue "dir:$T/qz" 2> "$T/e"; is $? 64 "--format json with purge --poison is a usage error"

# ---- a slowed run: progress, status while it runs, the outcome after -----
"$MB" enqueue --queue "dir:$T/q" "$T"/data/*.csv > /dev/null
# 100 ms per round of 2 chunks of 16K: each task (137 chunks) lasts at
# least 6.9 s, past the first progress line (5 s into a task).
MPIBATCH_FAULT_SLEEP_MS=100 $MPIRUN -x MPIBATCH_FAULT_SLEEP_MS -np 2 "$MB" run --queue "dir:$T/q" \
    --out "$T/out" --job jobs/flights.job --chunk-size 16K --checkpoint-dir "$T/ck" 2> "$T/run.log" &
pid=$!
i=0
while [ $i -lt 200 ]; do
    "$MB" status "$T/ck" --format json > "$T/st1.json" 2>/dev/null &&
        [ "$(jq_py "$T/st1.json" 'any(j["state"] == "running" and j["task"] and j["chunks_total"] > 0 for j in d["jobs"])')" = True ] && break
    sleep 0.1
    i=$((i + 1))
done
is "$(jq_py "$T/st1.json" '(len(d["jobs"]), d["jobs"][0]["state"], d["jobs"][0]["stale"], d["jobs"][0]["ranks"])')" \
   "(1, 'running', False, 2)" "status while the job runs: one job, running, not stale, 2 ranks"
"$MB" status "$T/ck" > "$T/st1.txt"
contains "$T/st1.txt" "^$host +[0-9]+ running +[0-9a-f]{32} +[0-9]+/[0-9]+ " "status table: host, pid, running, task, chunks"
"$MB" queue stats --queue "dir:$T/q" --format json > "$T/stats1.json"
is "$(jq_py "$T/stats1.json" '(d["visible"], d["leased"], len(d["leases"]), d["leases"][0]["dequeue_count"], d["leases"][0]["expires_in_s"] > 0, d["leases"][0]["holder"])')" \
   "(1, 1, 1, 1, True, None)" "queue stats JSON while running: one visible, one leased, its expiry ahead, holder unknown"
"$MB" queue stats --queue "dir:$T/q" > "$T/stats1.txt"
contains "$T/stats1.txt" "^lease [0-9]{20}-[0-9a-f]{16} dequeue_count 1 expires $TS in [0-9]+ s holder unknown$" "queue stats text shows the lease and its expiry"
contains "$T/stats1.txt" "^leased 1$" "queue stats text keeps the count lines"
"$MB" queue peek --queue "dir:$T/q" --format json > "$T/peek1.json"
is "$(jq_py "$T/peek1.json" '(d["peeked"], d["leased"], len(d["messages"]))')" "(1, 1, 1)" "queue peek JSON while running: the one visible message"
wait $pid; is $? 0 "the slowed run drains the queue"

contains "$T/run.log" "^$TS $host mpibatch\[0\]: info: run: queue " "run lines: time, host, rank"
n=$(grep -c "mpibatch\[" "$T/run.log"); m=$(grep -cE "^$TS $host mpibatch\[[01]\]: (error|warning|info|debug): " "$T/run.log")
is "$m" "$n" "every run line has the time/host/rank prefix ($n lines)"
contains "$T/run.log" "info: task [0-9a-f]+: [0-9]+/[0-9]+ chunks, [0-9.]+/[0-9.]+ MB, [0-9]+ rows/s, [0-9.]+ MB/s, ETA [0-9]+(s|m[0-9]{2}s); run: [0-9]+ tasks done, 0 rejected; queue: ~[0-9]+ left, 0 poisoned$" \
    "a progress line with chunks, MB, rows/s, MB/s, ETA and queue progress"
contains "$T/run.log" "run: 1 tasks done, 0 rejected; queue: ~1 left" "queue progress counts the committed task off between counts"
! grep -q "chunks to do" "$T/run.log"; ok $? "the old 'N of M chunks to do' line is gone"
contains "$T/run.log" "committed 40000 rows" "the commit line is unchanged"

"$MB" status "$T/ck" --format json > "$T/st2.json"; ok $? "status after the run exits 0"
is "$(jq_py "$T/st2.json" '(len(d["jobs"]), d["jobs"][0]["state"], d["jobs"][0]["tasks_done"], d["jobs"][0]["tasks_rejected"], d["jobs"][0]["queue_left"], d["jobs"][0]["stale"])')" \
   "(1, 'done', 2, 0, 0, False)" "status after the run: done, 2 tasks, none rejected, queue empty"
"$MB" status "$T/ck" > "$T/st2.txt"
contains "$T/st2.txt" "^$host +[0-9]+ done " "status table shows the outcome"

# A file that a running job stopped updating is stale.
f=$(ls "$T"/ck/status.*.json)
python3 - "$f" "$T/ck/status.deadhost.1.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d.update(host="deadhost", pid=1, state="running", updated="2020-01-01T00:00:00Z")
json.dump(d, open(sys.argv[2], "w"))
EOF
"$MB" status "$T/ck" > "$T/st3.txt"
contains "$T/st3.txt" "^deadhost +1 running .* STALE$" "a running job silent for over 60 s is marked STALE"
! grep -E "^$host .*STALE" "$T/st3.txt" > /dev/null; ok $? "a finished job is never stale"
rm -f "$T/ck/status.deadhost.1.json"

# ---- a stop on request leaves state stopped -----------------------------
"$MB" enqueue --queue "dir:$T/qs" "$T/data/f1.csv" > /dev/null
# shellcheck disable=SC2086 # MPIRUN is a word list
MPIBATCH_FAULT_SLEEP_MS=150 setsid $MPIRUN -x MPIBATCH_FAULT_SLEEP_MS -np 2 "$MB" run --queue "dir:$T/qs" \
    --out "$T/outs" --job jobs/flights.job --chunk-size 16K --checkpoint-dir "$T/cks" 2> "$T/stop.log" &
pid=$!
wait_for_log "$T/stop.log" "run: queue" 20
sleep 1
kill -USR1 "$pid"
wait $pid; is $? 75 "SIGUSR1: exit 75"
"$MB" status "$T/cks" --format json > "$T/st4.json"
ck=$(sed -n 's/.*checkpoint [0-9]* written: \([0-9]*\) of.*/\1/p' "$T/stop.log" | tail -1)
is "$(jq_py "$T/st4.json" '(d["jobs"][0]["state"], bool(d["jobs"][0]["task"]), d["jobs"][0]["chunks_done"], d["jobs"][0]["chunks_done"] < d["jobs"][0]["chunks_total"])')" \
   "('stopped', True, ${ck:-none}, True)" "status after a stop: stopped, with the task and the chunks its stop checkpoint holds"

# ---- idle while the queue is empty; failed with the error ---------------
mkdir -p "$T/qi"
"$MB" enqueue --queue "dir:$T/qi" "$T/data/f1.csv" > /dev/null
"$MB" queue purge --queue "dir:$T/qi"
LOG=$T/idle.log mb_run 1 "dir:$T/qi" "$T/outi" --group-by origin --agg 'count(*)' --idle-exit 4 &
pid=$!
i=0
while [ $i -lt 100 ]; do
    "$MB" status "$T/outi" --format json > "$T/st6.json" 2>/dev/null &&
        [ "$(jq_py "$T/st6.json" 'd["jobs"][0]["state"] if d["jobs"] else ""')" = idle ] && break
    sleep 0.1
    i=$((i + 1))
done
is "$(jq_py "$T/st6.json" '(d["jobs"][0]["state"], d["jobs"][0]["task"], d["jobs"][0]["queue_left"])')" \
   "('idle', None, 0)" "status of a job waiting on an empty queue: idle, no task, nothing left"
wait $pid; is $? 0 "the idle job exits after --idle-exit"
is "$(jq_py "$T/st6.json" 'd["jobs"][0]["pid"]')" "$("$MB" status "$T/outi" --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["jobs"][0]["pid"] if d["jobs"][0]["state"] == "done" else "not done")')" \
   "the same status file then says done"
"$MB" enqueue --queue "dir:$T/qf" "$T/data/f1.csv" > /dev/null
LOG=$T/fail.log mb_run 1 "dir:$T/qf" "$T/outf" --group-by nosuchcolumn --agg 'count(*)'
is $? 64 "a job (of the command line) that fits no file exits 64"
is "$("$MB" status "$T/outf" --format json | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(j["state"], "does not fit" in (j["error"] or ""))')" \
   "failed True" "its status file says failed, with the error"

# ---- no checkpoint dir: OUT/.status; JSON lines from the job file --------
printf '[job]\ngroup_by = origin\naggregates = count(*)\n[run]\nlog_format = json\n' > "$T/json.job"
"$MB" enqueue --queue "dir:$T/qj" "$T/data/f2.csv" > /dev/null
LOG=$T/json.log mb_run 2 "dir:$T/qj" "$T/outj" --job "$T/json.job"; is $? 0 "a run with [run] log_format = json"
json_lines "$T/json.log"; ok $? "[run] log_format = json: every line is a JSON object with the fields"
python3 -c "import json,sys; sys.exit(not any(json.loads(l)['rank'] == 0 and 'committed' in json.loads(l)['msg'] for l in open(sys.argv[1])))" "$T/json.log"
ok $? "the commit line is a JSON object from rank 0"
ls "$T"/outj/.status/status.*.json > /dev/null 2>&1; ok $? "without --checkpoint-dir the status file is in OUT/.status/"
"$MB" status "$T/outj" > "$T/st5.txt"
contains "$T/st5.txt" "^$host +[0-9]+ done " "status OUT reads OUT/.status/"
printf '[job]\ngroup_by = origin\naggregates = count(*)\n[run]\nlog_format = xml\n' > "$T/bad.job"
"$MB" run --queue "dir:$T/qj" --out "$T/outj" --job "$T/bad.job" 2> "$T/e"; is $? 65 "a bad [run] log_format exits 65"
"$MB" status "$T/none" 2> "$T/e"; is $? 66 "status of a missing DIR exits 66"
done_testing
