# RabbitMQ for shell tests: a throwaway broker in a temp directory on free
# loopback ports (the same method as tests/rabbitmq_harness.h for C tests).
# Source it, then:
#
#   rmq_start        start a broker in a new temp dir (RMQ_DIR, under $TMPDIR
#                    or /tmp) with its own epmd, and wait (60 s at most) until
#                    the AMQP port accepts TCP, `rabbitmqctl await_startup`
#                    succeeds and (with python3) an AMQP login as guest works;
#                    sets RMQ_PORT, RMQ_NODE and RMQ_URL
#                    ("amqp://guest:guest@127.0.0.1:PORT/": the trailing "/"
#                    is the default vhost "/" for src/adapters/rabbitmq.c);
#                    returns non-zero (with the broker's log on stderr, and
#                    nothing left behind) on failure
#   rmq_kill         SIGKILL the broker's process group (beam.smp and its
#                    helpers: a crash, no shutdown) and wait until it is gone
#                    and the port closed; data, ports and epmd stay. Note:
#                    RabbitMQ 3.10 writes a durable queue's definition to its
#                    mnesia log lazily, so a queue declared a second or two
#                    before the crash can be lost, with its confirmed
#                    messages; run  rmq_ctl eval 'ok = mnesia:sync_log().'
#                    before rmq_kill when the test needs it to survive
#   rmq_restart      start it again on the same node, ports and data (durable
#                    queues and persistent messages survive); waits like
#                    rmq_start. A running broker is stopped cleanly first.
#   rmq_ctl ARGS...  rabbitmqctl -n RMQ_NODE ARGS... with the broker's
#                    environment (and user); output on stdout/stderr; 60 s max
#   rmq_ping         0 when an AMQP login as guest to vhost "/" works (python3)
#   rmq_publish QUEUE BODY
#                    declare the durable QUEUE and publish BODY to it as a
#                    persistent message, waiting for the publisher confirm
#                    (python3)
#   rmq_stop         kill the broker and its epmd, remove RMQ_DIR; safe to call
#                    twice (put it in the caller's EXIT trap)
#
# Also set: RMQ_PGID (the broker's process group: the rabbitmq-server script,
# beam.smp, erl_child_setup...), RMQ_EPMD_PID, RMQ_WATCHDOG_PID.
#
# The broker is Debian's rabbitmq-server (package "rabbitmq-server"):
# /usr/lib/rabbitmq/bin/rabbitmq-server, the script behind
# /usr/sbin/rabbitmq-server without its su wrapper ($RABBITMQ_SBIN overrides
# the directory). Everything is in RMQ_DIR: HOME (the Erlang cookie),
# mnesia, logs (log/NODE.log, server.out), rabbitmq.conf, an empty
# rabbitmq-env.conf (/etc/rabbitmq is ignored), no plugins. The node
# (distrise<pid>s<n>@localhost) listens on 127.0.0.1 only, with its own
# epmd on a free port (never the system's 4369). The guest user keeps
# RabbitMQ's default loopback_users (guest may log in from 127.0.0.1 only).
# As root, the broker, epmd and rabbitmqctl run as the user "rabbitmq" (or
# "nobody"), which owns RMQ_DIR. The broker and epmd run in sessions of
# their own; a watchdog (also in its own session) kills them and removes
# RMQ_DIR within a second or so when the shell that called rmq_start dies
# without rmq_stop (SIGKILL, ctest timeout). Processes are only ever killed
# by pid or process group.
# One broker per shell; python3 (or node) finds free ports. Works with the
# caller's set -u, and set -e / pipefail.

RMQ__LETTERS=ABCDEFGHIJKLMNOPQRSTUVWXYZ

rmq__now() { printf '%(%s)T' -1; }

