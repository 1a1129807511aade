#!/usr/bin/env bash
# The scale rows of BENCHMARKS.md: wire token and HTTP introspection on a store holding
# 1,000,000 more clients and 1,000,000 revoked token ids, against an empty store served at the
# same time. The two are measured in alternating runs, so a noisy neighbour on the machine hits
# both alike. Then the time a restart on the full store takes to be ready. Part of
# `make bench`; runs alone too.
#   SCALE_CLIENTS=1000000 SCALE_REVOKED=1000000 RUNS=3 DURATION=10s bash scripts/bench-scale.sh
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
SCALE_CLIENTS="${SCALE_CLIENTS:-1000000}"
SCALE_REVOKED="${SCALE_REVOKED:-1000000}"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null' EXIT

# serve_store NAME: starts a server on a new store, with a wrk client and a token to introspect,
# and remembers how to reach it as NAME.
serve_store() {
  DATA_DIR=
  start_server
  PIDS+=("$SERVER_PID")
  new_http_client
  local token; token=$("$BIN" token --client-id "$CID" --client-secret "$CSECRET")
  printf -v "${1}_ENV" 'HTTP=%q WIRE=%q DATA_DIR=%q SERVER_PID=%q ADMIN_ID=%q ADMIN_SECRET=%q BASIC=%q TOKEN=%q' \
    "$HTTP" "$WIRE" "$DATA_DIR" "$SERVER_PID" "$ADMIN_ID" "$ADMIN_SECRET" "$BASIC" "$token"
}
# use_store NAME: points the bench functions at that server.
use_store() {
  local env="${1}_ENV"
  eval "${!env}"
  export AUTHSEC_ADDRESS=$WIRE AUTHSEC_CLIENT_ID=$ADMIN_ID AUTHSEC_CLIENT_SECRET=$ADMIN_SECRET
}

serve_store FULL
# Fill: clients kept by create-client, and tokens revoked one by one (each verified, durable).
"$BIN" bench --op create-client --keep --requests "$SCALE_CLIENTS" --pipeline 64 --warmup 0s --json \
  > "$OUT/scale-fill.json" 2>"$OUT/bench.err" || { record "authsec | scale fill | FAILED $(tail -1 "$OUT/bench.err")"; exit 1; }
"$BIN" bench --op revoke --tokens "$SCALE_REVOKED" --requests "$SCALE_REVOKED" --warmup 0s --json \
  >> "$OUT/scale-fill.json" 2>"$OUT/bench.err" || { record "authsec | scale fill | FAILED $(tail -1 "$OUT/bench.err")"; exit 1; }
record "authsec | scale fill | clients_added=$SCALE_CLIENTS revoked_ids_added=$SCALE_REVOKED"
serve_store EMPTY

ROUNDS=$RUNS
for round in $(seq 1 "$ROUNDS"); do
  for store in EMPTY FULL; do
    use_store "$store"
    label=$([ "$store" = EMPTY ] && echo "empty store" || echo "+$SCALE_CLIENTS clients +$SCALE_REVOKED revoked")
    RUNS=1 RUN_OFFSET=$((round - 1)) wire_bench "scale: wire token, $label" --op token
    RUNS=1 RUN_OFFSET=$((round - 1)) http_bench "scale: http introspect, $label" /oauth/introspect "token=$TOKEN" "$BASIC"
  done
done

# Restart on the full store: from exec to both doors listening.
use_store FULL
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
started=$(date +%s%N)
start_server
PIDS+=("$SERVER_PID")
record "authsec | scale: serve ready on the full store | ms=$(( ($(date +%s%N) - started) / 1000000 ))"
