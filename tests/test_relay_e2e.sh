#!/usr/bin/env bash
# nostr-relay end to end: its command line, then tests/interop/relay_e2e.mjs
# (nostr-tools and ws as clients) against the program on the built-in
# store, and again on the pgwire store against a real PostgreSQL started
# here in a temp dir on a free port (tests/pg_start.sh).
# Usage: test_relay_e2e.sh BUILD_DIR   (ctest runs it from tests/)
# Needs node, tests/interop/node_modules and PostgreSQL's initdb/pg_ctl:
# fails, not skips, without them.
set -u
build=${1:?usage: $0 BUILD_DIR}
relay=$build/nostr-relay
passed=0
failed=0
tmp=$(mktemp -d)
# shellcheck source=tests/pg_start.sh
source "$(dirname "$0")/pg_start.sh"
cleanup() {
  if [ -f "$tmp/pids" ]; then
    while read -r p; do kill -9 "$p" 2> /dev/null; done < "$tmp/pids"
  fi
  pg_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
expect_eq() { if [ "$2" == "$3" ]; then ok; else bad "$1: expected [$2], got [$3]"; fi; }
expect_match() { if [[ "$3" =~ $2 ]]; then ok; else bad "$1: [$3] does not match /$2/"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if [ ! -x "$relay" ]; then bad "missing $relay"; finish; fi
if ! command -v node > /dev/null || [ ! -d interop/node_modules/nostr-tools ] || [ ! -d interop/node_modules/ws ]; then
  bad "node or tests/interop/node_modules missing (npm ci --prefix tests/interop)"
  finish
fi

# run ARGS...: sets out, err, rc (bounded)
run() { out=$(timeout 10 "$relay" "$@" 2> "$tmp/stderr"); rc=$?; err=$(cat "$tmp/stderr"); }

# --- the command line
run --help
expect_eq "--help exit" 0 "$rc"
expect_match "--help text" '^usage: nostr-relay' "$out"
for flag in --bind --port --data --db --config --name --max-event-bytes --auth --threads --log-format; do
  expect_match "--help lists $flag" "$flag" "$out"
done
for args in "--bogus" "--port" "--port 70000" "--port x" "--max-event-bytes 10" "--threads -1" "--log-format xml" \
  "--db=" "--config $tmp/does-not-exist"; do
  # shellcheck disable=SC2086
  run $args
  expect_eq "usage error exit: $args" 2 "$rc"
  expect_match "usage error message: $args" 'nostr-relay: ' "$err"
done
printf 'name = x\ncolour = blue\n' > "$tmp/bad.conf"
run --config "$tmp/bad.conf"
expect_eq "config unknown key exit" 2 "$rc"
expect_match "config unknown key names the line" 'bad.conf:2: unknown key colour' "$err"
printf 'max_subs = lots\n' > "$tmp/bad2.conf"
run --config "$tmp/bad2.conf"
expect_eq "config bad value exit" 2 "$rc"
expect_match "config bad value message" 'bad.*max_subs' "$err"
printf 'no equals sign\n' > "$tmp/bad3.conf"
run --config "$tmp/bad3.conf"
expect_eq "config bad line exit" 2 "$rc"
touch "$tmp/file"
run --port 0 --data "$tmp/file/sub"
expect_eq "unusable data dir exit" 1 "$rc"
expect_match "unusable data dir message" 'store' "$err"
run --port 0 --bind 203.0.113.1 --data "$tmp/d0"
expect_eq "address not on this machine exit" 1 "$rc"
expect_match "bind error message" 'cannot listen' "$err"

# --- the end-to-end suite, once per store
suite() { # NAME ARGS...
  local name=$1
  shift
  mkdir -p "$tmp/$name"
  if timeout 300 node interop/relay_e2e.mjs --relay "$relay" --tmp "$tmp/$name" --pids "$tmp/pids" "$@" \
    > "$tmp/$name.out" 2> "$tmp/$name.err"; then
    ok
  else
    bad "relay_e2e ($name): exit $?"
  fi
  cat "$tmp/$name.err" >&2
  cat "$tmp/$name.out"
}

suite builtin
if pg_start; then
  ok
  suite pgwire --db "$PG_CONNINFO"
  pg_stop
else
  bad "PostgreSQL did not start"
fi
finish
