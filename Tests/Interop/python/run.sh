#!/usr/bin/env bash
# Python interop test: stock Python OAuth clients (Authlib, PyJWT, requests)
# against a real `authsec serve` on loopback.
#
#   bash Tests/Interop/python/run.sh [extra pytest args]
#
# AUTHSEC_BIN: the authsec binary (default .build/debug/authsec, relative to
# the repository root). The virtualenv lives in Tests/Interop/.venv.
# Exit code is pytest's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$root/Tests/Interop/.venv"

bin="${AUTHSEC_BIN:-.build/debug/authsec}"
case "$bin" in
  /*) ;;
  *) bin="$root/$bin" ;;
esac
if [ ! -x "$bin" ]; then
  echo "run.sh: authsec binary not found at $bin (build it, or set AUTHSEC_BIN)" >&2
  exit 2
fi
export AUTHSEC_BIN="$bin"

install_venv_package() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y python3-venv
}

if ! python3 -m venv --help >/dev/null 2>&1; then
  install_venv_package
fi

if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv"; then
    # Debian's python3 has the venv module but not ensurepip without python3-venv.
    rm -rf "$venv"
    install_venv_package
    python3 -m venv "$venv"
  fi
fi

"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

export PYTHONDONTWRITEBYTECODE=1
cd "$root"
set +e
"$venv/bin/python" -m pytest -p no:cacheprovider -v "$here" "$@"
rc=$?
set -e
exit "$rc"
