#!/bin/sh
# Azure authentication without Azure. SharedKey known-answer test: the
# string-to-sign written independently here must equal the C one byte for
# byte, and the signature must equal `openssl dgst -mac HMAC` over it with a
# random account key; path-style (Azurite, account twice) and host-style
# URLs. A malformed key is refused without being shown. Managed identity
# against tests/lib/imds_mock.py: retries through 500/429/410, caching,
# refresh when the token expires within 5 minutes, user-assigned client id,
# immediate failure on 400, bounded retries on a permanent outage, and the
# token never in stderr.
. tests/lib/tap.sh

TA="$MB_BUILD/tests/test_azure_auth"
mock_pid=""
trap '[ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
unset AZURE_STORAGE_CONNECTION_STRING AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY \
    AZURE_STORAGE_SAS_TOKEN AZURE_CLIENT_ID MPIBATCH_IMDS_ENDPOINT \
    MPIBATCH_IMDS_RETRY_BASE_MS MB_STS_FILE

ACCOUNT=mbkatacct
KEY=$(openssl rand -base64 64 | tr -d '\n')
HEXKEY=$(printf %s "$KEY" | base64 -d | od -An -tx1 | tr -d ' \n')
DATE=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
VER=2021-08-06
RID=0f8fad5b-d9cb-469f-a165-70867728950e
CS="DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;QueueEndpoint=http://127.0.0.1:10001/$ACCOUNT"

# hmac FILE: base64 HMAC-SHA256 of FILE under the account key, by openssl.
hmac() { openssl dgst -sha256 -mac HMAC -macopt "hexkey:$HEXKEY" -binary < "$1" | base64 -w0; }

# sign NAME ARGS...: the C signer; string-to-sign in $T/NAME.c.sts.
sign() {
    name=$1; shift
    MB_STS_FILE="$T/$name.c.sts" AZURE_STORAGE_CONNECTION_STRING="$CS" \
        "$TA" sign "$@" > "$T/$name.out" 2> "$T/$name.err"
}

# check_kat NAME: both strings-to-sign equal, signature equals openssl's.
check_kat() {
    same_file "$T/$1.c.sts" "$T/$1.sh.sts" "$1: string-to-sign equals the one written here"
    is "$(sed -n 2p "$T/$1.out")" "$(hmac "$T/$1.sh.sts")" "$1: signature equals openssl's HMAC-SHA256"
}

# --- SharedKey known answers --------------------------------------------------
sign get GET "/$ACCOUNT/q/messages" "numofmessages=32&visibilitytimeout=30" 0 \
    "x-ms-date: $DATE" "x-ms-version: $VER"
ok $? "get: the signer ran"
printf 'GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:%s\n/%s/%s/q/messages\nnumofmessages:32\nvisibilitytimeout:30' \
    "$DATE" "$VER" "$ACCOUNT" "$ACCOUNT" > "$T/get.sh.sts"
check_kat get
is "$(sed -n 1p "$T/get.out")" "$(awk 'BEGIN { ORS = "\\n" } { print }' "$T/get.sh.sts" | sed 's/\\n$//')" \
    "get: the printed string-to-sign is the escaped file"

sign put PUT /q/messages "visibilitytimeout=0&messagettl=-1" 113 \
    "Content-Type: application/xml" "x-ms-version: $VER" "X-MS-Client-Request-Id:  $RID " "x-ms-date: $DATE"
ok $? "put: the signer ran"
printf 'PUT\n\n\n113\n\napplication/xml\n\n\n\n\n\n\nx-ms-client-request-id:%s\nx-ms-date:%s\nx-ms-version:%s\n/%s/q/messages\nmessagettl:-1\nvisibilitytimeout:0' \
    "$RID" "$DATE" "$VER" "$ACCOUNT" > "$T/put.sh.sts"
check_kat put

HEXKEY=$(openssl rand -hex 64)
[ "$(sed -n 2p "$T/get.out")" != "$(hmac "$T/get.sh.sts")" ]
ok $? "another key gives another signature (the comparison can fail)"

