#!/usr/bin/env bash
# The relay benchmarks end to end: build release, start nostr-relay on a
# free loopback port with a temp data dir, run a load generator in every
# mode against it (bench_relay_load, or with --loadgen node bench/load.mjs),
# once on the built-in store and once on PostgreSQL (a throwaway cluster,
# tests/pg_start.sh), stop everything, print a table.
#
#   bash bench/run_relay_bench.sh [--events N|FILE] [--rounds R] [--stores builtin,pg]
#                                 [--loadgen c|node] [--threads T] [--inprocess]
#                                 [--no-build] [--build-dir DIR] [-- LOADGEN-FLAGS...]
#
# --events    the load generator's event set (default 100000 generated
#             events, cached in /tmp/distrise-bench; or a JSONL file such
#             as ../shared/data/events-real.jsonl)
# --rounds    rounds per measurement (default 3; medians are printed)
# --stores    which stores (default builtin,pg; pg is skipped with a note
#             when PostgreSQL cannot be started)
# --loadgen   c (default): bench/bench_relay_load.c, epoll in one C thread;
#             node: bench/load.mjs on Node.js with the ws package of
#             tests/interop/node_modules (npm ci there first), the kind of
#             independent Node load generator the issue's strfry numbers
#             came from. Same phases, flags, defaults, event split, REQ mix
#             and metric names, so the table below reads either. It does
#             not sign: for --events N the set is made (or found in
#             /tmp/distrise-bench) first by bench_relay_load --mode idle
#             pointed at port 1, where no relay listens, so that it loads
#             the set and exits without connecting. Bare verify (and the
#             ingest ratios to it) is measured only inside bench_relay_load's
#             ingest phase; with node those rows read n/a.
# --threads   nostr-relay's verify threads (default: its own, one per CPU)
# --inprocess also run bench_relay (in-process ingest and REQ latency with
#             1M events; generating them the first time takes minutes)
# --no-build  use the binaries already in the build dir
# --build-dir where they are (default build/release)
# after --     flags passed on to the load generator (--conns, --subs ...;
#             both take the same ones; load.mjs also --zero-mask)
#
# Each store gets a fresh relay: no event is ever a duplicate. The relay
# runs with rate limits off and max_conns_per_ip 5000 (the load generator
# opens up to 1000 idle connections, 200 subscribers and 8 publishers from
# 127.0.0.1); everything else is nostr-relay's defaults (built-in store
# with fsync on every group commit). The load generator is one thread (C),
# or Node's event loop plus its helper threads (node: its CPU line counts
# them all); the relay has its loop thread and its verify threads; nothing
# is pinned, so they share the machine's cores as the issue's strfry
# measurement did.
# Outputs (load generator output, relay logs) stay in a temp dir whose
# path is printed; the relay's data is removed at exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build/release
EVENTS=100000
ROUNDS=3
STORES=builtin,pg
THREADS=
INPROCESS=0
BUILD_IT=1
LOADGEN=c
EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --events) EVENTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --stores) STORES=$2; shift 2 ;;
    --loadgen) LOADGEN=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --inprocess) INPROCESS=1; shift ;;
    --no-build) BUILD_IT=0; shift ;;
    --build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "usage: $0 [--events N|FILE] [--rounds R] [--stores builtin,pg] [--loadgen c|node] [--threads T] [--inprocess] [--no-build] [--build-dir DIR] [-- LOADGEN-FLAGS]" >&2; exit 2 ;;
  esac
done
case $LOADGEN in
  c) ;;
  node)
    command -v node > /dev/null || { echo "run_relay_bench: --loadgen node needs node (Node.js 18 or later) on PATH" >&2; exit 1; }
    [ -f "$ROOT/tests/interop/node_modules/ws/package.json" ] ||
      { echo "run_relay_bench: --loadgen node needs the ws package: (cd tests/interop && npm ci)" >&2; exit 1; }
    ;;
  *) echo "run_relay_bench: --loadgen is c or node" >&2; exit 2 ;;
esac

