#!/usr/bin/env bash
# AI clients under control (issue 9): the cost of a rate limit and of the audit log on the token
# path, and the quota charge rate, each compared in alternating runs on one machine at one time.
# Part of `make bench` (AGENTS=0 skips it); runs alone too:
#   RUNS=5 DURATION=10s bash scripts/bench-agents.sh
#  - wire token, an unlimited client vs one limited far above the load (rate limit check: ≤ 5%);
#  - wire token, --audit-retention 0 (audit log off) vs the default 30d (on: ≤ 10%);
#  - wire Charge pipelined, one agent (≥ 50,000/s) and across 10,000 agents (≥ 20,000/s).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
AGENTS_N="${AGENTS_N:-10000}"
ROUNDS=$RUNS
export RUNS=1
for round in $(seq 1 "$ROUNDS"); do
  export RUN_OFFSET=$((round - 1))
  start_server
  wire_bench "agents: wire token, unlimited client" --op token
  wire_bench "agents: wire token, rate-limited client (limit far above the load)" --op token-limited
  wire_bench "agents: wire charge, one agent" --op charge
  wire_bench "agents: wire charge, across $AGENTS_N agents" --op charge-distinct --clients "$AGENTS_N"
  stop_server
  start_server --audit-retention 0
  wire_bench "agents: wire token, audit log off" --op token
  stop_server
  start_server
  wire_bench "agents: wire token, audit log on" --op token
  stop_server
done
