#!/usr/bin/env bash
# Issue 10's goal table, every row measured in one run: `benches/goals.sh`, or
# `GOALS=1 benches/compare.sh`, which hands over to this script.
#
# Rows (ROWS=1,3 runs and prints only those; each row runs the scenarios it needs, and a
# scenario two rows share runs once):
#   1  2 shards' deliveries per server CPU-second ÷ 1 shard's, rooms of 4 spread over shards
#   2  ceiling with 2 shards ÷ ceiling with 1 (the projected ceiling, defined below)
#   3  ours with websocket.max_flush_delay_ms FLUSH_MS ÷ 0.1.0 (16 ms batching), deliveries per
#      server CPU-second, and both relay p99s
#   4  default mode: our relay p99 ÷ 0.1.0's (PLAYERS players × RATE msg/s)
#   5  server RSS per idle authenticated connection
#   6  relay p99 beside CROWD idle authenticated connections ÷ without
#
# Scenarios, each on a fresh server started from benches/config.json in a temporary directory,
# driven by signal-fish-bench pinned to CLIENT_CPU:
#   ours1-relay     ours, 1 shard pinned to SERVER_CPU: PLAYERS players in rooms of ROOM_SIZE,
#                   RATE msg/s each, DURATION s after WARMUP s                      (rows 1, 4, 6)
#   ours2-relay     ours, 2 shards (the server pins them to CPUs 0 and 1, so shard 1 shares the
#                   generator's CPU): the same relay                                      (row 1)
#   ours1-flush     ours1-relay with max_flush_delay_ms FLUSH_MS                          (row 3)
#   upstream-relay  0.1.0 pinned to SERVER_CPU: the same relay                        (rows 3, 4)
#   ours1-crowd     ours1-relay beside CROWD idle connections held by a second generator (row 6)
#   ours1-idle      IDLE_CONNS idle authenticated connections, RSS per connection     (row 5)
#   ours1-ramp, ours2-ramp  the offered rate rises step by step (bench --mode ramp)       (row 2)
#
# Spread (row 1). A connection stays on the shard whose SO_REUSEPORT socket the kernel picked,
# by a hash of its address and port, so each member of a room lands on a shard independently
# of the others. On our relay runs the script scrapes /metrics/prom every SCRAPE_EVERY s and
# prints the connections per shard, the share of deliveries that cross shards and of rooms on
# one shard expected from that split, and the cross-shard messages per GameData measured over
# the relay (Δ cross_shard_messages_sent ÷ Δ game_data_messages) beside what a relay through
# the room's owner (sender → owner → each member's shard) and the replica relay (from the
# sender's shard to each other shard with members, plus a record to the owner) would send for
# that split: the measured value says the rooms were spread and which path the build takes.
# The JSON, the scrapes and the table stay in OUT_DIR.
#
# Ceiling (row 2). On a 2-CPU machine the 2-shard server shares a CPU with the load generator,
# so its delivered rate at saturation measures the generator as much as the server. The row
# therefore compares projected ceilings: for each shard count, the ramp's highest rate with
# every delivery and relay p99 < CEIL_P99_MS, taken as deliveries/s ÷ the server's CPU use at
# that step (cores, from /proc) × shards, i.e. what the server would deliver with one whole
# CPU per shard at the efficiency it showed near its limit. The raw rates are printed too.
#
# Knobs (environment): ROWS, PLAYERS (1000), ROOM_SIZE (4), RATE (20), DURATION (8),
# WARMUP (2), PAYLOAD (64), FLUSH_MS (16), IDLE_CONNS (2000), CROWD (18000), CROWD_HEARTBEAT (10 s
# between the crowd's Pings: 1,800 Pings a second from 18,000 connections), CEIL_P99_MS (20),
# RAMP_START (5), RAMP_FACTOR (1.5), RAMP_DURATION (3), RAMP_WARMUP (1), RAMP_REFINE (2),
# RAMP_MAX (2000), SCRAPE_EVERY (2), SERVER_CPU (0), CLIENT_CPU (1), OURS_PORT (3536),
# UPSTREAM_PORT (3601), OURS_BIN (default: this tree's release build), UPSTREAM_BIN
# (~/sf-upstream/bin/signal-fish-server), QUIET_WAIT (20 s to wait for other load before each
# scenario, 0 = don't), QUIET_CORES (0.3), OUT_DIR (target/bench-goals), BUILD=0 (skip cargo
# build), TABLE_ONLY=1 (print the table from the files already in OUT_DIR).
# Run it with nothing else on the machine (the table shows the other load and the host's steal
# time). About 3 minutes with every row on a 2-vCPU VM, plus the waits for quiet.
set -euo pipefail

