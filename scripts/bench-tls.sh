#!/usr/bin/env bash
# The TLS rows of BENCHMARKS.md: the same loads over plain TCP and over TLS, on two servers of the
# same build running side by side (one plain, one with --tls-cert/--tls-key from a throwaway CA
# made by scripts/make-test-certs.sh: EC P-256, TLS 1.3), measured in alternating runs so a noisy
# neighbour hits both alike. Part of `make bench` (TLS=0 skips it); runs alone too.
#   RUNS=3 DURATION=10s bash scripts/bench-tls.sh
#
# Rows, per transport:
#   wire token           authsec bench --op token, c=CONNECTIONS p=PIPELINE, keep-alive (--ca-file for TLS)
#   http token           wrk -t2 -c64, keep-alive, Benchmarks/wrk/form_post.lua (https:// URL for TLS)
#   http token, new connection per request
#                        the same with "Connection: close": every request pays a TCP (and TLS) handshake
#   TLS handshakes       openssl s_time -new: full TLS 1.3 handshakes, no request, one client process
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
command -v openssl >/dev/null || { echo "bench-tls.sh: openssl is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
PIDS=()
CERTS=$(mktemp -d)
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$CERTS"' EXIT
bash scripts/make-test-certs.sh "$CERTS"

# serve NAME [serve flags...]: starts a server on a new store, with a wrk client, and remembers
# how to reach it as NAME.
serve() {
  local name=$1; shift
  DATA_DIR=
  start_server "$@"
  PIDS+=("$SERVER_PID")
  local ca=""
  [ "$name" = TLS ] && ca="$CERTS/ca.pem"
  export AUTHSEC_CA_FILE=$ca
  new_http_client
  printf -v "${name}_ENV" 'HTTP=%q WIRE=%q SERVER_PID=%q ADMIN_ID=%q ADMIN_SECRET=%q BASIC=%q AUTHSEC_CA_FILE=%q' \
    "$HTTP" "$WIRE" "$SERVER_PID" "$ADMIN_ID" "$ADMIN_SECRET" "$BASIC" "$ca"
}
# use NAME: points the bench functions (and the CLI) at that server.
use() {
  local env="${1}_ENV"
  eval "${!env}"
  export AUTHSEC_ADDRESS=$WIRE AUTHSEC_CLIENT_ID=$ADMIN_ID AUTHSEC_CLIENT_SECRET=$ADMIN_SECRET AUTHSEC_CA_FILE
}

serve PLAIN
serve TLS --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key"
grep -q "https://" <<<"$TLS_ENV" || { record "authsec | TLS | FAILED: the TLS server did not start (see $OUT/serve.log)"; exit 1; }

for round in $(seq 1 "$RUNS"); do
  for transport in PLAIN TLS; do
    use "$transport"
    label=$([ "$transport" = TLS ] && echo "TLS" || echo "plain TCP")
    RUNS=1 RUN_OFFSET=$((round - 1)) wire_bench "tls rows: wire token c=$CONNECTIONS p=$PIPELINE, $label" --op token
    RUNS=1 RUN_OFFSET=$((round - 1)) http_bench "tls rows: http token wrk -t2 -c64, $label" /oauth/token \
      "grant_type=client_credentials" "$BASIC"
    WRK_HEADER="Connection: close" RUNS=1 RUN_OFFSET=$((round - 1)) http_bench \
      "tls rows: http token, new connection per request, wrk -t2 -c64, $label" /oauth/token \
      "grant_type=client_credentials" "$BASIC"
  done
  # Handshakes alone, against the TLS server's HTTP door.
  use TLS
  # s_time reports whole seconds only, so the wall time is taken here.
  started=$(date +%s.%N)
  line=$(openssl s_time -connect "${HTTP#https://}" -new -time "${DURATION%s}" 2>/dev/null | grep "real seconds")
  rate=$(awk -v seconds="$(python3 -c "print($(date +%s.%N) - $started)")" '{printf "%d", $1 / seconds}' <<<"$line")
  record "authsec | tls rows: TLS handshakes, openssl s_time -new (one client) | run$round | rps=$rate ($line)"
done
