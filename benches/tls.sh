#!/usr/bin/env bash
# What native TLS costs: our server plain (ws://) against the same build with
# security.transport.tls on (wss://), in one run on this machine.
#
# Builds ours (release) and the load generator, makes a throw-away CA and a server certificate
# for 127.0.0.1 (openssl; KEY_TYPE=ec for ECDSA P-256, the default, or rsa for RSA-2048), then for
# each variant starts a fresh server per scenario -- one shard pinned to SERVER_CPU -- and drives
# it with signal-fish-bench pinned to CLIENT_CPU:
#   idle  : IDLE_CONNS connections opened (TCP + TLS handshake + WebSocket upgrade + Authenticate,
#           CONNECT_CONCURRENCY in flight) and kept idle -> connection setups per second, the
#           server CPU each one costs (so the setups one shard can do per CPU-second, whoever was
#           the bottleneck), and server RSS per idle connection
#   relay : PLAYERS players in rooms of ROOM_SIZE, RATE msg/s each, DURATION s after WARMUP s
#           -> relay p50/p99/p99.9, delivery ratio, deliveries per server CPU-second
# Every connection pays a full TLS handshake (the generator resumes no session), as a crowd of
# distinct players would. Limits are lifted by benches/config.json, as in compare.sh.
#
# Prints a markdown table (plain, TLS, TLS / plain) and keeps the JSON in OUT_DIR.
# Knobs (environment): IDLE_CONNS PLAYERS ROOM_SIZE RATE DURATION WARMUP PAYLOAD
# CONNECT_CONCURRENCY KEY_TYPE SERVER_CPU CLIENT_CPU PORT QUIET_WAIT QUIET_CORES OUT_DIR;
# QUICK=1 for a short run, BUILD=0 to skip the build, TABLE_ONLY=1 to re-print the last table.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ "${QUICK:-0}" == 1 ]]; then
    : "${IDLE_CONNS:=1000}" "${DURATION:=5}" "${WARMUP:=1}" "${QUIET_WAIT:=10}"
fi
IDLE_CONNS=${IDLE_CONNS:-2000}
PLAYERS=${PLAYERS:-1000}
ROOM_SIZE=${ROOM_SIZE:-4}
RATE=${RATE:-20}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
PAYLOAD=${PAYLOAD:-64}
CONNECT_CONCURRENCY=${CONNECT_CONCURRENCY:-64}
KEY_TYPE=${KEY_TYPE:-ec}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-3536}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_CORES=${QUIET_CORES:-0.3}
OUT_DIR=${OUT_DIR:-target/bench-tls}

OURS_BIN=target/release/signal-fish-server
BENCH_BIN=target/release/signal-fish-bench

say() { echo "tls.sh: $*" >&2; }
die() { say "$*"; exit 1; }
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

command -v jq >/dev/null || die "jq is required (Debian package jq)"
command -v openssl >/dev/null || die "openssl is required (Debian package openssl)"
command -v curl >/dev/null || die "curl is required (Debian package curl)"
[[ "$KEY_TYPE" == ec || "$KEY_TYPE" == rsa ]] || die "KEY_TYPE must be ec or rsa"

if [[ "${BUILD:-1}" == 1 && "${TABLE_ONLY:-0}" != 1 ]]; then
    say "building (release)"
    cargo build --release -p signal-fish-server -p signal-fish-bench >&2
fi
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- a throw-away CA and a server certificate for 127.0.0.1 -----------------------------------
new_key() { # new_key FILE
    if [[ "$KEY_TYPE" == ec ]]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
    fi
}
make_certificates() {
    new_key "$WORK/ca.key"
    openssl req -x509 -new -key "$WORK/ca.key" -subj "/CN=Signal Fish bench CA" -days 2 \
        -out "$WORK/ca.pem" 2>/dev/null
    new_key "$WORK/server.key"
    openssl req -new -key "$WORK/server.key" -subj "/CN=127.0.0.1" -out "$WORK/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"$WORK/server.ext"
    openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
        -CAcreateserial -days 2 -extfile "$WORK/server.ext" -out "$WORK/server.crt" 2>/dev/null
    cat "$WORK/ca.pem" >>"$WORK/server.crt"
}

# --- server configs: benches/config.json (limits lifted), TLS on or off ------------------------
write_config() { # write_config FILE TLS(true|false)
    jq --argjson on "$2" --arg crt "$WORK/server.crt" --arg key "$WORK/server.key" \
        '.security.transport.tls = {enabled: $on, certificate_path: $crt, private_key_path: $key}' \
        "$ROOT/benches/config.json" >"$1"
}

# start_server plain|tls
start_server() {
    local variant=$1 health tls_args=()
    port_busy "$PORT" && die "port $PORT is already in use (a stale server would steal connections)"
    (cd "$WORK" && SIGNAL_FISH_CONFIG_PATH="$WORK/$variant.json" SIGNAL_FISH_PORT=$PORT \
        SIGNAL_FISH_SERVER__SHARDS=1 \
        exec taskset -c "$SERVER_CPU" "$ROOT/$OURS_BIN" >"$WORK/server.log" 2>&1) &
    SERVER_PID=$!
    if [[ "$variant" == tls ]]; then
        health="https://127.0.0.1:$PORT/v2/health"
        tls_args=(--cacert "$WORK/ca.pem")
        URL="wss://127.0.0.1:$PORT/v2/ws"
        BENCH_TLS=(--tls-ca "$WORK/ca.pem")
    else
        health="http://127.0.0.1:$PORT/v2/health"
        URL="ws://127.0.0.1:$PORT/v2/ws"
        BENCH_TLS=()
    fi
    for _ in $(seq 100); do
        if curl -fs "${tls_args[@]}" "$health" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/server.log" >&2
    die "$variant server did not start"
}

