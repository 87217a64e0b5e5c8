#!/usr/bin/env bash
# Connection burst against a server whose listen backlog was capped by net.core.somaxconn.
#   backlog.sh SOMAXCONN CONNECT_CONCURRENCY SHARDS [CONNECTIONS]
# Sets somaxconn only while the server calls listen(), then restores it. Prints one JSON line:
# backlog in force (ss Send-Q), ListenOverflows / SYN-cookie deltas, connect rate and latency.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
S=$1 C=$2 SH=$3 N=${4:-19000}
OLD=$(sysctl -n net.core.somaxconn)
sysctl -qw net.core.somaxconn="$S"
start_server "$SH" || { sysctl -qw net.core.somaxconn="$OLD"; exit 1; }
sysctl -qw net.core.somaxconn="$OLD"          # listen() has taken min(4096, S) already
BL=$(ss -Hlnt "sport = :$PORT" | awk '{print $3}' | sort -u | paste -sd' ')
counters() { nstat -az TcpExtListenOverflows TcpExtListenDrops TcpExtSyncookiesSent TcpExtTCPReqQFullDrop | awk 'NR>1{print $1, $2}' | sort; }
BEFORE=$(counters)
R=$("$BENCH_BIN" --url "ws://127.0.0.1:$PORT/v2/ws" --mode idle -n "$N" --processes 2 --source-ip-count 2 \
    --connect-concurrency "$C" --server-pid "$SERVER_PID" --idle-settle 1 --progress 0 2>/dev/null)
DELTA=$(join <(echo "$BEFORE") <(counters) | awk '{printf "\"%s\":%d,", $1, $3 - $2}')
stop_server
echo "{\"somaxconn\":$S,\"connect_concurrency\":$C,\"shards\":$SH,\"backlog\":\"$BL\",$DELTA$(echo "$R" |
    jq -c '{conns_per_s:.connect.conns_per_s, failed:.connect.failed, p50_ms:.connect.latency.p50_ms,
            p99_ms:.connect.latency.p99_ms, max_ms:.connect.latency.max_ms}' | cut -c2-)"
