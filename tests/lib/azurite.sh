# shellcheck shell=sh
# azurite.sh - Azurite's queue service for one test, and the fault proxy in front of it (sourced after tap.sh); never talks to real Azure.
#
# azurite_start    installs Azurite from npm once (into $MB_NODE_DIR), starts
#                  azurite-queue on a free loopback port with its data in $T,
#                  waits until it answers, and exports
#                  AZURE_STORAGE_CONNECTION_STRING (devstoreaccount1) and
#                  AZ_URL=http://127.0.0.1:PORT/devstoreaccount1.
#                  Fails with "Bail out!" when Azurite cannot be had.
# azurite_stop     stops it (also done at exit).
# proxy_start ARGS starts tests/lib/fault_proxy.py in front of Azurite with the
#                  given rules; exports PROXY_URL (same form as AZ_URL) and
#                  PROXY_LOG. proxy_stop stops it (also done at exit).
#
# The account key below is Azurite's published development key, not a secret.
AZURITE_VERSION=3.37.0
MB_NODE_DIR=${MB_NODE_DIR:-$HOME/.cache/mpibatch/node}
AZ_ACCOUNT=devstoreaccount1
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
AZ_PID=""
PROXY_PID=""

azurite_cleanup() {
    proxy_stop
    azurite_stop
    rm -rf "$T"
}
trap azurite_cleanup EXIT
trap 'exit 1' INT TERM

# The installed version, or nothing.
azurite_installed_version() {
    sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
        "$MB_NODE_DIR/node_modules/azurite/package.json" 2>/dev/null | head -1
}

# Idempotent: a second call (or a concurrent test, thanks to the lock)
# finds the right version and returns at once.
azurite_install() {
    [ "$(azurite_installed_version)" = "$AZURITE_VERSION" ] && return 0
    if ! command -v npm > /dev/null 2>&1 || ! command -v node > /dev/null 2>&1; then
        echo "# node and npm are needed for Azurite (Debian packages nodejs npm)" >&2
        return 1
    fi
    mkdir -p "$MB_NODE_DIR" || return 1
    (
        flock 9
        [ "$(azurite_installed_version)" = "$AZURITE_VERSION" ] && exit 0
        echo "# installing azurite@$AZURITE_VERSION into $MB_NODE_DIR (once)" >&2
        npm install --no-audit --no-fund --loglevel=error --prefix "$MB_NODE_DIR" \
            "azurite@$AZURITE_VERSION" > "$MB_NODE_DIR/install.log" 2>&1
    ) 9> "$MB_NODE_DIR/.install.lock"
    [ "$(azurite_installed_version)" = "$AZURITE_VERSION" ] ||
        { sed 's/^/# npm: /' "$MB_NODE_DIR/install.log" | tail -20 >&2; return 1; }
}

# A port nobody listens on now (the kernel picks it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT SECONDS: until something accepts connections there.
wait_port() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

azurite_start() {
    if ! azurite_install; then
        echo "Bail out! cannot install Azurite $AZURITE_VERSION from npm"
        exit 1
    fi
    AZ_PORT=$(free_port)
    mkdir -p "$T/azurite"
    # No --skipApiVersionCheck: the x-ms-version mpibatch pins must be one
    # Azurite really accepts.
    "$MB_NODE_DIR/node_modules/.bin/azurite-queue" --queueHost 127.0.0.1 --queuePort "$AZ_PORT" \
        --location "$T/azurite" --silent --disableTelemetry > "$T/azurite/log" 2>&1 &
    AZ_PID=$!
    if ! wait_port "$AZ_PORT" 30; then
        echo "Bail out! Azurite did not start on port $AZ_PORT"
        sed 's/^/# /' "$T/azurite/log" | tail -20
        exit 1
    fi
    AZ_URL="http://127.0.0.1:$AZ_PORT/$AZ_ACCOUNT"
    AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$AZ_ACCOUNT;AccountKey=$AZ_KEY;QueueEndpoint=$AZ_URL;"
    export AZ_URL AZURE_STORAGE_CONNECTION_STRING
    unset AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_SAS_TOKEN
}

azurite_stop() {
    if [ -n "$AZ_PID" ]; then
        kill "$AZ_PID" 2>/dev/null
        wait "$AZ_PID" 2>/dev/null
        AZ_PID=""
    fi
}

# proxy_start [fault_proxy.py options...]: rules as --rule "..." options.
proxy_start() {
    proxy_stop
    PROXY_LOG=${PROXY_LOG:-$T/proxy.log}
    rm -f "$T/proxy.port"
    python3 tests/lib/fault_proxy.py --target "127.0.0.1:$AZ_PORT" --port-file "$T/proxy.port" \
        --log "$PROXY_LOG" --timeout 300 "$@" 2>> "$T/proxy.err" &
    PROXY_PID=$!
    i=0
    while [ ! -s "$T/proxy.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if [ ! -s "$T/proxy.port" ]; then
        echo "Bail out! the fault proxy did not start"
        sed 's/^/# /' "$T/proxy.err"
        exit 1
    fi
    PROXY_URL="http://127.0.0.1:$(cat "$T/proxy.port")/$AZ_ACCOUNT"
    export PROXY_URL PROXY_LOG
}

proxy_stop() {
    if [ -n "$PROXY_PID" ]; then
        kill "$PROXY_PID" 2>/dev/null
        wait "$PROXY_PID" 2>/dev/null
        PROXY_PID=""
    fi
}
