# PostgreSQL for shell tests: a throwaway cluster in a temp directory on a
# free loopback port (the same method as tests/pg_harness.h for C tests).
# Source it, then:
#
#   pg_start         initdb a new temp dir (PG_DIR, under $TMPDIR or /tmp) and
#                    start the server; sets PG_PORT and PG_CONNINFO
#                    ("host=127.0.0.1 port=P user=postgres dbname=postgres");
#                    returns non-zero (with the server log on stderr) on failure
#   pg_stop          stop it (immediate shutdown, bounded) and remove PG_DIR;
#                    safe to call twice (put it in the caller's EXIT trap)
#
# Needs initdb and pg_ctl (Debian's postgresql package; found on PATH or in
# /usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root, so as root
# the cluster belongs to the "postgres" user (runuser) and PG_DIR is chowned
# to it (PG_DIR sits directly in the world-traversable temp dir, so no
# parent of the caller's needs opening up). Trust authentication, loopback
# only, fsync off: a test database, never a real one.

pg__bin() {
  local name=$1 p
  p=$(command -v "$name" 2> /dev/null) && { echo "$p"; return 0; }
  p=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2> /dev/null | sort -V | tail -n 1)
  [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
  return 1
}

pg__free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2> /dev/null ||
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

pg_start() {
  local initdb pg_ctl attempt
  PG_RUN=()
  initdb=$(pg__bin initdb) || { echo "pg_start: initdb not found (apt-get install postgresql)" >&2; return 1; }
  pg_ctl=$(pg__bin pg_ctl) || { echo "pg_start: pg_ctl not found" >&2; return 1; }
  PG_CTL=$pg_ctl
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/distrise-pg.XXXXXX") || return 1
  if [ "$(id -u)" -eq 0 ]; then
    id postgres > /dev/null 2>&1 || { echo "pg_start: running as root and no postgres user" >&2; return 1; }
    chown postgres "$PG_DIR"
    PG_RUN=(runuser -u postgres --)
  fi
  if ! "${PG_RUN[@]}" timeout 120 "$initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync \
    > "$PG_DIR/initdb.log" 2>&1; then
    echo "pg_start: initdb failed:" >&2
    cat "$PG_DIR/initdb.log" >&2
    return 1
  fi
  for attempt in 1 2 3; do
    PG_PORT=$(pg__free_port)
    if "${PG_RUN[@]}" "$pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50" \
      start > /dev/null 2>&1; then
      PG_CONNINFO="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
      PG_STARTED=1
      return 0
    fi
  done
  echo "pg_start: the server did not start:" >&2
  tail -n 20 "$PG_DIR/server.log" >&2
  return 1
}

pg_stop() {
  if [ "${PG_STARTED:-0}" = 1 ]; then
    "${PG_RUN[@]}" timeout 30 "$PG_CTL" -D "$PG_DIR/data" -m immediate -w -t 20 stop > /dev/null 2>&1
    PG_STARTED=0
  fi
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ]; then rm -rf "$PG_DIR"; fi
  PG_DIR=
}
