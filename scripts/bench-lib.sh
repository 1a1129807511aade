# Shared by scripts/bench.sh and scripts/bench-scale.sh: settings, the server's life, and how
# each load is run and recorded. Source it from the repository root.
export SWIFT_DETERMINISTIC_HASHING=1
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
PIPELINE="${PIPELINE:-16}"
OUT="${BENCH_OUT:-/tmp/authsec-bench}"
mkdir -p "$OUT"
touch "$OUT/results.txt"

# Once per `make bench`: bench-scale.sh, run from bench.sh, finds everything in place.
if [ -z "${BENCH_READY:-}" ]; then
  bash scripts/install-deps.sh
  command -v wrk >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  swift build -c release --product authsec >/dev/null || exit 1
  export BENCH_READY=1
fi
BIN=.build/release/authsec

SERVER_PID=
start_server() { # start_server [extra serve flags...]; sets HTTP, WIRE, DATA_DIR, SERVER_PID, and
  # ADMIN_ID/ADMIN_SECRET on a new store. DATA_DIR set beforehand reopens that store.
  DATA_DIR=${DATA_DIR:-$(mktemp -d)/data}
  "$BIN" serve --data "$DATA_DIR" --http 127.0.0.1:0 --wire 127.0.0.1:0 "$@" > "$OUT/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 3000); do grep -q "wire listening" "$OUT/serve.log" && break; sleep 0.01; done
  HTTP=$(awk '/http listening on/ {print $4}' "$OUT/serve.log")
  WIRE=$(awk '/wire listening on/ {print $4}' "$OUT/serve.log")
  if grep -q "client_id:" "$OUT/serve.log"; then
    ADMIN_ID=$(awk '/client_id:/ {print $2}' "$OUT/serve.log")
    ADMIN_SECRET=$(awk '/client_secret:/ {print $2}' "$OUT/serve.log")
  fi
  export AUTHSEC_ADDRESS=$WIRE AUTHSEC_CLIENT_ID=$ADMIN_ID AUTHSEC_CLIENT_SECRET=$ADMIN_SECRET
}
stop_server() { # stop_server: ends the server; the next start_server makes a new store
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
  DATA_DIR=
}
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
      record "authsec | $name | run$((i + ${RUN_OFFSET:-0})) | FAILED $(tail -1 "$OUT/bench.err")"; continue; }
    # Cores taken by the hypervisor, averaged over the whole command (setup included).
    local stolen; stolen=$(python3 -c "print('%.2f' % (($(steal_ticks) - $steal_before) / 100 / ($(date +%s.%N) - $started)))")
    record "authsec | $name | run$((i + ${RUN_OFFSET:-0})) | $(python3 -c 'import json,sys;d=json.load(sys.stdin);print("rps=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%d" % (d["requests_per_second"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["latency_ms"]["p99.9"], d["errors"]))' <<<"$json") steal_cores=$stolen"
  done
}

http_bench() { # http_bench NAME PATH BODY AUTH; WRK_HEADER="Name: value" adds a request header
  local name=$1 path=$2
  local extra=()
  [ -n "${WRK_HEADER:-}" ] && extra=(-H "$WRK_HEADER")
  for i in $(seq 1 "$RUNS"); do
    local line
    line=$(WRK_BODY=$3 WRK_AUTH=$4 wrk -t2 -c64 -d"$DURATION" "${extra[@]}" -s Benchmarks/wrk/form_post.lua "$HTTP$path" | grep '^RESULT')
    record "authsec | $name | run$((i + ${RUN_OFFSET:-0})) | ${line#RESULT }"
  done
}

# new_http_client: a dedicated client for wrk; sets BASIC, CID, CSECRET.
new_http_client() {
  local json; json=$("$BIN" clients create --name wrk-bench --type ai_agent --json)
  CID=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["client_id"])' <<<"$json")
  CSECRET=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["client_secret"])' <<<"$json")
  BASIC="Basic $(printf '%s:%s' "$CID" "$CSECRET" | base64 -w0)"
}
