# Shared by the tuning scripts: binaries, port, and a server started with load-test limits lifted.
# Port 3700 by default so as not to collide with benches/compare.sh (3536).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVER_BIN=${SERVER_BIN:-$ROOT/target/release/signal-fish-server}
BENCH_BIN=${BENCH_BIN:-$ROOT/target/release/signal-fish-bench}
PORT=${PORT:-3700}
WORK=$(mktemp -d)
cat >"$WORK/config.json" <<'JSON'
{"server":{"max_rooms_per_game":1000000},
 "security":{"max_connections_per_ip":1000000},
 "rate_limit":{"max_room_creations":1000000,"max_join_attempts":1000000}}
JSON

# start_server SHARDS [wrapper...]: sets SERVER_PID once /v2/health answers.
start_server() {
    local shards=$1; shift
    (cd "$WORK" && SIGNAL_FISH_PORT=$PORT SIGNAL_FISH_SERVER__SHARDS=$shards exec "$@" "$SERVER_BIN" \
        >"$WORK/server.log" 2>&1) &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$PORT/v2/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$WORK/server.log" >&2
    echo "server did not start" >&2
    return 1
}

stop_server() {
    [[ -n "${SERVER_PID:-}" ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT
