#!/usr/bin/env bash
# Compare our server with the original signal-fish-server 0.1.0 on this machine, in one run.
#
# Builds ours (release) and the load generator, then for each server in turn -- ours with one
# shard pinned to SERVER_CPU, the original pinned to SERVER_CPU, ours with two shards unpinned --
# starts a fresh server per scenario and drives it with signal-fish-bench pinned to CLIENT_CPU:
#   idle  : IDLE_CONNS authenticated idle connections -> server RSS per connection
#   relay : PLAYERS players in rooms of ROOM_SIZE, RATE msg/s each, DURATION s after WARMUP s
#           -> relay p50/p99/p99.9, delivery ratio, deliveries per server CPU-second; its setup
#           phase gives the connect rate
#   join  : JOIN_ROOMS rooms of ROOM_SIZE created and filled at JOIN_RATE rooms/s, each room's
#           creator then its joiners one after another -> create and join latency, and how long
#           the members already in the room wait for PlayerJoined; on an idle server
#           (join-idle) and beside the relay scenario's rooms as background load (join-load).
#           Members connect and authenticate right before their JoinRoom ("fresh"); with
#           JOIN_AHEAD=1 both runs are repeated with members connected beforehand and silent
#           until their JoinRoom (join-idle-ahead, join-load-ahead)
#   crowd : (CROWD > 0, ours with one shard) the relay scenario again beside CROWD idle
#           authenticated connections held by a second load generator -> relay p99 and
#           deliveries per server CPU-second with the crowd, as ratios to the relay scenario
#   ramp  : the offered rate rises step by step -> highest rate with 100% delivery and
#           p99 < RAMP_P99_MS
# and prints a markdown table (ours, 0.1.0, ratio). JSON results stay in OUT_DIR.
#
# Knobs (environment): QUICK=1 (short run, ~3 min), IDLE_CONNS, PLAYERS, ROOM_SIZE, RATE,
# DURATION, WARMUP, PAYLOAD, JOIN=0|1, JOIN_ROOMS, JOIN_RATE, JOIN_AHEAD=0|1, RAMP=0|1,
# RAMP_START, RAMP_FACTOR, RAMP_DURATION, RAMP_WARMUP,
# RAMP_REFINE, RAMP_MAX, RAMP_P99_MS, TWO_SHARDS=0|1, SERVER_CPU, CLIENT_CPU, OURS_PORT,
# UPSTREAM_PORT, UPSTREAM_BIN, QUIET_WAIT (seconds to wait for other load to settle before each
# scenario, 0 = don't), QUIET_CORES, OUT_DIR, BUILD=0 (skip cargo build), TABLE_ONLY=1 (print
# the table from the JSON already in OUT_DIR), CROWD (idle connections beside the relay, default 0
# = no crowd scenario; 18000 for issue 10), UPSTREAM=0 (skip 0.1.0), OURS_BIN (another build of
# ours, e.g. a baseline), LOG_LEVEL (logging.level of ours, default warn
# like 0.1.0 here; records go to the server's stdout, a file), LOGGING=1 (only the logging cost: the relay
# scenario on ours with logging at info, then off, in one table; about 1.5 min), FLUSH=1 (only the
# flush window: the relay scenario on ours with websocket.max_flush_delay_ms FLUSH_MS (default
# 16), on 0.1.0 (its 16 ms batching) and on ours without a window, in one table; ~1.5 min QUICK),
# GOALS=1 (only issue 10's goal table, every row from one run: hands over to benches/goals.sh,
# whose knobs are listed at its top; ROWS=1,3 for some rows).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ "${GOALS:-0}" == 1 ]]; then
    exec "$ROOT/benches/goals.sh"
fi

if [[ "${QUICK:-0}" == 1 ]]; then
    : "${IDLE_CONNS:=1000}" "${DURATION:=5}" "${WARMUP:=1}" "${RAMP_DURATION:=2}" \
      "${RAMP_REFINE:=0}" "${RAMP_FACTOR:=2}" "${QUIET_WAIT:=10}" "${JOIN_ROOMS:=60}"