cat "$T"/*.out "$T"/*.err > "$T/all"
! grep -qF "$KEY" "$T/all"; ok $? "the account key appears in no output"

BAD="${KEY%????}*A=="
CS="AccountName=$ACCOUNT;AccountKey=$BAD"
sign bad GET /q - 0 "x-ms-date: $DATE"
[ $? -ne 0 ]; ok $? "bad key: the signer refuses a key that is not base64"
contains "$T/bad.err" "AccountKey is not a valid base64 account key" "bad key: the message names AccountKey"
! grep -qF "$(printf %s "$BAD" | cut -c1-12)" "$T/bad.err"; ok $? "bad key: the value is not shown"

# --- managed identity ------------------------------------------------------------
TOK="eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.$(openssl rand -hex 24).$(openssl rand -hex 16)"
CID=6d1a3b7e-5b3c-4f0e-9d3a-2f1c0b9e8a77

# start_mock NAME ARGS...: a fresh mock; MOCK is its URL.
start_mock() {
    name=$1; shift
    stop_mock
    python3 tests/lib/imds_mock.py --port-file "$T/$name.port" --vm-name mbtest-vm \
        --token-count "$T/$name.count" --token-log "$T/$name.log" --timeout 120 "$@" &
    mock_pid=$!
    i=0
    while [ ! -s "$T/$name.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    MOCK="http://127.0.0.1:$(cat "$T/$name.port" 2>/dev/null)"
}

stop_mock() {
    [ -n "$mock_pid" ] || return 0
    kill "$mock_pid" 2>/dev/null
    wait "$mock_pid" 2>/dev/null
    mock_pid=""
}

# token NAME N [BASE_MS]: N header requests through one credential.
token() {
    MPIBATCH_IMDS_ENDPOINT=$MOCK MPIBATCH_IMDS_RETRY_BASE_MS=${3:-20} \
        "$TA" token "$2" > "$T/$1.out" 2> "$T/$1.err"
}

requests() { tr -d '\n' < "$T/$1.count" 2>/dev/null || echo 0; }

start_mock retry --token "$TOK" --token-fail 3
[ -s "$T/retry.port" ]; ok $? "the mock metadata service started"
token retry 2
ok $? "retry: a token after 500, 429 and 410"
is "$(grep -cxF "Authorization: Bearer $TOK" "$T/retry.out")" 2 "retry: both calls return the Bearer header"
is "$(requests retry)" 4 "retry: three failures, one success, the second call served from the cache"
contains "$T/retry.err" "answered 500; retrying" "retry: the 500 was retried"
contains "$T/retry.err" "answered 429; retrying" "retry: the 429 was retried"
contains "$T/retry.err" "answered 410; retrying" "retry: the 410 was retried"
contains "$T/retry.log" "^api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F\$" \
    "retry: the documented query, no client_id for a system-assigned identity"

start_mock soon --token "$TOK" --token-expires-in 200 --token-numeric
token soon 2
ok $? "expiring: tokens with numeric expiry fields"
is "$(requests soon)" 2 "expiring: a token valid for less than 5 minutes is fetched again"

start_mock uai --token "$TOK" --client-id "$CID"
AZURE_CLIENT_ID=$CID token uai 1
ok $? "user-assigned: a token with AZURE_CLIENT_ID"
contains "$T/uai.log" "&client_id=$CID\$" "user-assigned: client_id sent"

start_mock none
t0=$(now)
token none 1 1000
rc=$?
t1=$(now)
[ $rc -ne 0 ]; ok $? "no identity: the request fails"
is "$(requests none)" 1 "no identity: a 400 is not retried"
awk -v e="$(elapsed "$t0" "$t1")" 'BEGIN { exit !(e < 1.5) }'
ok $? "no identity: fails at once ($(elapsed "$t0" "$t1") s with a 1 s retry base)"
contains "$T/none.err" "answered 400: Identity not found \\(no managed identity on this VM" \
    "no identity: the message says why and what to set"

start_mock down --token "$TOK" --token-fail 1000
token down 1 5
[ $? -ne 0 ]; ok $? "outage: gives up"
n=$(requests down)
[ "$n" -ge 6 ] && [ "$n" -le 10 ]; ok $? "outage: a bounded number of attempts ($n)"
contains "$T/down.err" "token: managed identity: .* answered (500|429|410).* after $n attempts" \
    "outage: the message gives the last status and the attempts"

cat "$T"/retry.err "$T"/soon.err "$T"/uai.err "$T"/none.err "$T"/down.err > "$T/mi.err"
! grep -qF "$TOK" "$T/mi.err"; ok $? "the token appears in no stderr output, at debug level"
! grep -qF "$(echo "$TOK" | cut -d. -f2)" "$T/mi.err"; ok $? "not even its middle part"

pid=$mock_pid
stop_mock
kill -0 "$pid" 2>/dev/null; [ $? -ne 0 ]; ok $? "the mock is gone"
done_testing
