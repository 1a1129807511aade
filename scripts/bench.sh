#!/usr/bin/env bash
# `make bench`: the benchmark matrix of BENCHMARKS.md on this machine, with the peers measured in
# the same run when their scripts are there (PEERS_DIR, default ../shared/peers).
# Everything runs on loopback and every load is bounded in time.
#   RUNS=3 DURATION=10s CONNECTIONS=16 PIPELINE=16 PEERS=1 TLS=1 SCALE=1 MEMORY=1 AGENTS=1 PEOPLE=1 SIGNIN=1 BASE_REF= bash scripts/bench.sh
# BASE_REF=<commit> adds the before/after rows (scripts/bench-compare.sh) against that build.
set -uo pipefail
cd "$(dirname "$0")/.."
PEERS="${PEERS:-1}"
PEERS_DIR="${PEERS_DIR:-../shared/peers}"
SCALE="${SCALE:-1}"
MEMORY="${MEMORY:-1}"
AGENTS="${AGENTS:-1}"
PEOPLE="${PEOPLE:-1}"
SIGNIN="${SIGNIN:-1}"
BASE_REF="${BASE_REF:-}"
TLS="${TLS:-1}"
source scripts/bench-lib.sh
: > "$OUT/results.txt"

start_server
sleep 0.5
record "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
record "authsec | memory idle after start | RssAnon_kb=$(rss_anon_kb)"
wire_bench "wire token c=$CONNECTIONS p=$PIPELINE" --op token
record "authsec | memory after token load | RssAnon_kb=$(rss_anon_kb)"
# /healthz must keep answering under the full token load: 30 probes, 0.2 s apart.
"$BIN" bench --op token --connections "$CONNECTIONS" --pipeline "$PIPELINE" --duration 12s --json > "$OUT/healthz-load.json" 2>&1 &
LOAD_PID=$!
sleep 4
PROBES=$(for _ in $(seq 1 30); do curl -s -o /dev/null -m 5 -w "%{time_total}\n" "$HTTP/healthz"; sleep 0.2; done)
wait "$LOAD_PID"
record "authsec | healthz under token load | $(sort -n <<<"$PROBES" | awk '{a[NR]=$1} END {printf "probes=%d median_ms=%.1f max_ms=%.1f", NR, a[int((NR+1)/2)]*1000, a[NR]*1000}')"
wire_bench "wire introspect (one hot token)" --op introspect
wire_bench "wire introspect-distinct (100k tokens)" --op introspect-distinct --tokens 100000
wire_bench "wire revoke (distinct tokens)" --op revoke --tokens 60000 --warmup 0s
# Durable writes: throughput is (requests in flight) / (commit time), so they get 1,024 in flight.
wire_bench "wire create-client (batched) c=$CONNECTIONS p=64" --op create-client --warmup 0s --pipeline 64

# HTTP with wrk against a dedicated client.
new_http_client
http_bench "http token wrk -t2 -c64" /oauth/token "grant_type=client_credentials" "$BASIC"
TOKEN=$("$BIN" token --client-id "$CID" --client-secret "$CSECRET")
http_bench "http introspect wrk -t2 -c64" /oauth/introspect "token=$TOKEN" "$BASIC"

# Latency at half the measured maximum token rate, open loop.
MAX=$(grep "wire token c=" "$OUT/results.txt" | sed -n 's/.*rps=\([0-9]*\).*/\1/p' | median)
if [ "$MAX" != "n/a" ]; then wire_bench "wire token open loop at $((${MAX%.*} / 2))/s" --op token --rate $((${MAX%.*} / 2)); fi
stop_server

# The same build with batching off: one commit per write.
start_server --write-batch 1
wire_bench "wire create-client (one commit per write) c=$CONNECTIONS p=64" --op create-client --warmup 0s --pipeline 64
stop_server

if [ "$PEERS" = 1 ] && [ -f "$PEERS_DIR/authlib.sh" ]; then
  for peer in glewlwyd authlib; do
    [ -f "$PEERS_DIR/$peer.sh" ] || { record "peer $peer | not run (no script)"; continue; }
    RUNS=$RUNS WRK_T=2 WRK_C=32 WRK_D=$DURATION STORES=sqlite bash "$PEERS_DIR/$peer.sh" > "$OUT/peer-$peer.log" 2>&1 || record "peer $peer | FAILED (see $OUT/peer-$peer.log)"
    grep -hE 'token client_credentials|introspect' /tmp/authsec-peers/results/$peer*.txt 2>/dev/null | grep -v '^#' | grep ' c=32 ' | sed "s/^/peer $peer | /" | tee -a "$OUT/results.txt"
  done
else
  record "peers | not run (PEERS=$PEERS; PEERS_DIR=$PEERS_DIR)"
fi

# TLS: the same loads over plain TCP and TLS, side by side, and TLS handshakes per second.
[ "$TLS" = 1 ] && bash scripts/bench-tls.sh

# Scale: the same loads with 1,000,000 clients and 1,000,000 revoked token ids stored.
[ "$SCALE" = 1 ] && bash scripts/bench-scale.sh

# Memory: RssAnon while 1,000,000 distinct clients register and authenticate.
[ "$MEMORY" = 1 ] && bash scripts/bench-memory.sh

# AI clients under control: rate limit and audit log costs, Charge rates (alternating runs).
[ "$AGENTS" = 1 ] && bash scripts/bench-agents.sh
[ "$PEOPLE" = 1 ] && bash scripts/bench-people.sh
[ "$SIGNIN" = 1 ] && bash scripts/bench-signin.sh

# Before/after: this build against BASE_REF's, in alternating runs.
[ -n "$BASE_REF" ] && BASE_REF=$BASE_REF bash scripts/bench-compare.sh

echo
echo "| measurement | median req/s | median p99 ms | runs |"
echo "| --- | --- | --- | --- |"
grep -E '^authsec \|' "$OUT/results.txt" | grep rps= | awk -F' \\| ' '{print $2}' | sort -u | while read -r name; do
  rps=$(grep -F "| $name |" "$OUT/results.txt" | sed -n 's/.*rps=\([0-9.]*\).*/\1/p' | median)
  p99=$(grep -F "| $name |" "$OUT/results.txt" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' | median)
  n=$(grep -cF "| $name |" "$OUT/results.txt")
  echo "| $name | $rps | $p99 | $n |"
done
grep -E 'RssAnon|healthz' "$OUT/results.txt"
echo "raw results: $OUT/results.txt"