# 0 when process $1 exists and is not a zombie. A zombie waiting for a slow
# init to reap it holds no ports or files; but a multi-threaded process
# (beam.smp) dying of SIGKILL shows as a zombie while its other threads are
# still exiting (and its sockets still open), so that counts as alive.
rmq__alive() {
  local s f
  [ -n "${1:-}" ] && [ "$1" -gt 0 ] 2> /dev/null || return 1
  { s=$(< "/proc/$1/stat"); } 2> /dev/null || return 1
  s=${s##*) }
  read -r -a f <<< "$s"
  [ "${f[0]}" != Z ] || [ "${f[17]:-1}" -gt 1 ]
}

# 0 when some process in process group $1 is alive (as rmq__alive).
rmq__group_alive() {
  [ -n "${1:-}" ] && [ "$1" -gt 0 ] 2> /dev/null && kill -0 -- "-$1" 2> /dev/null || return 1
  ps -e -o pgid=,stat=,nlwp= | awk -v g="$1" '$1 == g && ($2 !~ /^Z/ || $3 > 1) { f = 1 } END { exit !f }'
}

rmq__port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# Four distinct free loopback ports (held together while chosen).
rmq__free_ports() {
  python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' 2> /dev/null ||
    node -e '
const net = require("net"), ps = [], ss = [];
for (let i = 0; i < 4; i++) ss.push(net.createServer().listen(0, "127.0.0.1", () => {
  ps.push(ss[i].address().port);
  if (ps.length === 4) { console.log(ps.join(" ")); ss.forEach(s => s.close()); }
}));' 2> /dev/null
}

rmq__find() {
  local d
  if [ -n "${RABBITMQ_SBIN:-}" ]; then
    RMQ__SBIN=$RABBITMQ_SBIN
  else
    RMQ__SBIN=/usr/lib/rabbitmq/bin
    if [ ! -x "$RMQ__SBIN/rabbitmq-server" ]; then
      d=$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin 2> /dev/null | sort -V | tail -n 1)
      [ -n "$d" ] && RMQ__SBIN=$d
    fi
  fi
  [ -x "$RMQ__SBIN/rabbitmq-server" ] && [ -x "$RMQ__SBIN/rabbitmqctl" ] || return 1
  RMQ__EPMD=/usr/bin/epmd
  if [ ! -x "$RMQ__EPMD" ]; then
    RMQ__EPMD=$(ls -d /usr/lib/erlang/erts-*/bin/epmd 2> /dev/null | sort -V | tail -n 1)
    [ -n "$RMQ__EPMD" ] && [ -x "$RMQ__EPMD" ] || return 1
  fi
}

# rmq__spawn OUT PIDFILE CMD...: run CMD (as the broker's user, with its
# environment, in RMQ_DIR) as the leader of a new session, output appended
# to OUT; its pid (= its process group) in RMQ__SPAWNED.
rmq__spawn() {
  local out=$1 pidfile=$2 i
  shift 2
  local what=$1
  rm -f "$pidfile"
  (
    for i in 3 4 5 6 7 8 9; do eval "exec $i>&-"; done
    cd "$RMQ_DIR" || exit 126
    # setsid forks only when already a group leader (job control on); -w
    # keeps this job alive as long as the leader then.
    exec setsid -w sh -c 'f=$1; shift; echo $$ > "$f.tmp" && mv "$f.tmp" "$f" && exec "$@"' sh "$pidfile" \
      ${RMQ__RUN[@]+"${RMQ__RUN[@]}"} env -i "${RMQ__ENV[@]}" "$@"
  ) < /dev/null >> "$out" 2>&1 &
  # Not a job of the caller's: no "Killed" notices; bash still reaps it.
  disown "$!"
  RMQ__SPAWNED=''
  for i in $(seq 1 250); do
    if [ -s "$pidfile" ]; then
      read -r RMQ__SPAWNED < "$pidfile"
      return 0
    fi
    rmq__alive "$!" || break
    sleep 0.02
  done
  echo "rmq_start: could not start $what" >&2
  return 1
}

# What the watchdog kills: "broker_pgid epmd_pid".
rmq__write_pids() {
  { echo "${RMQ_PGID:-0} ${RMQ_EPMD_PID:-0}" > "$RMQ_DIR/pids.tmp" && mv "$RMQ_DIR/pids.tmp" "$RMQ_DIR/pids"; } 2> /dev/null ||
    true
}

rmq__log_tail() {
  local f
  for f in "$RMQ_DIR/server.out" "$RMQ_DIR/log/$RMQ_NODE.log" "$RMQ_DIR/ctl.out"; do
    [ -s "$f" ] || continue
    echo "--- $f (tail) ---" >&2
    tail -n 40 "$f" >&2
  done
}

# SIGKILL the broker's process group and wait (10 s at most) until it is gone.
rmq__kill_group() {
  local i
  [ -n "${RMQ_PGID:-}" ] || return 0
  kill -9 -- "-$RMQ_PGID" 2> /dev/null || true
  for i in $(seq 1 200); do
    rmq__group_alive "$RMQ_PGID" || rmq__port_open "$RMQ_PORT" || break
    sleep 0.05
  done
  RMQ_PGID=''
  rmq__write_pids
}

