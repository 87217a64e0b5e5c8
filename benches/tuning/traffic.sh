#!/usr/bin/env bash
# Kernel socket memory and server RSS under relay traffic (1 shard on CPU 0, generator on CPU 1).
#   traffic.sh PLAYERS RATE_PER_PLAYER [PROCESSES] [DURATION]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
N=$1 R=$2 PR=${3:-1} D=${4:-15}
start_server 1 taskset -c 0
echo "before: $(grep '^TCP:' /proc/net/sockstat)"
taskset -c 1 "$BENCH_BIN" --url "ws://127.0.0.1:$PORT/v2/ws" -n "$N" -p 4 -r "$R" -d "$D" -w 3 \
    --processes "$PR" --source-ip-count 2 --server-pid "$SERVER_PID" --progress 0 >"$WORK/relay.json" 2>/dev/null &
B=$!
until [[ $(ss -Htn state established "( sport = :$PORT )" | wc -l) -ge $N ]]; do
    kill -0 $B 2>/dev/null || break; sleep 0.2
done
sleep 6
for k in 1 2 3 4 5; do
    echo "sample $k: $(grep '^TCP:' /proc/net/sockstat), server RSS $(awk '/^VmRSS:/{print $2}' /proc/$SERVER_PID/status) kB"
    ss -Htmn state established "( sport = :$PORT )" | grep -o 'skmem:([^)]*)' | tr -d 'skmem:()' | tr ',' ' ' |
        awk '{ for (i = 1; i <= NF; i++) { k = $i; sub(/[0-9]+$/, "", k); v = substr($i, length(k) + 1);
                 sum[k] += v; if (v > 0) nz[k]++ } }
             END { printf "  %d server sockets: r=%d w=%d f=%d t=%d bytes in all; holding r/w/f: %d/%d/%d\n",
                   NR, sum["r"], sum["w"], sum["f"], sum["t"], nz["r"], nz["w"], nz["f"] }' || true
    sleep 1
done
wait $B
jq -c '{players: .connections, rss_before_kb: .server_rss_before_kb, server: .relay.server,
        delivered_per_s: .relay.delivered_per_s, p50_ms: .relay.relay.p50_ms, p99_ms: .relay.relay.p99_ms}' "$WORK/relay.json"
