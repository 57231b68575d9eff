#!/bin/sh
# Azure Scheduled Events against a local mock of the instance metadata
# service (tests/lib/imds_mock.py): a Preempt or Terminate event naming this
# VM stops the watcher's process with the right deadline and is approved
# once; events for another VM, a Reboot, and a malformed document are
# ignored, each noted once in the log. Runs test_preempt in its mock modes;
# the end-to-end run with `mpibatch run` lives in its own test.
. tests/lib/tap.sh

VM=mbtest-vm_1
. tests/lib/imds.sh
trap 'exit 1' INT TERM
MB_IMDS_MOCK=$IMDS_URL
export MB_IMDS_MOCK MB_IMDS_APPROVALS="$T/approvals"

# event ID TYPE RESOURCE NOTBEFORE: one event object as Azure writes it.
event() {
    printf '{"EventId":"%s","EventStatus":"Scheduled","EventType":"%s","ResourceType":"VirtualMachine","Resources":["%s"],"NotBefore":"%s","Description":"test","EventSource":"Platform","DurationInSeconds":-1}' \
        "$1" "$2" "$3" "$4"
}

# set_events TEXT: replaces the document atomically, as the mock re-reads it.
set_events() {
    printf '%s\n' "$1" > "$T/events.tmp" && mv "$T/events.tmp" "$T/events.json"
}

# run_mode MODE EVENT_ID NOTBEFORE_EPOCH: test_preempt's own checks.
run_mode() {
    rm -f "$T/approvals"
    MB_IMDS_EVENT_ID=$2 MB_IMDS_NOT_BEFORE_EPOCH=$3 \
        "$MB_BUILD/tests/test_preempt" "$1" > "$T/$1.tap" 2> "$T/$1.err"
    rc=$?
    n=$(grep -c '^ok ' "$T/$1.tap")
    ok $rc "$1: test_preempt passes ($n checks)"
    [ $rc -eq 0 ] || sed 's/^/#   /' "$T/$1.tap" "$T/$1.err" | head -40
}

# count FILE TEXT: lines containing TEXT (fixed string).
count() { grep -cF -- "$2" "$1"; }

epoch=$(($(date +%s) + 30))
NB=$(LC_ALL=C date -u -d "@$epoch" '+%a, %d %b %Y %H:%M:%S GMT')
ID=602d9444-d2cd-49c7-8624-8643e7171297

# Our own event among others (Azure's Resources case differs from IMDS's
# name), followed by a second stop event that must not replace the first.
set_events "{\"DocumentIncarnation\":3,\"Events\":[$(event aaaa0001 Reboot "$VM" "$NB"),$(event aaaa0002 Preempt othervm_2 "$NB"),$(event "$ID" Preempt MBTEST-VM_1 "$NB"),$(event aaaa0003 Terminate "$VM" "")]}"
run_mode preempt-self "$ID" "$epoch"
contains "$T/approvals" "^\\{\"StartRequests\":\\[\\{\"EventId\":\"$ID\"\\}\\]\\}\$" "preempt-self: the mock recorded the approval of $ID"
is "$(wc -l < "$T/approvals" | tr -d ' ')" 1 "preempt-self: approved exactly once"
contains "$T/preempt-self.err" "Azure Scheduled Event Preempt $ID for $VM, not before $NB" "preempt-self: the stop is logged with its deadline"
is "$(count "$T/preempt-self.err" 'ignoring Azure Scheduled Event Reboot aaaa0001')" 1 "preempt-self: our Reboot is noted once"
is "$(count "$T/preempt-self.err" 'ignoring Azure Scheduled Event Terminate aaaa0003 (already stopping')" 1 "preempt-self: a second stop event is noted once and not approved"

TID=a1b2c3d4-0000-4000-8000-000000000001
set_events "{\"DocumentIncarnation\":1,\"Events\":[$(event "$TID" Terminate "$VM" "")]}"
run_mode terminate-self "$TID" ""
contains "$T/approvals" "\"EventId\":\"$TID\"" "terminate-self: the mock recorded the approval"

BID=0d0d0d0d-3333-4333-8333-333333333333
set_events "{\"DocumentIncarnation\":2,\"Events\":[$(event "$BID" Preempt "$VM" 'Mon, 30 Feb 2024 00:00:00 GMT')]}"
run_mode badtime-self "$BID" ""
is "$(count "$T/badtime-self.err" 'cannot parse Scheduled Event NotBefore')" 1 "badtime-self: an impossible NotBefore is warned about once and means no deadline"

OID=0b0b0b0b-1111-4111-8111-111111111111
set_events "{\"DocumentIncarnation\":4,\"Events\":[$(event "$OID" Preempt othervm_2 "$NB")]}"
run_mode other-vm "$OID" ""
[ ! -s "$T/approvals" ]; ok $? "other-vm: nothing approved"
is "$(count "$T/other-vm.err" "ignoring Azure Scheduled Event Preempt $OID (for another VM)")" 1 "other-vm: noted once at debug level"

RID=0c0c0c0c-2222-4222-8222-222222222222
set_events "{\"DocumentIncarnation\":5,\"Events\":[$(event "$RID" Reboot "$VM" "$NB")]}"
run_mode reboot "$RID" ""
[ ! -s "$T/approvals" ]; ok $? "reboot: nothing approved"
is "$(count "$T/reboot.err" "ignoring Azure Scheduled Event Reboot $RID (not a stop)")" 1 "reboot: noted once at debug level"

set_events '{"DocumentIncarnation":6,"Events":[{"EventId":'
run_mode malformed none ""
is "$(count "$T/malformed.err" 'malformed Scheduled Events document')" 1 "malformed: warned once, not at every poll"

kill "$mock_pid" 2>/dev/null
wait "$mock_pid" 2>/dev/null
kill -0 "$mock_pid" 2>/dev/null; [ $? -ne 0 ]; ok $? "the mock is gone"
mock_pid=""
done_testing
