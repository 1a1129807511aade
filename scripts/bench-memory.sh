#!/usr/bin/env bash
# The memory row of BENCHMARKS.md: the server's RssAnon (heap, not LMDB's file-backed map) while
# MEM_CLIENTS distinct clients are registered and each authenticates twice over the wire
# (`bench --op token-distinct`). The bound is 150 MiB for 1,000,000 clients. Part of `make bench`
# (MEMORY=0 skips it); runs alone too:
#   MEM_CLIENTS=1000000 bash scripts/bench-memory.sh
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
MEM_CLIENTS="${MEM_CLIENTS:-1000000}"

start_server
record "authsec | distinct clients: RssAnon at start | RssAnon_kb=$(rss_anon_kb)"
# The peak, sampled every 200 ms while the load runs.
PEAK_FILE="$OUT/memory-peak"
echo 0 > "$PEAK_FILE"
( peak=0; while kill -0 "$SERVER_PID" 2>/dev/null; do
    now=$(rss_anon_kb); [ -n "$now" ] && [ "$now" -gt "$peak" ] && { peak=$now; echo "$peak" > "$PEAK_FILE"; }
    sleep 0.2; done ) &
SAMPLER=$!
if "$BIN" bench --op token-distinct --clients "$MEM_CLIENTS" --requests $((2 * MEM_CLIENTS)) --warmup 0s --keep \
  --connections "$CONNECTIONS" --pipeline 64 --json > "$OUT/memory.json" 2>"$OUT/bench.err"; then
  rps=$(python3 -c 'import json,sys;print(int(json.load(sys.stdin)["requests_per_second"]))' < "$OUT/memory.json")
  after=$(rss_anon_kb)
  peak=$(cat "$PEAK_FILE")
  verdict=$([ "$peak" -lt $((150 * 1024)) ] && echo "under 150 MiB" || echo "OVER 150 MiB")
  record "authsec | $MEM_CLIENTS distinct clients registered, each authenticated twice | token_rps=$rps RssAnon_kb_after=$after RssAnon_kb_peak=$peak ($verdict)"
else
  record "authsec | distinct clients | FAILED $(tail -1 "$OUT/bench.err")"
fi
kill "$SAMPLER" 2>/dev/null
