#!/usr/bin/env bash
# Server RSS and kernel memory for N idle authenticated connections.
#   idle-memory.sh CONNECTIONS [SHARDS]
# Prints /proc/net/sockstat, Slab and server RSS before and while the connections are open, the
# per-cache /proc/slabinfo difference, and the skmem of the server's sockets.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
N=$1 SH=${2:-1}
start_server "$SH"
snap() {
    echo "$(grep '^TCP:' /proc/net/sockstat) | $(grep -E '^Slab:' /proc/meminfo | tr -s ' ') |" \
         "server RSS $(awk '/^VmRSS:/{print $2, $3}' /proc/$SERVER_PID/status)," \
         "fds $(ls /proc/$SERVER_PID/fd | wc -l)"
}
slab() { awk 'NR>2{print $1, $2, $4}' /proc/slabinfo | sort; }
echo "before: $(snap)"; S0=$(slab)
"$BENCH_BIN" --url "ws://127.0.0.1:$PORT/v2/ws" --mode idle -n "$N" --processes 2 --source-ip-count 2 \
    --server-pid "$SERVER_PID" --idle-settle 20 --progress 0 >"$WORK/idle.json" 2>/dev/null &
B=$!
until [[ $(ss -Htn state established "( sport = :$PORT )" | wc -l) -ge $N ]]; do
    kill -0 $B 2>/dev/null || break; sleep 0.5
done
sleep 5
echo "open:   $(snap)"
join <(echo "$S0") <(slab) | awk -v n="$N" '{d = $4 - $2; if (d > n / 20 || d < -n / 20)
    printf "  %-20s %+8d objects x %5d B = %+8.0f KiB (%.2f per connection)\n", $1, d, $3, d * $3 / 1024, d / n}'
echo "  server sockets' skmem (count, value):"
ss -Htmn state established "( sport = :$PORT )" | grep -o 'skmem:([^)]*)' | sort | uniq -c | sort -rn | head -5 || true
wait $B
jq -c '{connect: {conns_per_s: .connect.conns_per_s, ok: .connect.ok, failed: .connect.failed}, idle: .idle}' "$WORK/idle.json"