# The whole script is one function, read before anything runs, so editing or checking out this
# file while a run is going cannot change what that run does.
main() {
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OUT_DIR=${OUT_DIR:-$ROOT/target/bench-goals}
# TABLE_ONLY=1 re-prints the last run's table with the settings it ran with.
KNOBS=(ROWS PLAYERS ROOM_SIZE RATE DURATION WARMUP PAYLOAD FLUSH_MS IDLE_CONNS CROWD CROWD_HEARTBEAT CEIL_P99_MS
    RAMP_START RAMP_FACTOR RAMP_DURATION RAMP_REFINE SERVER_CPU CLIENT_CPU)
if [[ "${TABLE_ONLY:-0}" == 1 && -s "$OUT_DIR/settings" ]]; then
    # shellcheck source=/dev/null
    source "$OUT_DIR/settings"
fi
ROWS=${ROWS:-1,2,3,4,5,6}
PLAYERS=${PLAYERS:-1000}
ROOM_SIZE=${ROOM_SIZE:-4}
RATE=${RATE:-20}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
PAYLOAD=${PAYLOAD:-64}
FLUSH_MS=${FLUSH_MS:-16}
IDLE_CONNS=${IDLE_CONNS:-2000}
CROWD=${CROWD:-18000}
# Seconds between the idle crowd's Pings (the server closes a connection silent for 30 s).
CROWD_HEARTBEAT=${CROWD_HEARTBEAT:-10}
CEIL_P99_MS=${CEIL_P99_MS:-20}
RAMP_START=${RAMP_START:-5}
RAMP_FACTOR=${RAMP_FACTOR:-1.5}
RAMP_DURATION=${RAMP_DURATION:-3}
RAMP_WARMUP=${RAMP_WARMUP:-1}
RAMP_REFINE=${RAMP_REFINE:-2}
RAMP_MAX=${RAMP_MAX:-2000}
SCRAPE_EVERY=${SCRAPE_EVERY:-2}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OURS_PORT=${OURS_PORT:-3536}
UPSTREAM_PORT=${UPSTREAM_PORT:-3601}
OURS_BIN=${OURS_BIN:-$ROOT/target/release/signal-fish-server}
UPSTREAM_BIN=${UPSTREAM_BIN:-$HOME/sf-upstream/bin/signal-fish-server}
BENCH_BIN=$ROOT/target/release/signal-fish-bench
QUIET_WAIT=${QUIET_WAIT:-20}
QUIET_CORES=${QUIET_CORES:-0.3}

say() { echo "goals.sh: $*" >&2; }
die() { say "$*"; exit 1; }
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

want() { [[ ",$ROWS," == *",$1,"* ]]; }
for r in ${ROWS//,/ }; do
    [[ "$r" =~ ^[1-6]$ ]] || die "ROWS lists rows 1 to 6, comma-separated (got '$ROWS')"
done

# The scenarios the chosen rows need, in the order they run.
SCENARIOS=()
need() { local s; for s in "$@"; do [[ " ${SCENARIOS[*]} " == *" $s "* ]] || SCENARIOS+=("$s"); done; }
want 1 && need ours1-relay ours2-relay
want 4 && need ours1-relay upstream-relay
want 6 && need ours1-relay ours1-crowd
want 3 && need ours1-flush upstream-relay
want 5 && need ours1-idle
want 2 && need ours1-ramp ours2-ramp
uses_upstream() { [[ " ${SCENARIOS[*]} " == *" upstream-relay "* ]]; }

command -v jq >/dev/null || die "jq is required (Debian package jq)"
command -v curl >/dev/null || die "curl is required (Debian package curl)"

if [[ "${TABLE_ONLY:-0}" != 1 ]]; then
    if uses_upstream; then
        [[ -x "$UPSTREAM_BIN" ]] || die "rows 3 and 4 need the original server, not found at $UPSTREAM_BIN
  install it with: cargo install signal-fish-server --version 0.1.0 --locked --root ~/sf-upstream
  (or point UPSTREAM_BIN at it, or leave rows 3 and 4 out: ROWS=1,2,5,6)"
        up_version=$("$UPSTREAM_BIN" --version 2>/dev/null || true)
        [[ "$up_version" == *" 0.1.0"* ]] ||
            say "warning: $UPSTREAM_BIN says '$up_version', not signal-fish-server 0.1.0"
    fi
    if [[ "${BUILD:-1}" == 1 ]]; then
        say "building (release)"
        cargo build --release -p signal-fish-server -p signal-fish-bench >&2
    fi
    [[ -x "$OURS_BIN" ]] || die "no server binary at $OURS_BIN (build it, or set OURS_BIN)"
    [[ -x "$BENCH_BIN" ]] || die "no load generator at $BENCH_BIN (cargo build --release -p signal-fish-bench)"
fi

mkdir -p "$OUT_DIR"
WORK=$(mktemp -d)
SERVER_PID=""
CROWD_PID=""
SCRAPER_PID=""
cleanup() {
    stop_scraper
    stop_crowd
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT

# Both servers read config.json from their working directory (ours takes the port from the
# environment, the original from the file).
jq --argjson port "$UPSTREAM_PORT" '.port = $port' "$ROOT/benches/config.json" >"$WORK/config.json"

# start_server ours|upstream SHARDS PIN(0|1) [FLUSH_DELAY_MS]
start_server() {
    local kind=$1 shards=$2 pin=$3 flush=${4:-0} port wrap=()
    [[ "$pin" == 1 ]] && wrap=(taskset -c "$SERVER_CPU")
    if [[ "$kind" == ours ]]; then port=$OURS_PORT; else port=$UPSTREAM_PORT; fi
    port_busy "$port" && die "port $port is already in use (a stale server would steal connections)"
    if [[ "$kind" == ours ]]; then
        (cd "$WORK" && SIGNAL_FISH_PORT=$port SIGNAL_FISH_SERVER__SHARDS=$shards \
            SIGNAL_FISH_LOGGING__LEVEL=warn SIGNAL_FISH_WEBSOCKET__MAX_FLUSH_DELAY_MS=$flush \
            exec "${wrap[@]}" "$OURS_BIN" >"$WORK/server.log" 2>&1) &
    else
        (cd "$WORK" && RUST_LOG=warn exec "${wrap[@]}" "$UPSTREAM_BIN" >"$WORK/server.log" 2>&1) &
    fi
    SERVER_PID=$!
    BASE="http://127.0.0.1:$port"
    for _ in $(seq 100); do
        if curl -fs "$BASE/v2/health" >/dev/null 2>&1; then
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

relay() { # relay NAME
    bench --mode relay -n "$PLAYERS" -p "$ROOM_SIZE" -r "$RATE" -d "$DURATION" -w "$WARMUP" \
        --payload-bytes "$PAYLOAD" --label "$1" >"$OUT_DIR/$1.json"
}

ramp() { # ramp NAME
    bench --mode ramp -n "$PLAYERS" -p "$ROOM_SIZE" --payload-bytes "$PAYLOAD" \
        --ramp-start "$RAMP_START" --ramp-factor "$RAMP_FACTOR" --ramp-duration "$RAMP_DURATION" \
        --ramp-warmup "$RAMP_WARMUP" --ramp-refine "$RAMP_REFINE" --ramp-max "$RAMP_MAX" \
        --ramp-p99-ms "$CEIL_P99_MS" --progress 0 --label "$1" >"$OUT_DIR/$1.json"
}

# Scrapes our /metrics/prom into NAME.prom, one "# scrape <unix time>" block per scrape, until
# stop_scraper; the first block is taken before the load starts.
start_scraper() {
    local out="$OUT_DIR/$1.prom"
    : >"$out"
    scrape_once "$out"
    (while sleep "$SCRAPE_EVERY"; do scrape_once "$out"; done) &
    SCRAPER_PID=$!
}
scrape_once() {
    local text
    text=$(curl -fs --max-time 2 "$BASE/metrics/prom" 2>/dev/null) || return 0
    printf '# scrape %s\n%s\n' "$(date +%s.%N)" "$text" >>"$1"
}
stop_scraper() {
    if [[ -n "$SCRAPER_PID" ]]; then
        kill "$SCRAPER_PID" 2>/dev/null || true
        wait "$SCRAPER_PID" 2>/dev/null || true
    fi
    SCRAPER_PID=""
}

# What ours is: --version and the commit it was built from (signal_fish_build_info).
note_build() { # note_build NAME
    local info
    info=$(curl -fs --max-time 2 "$BASE/metrics/prom" 2>/dev/null | grep '^signal_fish_build_info{' || true)
    echo "${info:-no signal_fish_build_info}" >"$OUT_DIR/$1.build"
}

# The idle crowd: CROWD authenticated connections that only ping, from a load generator of
# their own, open until stop_crowd.
start_crowd() {
    # Each connection is a descriptor on both sides: take the whole hard limit.
    ulimit -n "$(ulimit -Hn)"
    taskset -c "$CLIENT_CPU" "$BENCH_BIN" --url "$URL" --mode idle -n "$CROWD" \
        --source-ip-count 2 --idle-settle 3600 --heartbeat "$CROWD_HEARTBEAT" --progress 0 --label crowd \
        >"$WORK/crowd.json" 2>"$WORK/crowd.log" &
    CROWD_PID=$!
    until grep -q "connected" "$WORK/crowd.log"; do
        kill -0 "$CROWD_PID" 2>/dev/null || die "the idle crowd's load generator quit: $(tail -3 "$WORK/crowd.log")"
        sleep 0.5
    done
    say "crowd: $(grep -m1 connected "$WORK/crowd.log")"
    grep -q "connected $CROWD (0 failed)" "$WORK/crowd.log" ||
        die "the idle crowd is incomplete (the descriptor cap is $(ulimit -Hn) per process)"
}
stop_crowd() {
    if [[ -n "$CROWD_PID" ]]; then
        kill -TERM "$CROWD_PID" 2>/dev/null || true
        wait "$CROWD_PID" 2>/dev/null || true
    fi
    CROWD_PID=""
}

run_scenario() {
    local name=$1
    say "== $name"
    wait_quiet
    case $name in
        ours1-relay | ours2-relay | ours1-flush)
            local shards=1 pin=1 flush=0
            [[ "$name" == ours2-* ]] && { shards=2; pin=0; }
            [[ "$name" == ours1-flush ]] && flush=$FLUSH_MS
            start_server ours "$shards" "$pin" "$flush"
            note_build "$name"
            start_scraper "$name"
            relay "$name"
            scrape_once "$OUT_DIR/$name.prom"
            stop_scraper
            ;;
        upstream-relay)
            start_server upstream 0 1
            "$UPSTREAM_BIN" --version >"$OUT_DIR/$name.build" 2>&1 || true
            relay "$name"
            ;;
        ours1-crowd)
            start_server ours 1 1
            note_build "$name"
            start_crowd
            relay "$name"
            stop_crowd
            ;;
        ours1-idle)
            start_server ours 1 1
            note_build "$name"
            bench --mode idle -n "$IDLE_CONNS" --label "$name" >"$OUT_DIR/$name.json"
            ;;
        ours1-ramp | ours2-ramp)
            if [[ "$name" == ours1-* ]]; then start_server ours 1 1; else start_server ours 2 0; fi
            note_build "$name"
            ramp "$name"
            ;;
    esac
    stop_server
}

