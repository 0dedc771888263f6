#!/usr/bin/env bash
# nostr-gateway's web dashboard in a real browser: tests/interop/dashboard.mjs
# starts nostr-relay upstreams and nostr-gateway against a real PostgreSQL
# started here (tests/pg_start.sh), publishes with nostr-tools and drives
# headless Chromium (Debian's /usr/bin/chromium) through playwright-core.
# Usage: test_dashboard.sh BUILD_DIR (ctest runs it from tests/). Fails, not
# skips, without node, the npm packages, Chromium or PostgreSQL.
# DASHBOARD_SCREENSHOTS=DIR (relative to the repository, e.g. docs/img):
# also write the screenshots of the main views there.
set -u
build=${1:?usage: $0 BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
# shellcheck source=tests/pg_start.sh
source "$here/pg_start.sh"
cleanup() {
  if [ -f "$tmp/pids" ]; then
    while read -r p; do kill -9 "$p" 2> /dev/null; done < "$tmp/pids"
  fi
  pg_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
for p in nostr-relay nostr-gateway; do
  [ -x "$build/$p" ] || { echo "FAIL: missing $build/$p" >&2; exit 1; }
done
if ! command -v node > /dev/null || [ ! -d "$here/interop/node_modules/playwright-core" ] ||
  [ ! -d "$here/interop/node_modules/nostr-tools" ]; then
  echo "FAIL: node or tests/interop/node_modules missing (npm ci --prefix tests/interop)" >&2
  exit 1
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "FAIL: no Chromium at $chromium (apt-get install chromium)" >&2; exit 1; }
shots=()
if [ -n "${DASHBOARD_SCREENSHOTS:-}" ]; then
  mkdir -p "$here/../$DASHBOARD_SCREENSHOTS" || exit 1
  shots=(--shots "$(cd "$here/../$DASHBOARD_SCREENSHOTS" && pwd)")
fi
pg_start || { echo "FAIL: PostgreSQL did not start" >&2; exit 1; }
mkdir -p "$tmp/run"
# Chromium's profile and caches go to the temp dir too
HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config" XDG_CACHE_HOME="$tmp/home/.cache" \
  timeout 280 node "$here/interop/dashboard.mjs" --bin "$build" --tmp "$tmp/run" --db "$PG_CONNINFO" \
  --pids "$tmp/pids" --chromium "$chromium" "${shots[@]}"
