#!/usr/bin/env bash
# The gateway benchmarks end to end (docs/benchmarks.md, "Gateway"):
#
# 1. ingest: three nostr-relay upstreams preloaded with the generated
#    events (bench_relay_load; a tenth of them on two relays, so dedup and
#    provenance work), then nostr-gateway started on a fresh PostgreSQL
#    with the three as upstreams; events/s from the first stored item to
#    the last = rows in `events` / that time, and items/s (events plus
#    provenance records). Once with the in-process queue, once through
#    RabbitMQ (a throwaway broker, tests/rabbitmq_start.sh).
# 2. reads: a fresh PostgreSQL filled with N synthetic events
#    (bench/gateway_fill.sql), nostr-gateway over it, bench_gateway_reads
#    for GET /api/events p50/p99 per filter shape.
#
#   bash bench/run_gateway_bench.sh [--events N] [--read-events N] [--only ingest|reads]
#                                   [--no-amqp] [--no-build] [--build-dir DIR]
#
# Outputs and logs stay in a temp dir whose path is printed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build/release
EVENTS=30000
READ_EVENTS=1000000
ONLY=
AMQP=1
BUILD_IT=1
while [ $# -gt 0 ]; do
  case $1 in
    --events) EVENTS=$2; shift 2 ;;
    --read-events) READ_EVENTS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --no-amqp) AMQP=0; shift ;;
    --no-build) BUILD_IT=0; shift ;;
    --build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
    *) echo "usage: $0 [--events N] [--read-events N] [--only ingest|reads] [--no-amqp] [--no-build] [--build-dir DIR]" >&2; exit 2 ;;
  esac
done
TARGETS=(nostr-relay nostr-gateway bench_relay_load bench_gateway_reads)
if [ "$BUILD_IT" = 1 ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build "$BUILD" -j2 --target "${TARGETS[@]}" > "$BUILD/gwbench-build.log" 2>&1 ||
    { tail -n 30 "$BUILD/gwbench-build.log" >&2; exit 1; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/distrise-gwbench.XXXXXX")
echo "# outputs in $WORK"
PIDS=()
# shellcheck source=tests/pg_start.sh
source "$ROOT/tests/pg_start.sh"
# shellcheck source=tests/rabbitmq_start.sh
source "$ROOT/tests/rabbitmq_start.sh"
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2> /dev/null || true; done
  pg_stop
  rmq_stop
  rm -rf "$WORK"/r? "$WORK"/*.jsonl
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  for _ in $(seq 1 200); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0; sleep 0.05; done
  return 1
}
psql_n() { psql "$PG_CONNINFO" -Atqc "$1"; }
stats() { curl -s "http://127.0.0.1:$1/api/stats"; }

printf 'events_per_s = -1\nreqs_per_s = -1\nip_events_per_s = -1\nmax_conns_per_ip = 5000\n' > "$WORK/relay.conf"

# Three upstreams with overlapping slices of the generated events.
preload() {
  "$BUILD/bench_relay_load" --url "ws://127.0.0.1:1/" --events "$EVENTS" --mode idle --idle 1 --timeout 1 \
    > /dev/null 2>&1 || true # generates (and caches) the events file
  local src=/tmp/distrise-bench/events-$EVENTS.jsonl
  [ -f "$src" ] || { echo "no events file $src" >&2; exit 1; }
  python3 - "$src" "$WORK" << 'EOF'
import sys
src, work = sys.argv[1], sys.argv[2]
lines = open(src).read().splitlines()
outs = [open(f"{work}/r{k}.jsonl", "w") for k in range(3)]
for i, l in enumerate(lines):
    outs[i % 3].write(l + "\n")
    if i % 10 == 0:
        outs[(i + 1) % 3].write(l + "\n")  # a tenth on two relays
EOF
  RELAY_URLS=()
  for k in 0 1 2; do
    local port
    port=$(free_port)
    mkdir -p "$WORK/r$k"
    "$BUILD/nostr-relay" --port "$port" --data "$WORK/r$k" --config "$WORK/relay.conf" 2> "$WORK/relay$k.log" &
    PIDS+=($!)
    wait_port "$port"
    "$BUILD/bench_relay_load" --url "ws://127.0.0.1:$port/" --events "$WORK/r$k.jsonl" --mode ingest --rounds 1 \
      --fanout-events 1 > "$WORK/preload$k.txt" 2>&1
    RELAY_URLS+=("ws://127.0.0.1:$port/")
  done
}

# ingest NAME [gateway flags]: prints the rates
ingest() {
  local name=$1 port gw t0= t1= last=-1 same=0 rows items
  shift
  pg_start > /dev/null || { echo "PostgreSQL did not start" >&2; exit 1; }
  port=$(free_port)
  local args=(--port "$port" --db "$PG_CONNINFO" --backfill 0)
  for u in "${RELAY_URLS[@]}"; do args+=(--relay "$u"); done
  "$BUILD/nostr-gateway" "${args[@]}" "$@" 2> "$WORK/gateway-$name.log" &
  gw=$!
  PIDS+=("$gw")
  wait_port "$port"
  # sample stored items every 100 ms until nothing moved for 3 s
  while :; do
    local now st
    now=$(date +%s.%N)
    st=$(stats "$port" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["stored"], d["submitted"], d["received"])')
    read -r stored submitted received <<< "$st"
    if [ "$stored" -gt 0 ] && [ -z "$t0" ]; then t0=$now; fi
    if [ "$stored" != "$last" ]; then last=$stored; same=0; t1=$now; else same=$((same + 1)); fi
    if [ "$same" -ge 30 ] && [ "$stored" -gt 0 ] && [ "$stored" = "$submitted" ]; then break; fi
    if [ "$same" -ge 300 ]; then echo "ingest $name: stalled at $stored stored" >&2; break; fi
    sleep 0.1
  done
  rows=$(psql_n "SELECT count(*) FROM events")
  items=$(psql_n "SELECT count(*) FROM event_relays")
  python3 -c "
t=$t1-$t0
print('%-12s %8d events  %8d provenance rows  %6.2f s  %8.0f events/s  %8.0f items/s  (%d received)' % ('$name', $rows, $items, t, $rows/t, $stored/t, $received))"
  kill -TERM "$gw"
  wait "$gw" || echo "ingest $name: gateway exit $?" >&2
  pg_stop
}

if [ "$ONLY" != reads ]; then
  preload
  echo "# ingest: $EVENTS generated events over 3 upstreams (a tenth on two), PostgreSQL $(psql --version | awk '{print $3}')"
  ingest in-process
  if [ "$AMQP" = 1 ]; then
    if rmq_start > /dev/null; then # (in a condition: errexit does not reach into it)
      ingest rabbitmq --amqp "$RMQ_URL"
      rmq_stop
    else
      echo "rabbitmq: the broker did not start" >&2
    fi
  fi
fi

if [ "$ONLY" != ingest ]; then
  pg_start > /dev/null
  port=$(free_port)
  "$BUILD/nostr-gateway" --port "$port" --db "$PG_CONNINFO" 2> "$WORK/gateway-reads.log" &
  gw=$!
  PIDS+=("$gw")
  wait_port "$port" # the schema exists now
  t=$(date +%s)
  psql "$PG_CONNINFO" -q -v n="$READ_EVENTS" -f "$ROOT/bench/gateway_fill.sql"
  echo "# reads: $READ_EVENTS synthetic events loaded in $(($(date +%s) - t)) s"
  "$BUILD/bench_gateway_reads" --port "$port" --events "$READ_EVENTS"
  kill -TERM "$gw"
  wait "$gw" || true
  pg_stop
fi
