#!/usr/bin/env bash
# deploy/prometheus.yml and deploy/alerts.yml against a real Prometheus
# (Debian's /usr/bin/prometheus): a nostr-relay to scrape, a second
# nostr-relay as the gateway's upstream (one event published to it with
# nostr-publish), a nostr-gateway on a throwaway PostgreSQL
# (tests/pg_start.sh), then Prometheus with a copy of deploy/prometheus.yml
# whose targets point at those programs and whose intervals are 1 s. Passes
# when Prometheus's HTTP API has both targets up, the gateway's per-relay
# series for the upstream (connected, the event counted) and the three alert
# rules of deploy/alerts.yml loaded.
# Usage: test_prometheus.sh BUILD_DIR (ctest runs it from tests/). Fails,
# not skips, without prometheus, python3 or PostgreSQL. Under a minute.
set -u
build=${1:?usage: $0 BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
deploy=$here/../deploy
tmp=$(mktemp -d)
pids=()
# shellcheck source=tests/pg_start.sh
source "$here/pg_start.sh"

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local p _
  for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null; done
  for _ in $(seq 50); do # at most 5 s, then SIGKILL
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2> /dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null; done
  pg_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$tmp"/*.log; do
    [ -f "$f" ] || continue
    echo "--- $(basename "$f") (tail)" >&2
    tail -n 15 "$f" >&2
  done
  exit 1
}

prometheus=/usr/bin/prometheus
[ -x "$prometheus" ] || prometheus=$(command -v prometheus) ||
  fail "prometheus missing (apt-get install prometheus; scripts/install-deps.sh)"
command -v python3 > /dev/null || fail "python3 missing"
for p in nostr-relay nostr-gateway nostr-publish; do
  [ -x "$build/$p" ] || fail "missing $build/$p"
done
for f in prometheus.yml alerts.yml; do
  [ -f "$deploy/$f" ] || fail "missing deploy/$f"
done