rmq__amqp() {
  command -v python3 > /dev/null || {
    echo "rmq: python3 is needed for an AMQP client" >&2
    return 2
  }
  [ -n "${RMQ_DIR:-}" ] && [ -n "${RMQ_PORT:-}" ] || {
    echo "rmq: no broker (call rmq_start)" >&2
    return 1
  }
  timeout 30 python3 - "$RMQ_PORT" "$@" << 'EOF'
# A minimal AMQP 0-9-1 client: login as guest to vhost "/", optionally
# declare a durable queue and publish a persistent message with a confirm.
import socket, struct, sys

port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
buf = b""

def recv_exact(n):
    global buf
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            sys.exit("AMQP: the broker closed the connection (login refused?)")
        buf += d
    r, buf = buf[:n], buf[n:]
    return r

def frame(t, ch, payload):
    s.sendall(struct.pack(">BHI", t, ch, len(payload)) + payload + b"\xce")

def method(ch, c, m, args=b""):
    frame(1, ch, struct.pack(">HH", c, m) + args)

def shortstr(x):
    x = x.encode()
    return struct.pack(">B", len(x)) + x

def expect(c, m):
    while True:
        t, ch, size = struct.unpack(">BHI", recv_exact(7))
        p = recv_exact(size + 1)[:-1]
        if t != 1:
            continue
        cm = struct.unpack(">HH", p[:4])
        if cm in ((10, 50), (20, 40)):
            code, n = struct.unpack(">HB", p[4:7])
            sys.exit("AMQP: %s closed: %d %s" % ("connection" if cm[0] == 10 else "channel", code,
                                                p[7:7 + n].decode(errors="replace")))
        if cm == (60, 120):
            sys.exit("AMQP: the broker nacked the message")
        if cm == (c, m):
            return p[4:]

s.sendall(b"AMQP\x00\x00\x09\x01")
expect(10, 10)  # connection.start
method(0, 10, 11, struct.pack(">I", 0) + shortstr("PLAIN") + struct.pack(">I", 12) + b"\0guest\0guest" +
       shortstr("en_US"))
chmax, fmax, _ = struct.unpack(">HIH", expect(10, 30)[:8])  # connection.tune
method(0, 10, 31, struct.pack(">HIH", chmax, fmax or 131072, 0))
method(0, 10, 40, shortstr("/") + shortstr("") + b"\0")
expect(10, 41)  # connection.open-ok: logged in
if mode == "publish":
    q, body = sys.argv[3], sys.argv[4].encode()
    method(1, 20, 10, shortstr(""))
    expect(20, 11)
    method(1, 85, 10, b"\0")  # confirm.select
    expect(85, 11)
    method(1, 50, 10, struct.pack(">H", 0) + shortstr(q) + b"\x02" + struct.pack(">I", 0))  # durable
    expect(50, 11)
    method(1, 60, 40, struct.pack(">H", 0) + shortstr("") + shortstr(q) + b"\0")
    frame(2, 1, struct.pack(">HHQH", 60, 0, len(body), 0x1000) + b"\x02")  # delivery-mode 2
    if body:
        frame(3, 1, body)
    expect(60, 80)  # basic.ack
method(0, 10, 50, struct.pack(">H", 200) + shortstr("") + struct.pack(">HH", 0, 0))
expect(10, 51)
EOF
}

rmq_ping() { rmq__amqp ping 2> /dev/null; }

