#!/usr/bin/env bash
# Authsec fuzz suite: attacks the HTTP and wire doors and the CLI's client files from outside.
#
#   bash Tests/Fuzz/run.sh                        # FUZZ_ITERATIONS generated inputs (default 1000)
#   FUZZ_SECONDS=600 bash Tests/Fuzz/run.sh       # time-bounded (make fuzz)
#   bash Tests/Fuzz/run.sh --replay Tests/Fuzz/corpus/wire-half-close.bin
#
# AUTHSEC_BIN: the authsec binary (default .build/debug/authsec, relative to the repository
# root); it is not built here. FUZZ_SEED, FUZZ_MAX_RSS_MIB: see Tests/Fuzz/README.md.
# The virtualenv lives in Tests/Fuzz/.venv. Exit status: 0 when every input passed, 1 on a
# failure, 2 when the harness itself could not run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"

bin="${AUTHSEC_BIN:-.build/debug/authsec}"
case "$bin" in
  /*) ;;
  *) bin="$root/$bin" ;;
esac
# The binary may be relinked by a build running alongside: give it a moment to come back.
for _ in $(seq 60); do
  [ -x "$bin" ] && break
  sleep 2
done
if [ ! -x "$bin" ]; then
  echo "run.sh: authsec binary not found at $bin (build it with 'swift build', or set AUTHSEC_BIN)" >&2
  exit 2
fi
export AUTHSEC_BIN="$bin"

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "$@"
}

command -v protoc >/dev/null 2>&1 || apt_install protobuf-compiler
python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv"; then
    # Debian's python3 has the venv module but not ensurepip without python3-venv.
    rm -rf "$venv"
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# The wire module is generated from proto/ with protoc into a temporary directory.
proto_out="$(mktemp -d -t authsec-fuzz-proto.XXXXXX)"
trap 'rm -rf "$proto_out"' EXIT
protoc --proto_path="$root/proto" --python_out="$proto_out" authsec/v1/authsec.proto authsec/v1/client.proto authsec/v1/activity.proto
export FUZZ_PROTO_OUT="$proto_out"

export PYTHONDONTWRITEBYTECODE=1
cd "$root"
set +e
"$venv/bin/python" "$here/fuzz.py" "$@"
rc=$?
set -e
exit "$rc"
