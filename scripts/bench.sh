#!/usr/bin/env bash
# `make bench`: the benchmark matrix of BENCHMARKS.md on this machine, with the peers measured in
# the same run when their scripts are there (PEERS_DIR, default ../shared/peers).
# Everything runs on loopback and every load is bounded in time.
#   RUNS=3 DURATION=10s CONNECTIONS=16 PIPELINE=16 PEERS=1 bash scripts/bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export SWIFT_DETERMINISTIC_HASHING=1
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
PIPELINE="${PIPELINE:-16}"
PEERS="${PEERS:-1}"
PEERS_DIR="${PEERS_DIR:-../shared/peers}"
OUT="${BENCH_OUT:-/tmp/authsec-bench}"
mkdir -p "$OUT"
: > "$OUT/results.txt"

bash scripts/install-deps.sh
command -v wrk >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product authsec >/dev/null || exit 1
BIN=.build/release/authsec

SERVER_PID=
start_server() { # start_server [extra serve flags...]; sets HTTP, WIRE, ADMIN_ID, ADMIN_SECRET, SERVER_PID
  local dir; dir=$(mktemp -d)/data
  "$BIN" serve --data "$dir" --http 127.0.0.1:0 --wire 127.0.0.1:0 "$@" > "$OUT/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do grep -q "wire listening" "$OUT/serve.log" && break; sleep 0.1; done
  HTTP=$(awk '/http listening on/ {print $4}' "$OUT/serve.log")
  WIRE=$(awk '/wire listening on/ {print $4}' "$OUT/serve.log")
  ADMIN_ID=$(awk '/client_id:/ {print $2}' "$OUT/serve.log")
  ADMIN_SECRET=$(awk '/client_secret:/ {print $2}' "$OUT/serve.log")
  export AUTHSEC_ADDRESS=$WIRE AUTHSEC_CLIENT_ID=$ADMIN_ID AUTHSEC_CLIENT_SECRET=$ADMIN_SECRET
}
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
trap stop_server EXIT
rss_anon_kb() { awk '/RssAnon/ {print $2}' "/proc/$SERVER_PID/status"; }

# CPU time the hypervisor gave to others while we wanted it (/proc/stat "steal", in 1/100 s).
steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

record() { echo "$*" | tee -a "$OUT/results.txt"; }

wire_bench() { # wire_bench NAME [bench flags...]: RUNS runs, records each run's req/s and p99
  local name=$1; shift
  for i in $(seq 1 "$RUNS"); do
    local json
    local steal_before started; steal_before=$(steal_ticks); started=$(date +%s.%N)
    json=$("$BIN" bench --connections "$CONNECTIONS" --pipeline "$PIPELINE" --duration "$DURATION" --json "$@" 2>"$OUT/bench.err") || {
      record "authsec | $name | run$i | FAILED $(tail -1 "$OUT/bench.err")"; continue; }
    # Cores taken by the hypervisor, averaged over the whole command (setup included).
    local stolen; stolen=$(python3 -c "print('%.2f' % (($(steal_ticks) - $steal_before) / 100 / ($(date +%s.%N) - $started)))")
    record "authsec | $name | run$i | $(python3 -c 'import json,sys;d=json.load(sys.stdin);print("rps=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%d" % (d["requests_per_second"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["latency_ms"]["p99.9"], d["errors"]))' <<<"$json") steal_cores=$stolen"
  done
}

http_bench() { # http_bench NAME PATH BODY AUTH
  local name=$1 path=$2
  for i in $(seq 1 "$RUNS"); do
    local line
    line=$(WRK_BODY=$3 WRK_AUTH=$4 wrk -t2 -c64 -d"$DURATION" -s Benchmarks/wrk/form_post.lua "$HTTP$path" | grep '^RESULT')
    record "authsec | $name | run$i | ${line#RESULT }"
  done
}

start_server
sleep 0.5
record "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
record "authsec | memory idle after start | RssAnon_kb=$(rss_anon_kb)"
wire_bench "wire token c=$CONNECTIONS p=$PIPELINE" --op token
record "authsec | memory after token load | RssAnon_kb=$(rss_anon_kb)"
wire_bench "wire introspect (one hot token)" --op introspect
wire_bench "wire introspect-distinct (100k tokens)" --op introspect-distinct --tokens 100000
wire_bench "wire revoke (distinct tokens)" --op revoke --tokens 60000 --warmup 0s
# Durable writes: throughput is (requests in flight) / (commit time), so they get 1,024 in flight.
wire_bench "wire create-client (batched) c=$CONNECTIONS p=64" --op create-client --warmup 0s --pipeline 64

# HTTP with wrk against a dedicated client.
CLIENT_JSON=$("$BIN" clients create --name wrk-bench --type ai_agent --json)
CID=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["client_id"])' <<<"$CLIENT_JSON")
CSECRET=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["client_secret"])' <<<"$CLIENT_JSON")
BASIC="Basic $(printf '%s:%s' "$CID" "$CSECRET" | base64 -w0)"
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
  record "peers | not run (PEERS_DIR=$PEERS_DIR has no scripts)"
fi

echo
echo "| measurement | median req/s | median p99 ms | runs |"
echo "| --- | --- | --- | --- |"
grep -E '^authsec \|' "$OUT/results.txt" | grep rps= | awk -F' \\| ' '{print $2}' | sort -u | while read -r name; do
  rps=$(grep -F "| $name |" "$OUT/results.txt" | sed -n 's/.*rps=\([0-9.]*\).*/\1/p' | median)
  p99=$(grep -F "| $name |" "$OUT/results.txt" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' | median)
  n=$(grep -cF "| $name |" "$OUT/results.txt")
  echo "| $name | $rps | $p99 | $n |"
done
grep -E 'RssAnon' "$OUT/results.txt"
echo "raw results: $OUT/results.txt"