# start_relay NAME: a nostr-relay on a free port, no rate limits; its URL in
# the variable url_NAME once its start line is there
start_relay() {
  local name=$1
  mkdir -p "$tmp/$name"
  printf 'events_per_s = -1\nip_events_per_s = -1\nreqs_per_s = -1\n' > "$tmp/$name.conf"
  "$build/nostr-relay" --port 0 --data "$tmp/$name" --threads 1 --config "$tmp/$name.conf" \
    > /dev/null 2> "$tmp/$name.log" &
  pids+=($!)
}
# start_url LOG: waits (at most 15 s) for "listening on ws://H:P/" in LOG
start_url() {
  local log=$1 _ u
  for _ in $(seq 150); do
    u=$(grep -o -m 1 'listening on ws://[0-9.]*:[0-9]*/' "$log" 2> /dev/null | sed 's/^listening on //')
    [ -n "$u" ] && { echo "$u"; return 0; }
    sleep 0.1
  done
  return 1
}
hostport() { # ws://127.0.0.1:P/ -> 127.0.0.1:P
  local u=${1#ws://}
  echo "${u%/}"
}

pg_start || fail "PostgreSQL did not start"

start_relay relay
start_relay upstream
relay_url=$(start_url "$tmp/relay.log") || fail "nostr-relay (scraped) did not start"
up_url=$(start_url "$tmp/upstream.log") || fail "nostr-relay (upstream) did not start"

# one event on the upstream, for the gateway to fetch (backfill: last hour)
timeout 20 "$build/nostr-publish" --relay "$up_url" \
  --sec 0101010101010101010101010101010101010101010101010101010101010101 \
  "prometheus test" > "$tmp/publish.log" 2>&1 || fail "nostr-publish to the upstream failed"

"$build/nostr-gateway" --port 0 --db "$PG_CONNINFO" --relay "$up_url" --threads 1 \
  > /dev/null 2> "$tmp/gateway.log" &
pids+=($!)
gw_url=$(start_url "$tmp/gateway.log") || fail "nostr-gateway did not start"

# the test copy of the configuration: local targets, 1 s intervals
mkdir -p "$tmp/prom"
cp "$deploy/alerts.yml" "$tmp/prom/alerts.yml"
sed -e "s/\"relay:7777\"/\"$(hostport "$relay_url")\"/" \
  -e "s/\"gateway:7778\"/\"$(hostport "$gw_url")\"/" \
  -e 's/^\(  *scrape_interval:\) 15s/\1 1s/' \
  -e 's/^\(  *evaluation_interval:\) 15s/\1 1s/' \
  "$deploy/prometheus.yml" > "$tmp/prom/prometheus.yml"
if ! grep -q "$(hostport "$relay_url")" "$tmp/prom/prometheus.yml" ||
  ! grep -q "$(hostport "$gw_url")" "$tmp/prom/prometheus.yml" ||
  ! grep -q 'scrape_interval: 1s' "$tmp/prom/prometheus.yml"; then
  fail "could not rewrite the targets of deploy/prometheus.yml (expected relay:7777, gateway:7778, scrape_interval: 15s)"
fi

prom_port=$(pg__free_port)
[ -n "$prom_port" ] || fail "no free port"
prom="http://127.0.0.1:$prom_port"
"$prometheus" --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn > "$tmp/prometheus.log" 2>&1 &
prom_pid=$!
pids+=("$prom_pid")

# api PATH CHECK: asks Prometheus's HTTP API; CHECK is a Python expression on
# the decoded answer `d`; exit 0 when it holds
api() {
  python3 - "$prom" "$1" "$2" << 'EOF'
import json, sys, urllib.request
base, path, check = sys.argv[1:4]
try:
    with urllib.request.urlopen(base + path, timeout=3) as r:
        d = json.load(r)
except Exception:
    sys.exit(1)
sys.exit(0 if d.get("status") == "success" and eval(check) else 1)
EOF
}
# query EXPR: path of an instant query for EXPR
query() { echo "/api/v1/query?query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")"; }

upstream_series="nostr_gateway_upstream_events_received_total{relay=\"$up_url\"}"
checks=(
  "up{job=\"nostr-relay\"} == 1"
  "up{job=\"nostr-gateway\"} == 1"
  "nostr_relay_events_received_total{job=\"nostr-relay\"}"
  "nostr_gateway_upstream_up{relay=\"$up_url\"} == 1"
  "$upstream_series >= 1"
)
alerts='{"NostrUpstreamSilent", "NostrGatewayQueueGrowing", "NostrUpstreamInvalidEvents"}'
# loaded and evaluated without error (health "ok")
rules_check="$alerts <= {r['name'] for g in d['data']['groups'] for r in g['rules'] if r['health'] == 'ok'}"

deadline=$((SECONDS + 30))
pending=("${checks[@]}")
rules_ok=0
while :; do
  kill -0 "$prom_pid" 2> /dev/null || fail "prometheus exited"
  left=()
  for c in "${pending[@]}"; do
    api "$(query "$c")" 'len(d["data"]["result"]) == 1' || left+=("$c")
  done
  pending=("${left[@]}")
  [ $rules_ok = 1 ] || { api "/api/v1/rules?type=alert" "$rules_check" && rules_ok=1; }
  [ ${#pending[@]} = 0 ] && [ $rules_ok = 1 ] && break
  if [ $SECONDS -ge $deadline ]; then
    for c in "${pending[@]}"; do echo "not found in Prometheus within 30 s: $c" >&2; done
    [ $rules_ok = 1 ] || echo "the alert rules $alerts not loaded or not evaluated (/api/v1/rules)" >&2
    api "/api/v1/targets" 'print(json.dumps([(t["labels"], t["health"], t["lastError"]) for t in d["data"]["activeTargets"]])) or True' >&2
    fail "Prometheus did not see everything"
  fi
  sleep 0.5
done
echo "ok: Prometheus scraped nostr-relay and nostr-gateway ($upstream_series) and loaded the 3 alert rules"
exit 0