rmq_publish() {
  [ $# -ge 1 ] || { echo "usage: rmq_publish QUEUE BODY" >&2; return 2; }
  rmq__amqp publish "$1" "${2-}"
}

rmq_ctl() {
  [ -n "${RMQ_DIR:-}" ] && [ -d "$RMQ_DIR" ] || {
    echo "rmq_ctl: no broker (call rmq_start)" >&2
    return 1
  }
  (
    cd "$RMQ_DIR" || exit 1
    exec timeout "${RMQ_CTL_TIMEOUT:-60}" ${RMQ__RUN[@]+"${RMQ__RUN[@]}"} env -i "${RMQ__ENV[@]}" \
      "$RMQ__SBIN/rabbitmqctl" -n "$RMQ_NODE" "$@" < /dev/null
  )
}

# Start the broker on the existing RMQ_DIR and wait for it. 0, or 1 with
# its log on stderr (and the broker killed).
rmq__start_server() {
  local deadline what left
  deadline=$(($(rmq__now) + 60))
  echo "=== start $(date '+%F %T')" >> "$RMQ_DIR/server.out"
  rmq__spawn "$RMQ_DIR/server.out" "$RMQ_DIR/server.pid" "$RMQ__SBIN/rabbitmq-server" || return 1
  RMQ_PGID=$RMQ__SPAWNED
  rmq__write_pids
  what="accept TCP connections on port $RMQ_PORT"
  while ! rmq__port_open "$RMQ_PORT"; do
    rmq__alive "$RMQ_PGID" || { what=; break; }
    [ "$(rmq__now)" -lt "$deadline" ] || break
    sleep 0.1
  done
  if rmq__port_open "$RMQ_PORT"; then
    what="finish booting (rabbitmqctl await_startup)"
    left=$((deadline - $(rmq__now)))
    [ "$left" -gt 1 ] || left=1
    if RMQ_CTL_TIMEOUT=$((left + 5)) rmq_ctl await_startup --timeout "$left" >> "$RMQ_DIR/ctl.out" 2>&1; then
      what="accept an AMQP login as guest from 127.0.0.1"
      if ! command -v python3 > /dev/null; then
        return 0
      fi
      while :; do
        rmq_ping && return 0
        rmq__alive "$RMQ_PGID" || { what=; break; }
        [ "$(rmq__now)" -lt "$deadline" ] || break
        sleep 0.2
      done
    fi
  fi
  if [ -z "$what" ] || ! rmq__alive "$RMQ_PGID"; then
    echo "rmq_start: rabbitmq-server exited (node $RMQ_NODE, dir $RMQ_DIR)" >&2
  else
    echo "rmq_start: RabbitMQ (node $RMQ_NODE, dir $RMQ_DIR) did not $what within 60 s" >&2
  fi
  rmq__log_tail
  rmq__kill_group
  return 1
}

rmq_start() {
  local user ports cookie='' i
  if [ -n "${RMQ_DIR:-}" ]; then
    echo "rmq_start: a broker is already set up in $RMQ_DIR (rmq_stop first)" >&2
    return 1
  fi
  RMQ__RUN=() RMQ__ENV=() RMQ_PGID='' RMQ_EPMD_PID='' RMQ_WATCHDOG_PID=''
  if ! rmq__find; then
    echo "rmq_start: RabbitMQ not found (no rabbitmq-server and rabbitmqctl in $RMQ__SBIN, or no epmd):" \
      "install the Debian package \"rabbitmq-server\" (apt-get install rabbitmq-server)" >&2
    return 1
  fi
  command -v setsid > /dev/null || { echo "rmq_start: setsid not found (util-linux)" >&2; return 1; }
  if [ "$(id -u)" -eq 0 ]; then
    for user in rabbitmq nobody ""; do id "$user" > /dev/null 2>&1 && break; done
    [ -n "$user" ] || {
      echo "rmq_start: running as root and no user \"rabbitmq\" or \"nobody\" to run the broker as" >&2
      return 1
    }
    RMQ__RUN=(setpriv --reuid="$(id -u "$user")" --regid="$(id -g "$user")" --clear-groups)
  fi
  ports=$(rmq__free_ports)
  read -r RMQ__EPMD_PORT RMQ__CTL_PORT RMQ__DIST_PORT RMQ_PORT <<< "$ports"
  [ -n "${RMQ_PORT:-}" ] || { echo "rmq_start: no free ports (python3 or node needed)" >&2; return 1; }
  RMQ_DIR=$(mktemp -d "${TMPDIR:-/tmp}/distrise-rmq.XXXXXX") || { RMQ_DIR=; return 1; }
  RMQ__OWNER=$BASHPID
  RMQ_NODE="distrise${BASHPID}s${RANDOM}@localhost"
  # shellcheck disable=SC2034 # for the caller
  RMQ_URL="amqp://guest:guest@127.0.0.1:$RMQ_PORT/"
  # A small test broker: no disk alarm on a nearly full /tmp.
  printf '%s\n' 'disk_free_limit.absolute = 1MB' 'vm_memory_high_watermark.relative = 0.6' \
    'log.file.level = info' 'log.console = false' > "$RMQ_DIR/rabbitmq.conf"
  echo '[].' > "$RMQ_DIR/advanced.config"
  echo '[].' > "$RMQ_DIR/enabled_plugins"
  : > "$RMQ_DIR/rabbitmq-env.conf"
  for i in $(seq 1 20); do cookie+=${RMQ__LETTERS:RANDOM%26:1}; done
  printf '%s' "$cookie" > "$RMQ_DIR/.erlang.cookie"
  chmod 400 "$RMQ_DIR/.erlang.cookie"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R "$(id -u "$user"):$(id -g "$user")" "$RMQ_DIR" || { rmq_stop; return 1; }
  fi
  RMQ__ENV=(
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
    "HOME=$RMQ_DIR" LANG=C.UTF-8 LC_ALL=C.UTF-8
    "RABBITMQ_NODENAME=$RMQ_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    "RABBITMQ_NODE_PORT=$RMQ_PORT" "RABBITMQ_DIST_PORT=$RMQ__DIST_PORT"
    "ERL_EPMD_PORT=$RMQ__EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1
    "RABBITMQ_CTL_DIST_PORT_MIN=$RMQ__CTL_PORT" "RABBITMQ_CTL_DIST_PORT_MAX=$((RMQ__CTL_PORT + 10))"
    "RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia" "RABBITMQ_LOG_BASE=$RMQ_DIR/log" "RABBITMQ_PID_FILE=$RMQ_DIR/pid"
    "RABBITMQ_CONFIG_FILE=$RMQ_DIR/rabbitmq.conf" "RABBITMQ_ADVANCED_CONFIG_FILE=$RMQ_DIR/advanced.config"
    "RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins" "RABBITMQ_CONF_ENV_FILE=$RMQ_DIR/rabbitmq-env.conf"
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
  )
  rmq__write_pids
  # The watchdog: when the calling shell is gone (pid and start time no
  # longer match) while RMQ_DIR still exists, kill what pids lists and
  # remove RMQ_DIR. Runs as the caller (root may kill the broker's user).
  local st
  st=$(< "/proc/$BASHPID/stat")
  st=${st##*) }
  read -r -a st <<< "$st"
  RMQ__SAVE_RUN=(${RMQ__RUN[@]+"${RMQ__RUN[@]}"})
  RMQ__RUN=()
  rmq__spawn /dev/null "$RMQ_DIR/watchdog.pid" bash -c '
    p=$1 st=$2 d=$3
    alive() {
      local s
      { s=$(< "/proc/$p/stat"); } 2> /dev/null || return 1
      s=${s##*) }
      set -- $s
      [ "$1" != Z ] && [ "${20}" = "$st" ]
    }
    while [ -d "$d" ] && alive; do sleep 1; done
    [ -d "$d" ] || exit 0
    read -r s e < "$d/pids"
    [ "${s:-0}" -gt 0 ] 2> /dev/null && kill -9 -- "-$s" 2> /dev/null
    [ "${e:-0}" -gt 0 ] 2> /dev/null && kill -9 -- "-$e" 2> /dev/null
    sleep 0.5
    rm -rf "$d"' bash "$RMQ__OWNER" "${st[19]}" "$RMQ_DIR"
  RMQ__RUN=(${RMQ__SAVE_RUN[@]+"${RMQ__SAVE_RUN[@]}"})
  RMQ_WATCHDOG_PID=$RMQ__SPAWNED
  # Our own epmd, listening before the broker starts (or it starts a daemon one).
  rmq__spawn "$RMQ_DIR/epmd.log" "$RMQ_DIR/epmd.pid" "$RMQ__EPMD" -port "$RMQ__EPMD_PORT" -address 127.0.0.1 || {
    rmq_stop
    return 1
  }
  RMQ_EPMD_PID=$RMQ__SPAWNED
  rmq__write_pids
  for i in $(seq 1 100); do
    rmq__port_open "$RMQ__EPMD_PORT" && break
    sleep 0.05
  done
  if ! rmq__port_open "$RMQ__EPMD_PORT"; then
    echo "rmq_start: epmd did not listen on port $RMQ__EPMD_PORT" >&2
    cat "$RMQ_DIR/epmd.log" >&2
    rmq_stop
    return 1
  fi
  if ! rmq__start_server; then
    rmq_stop
    return 1
  fi
  return 0
}

rmq_kill() {
  [ -n "${RMQ_DIR:-}" ] && [ -n "${RMQ_PGID:-}" ] || return 0
  rmq__kill_group
}

rmq_restart() {
  [ -n "${RMQ_DIR:-}" ] && [ -d "$RMQ_DIR" ] || {
    echo "rmq_restart: no broker (call rmq_start)" >&2
    return 1
  }
  if [ -n "${RMQ_PGID:-}" ]; then
    rmq_ctl stop >> "$RMQ_DIR/ctl.out" 2>&1 || true
    rmq__kill_group # whatever outlived the VM
  fi
  rmq__start_server
}

rmq_stop() {
  if [ -n "${RMQ_DIR:-}" ]; then
    rmq__kill_group
    if [ -n "${RMQ_EPMD_PID:-}" ]; then kill -9 -- "-$RMQ_EPMD_PID" 2> /dev/null || true; fi
    if [ -n "${RMQ_WATCHDOG_PID:-}" ]; then kill -9 -- "-$RMQ_WATCHDOG_PID" 2> /dev/null || true; fi
    rm -rf "$RMQ_DIR"
  fi
  RMQ_DIR='' RMQ_PGID='' RMQ_EPMD_PID='' RMQ_WATCHDOG_PID=''
  return 0
}
