#!/usr/bin/env bash
# Issue 11's goal table (cluster mode), every row measured in one run: `benches/cluster.sh`.
#
# One nats-server with JetStream (in a temporary directory, on a free port) and release builds
# of this tree's server as nodes A and B (each SHARDS shards, cluster.node_ttl_secs TTL,
# cluster.heartbeat_interval_secs HEARTBEAT), driven by signal-fish-bench pinned to CLIENT_CPU;
# nodes and nats-server are pinned to SERVER_CPU. Rows (ROWS=1,4 runs and prints only those):
#   1  cross-node relay: PLAYERS players in rooms of ROOM_SIZE, RATE msg/s each, DURATION s
#      after WARMUP s; the creator of every room on A, the others alternating B, A, B by join
#      order (bench --url A,B)                                               scenario c-cross
#      against the same load with every member on A, B running (bench --url A)  c-local
#      goal: p99 ≤ 5 ms and ≤ 3× c-local's p99
#   2  join by code through another node: JOINS rooms of 2 at JOIN_RATE rooms/s on idle nodes,
#      creator on A, joiner on B, JoinRoom → RoomJoined (bench --mode join)   j-cross
#      beside the same with both on A                                         j-local
#      goal: j-cross p50 ≤ 2 ms
#   3  one node with cluster.nats_url set (rooms local, nats-server running, no other node)
#      against the same binary without cluster config: the relay of row 1 on one node
#                                                                 solo-nats ÷ solo-plain
#      goal: relay p99 within 10 % (≤ 1.10×) and deliveries per server CPU-second within 10 %
#      (≥ 0.90×)
#   4  death notice: KILL_PLAYERS players in rooms of ROOM_SIZE spread as in row 1; the bench
#      SIGKILLs node A after WARMUP s and times, for every member on B, the kill → its
#      Error{ROOM_NOT_FOUND} (bench --mode kill)                              kill
#      goal: max ≤ TTL + 2 s
#
# Every scenario gets fresh nodes (the join scenarios share one pair); nats-server runs for the
# whole run. Row 1's CPU figures are A + B + nats-server together (bench --server-pid A,B,NATS),
# so the two scenarios are charged alike; row 3's are the one node's. Around c-cross the script
# reads both nodes' /metrics/prom and prints the NATS envelopes per GameData, which says the
# rooms really spanned the nodes.
#
# Knobs (environment): ROWS (1,2,3,4), PLAYERS (1000), ROOM_SIZE (4), RATE (20), DURATION (8),
# WARMUP (2), PAYLOAD (64), JOINS (300), JOIN_RATE (50), KILL_PLAYERS (400), TTL (3),
# HEARTBEAT (1), SHARDS (1 per node), SERVER_CPU (0), CPU_A, CPU_B, NATS_CPU (each SERVER_CPU
# unless given; taskset lists such as 2,3 work), CLIENT_CPU (1), PORT_A, PORT_B, NATS_PORT
# (default: free ports), NATS_BIN (nats-server), OURS_BIN (default: this tree's release
# build), QUIET_WAIT (20 s to wait for other load before each scenario, 0 = don't), QUIET_CORES
# (0.3), OUT_DIR (target/bench-cluster), BUILD=0 (skip cargo build), TABLE_ONLY=1 (print the
# table from the files already in OUT_DIR). About 2 to 3 minutes on a 2-vCPU VM, plus the waits
# for quiet. Run it with nothing else on the machine.
set -euo pipefail

