#!/usr/bin/env bash
# Installs the Debian packages Authsec builds and tests with, only those missing.
set -euo pipefail
packages=(liblmdb-dev pkg-config protobuf-compiler protobuf-c-compiler libprotobuf-c-dev gcc python3-venv openssl chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
