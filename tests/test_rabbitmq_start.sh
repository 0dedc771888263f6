#!/usr/bin/env bash
# Self-test of tests/rabbitmq_start.sh: start a broker, use it (rabbitmqctl,
# an AMQP login as guest, a persistent message in a durable queue), crash
# it (rmq_kill), restart it on the same port and data, stop it, and check
# that nothing it started is left (by pid: other tests may run brokers at
# the same time). Usage: test_rabbitmq_start.sh BUILD_DIR (unused; ctest
# runs it from tests/). Fails, not skips, without rabbitmq-server or python3.
set -u
# shellcheck source=tests/rabbitmq_start.sh
source "$(dirname "$0")/rabbitmq_start.sh"
trap rmq_stop EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "[$((SECONDS - t0)) s] $*"; }
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
# pids of the running (not zombie) processes in process group $1
group_pids() { ps -e -o pid=,pgid=,stat= | awk -v g="$1" '$2 == g && $3 !~ /^Z/ { print $1 }'; }
t0=$SECONDS

command -v python3 > /dev/null || fail "python3 missing (needed for the AMQP login check)"

# A missing broker is an error naming the package.
msg=$(RABBITMQ_SBIN=/nonexistent rmq_start 2>&1) && fail "rmq_start without rabbitmq-server succeeded"
[[ $msg == *'"rabbitmq-server"'* ]] || fail "no package name in: $msg"

rmq_start || fail "rmq_start"
step "started: $RMQ_URL node $RMQ_NODE in $RMQ_DIR"
dir=$RMQ_DIR port=$RMQ_PORT
[ -d "$dir" ] || fail "no RMQ_DIR"
[ "$RMQ_URL" = "amqp://guest:guest@127.0.0.1:$port/" ] || fail "RMQ_URL $RMQ_URL"
[[ $RMQ_NODE == *@localhost ]] || fail "RMQ_NODE $RMQ_NODE"
port_open "$port" || fail "port $port closed"
rmq_ping || fail "no AMQP login as guest over 127.0.0.1"
rmq_publish test_durable hello || fail "rmq_publish"
queues=$(rmq_ctl list_queues -q name messages) || fail "rmq_ctl list_queues"
[ "$(awk '$1 == "test_durable" { print $2 }' <<< "$queues")" = 1 ] || fail "the queue does not hold the message: $queues"
# RabbitMQ 3.10 logs a durable queue's definition (mnesia) lazily: flush it,
# or a crash within a second or two of the declaration may lose the queue.
rmq_ctl eval 'ok = mnesia:sync_log().' > /dev/null || fail "mnesia:sync_log"
pids=$(group_pids "$RMQ_PGID")
[ -n "$pids" ] || fail "no processes in the broker's group $RMQ_PGID"
ps -o comm= -p "$(echo $pids | tr ' ' ,)" | grep -qx beam.smp || fail "no beam.smp in the broker's group"
epmd=$RMQ_EPMD_PID watchdog=$RMQ_WATCHDOG_PID
rmq__alive "$epmd" && [ "$(ps -o comm= -p "$epmd")" = epmd ] || fail "epmd $epmd not running"
rmq__alive "$watchdog" || fail "watchdog $watchdog not running"
step "queue and message in; broker pids: $(echo $pids), epmd $epmd, watchdog $watchdog"

rmq_kill
for p in $pids; do rmq__alive "$p" && fail "broker process $p survived rmq_kill"; done
port_open "$port" && fail "port $port still open after rmq_kill"
rmq__alive "$epmd" || fail "rmq_kill stopped epmd"
[ -d "$dir" ] || fail "rmq_kill removed RMQ_DIR"
step "killed"

rmq_restart || fail "rmq_restart"
[ "$RMQ_PORT" = "$port" ] && [ "$RMQ_DIR" = "$dir" ] || fail "restarted elsewhere"
port_open "$port" || fail "port $port closed after rmq_restart"
rmq_ping || fail "no AMQP login after rmq_restart"
[ "$(rmq_ctl list_queues -q name messages durable | awk '$1 == "test_durable" { print $2, $3 }')" = "1 true" ] ||
  fail "the durable queue or its persistent message is lost: $(rmq_ctl list_queues -q name messages durable 2>&1)"
pids="$pids $(group_pids "$RMQ_PGID")"
step "restarted, the queue kept its message; broker pids now: $(group_pids "$RMQ_PGID" | xargs)"

rmq_stop
[ -e "$dir" ] && fail "RMQ_DIR $dir left"
for p in $pids $epmd $watchdog; do rmq__alive "$p" && fail "process $p ($(ps -o comm= -p "$p")) left"; done
port_open "$port" && fail "port $port still open"
rmq_stop || fail "second rmq_stop"
step "stopped, nothing left"
echo PASS
