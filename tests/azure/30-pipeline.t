#!/bin/sh
# The whole pipeline through an Azurite queue: files enqueued in both
# encodings, `mpirun -np 2 mpibatch run`, merged result equals the oracle,
# queue empty afterwards. Poison: a message naming a missing file is retried
# and ends in QUEUE-poison (as JSON with every cause) after more than
# --max-dequeue failed deliveries, while the run commits the other messages;
# `queue redrive` brings it back with its original body.
. tests/lib/tap.sh
. tests/lib/azurite.sh

azurite_start
Q="$AZ_URL/pipe"

mkdir -p "$T/data"
for s in 1 2 3 4 5 6; do
    "$GEN" --profile stress --rows 3000 --seed $s --groups 20 > "$T/data/s$s.csv"
done
AGG='count(*), sum(i), mean(f), stddev(i), max(big)'
"$MB" enqueue --queue "$Q" "$T/data/s1.csv" "$T/data/s2.csv" "$T/data/s3.csv" > /dev/null
ok $? "three files enqueued as base64"
"$MB" enqueue --queue "$Q" --message-encoding text "$T/data/s4.csv" "$T/data/s5.csv" \
    "$T/data/s6.csv" > /dev/null
ok $? "three files enqueued as text"

t0=$(now)
mb_run 2 "$Q" "$T/out" --group-by k2 --agg "$AGG" --chunk-size 32K
ok $? "mpirun -np 2 run exits 0"
echo "# run took $(elapsed "$t0" "$(now)") s"
is "$(ls "$T/out/.ledger" | wc -l)" 6 "six ledger entries"
is "$(grep -c ': committed ' "$T/log")" 6 "six tasks committed, each once"
"$MB" results "$T/out" --merge > "$T/merged.csv"
$ORACLE --group-by k2 --agg "$AGG" "$T"/data/s*.csv > "$T/oracle.csv"
same_file "$T/merged.csv" "$T/oracle.csv" "merged total equals the oracle"
"$MB" queue stats --queue "$Q" > "$T/stats"
is "$(sed -n 's/^approximate_messages //p' "$T/stats")" 0 "queue empty afterwards"
is "$(sed -n 's/^poison //p' "$T/stats")" 0 "nothing poisoned"

# --- poison -------------------------------------------------------------------
P="$AZ_URL/pois"
printf 'k,v\na,1\nb,2\n' > "$T/data/good1.csv"
printf 'k,v\na,10\n' > "$T/data/good2.csv"
printf 'k,v\na,1\n' > "$T/data/gone.csv"
"$MB" enqueue --queue "$P" "$T/data/good1.csv" "$T/data/gone.csv" "$T/data/good2.csv" > /dev/null
rm "$T/data/gone.csv"
LOG=$T/log2 mb_run 2 "$P" "$T/out2" --group-by k --agg 'count(*), sum(v)' --max-dequeue 2 \
    --idle-exit 8
is $? 65 "the run goes on and exits 65 (a task was poisoned)"
contains "$T/log2" "gone.csv: No such file or directory; retry in" "the missing file is retried"
is "$(ls "$T/out2/.ledger" | wc -l)" 2 "the two good tasks are committed"
"$MB" results "$T/out2" --merge > "$T/merged2.csv"
$ORACLE --group-by k --agg 'count(*), sum(v)' "$T/data/good1.csv" "$T/data/good2.csv" > "$T/oracle2.csv"
same_file "$T/merged2.csv" "$T/oracle2.csv" "good results equal the oracle"
"$MB" queue stats --queue "$P" > "$T/stats2"
is "$(sed -n 's/^approximate_messages //p' "$T/stats2")" 0 "the queue is empty"
is "$(sed -n 's/^poison //p' "$T/stats2")" 1 "one message in pois-poison"
"$MB" queue peek --queue "$P-poison" | cut -f3 > "$T/poison.json"
python3 - "$T/poison.json" "$T/data/gone.csv" > "$T/poison.check" 2>&1 <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["queue"] == "pois", m
assert m["dequeue_count"] == 3, m
assert m["reason"].startswith("failed 3 times, more than max-dequeue 2: #1 "), m
assert "gone.csv: No such file or directory" in m["reason"], m
assert sys.argv[2] in m["body"], m
assert m["message_id"], m
print("ok")
EOF
is "$(cat "$T/poison.check")" ok "the poison copy is JSON with queue, count, reason, body and id"
sed 's/^/# /' "$T/poison.json"

# --- redrive ------------------------------------------------------------------
"$MB" queue redrive --queue "$P" --id no-such-message > /dev/null 2>&1
is $? 66 "redrive of an unknown id exits 66"
is "$("$MB" queue stats --queue "$P" | sed -n 's/^poison //p')" 1 "a filtered redrive leaves other poison copies"
"$MB" queue redrive --queue "$P" > "$T/redrive"
is "$(cat "$T/redrive")" "redriven 1" "redrive moves the poisoned message back"
"$MB" queue stats --queue "$P" > "$T/stats3"
is "$(sed -n 's/^poison //p' "$T/stats3")" 0 "pois-poison is empty"
is "$(sed -n 's/^approximate_messages //p' "$T/stats3")" 1 "the message is back in the queue"
"$MB" queue peek --queue "$P" | cut -f3 > "$T/back"
contains "$T/back" "gone.csv" "with its original body"
printf 'k,v\na,7\n' > "$T/data/gone.csv"
LOG=$T/log3 mb_run 1 "$P" "$T/out2" --group-by k --agg 'count(*), sum(v)' --idle-exit 2
ok $? "once the file exists, the redriven task is committed"
is "$(ls "$T/out2/.ledger" | wc -l)" 3 "three tasks committed"
done_testing