bench() {
    taskset -c "$CLIENT_CPU" "$BENCH_BIN" --url "$URL" "${BENCH_TLS[@]}" \
        --server-pid "$SERVER_PID" --connect-concurrency "$CONNECT_CONCURRENCY" "$@" ||
        die "signal-fish-bench failed against $URL (see above): no valid result"
}

run_variant() { # run_variant plain|tls
    local v=$1
    say "== $v: connection setup + idle connections"
    wait_quiet
    start_server "$v"
    bench --mode idle -n "$IDLE_CONNS" --label "$v" >"$OUT_DIR/$v-idle.json"
    stop_server

    say "== $v: relay"
    wait_quiet
    start_server "$v"
    bench --mode relay -n "$PLAYERS" -p "$ROOM_SIZE" -r "$RATE" -d "$DURATION" -w "$WARMUP" \
        --payload-bytes "$PAYLOAD" --label "$v" >"$OUT_DIR/$v-relay.json"
    stop_server
}

START=$SECONDS
if [[ "${TABLE_ONLY:-0}" != 1 ]]; then
    make_certificates
    write_config "$WORK/plain.json" false
    write_config "$WORK/tls.json" true
    run_variant plain
    run_variant tls
fi

# --- the table ------------------------------------------------------------------------------
val() { # val VARIANT SCENARIO JQ-PATH -> number or empty
    local f="$OUT_DIR/$1-$2.json"
    [[ -s "$f" ]] || return 0
    jq -r "($3) // empty" "$f" 2>/dev/null || true
}
row() { # row LABEL BETTER SCENARIO JQ-PATH DIGITS
    local a b
    a=$(val plain "$3" "$4"); b=$(val tls "$3" "$4")
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$a" "$5")" "$(fmt "$b" "$5")" \
        "$(ratio "$b" "$a")" "$2"
}
info() { # info LABEL SCENARIO JQ-EXPRESSION: shown as is, no ratio
    printf '| %s | %s | %s | | |\n' "$1" "$(val plain "$2" "$3")" "$(val tls "$2" "$3")"
}

TABLE=$OUT_DIR/tls.md
{
    echo "Signal Fish plain vs native TLS — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
    echo
    echo "Server: one shard pinned to CPU $SERVER_CPU; load generator pinned to CPU $CLIENT_CPU."
    echo "TLS: rustls (ring), $( [[ $KEY_TYPE == ec ]] && echo "ECDSA P-256" || echo "RSA-2048") certificate, a full handshake per connection (no resumption)."
    echo "Connection setup: $IDLE_CONNS connections, $CONNECT_CONCURRENCY in flight, each TCP connect + TLS + upgrade + Authenticate."
    echo "Relay: $PLAYERS players in rooms of $ROOM_SIZE, $RATE msg/s each, ${DURATION}s after ${WARMUP}s warm-up, ~${PAYLOAD}-byte payloads."
    echo
    echo "| metric | plain (ws://) | TLS (wss://) | TLS / plain | better |"
    echo "|---|---|---|---|---|"
    row "connection setups per second (one shard)" higher idle '.connect.conns_per_s' 0
    row "connection setup latency p50 (ms)" lower idle '.connect.latency.p50_ms' 3
    row "connection setup latency p99 (ms)" lower idle '.connect.latency.p99_ms' 3
    row "server CPU per connection setup (µs)" lower idle '.connect_cpu.server_cpu_us_per_conn' 0
    row "connection setups per server CPU-second" higher idle '.connect_cpu.conns_per_server_cpu_s' 0
    info "load generator CPU during setup (cores; ~1 = it set the pace)" idle '.connect_cpu.client_cpu_util'
    row "idle: server RSS per connection (bytes)" lower idle '.idle.rss_per_conn_bytes' 0
    row "relay latency p50 (ms)" lower relay '.relay.relay.p50_ms' 3
    row "relay latency p99 (ms)" lower relay '.relay.relay.p99_ms' 3
    row "relay latency p99.9 (ms)" lower relay '.relay.relay.p999_ms' 3
    row "delivery ratio" higher relay '.relay.delivery_ratio' 6
    row "delivered messages/s" higher relay '.relay.delivered_per_s' 0
    row "server CPU during relay (cores)" lower relay '.relay.server.cpu_util' 3
    row "deliveries per server CPU-second" higher relay '.relay.server.deliveries_per_cpu_s' 0
    row "server RSS under relay load (KiB)" lower relay '.relay.server.rss_kb' 0
    info "client: busiest thread during relay (share of a core)" relay '.relay.client_busiest_thread_util'
    info "other load on the machine during relay (cores)" relay '.relay.other_cpu_cores'
    info "errors (connect failures, relay disconnects / Error frames)" relay \
        '"\(.connect.failed), \(.relay.disconnects) / \(.relay.other_frames.Error // 0)"'
    echo
    echo "Total run time: $((SECONDS - START)) s. JSON: $OUT_DIR/*.json"
} >"$TABLE"
cat "$TABLE"
