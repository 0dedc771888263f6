#!/usr/bin/env bash
# Build and run the example relay: ws://127.0.0.1:7777/ on the built-in store
# in ./nostr-data (the directory you run this from).
#
#   bash scripts/run-relay.sh [nostr-relay arguments...]
#   bash scripts/run-relay.sh --port 8080 --name "my relay"
#   bash scripts/run-relay.sh --db "host=127.0.0.1 user=postgres dbname=nostr"
#
# Every argument goes to nostr-relay (bash scripts/run-relay.sh --help).
# What building needs and is missing is installed first with
# scripts/install-deps.sh (apt-get, as root or through sudo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

have_build_deps() {
  command -v cmake > /dev/null && command -v cc > /dev/null && command -v make > /dev/null &&
    command -v python3 > /dev/null && command -v pkg-config > /dev/null &&
    pkg-config --exists libpq librabbitmq 2> /dev/null &&
    [ -f /usr/include/secp256k1_schnorrsig.h ] && [ -f /usr/include/mbedtls/ssl.h ]
}
if ! have_build_deps; then
  bash "$root/scripts/install-deps.sh"
fi

build=$root/build/release
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release &&
  cmake --build "$build" -j"$(nproc)" --target nostr-relay; } > "$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "run-relay.sh: building nostr-relay failed (full log above)" >&2
  exit 1
fi
rm -f "$log"
trap - EXIT
exec "$build/nostr-relay" "$@"
