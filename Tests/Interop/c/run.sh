#!/usr/bin/env bash
# Interop test: a C client built with protobuf-c from proto/authsec/v1/authsec.proto talks to a
# real `authsec serve` over the framed wire protocol.
#
# Usage (from anywhere):  bash Tests/Interop/c/run.sh
# Environment:            AUTHSEC_BIN  server binary (default: .build/debug/authsec in the repo)
#
# Prints one `ok - ...` / `not ok - ...` line per check and ends with `N passed, M failed`;
# exits non-zero when anything failed.
set -u
set -o pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../../.." && pwd)
cd "$REPO_ROOT" || exit 1

AUTHSEC_BIN=${AUTHSEC_BIN:-.build/debug/authsec}
BUILD_DIR=Tests/Interop/build
CLIENT="$BUILD_DIR/token_client"
STARTUP_TIMEOUT=30   # seconds to wait for both "listening" lines
CLIENT_TIMEOUT=30    # seconds for one client / CLI invocation
STOP_TIMEOUT=20      # seconds to wait for the server to exit after SIGTERM

PASSED=0
FAILED=0
SERVER_PID=""
WORK_DIR=""

ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
not_ok() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    shift
    local line
    for line in "$@"; do
        [ -n "$line" ] && printf '%s\n' "$line" | sed 's/^/#   /'
    done
    return 0
}
note() { echo "# $*"; }

summary_and_exit() {
    echo "$PASSED passed, $FAILED failed"
    if [ "$FAILED" -gt 0 ]; then exit 1; fi
    exit 0
}

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    if [ -n "$WORK_DIR" ] && [ -d "$WORK_DIR" ]; then
        rm -rf -- "$WORK_DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --------------------------------------------------------------------------- toolchain

PACKAGES=(protobuf-c-compiler libprotobuf-c-dev gcc pkg-config)
if ! dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
    note "installing ${PACKAGES[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
    if ! timeout 600 "${SUDO[@]}" apt-get update ||
        ! timeout 900 "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${PACKAGES[@]}"; then
        not_ok "install ${PACKAGES[*]}"
        summary_and_exit
    fi
fi

rm -rf "$BUILD_DIR/authsec" "$BUILD_DIR/proto-compat"
mkdir -p "$BUILD_DIR" || exit 1
PROTOS=(authsec/v1/authsec.proto authsec/v1/client.proto authsec/v1/activity.proto)
if ! out=$(timeout 120 protoc-c --c_out="$BUILD_DIR" -I proto "${PROTOS[@]/#/proto/}" 2>&1); then
    if [[ $out == *"support optional fields in proto3"* ]]; then
        # protobuf-c before 1.5.0 (Debian 12 ships 1.4.1) refuses proto3 `optional`. Dropping the
        # label keeps the wire format (same field numbers and types; only presence tracking goes,
        # and only in client.proto, whose messages this client never decodes), so generate from such a copy.
        note "$(protoc-c --version 2>&1 | head -n 1) lacks proto3 optional; generating from a copy without the label"
        mkdir -p "$BUILD_DIR/proto-compat/authsec/v1" || exit 1
        for file in "${PROTOS[@]}"; do
            sed -E 's/^([[:space:]]+)optional[[:space:]]+/\1/' "proto/$file" >"$BUILD_DIR/proto-compat/$file" || exit 1
        done
        if ! out=$(timeout 120 protoc-c --c_out="$BUILD_DIR" -I "$BUILD_DIR/proto-compat" \
            "${PROTOS[@]/#/$BUILD_DIR/proto-compat/}" 2>&1); then
            not_ok "protoc-c generates C code from proto/authsec/v1/authsec.proto (optional labels dropped)" "$out"
            summary_and_exit
        fi
    else
        not_ok "protoc-c generates C code from proto/authsec/v1/authsec.proto" "$out"
        summary_and_exit
    fi
fi
# shellcheck disable=SC2046  # pkg-config output must split into words
if ! out=$(timeout 300 gcc -std=c11 -Wall -Wextra -Werror -I "$BUILD_DIR" \
    -o "$CLIENT" "$SCRIPT_DIR/token_client.c" "$BUILD_DIR/authsec/v1/authsec.pb-c.c" \
    "$BUILD_DIR/authsec/v1/client.pb-c.c" "$BUILD_DIR/authsec/v1/activity.pb-c.c" \
    $(pkg-config --cflags --libs libprotobuf-c) 2>&1); then
    not_ok "token_client compiles with -Wall -Wextra -Werror" "$out"
    summary_and_exit
