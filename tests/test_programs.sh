#!/usr/bin/env bash
# nostr-publish and nostr-req end to end against tests/interop/relay.mjs
# (npm ws + nostr-tools) on 127.0.0.1: exit codes, outputs, refusals,
# connection failures, NIP-42 AUTH, --live until SIGINT.
# Usage: test_programs.sh BUILD_DIR   (ctest runs it from tests/)
# Needs node and tests/interop/node_modules: fails, not skips, without them.
set -u
build=${1:?usage: $0 BUILD_DIR}
pub=$build/nostr-publish
req=$build/nostr-req
keygen=$build/nostr-keygen
verify=$build/nostr-verify
passed=0
failed=0
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
  wait 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
expect_eq() { if [ "$2" == "$3" ]; then ok; else bad "$1: expected [$2], got [$3]"; fi; }
expect_match() { if [[ "$3" =~ $2 ]]; then ok; else bad "$1: [$3] does not match /$2/"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

for p in "$pub" "$req" "$keygen" "$verify"; do
  if [ ! -x "$p" ]; then bad "missing $p"; finish; fi
done
if ! command -v node > /dev/null || [ ! -d interop/node_modules/ws ]; then
  bad "node or tests/interop/node_modules missing (npm ci --prefix tests/interop)"
  finish
fi

# start_relay NAME [ARGS...]: sets port_NAME
start_relay() {
  local name=$1
  shift
  node interop/relay.mjs --max-seconds 60 "$@" > "$tmp/$name.port" 2> "$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    if grep -q '^PORT ' "$tmp/$name.port" 2> /dev/null; then break; fi
    sleep 0.1
  done
  local p
  p=$(sed -n 's/^PORT //p' "$tmp/$name.port")
  if [ -z "$p" ]; then bad "relay $name did not start: $(cat "$tmp/$name.err")"; finish; fi
  printf -v "port_$name" '%s' "$p"
}

start_relay plain --reject-kind 4444
start_relay auth --auth
R=ws://127.0.0.1:$port_plain
RA=ws://127.0.0.1:$port_auth
SEC=$(printf '%064x' 7)
SEC2=$(printf '%064x' 8)
keys=$("$keygen" --sec "$SEC")
PUB=$(sed -n 's/^pub //p' <<< "$keys")
NPUB=$(sed -n 's/^npub //p' <<< "$keys")
PUB2=$(sed -n 's/^pub //p' <<< "$("$keygen" --sec "$SEC2")")
NSEC2=$(sed -n 's/^nsec //p' <<< "$("$keygen" --sec "$SEC2")")

# run PROG ARGS...: sets out, err, rc (bounded by timeout)
# -k 5: a program stuck past SIGTERM is killed and its check fails, not the
# suite hung (seen once under ASan: LeakSanitizer's scan at exit never ended).
run() { out=$(timeout -k 5 20 "$@" 2> "$tmp/stderr"); rc=$?; err=$(cat "$tmp/stderr"); }

# --- usage
run "$pub" -h
expect_eq "publish -h exit" 0 "$rc"
expect_match "publish -h text" '^usage: nostr-publish' "$out"
run "$req" -h
expect_eq "req -h exit" 0 "$rc"
expect_match "req -h text" '^usage: nostr-req' "$out"
for args in "" "--relay $R" "--relay $R --sec $SEC" "--relay $R --sec nope hi" "--relay $R --sec $SEC --kind x hi" \
  "--relay $R --sec $SEC --kind 70000 hi" "--relay $R --sec $SEC --bogus hi" "--relay $R --sec $SEC a b" \
  "--relay $R --sec $SEC --pow 999 hi" "--relay $R --sec $SEC --tag ,x hi" "--relay http://x --sec $SEC hi" \
  "--relay $R --sec $SEC --timeout 0 hi" "--relay"; do
  # shellcheck disable=SC2086
  run "$pub" $args
  expect_eq "publish usage error [$args]" 2 "$rc"
done
for args in "" "--relay $R --kinds x" "--relay $R --tag tt=1" "--relay $R --ids abc" "--relay $R --authors ${SEC2}0" \
  "--relay $R --live --count" "--relay $R --limit -1" "--relay $R extra" "--relay ftp://x"; do
  # shellcheck disable=SC2086
  run "$req" $args
  expect_eq "req usage error [$args]" 2 "$rc"
done

# --- publish: event JSON on stdout, then the answer
run "$pub" --relay "$R" --sec "$SEC" --tag t,interop --tag e,"$(printf 'a%.0s' {1..64})",wss://r.example,root "hello, relay"
expect_eq "publish exit" 0 "$rc"
mapfile -t lines <<< "$out"
expect_eq "publish: 2 lines" 2 "${#lines[@]}"
ev1=${lines[0]}
expect_match "publish: event json" '^\{"id":"[0-9a-f]{64}","pubkey":"'"$PUB"'",.*"kind":1,.*"content":"hello, relay"' "$ev1"
expect_match "publish: tags" '"tags":\[\["t","interop"\],\["e","a{64}","wss://r.example","root"\]\]' "$ev1"
expect_match "publish: answer" '^OK true' "${lines[1]}"
vout=$(printf '%s\n' "$ev1" | "$verify")
expect_eq "publish: nostr-verify accepts the event" 0 "$?"
ID1=$(sed 's/^{"id":"\([0-9a-f]*\)".*/\1/' <<< "$ev1")
expect_eq "publish: verify line" "ok $ID1" "$(head -n 1 <<< "$vout")"

run "$pub" --relay "$R" --sec "$NSEC2" --kind 30023 --tag d,article --pow 10 "mined"
expect_eq "publish pow exit" 0 "$rc"
ev2=$(head -n 1 <<< "$out")
expect_match "publish pow: id has 10 zero bits (00 + a hex digit < 4)" '^\{"id":"00[0-3]' "$ev2"
expect_match "publish pow: nonce tag" '\["nonce","[0-9]+","10"\]' "$ev2"
expect_match "publish pow: kind" '"kind":30023' "$ev2"

# refused by the relay: exit 1, its message on stderr, the event still printed
run "$pub" --relay "$R" --sec "$SEC" --kind 4444 "refused"
expect_eq "publish refused exit" 1 "$rc"
expect_match "publish refused: stderr" 'blocked: kind 4444 is not accepted here' "$err"
expect_match "publish refused: event printed" '^\{"id":' "$out"

# connection failures
run "$pub" --relay ws://127.0.0.1:1 --sec "$SEC" "nobody there"
expect_eq "publish no relay exit" 1 "$rc"
expect_match "publish no relay: message" 'ws://127.0.0.1:1: .*(refused|connect)' "$err"
run "$pub" --relay ws://no-such-host.invalid --sec "$SEC" --timeout 5000 "x"
expect_eq "publish unknown host exit" 1 "$rc"
expect_match "publish unknown host: message" 'resolve' "$err"

# NIP-42: nostr-publish signs in with its key
run "$pub" --relay "$RA" --sec "$SEC" "behind auth"
expect_eq "publish auth relay exit" 0 "$rc"
expect_match "publish auth relay answer" 'OK true' "$out"

# --- nostr-req
run "$req" --relay "$R" --authors "$NPUB"
expect_eq "req authors npub exit" 0 "$rc"
expect_eq "req authors npub output" "$ev1" "$out"
run "$req" --relay "$R" --kinds 1,30023
expect_eq "req kinds exit" 0 "$rc"
expect_eq "req kinds: 2 events" 2 "$(grep -c '^{' <<< "$out")"
run "$req" --relay "$R" --tag t=interop
expect_eq "req tag" "$ev1" "$out"
run "$req" --relay "$R" --tag d=article --tag d=other --authors "$PUB2"
expect_eq "req tag d + author" "$ev2" "$out"
run "$req" --relay "$R" --ids "$ID1"
expect_eq "req ids" "$ev1" "$out"
run "$req" --relay "$R" --ids "$(tr a-f A-F <<< "$ID1")"
expect_eq "req ids uppercase hex" "$ev1" "$out"
run "$req" --relay "$R" --limit 1
expect_eq "req limit 1" 1 "$(grep -c '^{' <<< "$out")"
run "$req" --relay "$R" --since 4000000000
expect_eq "req since future exit" 0 "$rc"
expect_eq "req since future: nothing" "" "$out"
run "$req" --relay "$R" --count
expect_eq "req count exit" 0 "$rc"
expect_eq "req count" 2 "$out"
run "$req" --relay "$R" --count --kinds 1
expect_eq "req count kinds" 1 "$out"
run "$req" --relay "$R" --authors "$PUB" --until 1
expect_eq "req until past" "" "$out"
run "$req" --relay ws://127.0.0.1:1
expect_eq "req no relay exit" 1 "$rc"
# the auth relay refuses a REQ from a client without a key
run "$req" --relay "$RA"
expect_eq "req auth relay exit" 1 "$rc"
expect_match "req auth relay message" 'auth-required:' "$err"

# --- --live: stored events, then new ones, until SIGINT
timeout -k 5 20 "$req" --relay "$R" --live --authors "$PUB2" > "$tmp/live.out" 2> "$tmp/live.err" &
live_pid=$!
pids+=("$live_pid")
for _ in $(seq 1 50); do [ -s "$tmp/live.out" ] && break; sleep 0.1; done
run "$pub" --relay "$R" --sec "$SEC2" "live one"
expect_eq "live: publish exit" 0 "$rc"
ev3=$(head -n 1 <<< "$out")
for _ in $(seq 1 50); do [ "$(wc -l < "$tmp/live.out")" -ge 2 ] && break; sleep 0.1; done
kill -INT "$live_pid"
wait "$live_pid"
expect_eq "live: exit 0 on SIGINT" 0 $?
expect_eq "live: stored then live" "$(printf '%s\n%s' "$ev2" "$ev3")" "$(cat "$tmp/live.out")"

finish
