#!/usr/bin/env bash
# People (issue 8): code exchange and refresh rotation, each durable and batched.
# Part of `make bench` (PEOPLE=0 skips it); runs alone too:
#   RUNS=3 DURATION=10s bash scripts/bench-people.sh
#  - wire code-exchange: codes minted through the real /authorize pages, then redeemed (≥ 5,000/s);
#  - wire refresh: rotating chains, one per request in flight (≥ 10,000/s);
#  - http refresh: wrk -t2 -c64 over 256 chains (Benchmarks/wrk/refresh.lua) (≥ 5,000/s).
# The peers (../shared/peers) measure neither flow, so there is no peer row to compare.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
ROUNDS=$RUNS
export RUNS=1
for round in $(seq 1 "$ROUNDS"); do
  export RUN_OFFSET=$((round - 1))
  start_server
  wire_bench "people: wire code-exchange (20,000 codes from /authorize)" --op code-exchange --tokens 20000
  wire_bench "people: wire refresh (rotating chains)" --op refresh
  "$BIN" bench --op refresh --chains 256 --chains-out "$OUT/chains.txt" >/dev/null
  line=$(WRK_CHAINS="$OUT/chains.txt" WRK_THREADS=2 wrk -t2 -c64 -d"$DURATION" -s Benchmarks/wrk/refresh.lua \
    "$HTTP/oauth/token" | grep '^RESULT')
  record "authsec | people: http refresh wrk -t2 -c64, 256 chains | run$round | ${line#RESULT }"
  stop_server
done
