#!/usr/bin/env bash
# The scale rows of BENCHMARKS.md: wire token and HTTP introspection on an empty store, then on
# the same store holding 1,000,000 more clients and 1,000,000 revoked token ids, then the time a
# restart on that store takes to be ready. Part of `make bench`; runs alone too.
#   SCALE_CLIENTS=1000000 SCALE_REVOKED=1000000 RUNS=3 DURATION=10s bash scripts/bench-scale.sh
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
SCALE_CLIENTS="${SCALE_CLIENTS:-1000000}"
SCALE_REVOKED="${SCALE_REVOKED:-1000000}"

start_server
new_http_client
TOKEN=$("$BIN" token --client-id "$CID" --client-secret "$CSECRET")
wire_bench "scale: wire token, empty store" --op token
http_bench "scale: http introspect, empty store" /oauth/introspect "token=$TOKEN" "$BASIC"

# Fill: clients kept by create-client, and tokens revoked one by one (each verified, durable).
"$BIN" bench --op create-client --keep --requests "$SCALE_CLIENTS" --pipeline 64 --warmup 0s --json \
  > "$OUT/scale-fill.json" 2>"$OUT/bench.err" || { record "authsec | scale fill | FAILED $(tail -1 "$OUT/bench.err")"; exit 1; }
"$BIN" bench --op revoke --tokens "$SCALE_REVOKED" --requests "$SCALE_REVOKED" --warmup 0s --json \
  >> "$OUT/scale-fill.json" 2>"$OUT/bench.err" || { record "authsec | scale fill | FAILED $(tail -1 "$OUT/bench.err")"; exit 1; }
record "authsec | scale fill | clients_added=$SCALE_CLIENTS revoked_ids_added=$SCALE_REVOKED"

wire_bench "scale: wire token, +1M clients +1M revoked" --op token
http_bench "scale: http introspect, +1M clients +1M revoked" /oauth/introspect "token=$TOKEN" "$BASIC"

# Restart on the full store: from exec to both doors listening.
KEEP=$DATA_DIR
stop_server
DATA_DIR=$KEEP
started=$(date +%s%N)
start_server
record "authsec | scale: serve ready on the full store | ms=$(( ($(date +%s%N) - started) / 1000000 ))"
stop_server
