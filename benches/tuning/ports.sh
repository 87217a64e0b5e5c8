#!/usr/bin/env bash
# Ephemeral-port exhaustion: narrows net.ipv4.ip_local_port_range to 5,000 ports for the duration
# of one idle run, then restores it.   ports.sh CONNECTIONS SOURCE_IP_COUNT (0 = kernel's choice)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
N=$1 K=$2
start_server 1
SRC=(); [[ "$K" -gt 0 ]] && SRC=(--source-ip-count "$K")
OLD=$(sysctl -n net.ipv4.ip_local_port_range)
sysctl -qw net.ipv4.ip_local_port_range="40000 44999"
R=$("$BENCH_BIN" --url "ws://127.0.0.1:$PORT/v2/ws" --mode idle -n "$N" --processes 2 "${SRC[@]}" \
    --server-pid "$SERVER_PID" --idle-settle 1 --progress 0 2>/dev/null) || true
sysctl -qw net.ipv4.ip_local_port_range="$OLD"
echo "$R" | jq -c --arg k "$K" '{source_ips:$k, ok:.connect.ok, failed:.connect.failed, errors:.connect.errors}'