if [ "$BUILD_IT" = 1 ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
  TARGETS=(nostr-relay bench_relay_load)
  [ "$INPROCESS" = 1 ] && TARGETS+=(bench_relay)
  cmake --build "$BUILD" -j2 --target "${TARGETS[@]}" > "$BUILD/relaybench-build.log" 2>&1 ||
    { tail -n 30 "$BUILD/relaybench-build.log" >&2; echo "run_relay_bench: build failed" >&2; exit 1; }
fi
for t in nostr-relay bench_relay_load $([ "$INPROCESS" = 1 ] && echo bench_relay); do
  [ -x "$BUILD/$t" ] || { echo "run_relay_bench: $BUILD/$t is missing" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/distrise-relaybench.XXXXXX")
RELAY_PID=
PG_STARTED=0
cleanup() {
  if [ -n "$RELAY_PID" ] && kill -0 "$RELAY_PID" 2> /dev/null; then
    kill -TERM "$RELAY_PID" 2> /dev/null || true
    for _ in $(seq 1 100); do kill -0 "$RELAY_PID" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$RELAY_PID" 2> /dev/null || true
  fi
  RELAY_PID=
  if [ "$PG_STARTED" = 1 ]; then pg_stop; fi
  rm -rf "$WORK/data" "$WORK/data-pg" # the relay's store; the outputs stay
}
trap cleanup EXIT INT TERM

# Enough descriptors for 1000 idle connections plus the rest, in the relay
# (started from this shell) and in the load generator.
ulimit -n "$(ulimit -Hn)" 2> /dev/null || ulimit -n 8192 2> /dev/null || true

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cat > "$WORK/relay.conf" << 'EOF'
# run_relay_bench.sh: no rate limits, room for the load generator's connections
events_per_s = -1
reqs_per_s = -1
ip_events_per_s = -1
max_conns_per_ip = 5000
EOF

# start_relay NAME [nostr-relay flags...]: sets RELAY_PID and RELAY_PORT
start_relay() {
  local name=$1
  shift
  for _ in 1 2 3; do
    RELAY_PORT=$(free_port)
    "$BUILD/nostr-relay" --bind 127.0.0.1 --port "$RELAY_PORT" --config "$WORK/relay.conf" \
      ${THREADS:+--threads "$THREADS"} "$@" 2> "$WORK/relay-$name.log" &
    RELAY_PID=$!
    for _ in $(seq 1 100); do
      if ! kill -0 "$RELAY_PID" 2> /dev/null; then break; fi
      if (exec 3<> "/dev/tcp/127.0.0.1/$RELAY_PORT") 2> /dev/null; then return 0; fi
      sleep 0.1
    done
    kill -TERM "$RELAY_PID" 2> /dev/null || true
    wait "$RELAY_PID" 2> /dev/null || true
    RELAY_PID=
  done
  echo "run_relay_bench: nostr-relay ($name) did not start:" >&2
  tail -n 20 "$WORK/relay-$name.log" >&2
  return 1
}

stop_relay() {
  local rc=0
  [ -n "$RELAY_PID" ] || return 0
  kill -TERM "$RELAY_PID" 2> /dev/null || true
  wait "$RELAY_PID" 2> /dev/null || rc=$?
  [ "$rc" = 0 ] || echo "run_relay_bench: nostr-relay exited with $rc on SIGTERM (log: $WORK)" >&2
  RELAY_PID=
}

LOADGEN_CMD=("$BUILD/bench_relay_load")
[ "$LOADGEN" = node ] && LOADGEN_CMD=(node "$ROOT/bench/load.mjs")

run_load() {
  local name=$1
  echo "== ${LOADGEN_CMD[*]##*/} on the $name store (relay pid $RELAY_PID, ws://127.0.0.1:$RELAY_PORT/)"
  "${LOADGEN_CMD[@]}" --url "ws://127.0.0.1:$RELAY_PORT/" --pid "$RELAY_PID" --events "$EVENTS" \
    --rounds "$ROUNDS" --mode all "${EXTRA[@]}" | tee "$WORK/load-$name.txt"
}

# load.mjs reads the event set but does not sign: have bench_relay_load make
# (or find) /tmp/distrise-bench/events-N.jsonl. Pointed at port 1, where
# nothing listens, it finds no relay PID, skips its idle phase and exits
# after loading the set; --idle 1 in case something does listen there.
if [ "$LOADGEN" = node ] && [[ $EVENTS =~ ^[0-9]+$ ]]; then
  "$BUILD/bench_relay_load" --url ws://127.0.0.1:1/ --events "$EVENTS" --mode idle --idle 1 > /dev/null ||
    { echo "run_relay_bench: bench_relay_load could not make the event set $EVENTS" >&2; exit 1; }
  [ -r "/tmp/distrise-bench/events-$EVENTS.jsonl" ] ||
    { echo "run_relay_bench: /tmp/distrise-bench/events-$EVENTS.jsonl is missing" >&2; exit 1; }
fi

echo "run_relay_bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); load generator $LOADGEN; outputs in $WORK"
RAN=()
IFS=, read -r -a STORE_LIST <<< "$STORES"
for store in "${STORE_LIST[@]}"; do
  case $store in
    builtin)
      start_relay builtin --data "$WORK/data"
      run_load builtin
      stop_relay
      RAN+=(builtin)
      ;;
    pg)
      if [ ! -f "$ROOT/tests/pg_start.sh" ]; then
        echo "run_relay_bench: tests/pg_start.sh is missing; pg skipped" >&2
        continue
      fi
      # shellcheck source=/dev/null
      . "$ROOT/tests/pg_start.sh"
      if ! pg_start; then
        echo "run_relay_bench: PostgreSQL did not start; pg skipped" >&2
        continue
      fi
      start_relay pg --data "$WORK/data-pg" --db "$PG_CONNINFO"
      run_load pg
      stop_relay
      pg_stop
      PG_STARTED=0
      RAN+=(pg)
      ;;
    *) echo "run_relay_bench: unknown store $store" >&2; exit 2 ;;
  esac
