#!/usr/bin/env bash
# Before/after: the wire and HTTP rows of BENCHMARKS.md for this build and for BASE_REF's build,
# in alternating runs on one machine at one time, so that noise hits both alike. Part of
# `make bench` when BASE_REF is set; runs alone too:
#   BASE_REF=4804ea8 RUNS=3 DURATION=10s bash scripts/bench-compare.sh
# The base is built once, in release, in a git worktree at BASE_DIR (about 9 minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
BASE_REF="${BASE_REF:-4804ea8}"
BASE_DIR="${BASE_DIR:-/tmp/authsec-base-$BASE_REF}"
if [ ! -x "$BASE_DIR/.build/release/authsec" ]; then
  [ -d "$BASE_DIR" ] || git worktree add -f "$BASE_DIR" "$BASE_REF" >/dev/null
  (cd "$BASE_DIR" && swift build -c release --product authsec >/dev/null) || { record "compare | base build failed"; exit 1; }
fi
NEW_BIN=$BIN
BASE_BIN=$BASE_DIR/.build/release/authsec
NEW_REF=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources || echo "+changes")
ROUNDS=$RUNS
for round in $(seq 1 "$ROUNDS"); do
  for build in base new; do
    if [ "$build" = base ]; then BIN=$BASE_BIN; label="before ($BASE_REF)"; else BIN=$NEW_BIN; label="after ($NEW_REF)"; fi
    start_server
    export RUNS=1 RUN_OFFSET=$((round - 1))
    wire_bench "compare: wire token, $label" --op token
    wire_bench "compare: wire introspect (one hot token), $label" --op introspect
    wire_bench "compare: wire introspect-distinct (100k tokens), $label" --op introspect-distinct --tokens 100000
    wire_bench "compare: wire revoke (distinct tokens), $label" --op revoke --tokens 60000 --warmup 0s
    wire_bench "compare: wire create-client (batched) p=64, $label" --op create-client --warmup 0s --pipeline 64
    new_http_client
    http_bench "compare: http token wrk -t2 -c64, $label" /oauth/token "grant_type=client_credentials" "$BASIC"
    TOKEN=$("$BIN" token --client-id "$CID" --client-secret "$CSECRET")
    http_bench "compare: http introspect wrk -t2 -c64, $label" /oauth/introspect "token=$TOKEN" "$BASIC"
    stop_server
  done
done
BIN=$NEW_BIN