# The whole script is one function, read before anything runs, so editing or checking out this
# file while a run is going cannot change what that run does.
main() {
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OUT_DIR=${OUT_DIR:-$ROOT/target/bench-cluster}
KNOBS=(ROWS PLAYERS ROOM_SIZE RATE DURATION WARMUP PAYLOAD JOINS JOIN_RATE KILL_PLAYERS TTL HEARTBEAT
    SHARDS SERVER_CPU CPU_A CPU_B NATS_CPU CLIENT_CPU)
if [[ "${TABLE_ONLY:-0}" == 1 && -s "$OUT_DIR/settings" ]]; then
    # shellcheck source=/dev/null
    source "$OUT_DIR/settings"
fi
ROWS=${ROWS:-1,2,3,4}
PLAYERS=${PLAYERS:-1000}
ROOM_SIZE=${ROOM_SIZE:-4}
RATE=${RATE:-20}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
PAYLOAD=${PAYLOAD:-64}
JOINS=${JOINS:-300}
JOIN_RATE=${JOIN_RATE:-50}
KILL_PLAYERS=${KILL_PLAYERS:-400}
TTL=${TTL:-3}
HEARTBEAT=${HEARTBEAT:-1}
SHARDS=${SHARDS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CPU_A=${CPU_A:-$SERVER_CPU}
CPU_B=${CPU_B:-$SERVER_CPU}
NATS_CPU=${NATS_CPU:-$SERVER_CPU}
CLIENT_CPU=${CLIENT_CPU:-1}
NATS_BIN=${NATS_BIN:-nats-server}
OURS_BIN=${OURS_BIN:-$ROOT/target/release/signal-fish-server}
BENCH_BIN=$ROOT/target/release/signal-fish-bench
QUIET_WAIT=${QUIET_WAIT:-20}
QUIET_CORES=${QUIET_CORES:-0.3}

say() { echo "cluster.sh: $*" >&2; }
die() { say "$*"; exit 1; }
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

want() { [[ ",$ROWS," == *",$1,"* ]]; }
for r in ${ROWS//,/ }; do
    [[ "$r" =~ ^[1-4]$ ]] || die "ROWS lists rows 1 to 4, comma-separated (got '$ROWS')"
done

SCENARIOS=()
want 1 && SCENARIOS+=(c-local c-cross)
want 2 && SCENARIOS+=(joins)
want 3 && SCENARIOS+=(solo-plain solo-nats)
want 4 && SCENARIOS+=(kill)

if [[ "${TABLE_ONLY:-0}" != 1 ]]; then
    command -v jq >/dev/null || die "jq is required (Debian package jq)"
    command -v curl >/dev/null || die "curl is required (Debian package curl)"
    command -v "$NATS_BIN" >/dev/null || die "nats-server is required (Debian package nats-server, or set NATS_BIN)"
    if [[ "${BUILD:-1}" == 1 ]]; then
        say "building (release)"
        cargo build --release -p signal-fish-server -p signal-fish-bench >&2
    fi
    [[ -x "$OURS_BIN" ]] || die "no server binary at $OURS_BIN (build it, or set OURS_BIN)"
    [[ -x "$BENCH_BIN" ]] || die "no load generator at $BENCH_BIN (cargo build --release -p signal-fish-bench)"
fi

mkdir -p "$OUT_DIR"
WORK=$(mktemp -d)
NATS_PID=""
PID_A=""
PID_B=""
cleanup() {
    stop_node A
    stop_node B
    if [[ -n "$NATS_PID" ]]; then
        kill -TERM "$NATS_PID" 2>/dev/null || true
        wait "$NATS_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
cp "$ROOT/benches/config.json" "$WORK/config.json"

free_port() {
    local p
    for p in $(shuf -i 20000-40000 -n 100); do
        port_busy "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}

start_nats() {
    NATS_PORT=${NATS_PORT:-$(free_port)}
    port_busy "$NATS_PORT" && die "port $NATS_PORT (NATS_PORT) is already in use"
    mkdir -p "$WORK/nats"
    taskset -c "$NATS_CPU" "$NATS_BIN" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$WORK/nats" \
        >"$WORK/nats.log" 2>&1 &
    NATS_PID=$!
    for _ in $(seq 100); do
        port_busy "$NATS_PORT" && return 0
        kill -0 "$NATS_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/nats.log" >&2
    die "nats-server did not start"
}

# start_node A|B cluster|plain: a fresh node on PORT_A / PORT_B, its pid in PID_A / PID_B.
start_node() {
    local name=$1 mode=$2 port pid cpus envs=()
    if [[ "$name" == A ]]; then port=$PORT_A cpus=$CPU_A; else port=$PORT_B cpus=$CPU_B; fi
    port_busy "$port" && die "port $port is already in use (a stale server would steal connections)"
    envs=(SIGNAL_FISH_PORT="$port" SIGNAL_FISH_SERVER__SHARDS="$SHARDS" SIGNAL_FISH_LOGGING__LEVEL=warn)
    if [[ "$mode" == cluster ]]; then
        envs+=(SIGNAL_FISH_CLUSTER__NATS_URL="nats://127.0.0.1:$NATS_PORT"
            SIGNAL_FISH_CLUSTER__NODE_ID="bench-$name"
            SIGNAL_FISH_CLUSTER__HEARTBEAT_INTERVAL_SECS="$HEARTBEAT"
            SIGNAL_FISH_CLUSTER__NODE_TTL_SECS="$TTL")
    fi
    (cd "$WORK" && exec env "${envs[@]}" taskset -c "$cpus" "$OURS_BIN" >>"$WORK/$name.log" 2>&1) &
    pid=$!
    if [[ "$name" == A ]]; then PID_A=$pid; else PID_B=$pid; fi
    for _ in $(seq 100); do
        if curl -fs "http://127.0.0.1:$port/v2/health" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$WORK/$name.log" >&2
    die "node $name did not start"
}

# stop_node A|B: TERM (the node drains), KILL after 5 s; a node the bench killed is just reaped.
stop_node() {
    local name=$1 pid
    if [[ "$name" == A ]]; then pid=$PID_A; else pid=$PID_B; fi
    if [[ -n "$pid" ]]; then
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        # The braces keep bash's "Killed" job notice (the bench SIGKILLs node A) off stderr.
        { wait "$pid"; } 2>/dev/null || true
        if grep -qiE "panic" "$WORK/$name.log" 2>/dev/null; then
            say "node $name's log mentions a panic:"
            grep -iE "panic" "$WORK/$name.log" | head -5 >&2
        fi
    fi
    if [[ "$name" == A ]]; then PID_A=""; else PID_B=""; fi
}

# CPU seconds (utime + stime) a process has used so far.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# cpu_split NAME BEFORE|AFTER: each process's CPU seconds into NAME.cpu (A B nats per line).
cpu_split() { echo "$(cpu_s "$PID_A") $(cpu_s "$PID_B") $(cpu_s "$NATS_PID")" >>"$OUT_DIR/$1.cpu"; }

metrics() { curl -fs --max-time 2 "http://127.0.0.1:$1/metrics/prom" 2>/dev/null || true; }
# prom_sum PORT METRIC -> the sum of the metric's samples (0 when absent).
prom_sum() {
    metrics "$1" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f\n", s + 0 }'
}

# Waits until both nodes count the other alive (liveness), so a room created on A finds B.
wait_pair() {
    local a b
    for _ in $(seq 100); do
        a=$(prom_sum "$PORT_A" signal_fish_cluster_nodes_alive)
        b=$(prom_sum "$PORT_B" signal_fish_cluster_nodes_alive)
        [[ "$a" -ge 1 && "$b" -ge 1 ]] && return 0
        sleep 0.1
    done
    die "nodes A and B do not see each other (nodes_alive: A $a, B $b)"
}

url() { echo "ws://127.0.0.1:$1/v2/ws"; }

# bench NAME ARGS...: the JSON goes to NAME.json, stderr to NAME.log (and ours). A failed run
# is kept (its JSON says what failed) and marked, and the run goes on to the next scenario.
bench() {
    local name=$1
    shift
    if ! taskset -c "$CLIENT_CPU" "$BENCH_BIN" --progress 0 --label "$name" "$@" \
        >"$OUT_DIR/$name.json" 2> >(tee "$OUT_DIR/$name.log" >&2); then
        say "signal-fish-bench failed in $name (see $OUT_DIR/$name.log)"
        echo failed >"$OUT_DIR/$name.failed"
    fi
}

relay() { # relay NAME URLS PIDS
    bench "$1" --mode relay --url "$2" --server-pid "$3" -n "$PLAYERS" -p "$ROOM_SIZE" -r "$RATE" \
        -d "$DURATION" -w "$WARMUP" --payload-bytes "$PAYLOAD"
}

run_scenario() {
    local name=$1 a b
    say "== $name"
    wait_quiet
    case $name in
        c-local | c-cross)
            start_node A cluster
            start_node B cluster
            wait_pair
            cpu_split "$name"
            if [[ "$name" == c-local ]]; then
                relay "$name" "$(url "$PORT_A")" "$PID_A,$PID_B,$NATS_PID"
            else
                a="$(prom_sum "$PORT_A" signal_fish_cluster_messages_out_total) $(prom_sum "$PORT_B" signal_fish_cluster_messages_out_total)"
                relay "$name" "$(url "$PORT_A"),$(url "$PORT_B")" "$PID_A,$PID_B,$NATS_PID"
                b="$(prom_sum "$PORT_A" signal_fish_cluster_messages_out_total) $(prom_sum "$PORT_B" signal_fish_cluster_messages_out_total)"
                # NATS envelopes (batches) out of each node over the whole scenario.
                echo "$a $b" | awk '{ print $3 - $1, $4 - $2 }' >"$OUT_DIR/c-cross.nats"
            fi
            cpu_split "$name"
            stop_node A
            stop_node B
            ;;
        joins)
            start_node A cluster
            start_node B cluster
            wait_pair
            local common=(--mode join -n 0 -p 2 --join-rooms "$JOINS" --join-rate "$JOIN_RATE" -w 1
                --server-pid "$PID_A,$PID_B,$NATS_PID")
            bench j-local --url "$(url "$PORT_A")" "${common[@]}"
            bench j-cross --url "$(url "$PORT_A"),$(url "$PORT_B")" "${common[@]}"
            stop_node A
            stop_node B
            ;;
        solo-plain | solo-nats)
            if [[ "$name" == solo-plain ]]; then start_node A plain; else start_node A cluster; fi
            relay "$name" "$(url "$PORT_A")" "$PID_A"
            stop_node A
            ;;
        kill)
            start_node A cluster
            start_node B cluster
            wait_pair
            bench kill --mode kill --url "$(url "$PORT_A"),$(url "$PORT_B")" -n "$KILL_PLAYERS" \
                -p "$ROOM_SIZE" -w "$WARMUP" --kill-pid "$PID_A" --kill-wait $((TTL + 15))
            stop_node A
            stop_node B
            ;;
    esac
}

# --- reading the results ----------------------------------------------------------------------
# val, met, both: benches/lib.sh
# failed NAME... -> a note naming the scenarios whose bench run failed, with the first error.
failed() {
    local s out=""
    for s in "$@"; do
        if [[ -e "$OUT_DIR/$s.failed" || ! -s "$OUT_DIR/$s.json" ]]; then
            local why
            why=$(grep -m1 -E "first error|failures:|error|Error" "$OUT_DIR/$s.log" 2>/dev/null | cut -c1-160 || true)
            out+="${out:+; }$s failed${why:+: ${why//|/\\|}}"
        fi
    done
    echo "$out"
}
# A failed scenario turns its row's verdict into **failed**.
verdict() { if [[ -n "$1" ]]; then echo "**failed**"; else echo "$2"; fi; }

# --- the run ----------------------------------------------------------------------------------
START=$SECONDS
if [[ "${TABLE_ONLY:-0}" != 1 ]]; then
    rm -f "$OUT_DIR"/*.json "$OUT_DIR"/*.log "$OUT_DIR"/*.failed "$OUT_DIR"/*.nats "$OUT_DIR"/*.cpu
    date -u +%Y-%m-%dT%H:%MZ >"$OUT_DIR/started"
    for k in "${KNOBS[@]}"; do printf '%s=%q\n' "$k" "${!k}"; done >"$OUT_DIR/settings"
    PORT_A=${PORT_A:-$(free_port)}
    PORT_B=${PORT_B:-$(free_port)}
    {
        echo "- ours: \`${OURS_BIN#"$ROOT"/}\` ($("$OURS_BIN" --version 2>/dev/null | head -1), built $(date -u -r "$OURS_BIN" +%Y-%m-%dT%H:%MZ))"
        dirty=""
        [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && dirty=", with uncommitted changes"
        echo "- the tree: $(git -C "$ROOT" rev-parse --abbrev-ref HEAD 2>/dev/null) at $(git -C "$ROOT" log -1 --format='%h (%s)' 2>/dev/null | cut -c1-100)$dirty"
        echo "- $("$NATS_BIN" --version 2>/dev/null | head -1), JetStream on, storage in a temporary directory"
    } >"$OUT_DIR/provenance.md"
    say "rows $ROWS: scenarios ${SCENARIOS[*]}"
    start_nats
    for s in "${SCENARIOS[@]}"; do run_scenario "$s"; done
    echo "$((SECONDS - START))" >"$OUT_DIR/elapsed"
fi

# --- the table --------------------------------------------------------------------------------
TABLE=$OUT_DIR/cluster.md
{
    echo "Issue 11 goals (cluster) — $(cat "$OUT_DIR/started" 2>/dev/null || echo '?'), $(nproc) CPUs, kernel $(uname -r), rows $ROWS"
    echo
    cat "$OUT_DIR/provenance.md"
    echo
    echo "Nodes A and B with $SHARDS shard(s) each on CPU(s) $CPU_A and $CPU_B, nats-server on $NATS_CPU, the load generator"
    echo "on $CLIENT_CPU; \`cluster.node_ttl_secs\` $TTL, \`cluster.heartbeat_interval_secs\` $HEARTBEAT. Relay: $PLAYERS players in"
    echo "rooms of $ROOM_SIZE, $RATE msg/s each, ${DURATION} s after ${WARMUP} s warm-up, ~${PAYLOAD}-byte payloads; a fresh"
    echo "pair of nodes per scenario."
    echo
    echo "| figure | measured | goal | met? |"
    echo "|---|---|---|---|"
    if want 1; then
        f=$(failed c-local c-cross)
        a=$(val c-cross '.relay.relay.p99_ms'); b=$(val c-local '.relay.relay.p99_ms')
        r=$(ratio "$a" "$b")
        printf '| cross-node relay p99 (%s players, members spread over 2 nodes, %s msg/s) | %s ms; ÷ all members on one node (%s ms) = %s× | ≤ 5 ms, and ≤ 3× the single-node p99 | %s |\n' \
            "$PLAYERS" "$RATE" "$(fmt "$a" 2)" "$(fmt "$b" 2)" "$r" \
            "$(verdict "$f" "$(both "$(met "$a" le 5)" "$(met "$r" le 3)")")"
    fi
    if want 2; then
        f=$(failed j-local j-cross)
        a=$(val j-cross '.paced.join.p50_ms')
        printf '| join by code through another node, p50 (JoinRoom → RoomJoined, %s joins) | %s ms (p99 %s ms); on the same node p50 %s ms, p99 %s ms | ≤ 2 ms | %s |\n' \
            "$(val j-cross '.paced.join.count')" "$(fmt "$a" 3)" "$(fmt "$(val j-cross '.paced.join.p99_ms')" 3)" \
            "$(fmt "$(val j-local '.paced.join.p50_ms')" 3)" "$(fmt "$(val j-local '.paced.join.p99_ms')" 3)" \
            "$(verdict "$f" "$(met "$a" le 2)")"
    fi
    if want 3; then
        f=$(failed solo-plain solo-nats)
        pa=$(val solo-nats '.relay.relay.p99_ms'); pb=$(val solo-plain '.relay.relay.p99_ms')
        ca=$(val solo-nats '.relay.server.deliveries_per_cpu_s'); cb=$(val solo-plain '.relay.server.deliveries_per_cpu_s')
        rp=$(ratio "$pa" "$pb"); rc=$(ratio "$ca" "$cb")
        printf '| one node with `cluster.nats_url` set, rooms local, ÷ no cluster config: relay p99; deliveries per server CPU-second | p99 %s (%s ÷ %s ms); CPU %s (%s ÷ %s) | within 10 %% (p99 ≤ 1.10×, deliveries/CPU-s ≥ 0.90×) | %s |\n' \
            "$rp" "$(fmt "$pa" 2)" "$(fmt "$pb" 2)" "$rc" "$(num "$ca")" "$(num "$cb")" \
            "$(verdict "$f" "$(both "$(met "$rp" le 1.10)" "$(met "$rc" ge 0.90)")")"
    fi
    if want 4; then
        f=$(failed kill)
        mx=$(val kill '.kill.notice.max_ms'); p50=$(val kill '.kill.notice.p50_ms')
        w=$(val kill '.kill.watchers'); n=$(val kill '.kill.noticed'); miss=$(val kill '.kill.missing')
        s() { awk -v x="$1" 'BEGIN { if (x == "") print "n/a"; else printf "%.2f", x / 1000 }'; }
        ok=$(met "$(awk -v x="$mx" 'BEGIN { if (x == "") print ""; else print x / 1000 }')" le $((TTL + 2)))
        [[ -n "$w" && "$n" != "$w" ]] && ok="**no** (${miss:-?} never told)"
        printf '| remote members learn that their room'"'"'s node died (SIGKILL), max (p50) over %s of %s members on B | %s s (p50 %s s) after the kill; TTL %s s | ≤ TTL + 2 s = %s s | %s |\n' \
            "${n:-0}" "${w:-?}" "$(s "$mx")" "$(s "$p50")" "$TTL" $((TTL + 2)) "$(verdict "$f" "$ok")"
    fi
    notes=()
    for s in c-local c-cross j-local j-cross solo-plain solo-nats kill; do
        [[ " ${SCENARIOS[*]} " == *" $s "* ]] || continue
        f=$(failed "$s")
        [[ -n "$f" ]] && notes+=("$f")
    done
    if ((${#notes[@]})); then
        echo
        echo "**Failed scenarios:** ${notes[*]}"
    fi

    echo
    echo "The relay runs behind the rows (server CPU: A + B + nats-server for c-*, the one node for solo-*):"
    echo
    echo "| scenario | delivered/s | delivery ratio | server CPU (cores) | deliveries per server CPU-s | relay p50 (ms) | relay p99 (ms) | client busiest thread | other load (cores) |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for s in c-local c-cross solo-plain solo-nats; do
        [[ -s "$OUT_DIR/$s.json" ]] || continue
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" \
            "$(num "$(val "$s" '.relay.delivered_per_s')")" "$(fmt "$(val "$s" '.relay.delivery_ratio')" 6)" \
            "$(fmt "$(val "$s" '.relay.server.cpu_util')" 3)" "$(num "$(val "$s" '.relay.server.deliveries_per_cpu_s')")" \
            "$(fmt "$(val "$s" '.relay.relay.p50_ms')" 3)" "$(fmt "$(val "$s" '.relay.relay.p99_ms')" 3)" \
            "$(fmt "$(val "$s" '.relay.client_busiest_thread_util')" 2)" "$(fmt "$(val "$s" '.relay.other_cpu_cores')" 2)"
    done
    if [[ -s "$OUT_DIR/c-cross.nats" ]]; then
        read -r na nb <"$OUT_DIR/c-cross.nats"
        gd=$(val c-cross '.relay.sent')
        echo
        echo "c-cross spanned the nodes: NATS envelopes out of A $(num "$na"), out of B $(num "$nb") over the scenario"
        echo "(set-up included), beside $(num "$gd") GameData sent in the measured window."
    fi
    for s in c-local c-cross; do
        [[ -s "$OUT_DIR/$s.cpu" ]] || continue
        echo
        echo "$s, CPU seconds over the whole scenario (connect, join, warm-up, window, drain): $(awk '
            NR == 1 { a = $1; b = $2; n = $3 } NR == 2 { printf "node A %.2f, node B %.2f, nats-server %.2f", $1 - a, $2 - b, $3 - n }' "$OUT_DIR/$s.cpu")."
    done
    for s in j-local j-cross; do
        [[ -s "$OUT_DIR/$s.json" ]] || continue
        echo
        echo "$s: $(val "$s" '.paced | "\(.rooms_ok) rooms ok, \(.rooms_failed) failed; create p50 \(.create.p50_ms) ms p99 \(.create.p99_ms) ms; join p50 \(.join.p50_ms) ms p99 \(.join.p99_ms) ms max \(.join.max_ms) ms; PlayerJoined after RoomJoined p50 \(.player_joined.p50_ms) ms p99 \(.player_joined.p99_ms) ms"')."
    done
    if [[ -s "$OUT_DIR/kill.json" ]]; then
        echo
        echo "kill: $(val kill '"\(.rooms_ok) rooms of \(.room_size); \(.kill.watchers) members on B, \(.kill.home_members) on A (\(.kill.home_members_lost) saw their connection end); ROOM_NOT_FOUND p50 \(.kill.notice.p50_ms) ms, p99 \(.kill.notice.p99_ms) ms, max \(.kill.notice.max_ms) ms after the kill; \(.kill.missing) heard nothing; something else: \(.kill.other | tostring); other frames after the kill: \(.kill.frames_after_kill | tostring); errors before the kill: \(.kill.before_kill | tostring)"')."
        echo "A node is seen gone when its liveness key has been silent for the TTL, so the notice comes"
        echo "between TTL − heartbeat interval and TTL (+ the watcher's 0.25 s tick) after the kill."
    fi
    echo
    echo "Total run time: $(cat "$OUT_DIR/elapsed" 2>/dev/null || echo '?') s. Files: ${OUT_DIR#"$ROOT"/}/"
} >"$TABLE"
cat "$TABLE"
}

# Thousands separators for the absolute numbers.
num() { awk -v x="$1" -v d="${2:-0}" 'BEGIN {
    if (x == "") { print "n/a"; exit }
    s = sprintf("%.*f", d, x); n = s; f = ""
    if (index(s, ".")) { n = substr(s, 1, index(s, ".") - 1); f = substr(s, index(s, ".")) }
    neg = (substr(n, 1, 1) == "-"); if (neg) n = substr(n, 2)
    while (length(n) > 3) { f = "," substr(n, length(n) - 2) f; n = substr(n, 1, length(n) - 3) }
    print (neg ? "-" : "") n f }'; }

main "$@"