fi

# --------------------------------------------------------------------------- server

if [ ! -x "$AUTHSEC_BIN" ]; then
    not_ok "server binary $AUTHSEC_BIN exists (build it or set AUTHSEC_BIN)"
    summary_and_exit
fi

WORK_DIR=$(mktemp -d) || exit 1
SERVER_OUT="$WORK_DIR/server.out"
SERVER_ERR="$WORK_DIR/server.err"
# Create the files first: the loop below may read before the forked server has opened them.
: >"$SERVER_OUT" && : >"$SERVER_ERR" || exit 1
"$AUTHSEC_BIN" serve --data "$WORK_DIR/data" --http 127.0.0.1:0 --wire 127.0.0.1:0 \
    >"$SERVER_OUT" 2>"$SERVER_ERR" </dev/null &
SERVER_PID=$!

ADMIN_ID=""
ADMIN_SECRET=""
HTTP_PORT=""
WIRE_PORT=""
deadline=$((SECONDS + STARTUP_TIMEOUT))
lines_seen=0
while :; do
    # Read only the complete lines the server has written since the last pass.
    all_lines=()
    mapfile -t all_lines <"$SERVER_OUT" || exit 1
    # A last line without its newline is still being written: leave it for the next pass.
    if [ "${#all_lines[@]}" -gt 0 ] && [ -n "$(tail -c 1 "$SERVER_OUT")" ]; then
        unset 'all_lines[${#all_lines[@]}-1]'
    fi
    while [ "$lines_seen" -lt "${#all_lines[@]}" ]; do
        line=${all_lines[$lines_seen]}
        lines_seen=$((lines_seen + 1))
        if [[ $line =~ ^\ \ client_id:\ +([^[:space:]]+)$ ]]; then
            ADMIN_ID=${BASH_REMATCH[1]}
        elif [[ $line =~ ^\ \ client_secret:\ +([^[:space:]]+)$ ]]; then
            ADMIN_SECRET=${BASH_REMATCH[1]}
        elif [[ $line =~ ^http\ listening\ on\ http://127\.0\.0\.1:([0-9]+)( |$) ]]; then
            HTTP_PORT=${BASH_REMATCH[1]}
        elif [[ $line =~ ^wire\ listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
            WIRE_PORT=${BASH_REMATCH[1]}
        fi
    done
    if [ -n "$HTTP_PORT" ] && [ -n "$WIRE_PORT" ]; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        wait "$SERVER_PID"
        rc=$?
        SERVER_PID=""
        not_ok "server starts (it exited with status $rc)" "$(cat "$SERVER_OUT" "$SERVER_ERR")"
        summary_and_exit
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        not_ok "server prints both listening lines within ${STARTUP_TIMEOUT}s" "$(cat "$SERVER_OUT" "$SERVER_ERR")"
        summary_and_exit
    fi
    sleep 0.1
done
if [ -z "$ADMIN_ID" ] || [ -z "$ADMIN_SECRET" ]; then
    not_ok "server prints the admin credentials before listening" "$(cat "$SERVER_OUT")"
    summary_and_exit
fi
note "server pid $SERVER_PID, http port $HTTP_PORT, wire port $WIRE_PORT, admin $ADMIN_ID"

# run_client ARGS...: runs the C client; sets CLIENT_OUT, CLIENT_ERR and CLIENT_RC.
run_client() {
    local err_file="$WORK_DIR/client.err"
    CLIENT_OUT=$(timeout "$CLIENT_TIMEOUT" "$CLIENT" "$@" 2>"$err_file")
    CLIENT_RC=$?
    CLIENT_ERR=$(cat "$err_file")
}
# field NAME: the value of NAME=... in CLIENT_OUT (values hold no spaces except the last, scope).
field() {
    local rest
    if [[ " $CLIENT_OUT" =~ \ $1=([^ ]*) ]]; then
        if [ "$1" = scope ]; then
            rest=${CLIENT_OUT#*scope=}
            printf '%s' "$rest"
        else
            printf '%s' "${BASH_REMATCH[1]}"
        fi
    fi
}
client_diag() { printf 'exit %s\nstdout: %s\nstderr: %s' "$CLIENT_RC" "$CLIENT_OUT" "$CLIENT_ERR"; }

# --------------------------------------------------------------------------- checks

# 1. client_credentials with the admin client's secret.
run_client 127.0.0.1 "$WIRE_PORT" "$ADMIN_ID" "$ADMIN_SECRET"
TOKEN=$(field token)
if [ "$CLIENT_RC" -eq 0 ] && [ "$(field status)" = 0 ] &&
    [[ $TOKEN =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; then
    ok "C client gets a token (status=0, three dot-separated parts; expires_in=$(field expires_in), scope=$(field scope))"
else
    not_ok "C client gets a token (status=0, three dot-separated parts)" "$(client_diag)"
    TOKEN=""
fi

# 2. The token is active according to the server's own CLI.
if [ -n "$TOKEN" ]; then
    out=$(AUTHSEC_ADDRESS="127.0.0.1:$WIRE_PORT" AUTHSEC_CLIENT_ID="$ADMIN_ID" AUTHSEC_CLIENT_SECRET="$ADMIN_SECRET" \
        timeout "$CLIENT_TIMEOUT" "$AUTHSEC_BIN" introspect "$TOKEN" --json 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] && [[ $out =~ \"active\"[[:space:]]*:[[:space:]]*true ]]; then
        ok "authsec introspect --json reports the C client's token \"active\" : true"
    else
        not_ok "authsec introspect --json reports the C client's token \"active\" : true" "exit $rc" "$out"
    fi
else
    not_ok "authsec introspect --json reports the C client's token \"active\" : true" "skipped: no token"
fi

# 3. Wrong secret.
run_client 127.0.0.1 "$WIRE_PORT" "$ADMIN_ID" "wrong-$ADMIN_SECRET"
if [ "$CLIENT_RC" -eq 2 ] && [ "$(field status)" = 16 ] && [ "$(field error)" = invalid_client ] &&
    [ -z "$(field token)" ]; then
    ok "wrong secret: status=16 (UNAUTHENTICATED) error=invalid_client, no token"
else
    not_ok "wrong secret: status=16 (UNAUTHENTICATED) error=invalid_client, no token" "$(client_diag)"
fi

# 4. Unknown scope.
run_client 127.0.0.1 "$WIRE_PORT" "$ADMIN_ID" "$ADMIN_SECRET" "nope:missing"
if [ "$CLIENT_RC" -eq 2 ] && [ "$(field status)" = 3 ] && [ "$(field error)" = invalid_scope ] &&
    [ -z "$(field token)" ]; then
    ok "scope nope:missing: status=3 (INVALID_ARGUMENT) error=invalid_scope, no token"
else
    not_ok "scope nope:missing: status=3 (INVALID_ARGUMENT) error=invalid_scope, no token" "$(client_diag)"
fi

# 5. A frame that is not protobuf: INVALID_ARGUMENT, answered with id 0.
run_client --garbage 127.0.0.1 "$WIRE_PORT"
if [ "$CLIENT_RC" -eq 2 ] && [ "$(field status)" = 3 ] && [ "$(field id)" = 0 ]; then
    ok "garbage frame: status=3 (INVALID_ARGUMENT) with id 0"
else
    not_ok "garbage frame: status=3 (INVALID_ARGUMENT) with id 0" "$(client_diag)"
fi

# 6. A Request whose call is an unknown oneof field (99): UNIMPLEMENTED, id echoed.
run_client --unknown-call 127.0.0.1 "$WIRE_PORT" "$ADMIN_ID" "$ADMIN_SECRET"
if [ "$CLIENT_RC" -eq 2 ] && [ "$(field status)" = 12 ] && [ "$(field id)" = 7 ]; then
    ok "unknown call field 99: status=12 (UNIMPLEMENTED) with id 7"
else
    not_ok "unknown call field 99: status=12 (UNIMPLEMENTED) with id 7" "$(client_diag)"
fi

# --------------------------------------------------------------------------- shutdown

kill -TERM "$SERVER_PID" 2>/dev/null
deadline=$((SECONDS + STOP_TIMEOUT))
while kill -0 "$SERVER_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.1
done
if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
    not_ok "server exits within ${STOP_TIMEOUT}s of SIGTERM (had to SIGKILL it)" "$(cat "$SERVER_ERR")"
else
    wait "$SERVER_PID"
    rc=$?
    SERVER_PID=""
    if [ "$rc" -eq 0 ]; then
        ok "server exits 0 on SIGTERM"
    else
        not_ok "server exits 0 on SIGTERM (exit status $rc)" "$(cat "$SERVER_OUT" "$SERVER_ERR")"
    fi
fi

summary_and_exit
