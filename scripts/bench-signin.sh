#!/usr/bin/env bash
# Sign-ins against the KDF (issue 8): how many sign-ins two cores complete, against what bcrypt
# alone allows (cores ÷ one check's time, measured by `authsec bench --op kdf`), and what a
# stream of sign-ins does to the wire token p99 at a fixed rate (open loop). Part of `make bench` (SIGNIN=0 skips it); runs alone too:
#   RUNS=3 DURATION=10s bash scripts/bench-signin.sh
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
TOKEN_RATE="${TOKEN_RATE:-5000}"
CALLBACK=https://bench.invalid/callback
start_server
PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$PASSWORD" | "$BIN" users create signin-bench --password-stdin >/dev/null
json=$("$BIN" clients create --name signin-bench --type web --callback "$CALLBACK" --scope openid --json)
CID=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["client_id"])' <<<"$json")
mapfile -t FORM < <(python3 Benchmarks/signin/form.py "$HTTP" "$CID" "$CALLBACK" signin-bench "$PASSWORD")
signins() { # signins CONNECTIONS: a sign-in wrk run; prints its RESULT line
  WRK_BODY="${FORM[1]}" WRK_AUTH="" wrk -t1 -c"$1" -d"$DURATION" \
    -H "${FORM[0]}" -s Benchmarks/wrk/form_post.lua "$HTTP/authorize/sign-in" | grep '^RESULT'
}
for i in $(seq 1 "$RUNS"); do
  # The KDF alone: bcrypt checks one after another in a process of their own, on a quiet machine;
  # the sign-in bound is 90% of cores ÷ this time.
  kdf=$("$BIN" bench --op kdf --requests 5 --json)
  record "authsec | signin: one bcrypt check alone (bench --op kdf) | run$i | $(python3 -c 'import json,sys;d=json.load(sys.stdin)["check_ms"];print("p50_ms=%.1f min_ms=%.1f" % (d["p50"], d["min"]))' <<<"$kdf")"
  # One at a time: the time of one sign-in is the time of one bcrypt check (plus microseconds).
  one=$(signins 1)
  record "authsec | signin: one at a time (wrk -c1) | run$i | ${one#RESULT }"
  many=$(signins 8)
  record "authsec | signin: 8 at once (wrk -c8) | run$i | ${many#RESULT }"
  # Cores the hypervisor gave to others during a run: a busy VM may lose its vCPUs to the host.
  steal_before=$(steal_ticks); started=$(date +%s.%N)
  quiet=$("$BIN" bench --op token --rate "$TOKEN_RATE" --duration "$DURATION" --json 2>/dev/null)
  quiet_steal=$(python3 -c "print('%.2f' % (($(steal_ticks) - $steal_before) / 100 / ($(date +%s.%N) - $started)))")
  signins 8 >/dev/null &
  load=$!
  sleep 1
  steal_before=$(steal_ticks); started=$(date +%s.%N)
  busy=$("$BIN" bench --op token --rate "$TOKEN_RATE" --duration "$DURATION" --json 2>/dev/null)
  busy_steal=$(python3 -c "print('%.2f' % (($(steal_ticks) - $steal_before) / 100 / ($(date +%s.%N) - $started)))")
  wait "$load"
  for run in "alone:$quiet_steal:$quiet" "with sign-ins:$busy_steal:$busy"; do
    label=${run%%:*}; rest=${run#*:}; steal=${rest%%:*}
    record "authsec | signin: wire token at $TOKEN_RATE/s, $label | run$i | $(python3 -c 'import json,sys;d=json.load(sys.stdin);print("rps=%d p50_ms=%.3f p99_ms=%.3f errors=%d" % (d["requests_per_second"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["errors"]))' <<<"${rest#*:}") steal_cores=$steal"
  done
done
stop_server
