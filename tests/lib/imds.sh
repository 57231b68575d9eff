# shellcheck shell=sh
# shellcheck disable=SC2034 # IMDS_URL is for the sourcing test
# imds.sh - starts the local mock of Azure's instance metadata service
# (tests/lib/imds_mock.py) for a test (sourced after tap.sh), as VM $VM,
# with its events document at $T/events.json and approvals in $T/approvals.
# Sets $IMDS_URL; the mock is killed when the test exits.
mock_pid=""
trap '[ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$T"' EXIT
python3 tests/lib/imds_mock.py --port-file "$T/port" --vm-name "$VM" \
    --events "$T/events.json" --approvals "$T/approvals" --timeout 300 &
mock_pid=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$T/port" ]; ok $? "the mock metadata service started"
IMDS_URL="http://127.0.0.1:$(cat "$T/port")"