fi
IDLE_CONNS=${IDLE_CONNS:-2000}
PLAYERS=${PLAYERS:-1000}
ROOM_SIZE=${ROOM_SIZE:-4}
RATE=${RATE:-20}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
PAYLOAD=${PAYLOAD:-64}
JOIN=${JOIN:-1}
JOIN_ROOMS=${JOIN_ROOMS:-200}
JOIN_RATE=${JOIN_RATE:-20}
JOIN_AHEAD=${JOIN_AHEAD:-1}
RAMP=${RAMP:-1}
RAMP_START=${RAMP_START:-10}
RAMP_FACTOR=${RAMP_FACTOR:-1.5}
RAMP_DURATION=${RAMP_DURATION:-3}
RAMP_WARMUP=${RAMP_WARMUP:-1}
RAMP_REFINE=${RAMP_REFINE:-1}
RAMP_MAX=${RAMP_MAX:-2000}
RAMP_P99_MS=${RAMP_P99_MS:-10}
TWO_SHARDS=${TWO_SHARDS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OURS_PORT=${OURS_PORT:-3536}
UPSTREAM_PORT=${UPSTREAM_PORT:-3601}
UPSTREAM_BIN=${UPSTREAM_BIN:-$HOME/sf-upstream/bin/signal-fish-server}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_CORES=${QUIET_CORES:-0.3}
OUT_DIR=${OUT_DIR:-$ROOT/target/bench-compare}
CROWD=${CROWD:-0}
UPSTREAM=${UPSTREAM:-1}

OURS_BIN=${OURS_BIN:-$ROOT/target/release/signal-fish-server}
BENCH_BIN=$ROOT/target/release/signal-fish-bench

say() { echo "compare.sh: $*" >&2; }
die() { say "$*"; exit 1; }
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

command -v jq >/dev/null || die "jq is required"
[[ "${LOGGING:-0}" == 1 || "$UPSTREAM" == 0 || -x "$UPSTREAM_BIN" ]] || die "no original server at $UPSTREAM_BIN
  (cargo install signal-fish-server --version 0.1.0 --locked --root ~/sf-upstream)"

if [[ "${BUILD:-1}" == 1 && "${TABLE_ONLY:-0}" != 1 ]]; then
    say "building (release)"
    cargo build --release -p signal-fish-server -p signal-fish-bench >&2
fi
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d)
SERVER_PID=""
CROWD_PID=""
cleanup() {
    stop_crowd
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT

# Both servers read config.json from their working directory: benches/config.json, the limits
# lifted so they do not interfere (the README's "Benchmarks" says why each one). The original
# takes its port from the file, ours from the environment.
jq --argjson port "$UPSTREAM_PORT" '.port = $port' "$ROOT/benches/config.json" >"$WORK/config.json"

# start_server ours|upstream SHARDS PIN
start_server() {
    local kind=$1 shards=$2 pin=$3 port wrap=()
    [[ "$pin" == 1 ]] && wrap=(taskset -c "$SERVER_CPU")
    if [[ "$kind" == ours ]]; then port=$OURS_PORT; else port=$UPSTREAM_PORT; fi
    port_busy "$port" && die "port $port is already in use (a stale server would steal connections)"
    if [[ "$kind" == ours ]]; then
        (cd "$WORK" && SIGNAL_FISH_PORT=$port SIGNAL_FISH_SERVER__SHARDS=$shards \
            SIGNAL_FISH_LOGGING__LEVEL=${LOG_LEVEL:-warn} \
            SIGNAL_FISH_WEBSOCKET__MAX_FLUSH_DELAY_MS=${FLUSH_DELAY:-0} \
            exec "${wrap[@]}" "$OURS_BIN" >"$WORK/server.log" 2>&1) &
    else
        (cd "$WORK" && RUST_LOG=warn exec "${wrap[@]}" "$UPSTREAM_BIN" >"$WORK/server.log" 2>&1) &
    fi
    SERVER_PID=$!
    for _ in $(seq 100); do
        if curl -fs "http://127.0.0.1:$port/v2/health" >/dev/null 2>&1; then
            URL="ws://127.0.0.1:$port/v2/ws"
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/server.log" >&2
    die "$kind server did not start"
}

bench() {
    taskset -c "$CLIENT_CPU" "$BENCH_BIN" --url "$URL" --server-pid "$SERVER_PID" "$@" ||
        die "signal-fish-bench failed against $URL (see above): no valid result"
}

# The idle crowd: CROWD authenticated connections that only ping, from a load generator of
# their own, open until stop_crowd. Returns once all of them are connected and authenticated.
start_crowd() {
    # Each connection is a descriptor on both sides: take the whole hard limit.
    ulimit -n "$(ulimit -Hn)"
    taskset -c "$CLIENT_CPU" "$BENCH_BIN" --url "$URL" --mode idle -n "$CROWD" \
        --source-ip-count 2 --idle-settle 3600 --progress 0 --label crowd \
        >"$WORK/crowd.json" 2>"$WORK/crowd.log" &
    CROWD_PID=$!
    until grep -q "connected" "$WORK/crowd.log"; do
        kill -0 "$CROWD_PID" 2>/dev/null || die "the idle crowd's load generator quit: $(tail -3 "$WORK/crowd.log")"
        sleep 0.5
    done
    say "crowd: $(grep -m1 connected "$WORK/crowd.log")"
    grep -q "connected $CROWD (0 failed)" "$WORK/crowd.log" || die "the idle crowd is incomplete"
}

stop_crowd() {
    if [[ -n "$CROWD_PID" ]]; then
        kill -TERM "$CROWD_PID" 2>/dev/null || true
        wait "$CROWD_PID" 2>/dev/null || true
    fi
    CROWD_PID=""
}

# run_all NAME KIND SHARDS PIN
run_all() {
    local name=$1 kind=$2 shards=$3 pin=$4
    say "== $name: idle"
    wait_quiet
    start_server "$kind" "$shards" "$pin"
    bench --mode idle -n "$IDLE_CONNS" --label "$name" >"$OUT_DIR/$name-idle.json"
    stop_server

    say "== $name: relay"
    wait_quiet
    start_server "$kind" "$shards" "$pin"
    bench --mode relay -n "$PLAYERS" -p "$ROOM_SIZE" -r "$RATE" -d "$DURATION" -w "$WARMUP" \
        --payload-bytes "$PAYLOAD" --label "$name" >"$OUT_DIR/$name-relay.json"
    stop_server

    if [[ "$CROWD" -gt 0 && "$name" == ours ]]; then
        say "== $name: relay beside $CROWD idle connections"
        wait_quiet
        start_server "$kind" "$shards" "$pin"
        start_crowd
        bench --mode relay -n "$PLAYERS" -p "$ROOM_SIZE" -r "$RATE" -d "$DURATION" -w "$WARMUP" \
            --payload-bytes "$PAYLOAD" --label "$name" >"$OUT_DIR/$name-relay-crowd.json"
        stop_crowd
        stop_server
    fi

    if [[ "$JOIN" == 1 ]]; then
        local connect suffix
        for connect in fresh ahead; do
            [[ "$connect" == ahead && "$JOIN_AHEAD" != 1 ]] && continue
            suffix=""; [[ "$connect" == ahead ]] && suffix="-ahead"
            say "== $name: paced joins, idle server ($connect connections)"
            wait_quiet
            start_server "$kind" "$shards" "$pin"
            bench --mode join -n 0 -p "$ROOM_SIZE" --join-rooms "$JOIN_ROOMS" \
                --join-rate "$JOIN_RATE" --join-connect "$connect" --label "$name" \
                >"$OUT_DIR/$name-join-idle$suffix.json"
            stop_server

            say "== $name: paced joins under relay load ($connect connections)"
            wait_quiet
            start_server "$kind" "$shards" "$pin"
            bench --mode join -n "$PLAYERS" -p "$ROOM_SIZE" -r "$RATE" -w "$WARMUP" \
                --payload-bytes "$PAYLOAD" --join-rooms "$JOIN_ROOMS" --join-rate "$JOIN_RATE" \
                --join-connect "$connect" --progress 0 --label "$name" \
                >"$OUT_DIR/$name-join-load$suffix.json"
            stop_server
        done
    fi

    if [[ "$RAMP" == 1 ]]; then
        say "== $name: ramp"
        wait_quiet
        start_server "$kind" "$shards" "$pin"
        bench --mode ramp -n "$PLAYERS" -p "$ROOM_SIZE" --payload-bytes "$PAYLOAD" \
            --ramp-start "$RAMP_START" --ramp-factor "$RAMP_FACTOR" \
            --ramp-duration "$RAMP_DURATION" --ramp-warmup "$RAMP_WARMUP" \
            --ramp-refine "$RAMP_REFINE" --ramp-max "$RAMP_MAX" --ramp-p99-ms "$RAMP_P99_MS" \
            --progress 0 --label "$name" >"$OUT_DIR/$name-ramp.json"
        stop_server
    fi
}

# val NAME SCENARIO JQ-PATH -> number or empty
val() {
    local f="$OUT_DIR/$1-$2.json"
    [[ -s "$f" ]] || return 0
    jq -r "($3) // empty" "$f" 2>/dev/null || true
}

START=$SECONDS
if [[ "${LOGGING:-0}" == 1 ]]; then
    # What logging costs: the same relay run with logging at info and off (ours, one shard).
    if [[ "${TABLE_ONLY:-0}" != 1 ]]; then
        for level in info off; do
            say "== ours, logging $level: relay"
            wait_quiet
            LOG_LEVEL=$level start_server ours 1 1
            bench --mode relay -n "$PLAYERS" -p "$ROOM_SIZE" -r "$RATE" -d "$DURATION" \
                -w "$WARMUP" --payload-bytes "$PAYLOAD" --label "log-$level" \
                >"$OUT_DIR/log-$level-relay.json"
            say "records written with logging $level: $(grep -c . "$WORK/server.log" || true) lines"
            stop_server
        done
    fi
    lrow() { # lrow LABEL BETTER JQ-PATH DIGITS
        local a b
        a=$(val log-info relay "$3"); b=$(val log-off relay "$3")
        printf '| %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$a" "$4")" "$(fmt "$b" "$4")" \
            "$(ratio "$a" "$b")" "$2"
    }
    {
        echo "Logging cost — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
        echo
        echo "Ours, 1 shard pinned to CPU $SERVER_CPU, load generator pinned to CPU $CLIENT_CPU; relay: $PLAYERS players"
        echo "in rooms of $ROOM_SIZE, $RATE msg/s each, ${DURATION}s after ${WARMUP}s warm-up; logging.level info (records to"
        echo "stdout, redirected to a file) against off."
        echo
        echo "| metric | logging info | logging off | info / off | better |"
        echo "|---|---|---|---|---|"
        lrow "connect + upgrade + auth rate (conn/s)" higher '.connect.conns_per_s' 0
        lrow "relay latency p50 (ms)" lower '.relay.relay.p50_ms' 3
        lrow "relay latency p99 (ms)" lower '.relay.relay.p99_ms' 3
        lrow "relay latency p99.9 (ms)" lower '.relay.relay.p999_ms' 3
        lrow "delivery ratio" higher '.relay.delivery_ratio' 6
        lrow "delivered messages/s" higher '.relay.delivered_per_s' 0
        lrow "server CPU during relay (cores)" lower '.relay.server.cpu_util' 3
        lrow "deliveries per server CPU-second" higher '.relay.server.deliveries_per_cpu_s' 0
        lrow "other load on the machine during relay (cores)" lower '.relay.other_cpu_cores' 2
        echo
        echo "Total run time: $((SECONDS - START)) s. JSON: ${OUT_DIR#"$ROOT"/}/log-*.json"
    } >"$OUT_DIR/logging.md"
    cat "$OUT_DIR/logging.md"
    exit 0
fi
if [[ "${FLUSH:-0}" == 1 ]]; then
    # The opt-in flush window against 0.1.0's batching (issue 10): same relay, one core each.
    FLUSH_MS=${FLUSH_MS:-16}
    if [[ "${TABLE_ONLY:-0}" != 1 ]]; then
        for name in flush-ours flush-upstream flush-ours0; do
            say "== $name: relay"
            wait_quiet
            case $name in
                flush-ours) FLUSH_DELAY=$FLUSH_MS start_server ours 1 1 ;;
                flush-upstream) start_server upstream 0 1 ;;
                flush-ours0) start_server ours 1 1 ;;
            esac
            bench --mode relay -n "$PLAYERS" -p "$ROOM_SIZE" -r "$RATE" -d "$DURATION" \
                -w "$WARMUP" --payload-bytes "$PAYLOAD" --label "$name" \
                >"$OUT_DIR/$name-relay.json"
            stop_server
        done
    fi
    frow() { # frow LABEL BETTER JQ-PATH DIGITS
        local a b c
        a=$(val flush-ours relay "$3"); b=$(val flush-upstream relay "$3"); c=$(val flush-ours0 relay "$3")
        printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$a" "$4")" "$(fmt "$b" "$4")" \
            "$(ratio "$a" "$b")" "$2" "$(fmt "$c" "$4")"
    }
    {
        echo "Flush window — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
        echo
        echo "Servers pinned to CPU $SERVER_CPU (ours: 1 shard), load generator pinned to CPU $CLIENT_CPU; relay: $PLAYERS players"
        echo "in rooms of $ROOM_SIZE, $RATE msg/s each, ${DURATION}s after ${WARMUP}s warm-up. Ours with"
        echo "websocket.max_flush_delay_ms $FLUSH_MS against 0.1.0 at its default (16 ms batches); last column: ours with no window."
        echo
        echo "| metric | ours, max_flush_delay_ms $FLUSH_MS | 0.1.0 | ours / 0.1.0 | better | ours, max_flush_delay_ms 0 |"
        echo "|---|---|---|---|---|---|"
        frow "with max_flush_delay_ms $FLUSH_MS: deliveries per server CPU-second" higher '.relay.server.deliveries_per_cpu_s' 0
        frow "relay latency p50 (ms)" lower '.relay.relay.p50_ms' 3
        frow "relay latency p99 (ms)" lower '.relay.relay.p99_ms' 3
        frow "relay latency max (ms)" lower '.relay.relay.max_ms' 3
        frow "delivery ratio" higher '.relay.delivery_ratio' 6
        frow "delivered messages/s" higher '.relay.delivered_per_s' 0
        frow "server CPU during relay (cores)" lower '.relay.server.cpu_util' 3
        frow "other load on the machine during relay (cores)" lower '.relay.other_cpu_cores' 2
        echo
        echo "Total run time: $((SECONDS - START)) s. JSON: ${OUT_DIR#"$ROOT"/}/flush-*.json"
    } >"$OUT_DIR/flush.md"
    cat "$OUT_DIR/flush.md"
    exit 0