# --- reading the results ----------------------------------------------------------------------
# val, met, both: benches/lib.sh
# Thousands separators for the absolute numbers.
num() { awk -v x="$1" -v d="${2:-0}" 'BEGIN {
    if (x == "") { print "n/a"; exit }
    s = sprintf("%.*f", d, x); n = s; f = ""
    if (index(s, ".")) { n = substr(s, 1, index(s, ".") - 1); f = substr(s, index(s, ".")) }
    neg = (substr(n, 1, 1) == "-"); if (neg) n = substr(n, 2)
    while (length(n) > 3) { f = "," substr(n, length(n) - 2) f; n = substr(n, 1, length(n) - 3) }
    print (neg ? "-" : "") n f }'; }

# prom_samples NAME -> one line per scrape: "<total connections> <game data total>
# <cross-shard sent total> <connections per shard, comma-separated> <rooms owned per shard>"
prom_samples() {
    local f="$OUT_DIR/$1.prom"
    [[ -s "$f" ]] || return 0
    awk '
        function flush() {
            if (!started) return
            conns = ""; rooms = ""; total = 0
            for (i = 0; i < shards; i++) {
                conns = conns (i ? "," : "") (c[i] + 0); rooms = rooms (i ? "," : "") (r[i] + 0)
                total += c[i]
            }
            print total, gd + 0, xs + 0, conns, rooms
        }
        /^# scrape / { flush(); started = 1; delete c; delete r; gd = 0; xs = 0; shards = 0; next }
        /^#/ { next }
        {
            if (match($1, /shard="[0-9]+"/)) {
                s = substr($1, RSTART + 7, RLENGTH - 8) + 0
                if (s + 1 > shards) shards = s + 1
            }
        }
        $1 ~ /^signal_fish_game_data_messages_total/ { gd = $2 }
        $1 ~ /^signal_fish_shard_connections_active\{/ { c[s] = $2 }
        $1 ~ /^signal_fish_shard_rooms_owned\{/ { r[s] = $2 }
        $1 ~ /^signal_fish_shard_cross_shard_messages_sent_total\{/ { xs += $2 }
        END { flush() }' "$f"
}

# spread NAME -> "conns rooms msgs_per_gamedata" from the scrapes taken while every player was
# connected (the relay phase); msgs_per_gamedata over the first to the last such scrape, or,
# with fewer than two of them, over the whole run (setup messages included, marked "~").
spread() {
    prom_samples "$1" | awk -v want="$PLAYERS" '
        NR == 1 { ga = $2; xa = $3 }
        { gz = $2; xz = $3 }
        $1 >= want { n++; if (n == 1) { g0 = $2; x0 = $3 } g1 = $2; x1 = $3; conns = $4; rooms = $5 }
        END {
            if (n == 0) { print "n/a n/a n/a"; exit }
            if (n >= 2 && g1 > g0) per = sprintf("%.3f", (x1 - x0) / (g1 - g0))
            else if (gz > ga) per = sprintf("~%.3f", (xz - xa) / (gz - ga))
            else per = "n/a"
            print conns, rooms, per
        }'
}

# expected CONNS-PER-SHARD ROOMS-PER-SHARD ROOM-SIZE -> "cross_delivery_share
# one_shard_room_share via_owner from_sender", with each member on shard i with probability
# conns_i / total and the room's owner on shard i with probability rooms_i / total, all
# independently (the kernel hashes each connection's port, the owner is a hash of the room
# code): the share of deliveries whose recipient is on another shard than its sender, the share
# of rooms whose members all share one shard, and the expected cross-shard messages per
# GameData for a relay through the owner (sender's shard -> owner -> one batch per other shard
# holding recipients) and for one from the sender's shard over membership replicas (one batch
# per other shard holding recipients, the owner's record of the relay doubling as its shard's
# batch; a sender on the owner's shard goes through the owner, which is the same there).
expected() {
    awk -v conns="$1" -v rooms="$2" -v k="$3" 'BEGIN {
        n = split(conns, c, ","); split(rooms, r, ","); tot = 0; rtot = 0
        for (i = 1; i <= n; i++) { tot += c[i]; rtot += r[i] }
        if (tot == 0) { print "n/a n/a n/a n/a"; exit }
        for (i = 1; i <= n; i++) { p[i - 1] = c[i] / tot; q[i - 1] = (rtot > 0) ? r[i] / rtot : 1 / n }
        combos = n ^ k
        for (m = 0; m < combos; m++) {
            w = 1; x = m
            for (j = 0; j < k; j++) { sh[j] = x % n; x = int(x / n); w *= p[sh[j]] }
            if (w == 0) continue
            same = 1
            for (j = 1; j < k; j++) if (sh[j] != sh[0]) same = 0
            one += w * same
            for (s = 0; s < k; s++) {
                delete seen; far = 0
                for (j = 0; j < k; j++) if (j != s) { seen[sh[j]] = 1; if (sh[j] != sh[s]) far++ }
                cross += w * far / (k * (k - 1))
                for (o = 0; o < n; o++) {
                    hops = (sh[s] != o); for (d in seen) if (d + 0 != o) hops++
                    owner += w * q[o] * hops / k
                    # Replicas: one batch per other shard among those of the recipients and
                    # the owner, which gets a record of every relay.
                    direct = (o != sh[s]); for (d in seen) if (d + 0 != sh[s] && d + 0 != o) direct++
                    sender += w * q[o] * direct / k
                }
            }
        }
        printf "%.3f %.3f %.3f %.3f\n", cross, one, owner, sender
    }'
}

# A path as the table shows it: relative to this tree, or from ~.
rel() { local p=${1#"$ROOT"/}; echo "${p/#"$HOME"/\~}"; }

# Ticks the hypervisor took from this VM's CPUs (the 8th field of /proc/stat's cpu line).
steal_ticks() { awk '/^cpu /{print $9}' /proc/stat; }

# --- the run ----------------------------------------------------------------------------------
START=$SECONDS
if [[ "${TABLE_ONLY:-0}" != 1 ]]; then
    rm -f "$OUT_DIR"/*.json "$OUT_DIR"/*.prom "$OUT_DIR"/*.build
    date -u +%Y-%m-%dT%H:%MZ >"$OUT_DIR/started"
    for k in "${KNOBS[@]}"; do printf '%s=%q\n' "$k" "${!k}"; done >"$OUT_DIR/settings"
    {
        echo "- ours: \`$(rel "$OURS_BIN")\` ($("$OURS_BIN" --version 2>/dev/null | head -1), built $(date -u -r "$OURS_BIN" +%Y-%m-%dT%H:%MZ))"
        dirty=""
        [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && dirty=", with uncommitted changes"
        echo "- the script's tree: $(git -C "$ROOT" rev-parse --abbrev-ref HEAD 2>/dev/null) at $(git -C "$ROOT" log -1 --format='%h (%s)' 2>/dev/null)$dirty"
        if uses_upstream; then
            echo "- 0.1.0: \`$(rel "$UPSTREAM_BIN")\` ($("$UPSTREAM_BIN" --version 2>/dev/null | head -1), sha256 $(sha256sum "$UPSTREAM_BIN" | cut -c1-16))"
        fi
        echo "- load generator: \`$(rel "$BENCH_BIN")\`"
    } >"$OUT_DIR/provenance.md"
    say "rows $ROWS: scenarios ${SCENARIOS[*]}"
    steal0=$(steal_ticks)
    for s in "${SCENARIOS[@]}"; do run_scenario "$s"; done
    echo "$((SECONDS - START))" >"$OUT_DIR/elapsed"
    # The hypervisor's share of the CPUs during the run: a VM whose host is busy shows it here,
    # and every CPU-second the server is charged then stretches too.
    awk -v a="$steal0" -v b="$(steal_ticks)" -v t=$((SECONDS - START)) -v n="$(nproc)" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { if (t > 0) printf "%.1f\n", 100 * (b - a) / hz / t / n }' \
        >"$OUT_DIR/steal"
fi

# --- the table --------------------------------------------------------------------------------
TABLE=$OUT_DIR/goals.md
{
    echo "Issue 10 goals — $(cat "$OUT_DIR/started" 2>/dev/null || echo '?'), $(nproc) CPUs, kernel $(uname -r), rows $ROWS"
    echo
    cat "$OUT_DIR/provenance.md"
    # The commit each server reported (signal_fish_build_info), grouped.
    for f in "$OUT_DIR"/ours*.build; do
        [[ -s "$f" ]] || continue
        sha=$(sed -n 's/.*git_sha="\([^"]*\)".*/\1/p' "$f")
        echo "${sha:-unknown} $(basename "$f" .build)"
    done | awk '{ if (!($1 in s)) order[++n] = $1; s[$1] = s[$1] (s[$1] ? ", " : "") $2 }
        END { for (i = 1; i <= n; i++) printf "- %s: %s\n", order[i], s[order[i]] }' |
        sed -E 's/^- ([0-9a-f]{7,40}): /- ours built from commit \1 (its signal_fish_build_info) ran /'
    echo
    echo "Relay: $PLAYERS players in rooms of $ROOM_SIZE, $RATE msg/s each, ${DURATION} s after ${WARMUP} s warm-up,"
    echo "~${PAYLOAD}-byte payloads; servers with 1 shard pinned to CPU $SERVER_CPU, with 2 shards on both CPUs; load"
    echo "generator pinned to CPU $CLIENT_CPU; a fresh server per scenario; CPU and RSS from /proc."
    echo
    echo "| figure | measured | goal | met? |"
    echo "|---|---|---|---|"
    if want 1; then
        a=$(val ours2-relay '.relay.server.deliveries_per_cpu_s'); b=$(val ours1-relay '.relay.server.deliveries_per_cpu_s')
        r=$(ratio "$a" "$b")
        printf '| 2 shards, deliveries per server CPU-second ÷ 1 shard'"'"'s (rooms of %s, members spread) | %s (%s ÷ %s) | ≥ 0.95 | %s |\n' \
            "$ROOM_SIZE" "$r" "$(num "$a")" "$(num "$b")" "$(met "$r" ge 0.95)"
    fi
    if want 2; then
        proj() { # proj NAME SHARDS -> projected ceiling (deliveries/s)
            local d c
            d=$(val "$1" '.ramp.max_sustainable.delivered_per_s'); c=$(val "$1" '.ramp.max_sustainable.server_cpu_util')
            awk -v d="$d" -v c="$c" -v n="$2" 'BEGIN { if (d == "" || c == "" || c == 0) print ""; else printf "%.0f", d / c * n }'
        }
        a=$(proj ours2-ramp 2); b=$(proj ours1-ramp 1)
        r=$(ratio "$a" "$b")
        printf '| ceiling with 2 shards ÷ ceiling with 1 (projected: deliveries/s ÷ server cores × shards, at the highest rate with p99 < %s ms) | %s (%s ÷ %s) | ≥ 2.0 | %s |\n' \
            "$CEIL_P99_MS" "$r" "$(num "$a")" "$(num "$b")" "$(met "$r" ge 2.0)"
    fi
    if want 3; then
        a=$(val ours1-flush '.relay.server.deliveries_per_cpu_s'); b=$(val upstream-relay '.relay.server.deliveries_per_cpu_s')
        pa=$(val ours1-flush '.relay.relay.p99_ms'); pb=$(val upstream-relay '.relay.relay.p99_ms')
        r=$(ratio "$a" "$b")
        p99ok=$(awk -v a="$pa" -v b="$pb" 'BEGIN { if (a == "" || b == "") print "n/a"; else print (a + 0 <= b + 0 ? "yes" : "**no**") }')
        printf '| with `max_flush_delay_ms: %s`, deliveries per CPU-second ÷ 0.1.0'"'"'s (at its 16 ms default); relay p99 ours vs 0.1.0 | %s (%s ÷ %s); p99 %s vs %s ms | ≥ 1.5, p99 no worse | %s |\n' \
            "$FLUSH_MS" "$r" "$(num "$a")" "$(num "$b")" "$(fmt "$pa" 1)" "$(fmt "$pb" 1)" \
            "$(both "$(met "$r" ge 1.5)" "$p99ok")"
    fi
    if want 4; then
        a=$(val ours1-relay '.relay.relay.p99_ms'); b=$(val upstream-relay '.relay.relay.p99_ms')
        r=$(ratio "$a" "$b")
        printf '| default mode, relay p99 (%s players × %s msg/s) ÷ 0.1.0'"'"'s | %s (%s ÷ %s ms) | ≤ 0.1 | %s |\n' \
            "$(num "$PLAYERS")" "$RATE" "$r" "$(fmt "$a" 2)" "$(fmt "$b" 2)" "$(met "$r" le 0.1)"
    fi
    if want 5; then
        a=$(val ours1-idle '.idle.rss_per_conn_bytes')
        printf '| RSS per idle authenticated connection (%s connections, 1 shard) | %s B | ≤ 6 KB (6,000 B) | %s |\n' \
            "$(num "$IDLE_CONNS")" "$(num "$a")" "$(met "$a" le 6000)"
    fi
    if want 6; then
        a=$(val ours1-crowd '.relay.relay.p99_ms'); b=$(val ours1-relay '.relay.relay.p99_ms')
        r=$(ratio "$a" "$b")
        printf '| relay p99 with %s idle connections ÷ without (1 shard) | %s (%s ÷ %s ms) | ≤ 1.2 | %s |\n' \
            "$(num "$CROWD")" "$r" "$(fmt "$a" 2)" "$(fmt "$b" 2)" "$(met "$r" le 1.2)"
        a=$(val ours1-crowd '.relay.server.deliveries_per_cpu_s'); b=$(val ours1-relay '.relay.server.deliveries_per_cpu_s')
        r=$(ratio "$a" "$b")
        printf '| … and deliveries per server CPU-second with the crowd ÷ without (the issue: "must match") | %s (%s ÷ %s) | ≥ 0.95 | %s |\n' \
            "$r" "$(num "$a")" "$(num "$b")" "$(met "$r" ge 0.95)"
    fi

    echo
    echo "The runs behind the ratios:"
    echo
    echo "| scenario | delivered/s | delivery ratio | server CPU (cores) | deliveries per server CPU-s | relay p50 (ms) | relay p99 (ms) | client busiest thread | other load (cores) |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for s in ours1-relay ours2-relay ours1-flush upstream-relay ours1-crowd; do
        [[ -s "$OUT_DIR/$s.json" ]] || continue
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" \
            "$(num "$(val "$s" '.relay.delivered_per_s')")" "$(fmt "$(val "$s" '.relay.delivery_ratio')" 6)" \
            "$(fmt "$(val "$s" '.relay.server.cpu_util')" 3)" "$(num "$(val "$s" '.relay.server.deliveries_per_cpu_s')")" \
            "$(fmt "$(val "$s" '.relay.relay.p50_ms')" 3)" "$(fmt "$(val "$s" '.relay.relay.p99_ms')" 3)" \
            "$(fmt "$(val "$s" '.relay.client_busiest_thread_util')" 2)" "$(fmt "$(val "$s" '.relay.other_cpu_cores')" 2)"
    done
    saturated=()
    for s in ours1-relay ours1-flush upstream-relay ours1-crowd; do
        u=$(val "$s" '.relay.server.cpu_util')
        [[ -n "$u" ]] && awk -v u="$u" 'BEGIN { exit !(u >= 0.95) }' && saturated+=("$s")
    done
    if ((${#saturated[@]})); then
        echo
        echo "**Saturated:** ${saturated[*]} used ≥ 0.95 of their one CPU: their deliveries per"
        echo "CPU-second are then their delivered rate (the CPU cannot go higher) and their p99s are"
        echo "queueing delays, so ratios built on them say little. Rerun on a quieter host, or lower the"
        echo "load (RATE=10)."
    fi
    if [[ -s "$OUT_DIR/ours1-idle.json" ]]; then
        echo
        echo "Idle: $(num "$(val ours1-idle '.idle.open')") connections open, server RSS per connection $(num "$(val ours1-idle '.idle.rss_per_conn_bytes')") B."
    fi
    for s in ours1-ramp ours2-ramp; do
        [[ -s "$OUT_DIR/$s.json" ]] || continue
        shards=1; [[ "$s" == ours2-* ]] && shards=2
        best=$(val "$s" '.ramp.max_sustainable // empty | "\(.rate_per_player) msg/s per player: \(.delivered_per_s|floor) deliveries/s, p99 \(.p99_ms) ms, server \(.server_cpu_util) cores"')
        echo
        echo "Ramp, $shards shard(s), from $RAMP_START msg/s per player × $RAMP_FACTOR per ${RAMP_DURATION} s step, $RAMP_REFINE bisection(s): highest rate with every delivery and p99 < $CEIL_P99_MS ms: ${best:-none}; highest with every delivery at any latency: $(val "$s" '.ramp.max_complete_delivery // empty | "\(.rate_per_player) msg/s per player, \(.delivered_per_s|floor) deliveries/s, server \(.server_cpu_util) cores"'); client bound: $(val "$s" 'if .ramp.client_bound then "yes (a lower bound)" else "no" end'); steps (msg/s per player, x = failed): $(val "$s" '[.ramp.steps[] | "\(.rate_per_player|floor)\(if .pass then "" else "x" end)"] | join(" ")')."
    done
    for s in ours1-relay ours2-relay ours1-flush; do
        [[ -s "$OUT_DIR/$s.prom" ]] || continue
        read -r conns rooms per <<<"$(spread "$s")"
        [[ "$conns" == n/a || "$conns" != *,* ]] && continue
        read -r cross one via_owner from_sender <<<"$(expected "$conns" "$rooms" "$ROOM_SIZE")"
        echo
        echo "Spread in $s (from /metrics/prom): connections per shard ${conns//,/ \/ }, rooms owned ${rooms//,/ \/ }."
        echo "Expected from that split, each member landing independently: $(awk -v x="$cross" 'BEGIN{printf "%.1f", x*100}')% of deliveries"
        echo "cross shards, $(awk -v x="$one" 'BEGIN{printf "%.1f", x*100}')% of rooms have all members on one shard. Cross-shard messages per GameData:"
        echo "measured $per; a relay through the owner would send $via_owner, one from the sender's shard over"
        echo "membership replicas (plus the owner's record) $from_sender."
    done
    echo
    steal=$(cat "$OUT_DIR/steal" 2>/dev/null || true)
    [[ -n "$steal" ]] && echo "Host steal time during the run: ${steal}% of each CPU (/proc/stat)."
    echo "Total run time: $(cat "$OUT_DIR/elapsed" 2>/dev/null || echo '?') s. Files: ${OUT_DIR#"$ROOT"/}/"
} >"$TABLE"
cat "$TABLE"
}

main "$@"
