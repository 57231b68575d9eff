#!/bin/sh
# End to end with a local mock of Azure's instance metadata service: a
# Preempt event naming this VM makes `mpibatch run` checkpoint, release the
# lease and exit 75 before the event's NotBefore, and the mock records the
# approval; the rerun completes byte-identical. An event for another VM is
# ignored: the run completes normally and approves nothing.
. tests/lib/tap.sh
. tests/lib/restart.sh

VM=mbtest-vm_1
. tests/lib/imds.sh
MPIBATCH_IMDS_ENDPOINT=$IMDS_URL
export MPIBATCH_IMDS_ENDPOINT
MPIRUN="$MPIRUN -x MPIBATCH_IMDS_ENDPOINT"

set_event() { # ID RESOURCE SECONDS_FROM_NOW
    nb=$(LC_ALL=C date -u -d "@$(($(date +%s) + $3))" '+%a, %d %b %Y %H:%M:%S GMT')
    printf '{"DocumentIncarnation":2,"Events":[{"EventId":"%s","EventStatus":"Scheduled","EventType":"Preempt","ResourceType":"VirtualMachine","Resources":["%s"],"NotBefore":"%s","Description":"Spot eviction","EventSource":"Platform","DurationInSeconds":-1}]}\n' \
        "$1" "$2" "$nb" > "$T/events.tmp"
    mv "$T/events.tmp" "$T/events.json"
    deadline=$(($(date +%s) + $3))
}

# Preempt for this VM, announced while the job works.
start_job "$T/p" 2
wait_for_log "$T/p/first.log" "run: queue" 20
set_event 6f1d3f0e-self "$VM" 30
wait "$pid"
rc=$?
is "$rc" 75 "Preempt for this VM: exit 75"
[ "$(date +%s)" -lt "$deadline" ]; ok $? "stopped before NotBefore"
contains "$T/p/first.log" "Scheduled Event" "the log names the eviction notice"
contains "$T/approvals" '"EventId": *"6f1d3f0e-self"' "the mock recorded the approval"
"$MB" inspect "$(newest_ckpt "$T/p")" > /dev/null 2>&1; ok $? "the checkpoint is valid"
rm -f "$T/events.json"
drain "$T/p" 2; ok $? "the rerun drains the queue"
same_as_ref "$T/p"; ok $? "results byte-identical"

# Preempt for another VM: ignored.
rm -f "$T/approvals"
start_job "$T/o" 2
wait_for_log "$T/o/first.log" "run: queue" 20
set_event 7a2e-other other-vm_9 30
wait "$pid"
is $? 0 "an event for another VM is ignored: the run completes"
[ ! -s "$T/approvals" ]; ok $? "nothing was approved"
same_as_ref "$T/o"; ok $? "results byte-identical"
done_testing
