#!/usr/bin/env bash
# Build and run the example relay on the built-in store (ws://127.0.0.1:7777/).
# Extra arguments go to nostr-relay (see nostr-relay --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
if [ ! -x build/release/nostr-relay ]; then
  echo "nostr-relay is not built yet: the relay is issue 4 (see README, Status)." >&2
  exit 1
fi
exec build/release/nostr-relay "$@"
