#!/usr/bin/env bash
# Relay latency with and without scrapes, and the time a scrape takes, on ours (1 shard, CPU 0).
# Usage: cargo build --release --workspace && benches/scrape_cost.sh   (SHARDS=2 for two shards)
set -euo pipefail
BIN="$(cd "$(dirname "$0")/.." && pwd)/target/release"
D=$(mktemp -d); cd "$D"
echo '{"port":3710,"security":{"max_connections_per_ip":1000000},"rate_limit":{"max_room_creations":1000000,"max_join_attempts":1000000}}' > config.json
SIGNAL_FISH_SERVER__SHARDS=${SHARDS:-1} taskset -c 0 $BIN/signal-fish-server 2>/dev/null & PID=$!
sleep 1
run() { taskset -c 1 $BIN/signal-fish-bench --url ws://127.0.0.1:3710/v2/ws -n 1000 -p 4 -r 20 -d 15 -w 2 --server-pid $PID 2>/dev/null | tail -1; }
run > base.json
( end=$((SECONDS+18)); while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -w '%{time_total}\n' http://127.0.0.1:3710/metrics/prom >> prom_times
    curl -s -o /dev/null -w '%{time_total}\n' 'http://127.0.0.1:3710/metrics?includeSnapshot=true' >> json_times
    sleep 0.1
  done ) &
SCRAPER=$!
run > scraped.json
wait $SCRAPER
curl -s http://127.0.0.1:3710/metrics/prom > last_scrape.txt
kill $PID
python3 - "$D" <<'PY'
import json,sys,statistics as st
d=sys.argv[1]
for name in ("base","scraped"):
    r=json.load(open(f"{d}/{name}.json"))["relay"]
    print(name, "relay", {k:r["relay"][k] for k in ("p50_ms","p99_ms","p999_ms","max_ms")}, "ratio", r["delivery_ratio"], "server cpu", r["server"]["cpu_util"])
for f in ("prom_times","json_times"):
    t=sorted(float(x)*1000 for x in open(f"{d}/{f}"))
    print(f, "n", len(t), "p50 %.2f ms p99 %.2f ms max %.2f ms" % (t[len(t)//2], t[int(len(t)*0.99)-1], t[-1]))
print("scrape saved in", d)
PY
