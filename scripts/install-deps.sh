#!/usr/bin/env bash
# Install what building and testing Distrise needs, skipping what is there.
# Debian/Ubuntu: apt-get (as root, or through sudo). Node peers: npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config python3 clang libclang-rt-14-dev llvm valgrind
      libsecp256k1-dev libmbedtls-dev libpq-dev librabbitmq-dev openssl curl postgresql rabbitmq-server prometheus
      python3-yaml chromium fonts-dejavu-core
      nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node may come from elsewhere than Debian (a newer build already on PATH)
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Third-party peers for the interop tests, pinned by tests/interop/package-lock.json.
if [ ! -f tests/interop/node_modules/.package-lock.json ] ||
   [ tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]; then
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi
