# shellcheck shell=sh
# node_peers.sh - installs the npm packages of tests/bench/peers/package.json
# (DuckDB, Polars: exact versions) once into MB_NODE_DIR, shared by the
# benchmark and the SQL differential tests (sourced).
# node_peers_install: 0 when @duckdb/node-api loads from $MB_NODE_DIR.
MB_NODE_DIR=${MB_NODE_DIR:-${HOME:-/root}/.cache/mpibatch/bench-node}
node_peers_install() {
    _pj=$(pwd)/tests/bench/peers/package.json
    command -v node > /dev/null 2>&1 && command -v npm > /dev/null 2>&1 || return 1
    mkdir -p "$MB_NODE_DIR" || return 1
    if ! cmp -s "$_pj" "$MB_NODE_DIR/package.json" || [ ! -d "$MB_NODE_DIR/node_modules" ]; then
        cp "$_pj" "$MB_NODE_DIR/package.json" || return 1
        if ! timeout 600 npm install --no-audit --no-fund --prefix "$MB_NODE_DIR" \
            > "$MB_NODE_DIR/install.log" 2>&1; then
            rm -f "$MB_NODE_DIR/package.json" # retry next time
            return 1
        fi
    fi
    timeout 120 node -e "require('module').createRequire('$MB_NODE_DIR/')('@duckdb/node-api')" \
        > /dev/null 2>&1
}

# diff_runs SCRIPT DRIVER COUNT SEED...: runs a DuckDB differential script
# (tests/sql/*.mjs) once per seed and prints its TAP renumbered into one
# plan; the status is 1 when any run failed or ended early.
diff_runs() {
    _script=$1 _driver=$2 _count=$3
    shift 3
    _rc=0 _n=0
    for _seed in "$@"; do
        node "$_script" "$MB_NODE_DIR" "$_driver" "$T" "$_seed" "$_count" \
            > "$T/run.tap" 2> "$T/run.err" || _rc=1
        while IFS= read -r _line; do
            case "$_line" in
            "ok "*|"not ok "*)
                _n=$((_n + 1))
                echo "${_line%% [0-9]*} $_n ${_line#* [0-9]* }" ;;
            "1.."*) ;;
            *) echo "$_line" ;;
            esac
        done < "$T/run.tap"
        [ -s "$T/run.err" ] && sed 's/^/# stderr: /' "$T/run.err" | head -5
        if ! grep -q '^# .* passed, .* failed' "$T/run.tap"; then
            _n=$((_n + 1))
            echo "not ok $_n - seed $_seed: the run ended early"
            _rc=1
        fi
    done
    echo "1..$_n"
    return $_rc
}

# need_duckdb: installs the peers or ends the test with one failure.
need_duckdb() {
    node_peers_install && return 0
    echo "not ok 1 - DuckDB (@duckdb/node-api) installs from npm into $MB_NODE_DIR"
    sed 's/^/# /' "$MB_NODE_DIR/install.log" 2>/dev/null | tail -5
    echo "1..1"
    exit 1
}
