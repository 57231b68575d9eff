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