done

if [ "$INPROCESS" = 1 ]; then
  echo "== bench_relay (in process)"
  "$BUILD/bench_relay" --rounds "$ROUNDS" | tee "$WORK/inprocess.txt"
fi

# value NAME FILE: the metric's (median) value
value() { awk -v k="$1" '$1 == k { print $2; exit }' "$2" 2> /dev/null; }

row() {
  local label=$1 key=$2 target=$3 s line v
  line=$(printf '| %-34s' "$label")
  for s in "${RAN[@]}"; do
    v=$(value "$key" "$WORK/load-$s.txt")
    # load.mjs has no bare verify measurement (see --loadgen)
    [ -z "$v" ] && [ "$LOADGEN" = node ] && [[ $key == bare_* || $key == ingest_over_bare_* ]] && v="n/a (node)"
    line+=$(printf ' | %12s' "$v")
  done
  printf '%s | %s |\n' "$line" "$target"
}

echo
echo "== summary (medians of $ROUNDS rounds; events: $EVENTS; load generator: $([ "$LOADGEN" = node ] && echo "node bench/load.mjs" || echo bench_relay_load))"
header=$(printf '| %-34s' metric)
sep="|------------------------------------"
for s in "${RAN[@]}"; do header+=$(printf ' | %12s' "$s"); sep+="|--------------"; done
echo "$header | target (issue 4: 2x strfry) |"
echo "$sep|------------------------------|"
row "ingest events/s" ingest_events_per_s ">= 12,000-21,400"
row "ingest OK latency p50 ms" ingest_ok_p50_ms ""
row "ingest OK latency p99 ms" ingest_ok_p99_ms ""
row "bare verify events/s (1 core)" bare_verify_per_s_1core ""
row "ingest / bare verify (1 core)" ingest_over_bare_1core ""
row "ingest / bare verify x2 (2 cores)" ingest_over_bare_2cores "close to 1"
row "bare verify/s, 2 threads at once" bare_verify_per_s_2threads ""
row "ingest / bare verify (2 threads)" ingest_over_bare_2threads "close to 1"
row "REQ/s" req_per_s ">= 4,800-9,500"
row "time to EOSE p50 ms" req_eose_p50_ms ""
row "time to EOSE p99 ms" req_eose_p99_ms "strfry ~55"
row "fan-out deliveries/s" fanout_deliveries_per_s ">= 276,000-464,000"
row "fan-out latency p99 ms" fanout_latency_p99_ms ""
row "idle connection bytes" idle_bytes_per_conn "< 16384"
if [ "$LOADGEN" = node ]; then
  echo "bare verify: not measured with --loadgen node (bench_relay_load times it before each ingest round and cannot run it alone); run --loadgen c for it"
fi
if [ "$INPROCESS" = 1 ]; then
  echo
  echo "in process (bench_relay): $(grep -E '^(ingest_mem_threads_per_s|ingest_disk_threads_per_s|req_p99_ms) ' "$WORK/inprocess.txt" | awk '{printf "%s %s; ", $1, $2}')"
fi
echo "outputs: $WORK"
