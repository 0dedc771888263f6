#!/usr/bin/env bash
# nostr-gateway end to end: tests/interop/gateway_e2e.mjs starts three
# nostr-relay upstreams and the gateway against a real PostgreSQL started
# here in a temp dir on a free port (tests/pg_start.sh); nostr-tools
# publishes and reads. Twice: with the in-process queue, then through a
# real RabbitMQ (tests/rabbitmq_start.sh), on a fresh database each time.
# Usage: test_gateway_e2e.sh BUILD_DIR (ctest runs it from tests/). Fails,
# not skips, without node, the npm peers, PostgreSQL or RabbitMQ.
set -u
build=${1:?usage: $0 BUILD_DIR}
tmp=$(mktemp -d)
# shellcheck source=tests/pg_start.sh
source "$(dirname "$0")/pg_start.sh"
# shellcheck source=tests/rabbitmq_start.sh
source "$(dirname "$0")/rabbitmq_start.sh"
cleanup() {
  rmq_stop
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
if ! command -v node > /dev/null || [ ! -d interop/node_modules/nostr-tools ]; then
  echo "FAIL: node or tests/interop/node_modules missing (npm ci --prefix tests/interop)" >&2
  exit 1
fi
# suite NAME [node flags...]: a fresh database, the pgctl script, the run
suite() {
  local name=$1 rc
  shift
  pg_start || { echo "FAIL: PostgreSQL did not start" >&2; return 1; }
  # for the test's database outage: stop (immediate, like a crash) and start
  # the same cluster on the same port
  {
    echo '#!/usr/bin/env bash'
    echo 'case $1 in'
    printf '  stop) %s %q -D %q -m immediate -w -t 20 stop ;;\n' "${PG_RUN[*]}" "$PG_CTL" "$PG_DIR/data"
    printf '  start) %s %q -D %q -l %q -w -t 60 -o %q start ;;\n' "${PG_RUN[*]}" "$PG_CTL" "$PG_DIR/data" \
      "$PG_DIR/server.log" "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    echo 'esac'
  } > "$tmp/pgctl.sh"
  mkdir -p "$tmp/$name"
  timeout 280 node interop/gateway_e2e.mjs --bin "$build" --tmp "$tmp/$name" --db "$PG_CONNINFO" \
    --pids "$tmp/pids" --pgctl "$tmp/pgctl.sh" "$@" &
  local node_pid=$!
  # the broker's kill and restart are asked for through a FIFO, so that
  # they run in this shell, which owns the broker (rabbitmq_start.sh)
  while kill -0 "$node_pid" 2> /dev/null; do
    local cmd=
    if [ -p "$tmp/rmq.ctl" ] && read -r -t 1 cmd <> "$tmp/rmq.ctl"; then
      case $cmd in
        kill) rmq_kill ;;
        restart) rmq_restart > /dev/null 2>&1 || echo "rmq_restart failed" >&2 ;;
      esac
      echo done > "$tmp/rmq.ack"
    elif [ ! -p "$tmp/rmq.ctl" ]; then
      sleep 0.2
    fi
  done
  wait "$node_pid"
  rc=$?
  pg_stop
  return $rc
}

failed=0
suite in-process || failed=1
if rmq_start; then
  mkfifo "$tmp/rmq.ctl" "$tmp/rmq.ack"
  suite rabbitmq --amqp "$RMQ_URL" --rmqctl "$tmp/rmq.ctl" --rmqack "$tmp/rmq.ack" || failed=1
else
  echo "FAIL: RabbitMQ did not start" >&2
  failed=1
fi
exit $failed