fi
if [[ "${TABLE_ONLY:-0}" != 1 ]]; then
    run_all ours ours 1 1
    if [[ "$UPSTREAM" == 1 ]]; then run_all upstream upstream 0 1; else rm -f "$OUT_DIR"/upstream-*.json; fi
    if [[ "$TWO_SHARDS" == 1 ]]; then run_all ours2 ours 2 0; else rm -f "$OUT_DIR"/ours2-*.json; fi
fi

# --- the table ------------------------------------------------------------------------------
row() { # row LABEL BETTER SCENARIO JQ-PATH DIGITS
    local a b c
    a=$(val ours "$3" "$4"); b=$(val upstream "$3" "$4"); c=$(val ours2 "$3" "$4")
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$a" "$5")" "$(fmt "$b" "$5")" \
        "$(ratio "$a" "$b")" "$2" "$(fmt "$c" "$5")"
}

info() { # info LABEL SCENARIO JQ-EXPRESSION: shown as is, no ratio
    printf '| %s | %s | %s | | | %s |\n' "$1" "$(val ours "$2" "$3")" "$(val upstream "$2" "$3")" \
        "$(val ours2 "$2" "$3")"
}

TABLE=$OUT_DIR/compare.md
{
    echo "Signal Fish vs signal-fish-server 0.1.0 — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
    echo
    echo "Servers pinned to CPU $SERVER_CPU (ours: 1 shard), load generator pinned to CPU $CLIENT_CPU;"
    echo "relay: $PLAYERS players in rooms of $ROOM_SIZE, $RATE msg/s each, ${DURATION}s after ${WARMUP}s warm-up, ~${PAYLOAD}-byte payloads."
    if [[ "$JOIN" == 1 ]]; then
        echo "paced joins: $JOIN_ROOMS rooms of $ROOM_SIZE at $JOIN_RATE rooms/s, creator then joiners by code one after another, on an idle"
        echo "server and beside the relay rooms above (\"under load\"); members connect + authenticate right before their JoinRoom,"
        echo "or (\"pre-connected\") long before it and stay silent until then. PlayerJoined = time from the joiner's RoomJoined until"
        echo "each member already in the room has its PlayerJoined (0 when it came first)."
    fi
    echo
    echo "| metric | ours (1 shard) | 0.1.0 | ours / 0.1.0 | better | ours, 2 shards unpinned |"
    echo "|---|---|---|---|---|---|"
    row "idle: server RSS per connection (bytes)" lower idle '.idle.rss_per_conn_bytes' 0
    row "connect + upgrade + auth rate (conn/s)" higher relay '.connect.conns_per_s' 0
    if [[ "$JOIN" == 1 ]]; then
        for load in idle load; do
            [[ "$load" == idle ]] && where="idle server" || where="under relay load"
            row "join latency p50 (ms), paced, $where" lower "join-$load" '.paced.join.p50_ms' 3
            row "join latency p99 (ms), paced, $where" lower "join-$load" '.paced.join.p99_ms' 3
        done
        for load in idle load; do
            [[ "$load" == idle ]] && where="idle server" || where="under relay load"
            row "create-room latency p50 (ms), paced, $where" lower "join-$load" '.paced.create.p50_ms' 3
            row "create-room latency p99 (ms), paced, $where" lower "join-$load" '.paced.create.p99_ms' 3
        done
        for load in idle load; do
            [[ "$load" == idle ]] && where="idle server" || where="under relay load"
            row "PlayerJoined after the joiner's RoomJoined p50 (ms), paced, $where" lower "join-$load" '.paced.player_joined.p50_ms' 3
            row "PlayerJoined after the joiner's RoomJoined p99 (ms), paced, $where" lower "join-$load" '.paced.player_joined.p99_ms' 3
        done
        if [[ "$JOIN_AHEAD" == 1 ]]; then
            for load in idle load; do
                [[ "$load" == idle ]] && where="idle server" || where="under relay load"
                row "join latency p50 (ms), paced, pre-connected, $where" lower "join-$load-ahead" '.paced.join.p50_ms' 3
                row "PlayerJoined after the joiner's RoomJoined p50 (ms), paced, pre-connected, $where" lower "join-$load-ahead" '.paced.player_joined.p50_ms' 3
                row "PlayerJoined after the joiner's RoomJoined p99 (ms), paced, pre-connected, $where" lower "join-$load-ahead" '.paced.player_joined.p99_ms' 3
            done
        fi
        row "relay latency p99 (ms) of the background during paced joins" lower join-load '.relay.relay.p99_ms' 3
        for f in join-idle join-load join-idle-ahead join-load-ahead; do
            [[ "$f" == *ahead && "$JOIN_AHEAD" != 1 ]] && continue
            info "paced joins ($f): rooms ok / failed, PlayerJoined early / missing" "$f" \
                '"\(.paced.rooms_ok) / \(.paced.rooms_failed), \(.paced.player_joined_early) / \(.paced.player_joined_missing)"'
        done
    fi
    row "relay latency p50 (ms)" lower relay '.relay.relay.p50_ms' 3
    row "relay latency p99 (ms)" lower relay '.relay.relay.p99_ms' 3
    row "relay latency p99.9 (ms)" lower relay '.relay.relay.p999_ms' 3
    row "relay latency max (ms)" lower relay '.relay.relay.max_ms' 3
    row "delivery ratio" higher relay '.relay.delivery_ratio' 6
    row "delivered messages/s" higher relay '.relay.delivered_per_s' 0
    row "server CPU during relay (cores)" lower relay '.relay.server.cpu_util' 3
    row "deliveries per server CPU-second" higher relay '.relay.server.deliveries_per_cpu_s' 0
    row "server RSS under relay load (KiB)" lower relay '.relay.server.rss_kb' 0
    if [[ "$CROWD" -gt 0 ]]; then
        cp99=$(val ours relay-crowd '.relay.relay.p99_ms'); p99=$(val ours relay '.relay.relay.p99_ms')
        cdel=$(val ours relay-crowd '.relay.server.deliveries_per_cpu_s')
        del=$(val ours relay '.relay.server.deliveries_per_cpu_s')
        printf '| relay latency p99 (ms) beside %s idle connections (1 shard) | %s | | | lower | |\n' \
            "$CROWD" "$(fmt "$cp99" 3)"
        printf '| relay p99 with %s idle ÷ without (1 shard; goal ≤ 1.2) | %s | | | lower | |\n' \
            "$CROWD" "$(ratio "$cp99" "$p99")"
        printf '| deliveries per server CPU-second with %s idle ÷ without (1 shard) | %s | | | higher | |\n' \
            "$CROWD" "$(ratio "$cdel" "$del")"
        info "crowd run: delivery ratio, server errors (disconnects, Error frames)" relay-crowd \
            '"\(.relay.delivery_ratio), \(.relay.disconnects) / \(.relay.other_frames.Error // 0)"'
    fi
    if [[ "$RAMP" == 1 ]]; then
        row "ramp: highest rate with 100% delivery and p99 < ${RAMP_P99_MS} ms (msg/s per player)" higher ramp '.ramp.max_sustainable.rate_per_player' 1
        row "ramp: ... as deliveries/s" higher ramp '.ramp.max_sustainable.delivered_per_s' 0
        row "ramp: highest rate with 100% delivery, any latency (deliveries/s)" higher ramp '.ramp.max_complete_delivery.delivered_per_s' 0
        info "ramp: stopped because the load generator saturated (then a lower bound)" ramp \
            'if .ramp.client_bound then "yes" else "no" end'
        info "ramp: rates tried (msg/s per player, x = failed)" ramp \
            '[.ramp.steps[] | "\(.rate_per_player|floor)\(if .pass then "" else "x" end)"] | join(" ")'
    fi
    info "client: busiest thread during relay (share of a core)" relay '.relay.client_busiest_thread_util'
    info "other load on the machine during relay (cores)" relay '.relay.other_cpu_cores'
    info "server errors during relay (disconnects, Error frames)" relay \
        '"\(.relay.disconnects) / \(.relay.other_frames.Error // 0)"'

    echo
    echo "Total run time: $((SECONDS - START)) s. JSON: ${OUT_DIR#"$ROOT"/}/*.json"
} >"$TABLE"
cat "$TABLE"
