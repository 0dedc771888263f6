#!/usr/bin/env bash
# deploy/: what can be checked without Docker or Kubernetes (neither runs on
# the machine this was written on; docs/deploy.md).
#
# 1. Static: every YAML file under deploy/ parses (yaml.safe_load_all);
#    deploy/compose.yaml has the six services, ports on 127.0.0.1 only, every
#    file it mounts, builds or uses as a secret exists, the gateway's
#    --config/--token-file point at what is mounted, depends_on waits for
#    healthy postgres/rabbitmq; every Kubernetes document has apiVersion,
#    kind and metadata.name; every Deployment/StatefulSet container has
#    resources.requests, a memory limit and readiness+liveness probes (ours:
#    httpGet /healthz on the program's port, runAsNonRoot with the image's
#    uid, read-only root filesystem); Services, ConfigMaps, Secrets (and
#    their keys) and claims that pods use exist; the ConfigMap's files equal
#    deploy/config/*.conf byte for byte; Prometheus' and Grafana's targets
#    are service names of both; the Dockerfile's stages, user, ports, CMD and
#    COPY sources (present, not excluded by .dockerignore).
# 2. Libraries: for every shared library nostr-relay and nostr-gateway (from
#    BUILD_DIR) need directly (readelf NEEDED, resolved with ldd), its Debian
#    package (dpkg -S) must be on the runtime stage's apt-get install line
#    (libc6 and libgcc-s1 excepted: debian:12-slim has them); every library
#    ldd lists must come from those packages' dependency closure.
# 3. Runtime: nostr-relay with --config deploy/config/relay.conf (flags
#    override bind, port and data: loopback, a free port, a temp dir):
#    /healthz 200, NIP-11 with the configured name. nostr-gateway with
#    --config deploy/config/gateway.conf against a real PostgreSQL
#    (tests/pg_start.sh) and RabbitMQ (tests/rabbitmq_start.sh), flags for
#    bind, port, db and amqp, --token-file holding deploy/k8s/secret.yaml's
#    token: /healthz 200, POST /api/relays 401 with a wrong token and 201 with
#    the right one (an upstream nostr-relay with one event), /metrics shows
#    the upstream up and the event stored; both stop with exit 0 on SIGTERM.
# 4. The image's build stage, simulated: its RUN commands after COPY . (from
#    the Dockerfile, /src, /build and the install prefix moved into the temp
#    dir) on a copy of the repository filtered by .dockerignore: the
#    programs must be installed where the runtime stage copies them from.
#    Also every package the Dockerfile installs must be known to this
#    Debian 12 (dpkg-query or apt-cache). About 80 s in all.
#
# Usage: test_deploy.sh BUILD_DIR   (ctest runs it from tests/)
# Needs python3 with python3-yaml, binutils (readelf), dpkg, curl,
# PostgreSQL and rabbitmq-server (scripts/install-deps.sh). Fails, never
# skips. Bounded waits, loopback only; stops what it started (by pid) and
# removes its temp dir.
set -u
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd) || exit 1
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/distrise-deploy.XXXXXX")
pids=()
# shellcheck source=tests/pg_start.sh
source "$root/tests/pg_start.sh"
# shellcheck source=tests/rabbitmq_start.sh
source "$root/tests/rabbitmq_start.sh"
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null; done
  rmq_stop
  pg_stop
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
finish() {
  echo "test_deploy: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

for tool in python3 readelf ldd dpkg dpkg-query curl; do
  command -v "$tool" > /dev/null || { bad "$tool not found (scripts/install-deps.sh)"; finish; }
done
python3 -c 'import yaml' 2> /dev/null || { bad "python3 yaml module missing (apt-get install python3-yaml)"; finish; }
for p in nostr-relay nostr-gateway nostr-publish; do
  [ -x "$build/$p" ] || bad "missing $build/$p (build the default configuration: adapters ON)"
done
[ "$failed" -eq 0 ] || finish

# ---- 1 and 2: static checks (python3) ----
# Prints "ok: ..." / "FAIL: ..." lines; exit status: the number of failures.
python3 - "$root" "$build" "$tmp" > "$tmp/static.out" 2>&1 << 'PY'
import glob, json, os, re, shlex, subprocess, sys
import yaml

root, build, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
deploy = os.path.join(root, "deploy")
fails = 0
oks = 0


def ok(msg):
    global oks
    oks += 1


def bad(msg):
    global fails
    fails += 1
    print("FAIL: " + msg)


def check(cond, msg):
    (ok if cond else bad)(msg)
    return cond


def rel(p):
    return os.path.relpath(p, root)


def read(p):
    with open(p, "rb") as f:
        return f.read().decode()


def conf(path):
    """key = value lines as the programs read them (last one wins)."""
    d = {}
    for line in read(path).splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        k, _, v = s.partition("=")
        d[k.strip()] = v.strip()
    return d


# -- every YAML file under deploy/ parses
docs = {}
for p in sorted(glob.glob(os.path.join(deploy, "**", "*.y*ml"), recursive=True)):
    try:
        with open(p) as f:
            docs[p] = [d for d in yaml.safe_load_all(f) if d is not None]
        ok(p)
    except Exception as e:
        bad("%s does not parse as YAML: %s" % (rel(p), e))
for need in ["compose.yaml", "k8s/namespace.yaml", "k8s/configmap.yaml", "k8s/secret.yaml", "k8s/relay.yaml",
             "k8s/gateway.yaml", "k8s/postgres.yaml", "k8s/rabbitmq.yaml", "k8s/prometheus.yaml", "k8s/grafana.yaml",
             "config/relay.conf", "config/gateway.conf", "Dockerfile"]:
    check(os.path.isfile(os.path.join(deploy, need)), "deploy/%s is missing" % need)
if fails:
    print("static checks: %d passed, %d failed" % (oks, fails))
    sys.exit(min(fails, 100))

relay_conf = conf(os.path.join(deploy, "config/relay.conf"))
gateway_conf = conf(os.path.join(deploy, "config/gateway.conf"))
relay_port = int(relay_conf.get("port", "7777"))
gateway_port = int(gateway_conf.get("port", "7778"))
check(relay_conf.get("bind") == "0.0.0.0", "deploy/config/relay.conf: bind must be 0.0.0.0 in a container")
check(relay_conf.get("data") == "/data", "deploy/config/relay.conf: data must be /data (the image's volume)")
check(relay_port == 7777, "deploy/config/relay.conf: port must be 7777 (EXPOSE, Services, prometheus.yml)")
check(gateway_conf.get("bind") == "0.0.0.0", "deploy/config/gateway.conf: bind must be 0.0.0.0 in a container")
check(gateway_port == 7778, "deploy/config/gateway.conf: port must be 7778 (EXPOSE, Services, prometheus.yml)")
for k in ("token", "token_file", "amqp"):
    check(k not in gateway_conf, "deploy/config/gateway.conf sets %s: it is a ConfigMap, no secrets (flags carry them)" % k)
db = dict(kv.split("=", 1) for kv in gateway_conf.get("db", "").split() if "=" in kv)
check("password" not in db, "deploy/config/gateway.conf: no password in db (PGPASSWORD)")
db_host, db_port = db.get("host"), int(db.get("port", "5432"))

# -- .dockerignore (Docker's rules: Go filepath.Match plus **, a match on a
#    parent directory excludes what is under it, the last match wins)
ignore = []
di = os.path.join(root, ".dockerignore")
if check(os.path.isfile(di), ".dockerignore missing at the repository root"):
    for line in read(di).splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        neg = s.startswith("!")
        s = os.path.normpath(s.lstrip("!").strip()).lstrip("/")
        rx, i = "", 0
        while i < len(s):
            if s.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif s.startswith("**", i):
                rx += ".*"
                i += 2
            elif s[i] == "*":
                rx += "[^/]*"
                i += 1
            elif s[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(s[i])
                i += 1
        ignore.append((re.compile("^" + rx + "$"), neg))


def ignored(path):
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    out = False
    for rx, neg in ignore:
        if any(rx.match(p) for p in prefixes):
            out = not neg
    return out


# the build context as Docker would send it (for the simulated build below)
with open(os.path.join(tmp, "context.txt"), "w") as f:
    for d, dirs, files in os.walk(root):
        r = os.path.relpath(d, root)
        dirs[:] = sorted(x for x in dirs if not ignored(os.path.normpath(os.path.join(r, x))))
        for x in sorted(files):
            q = os.path.normpath(os.path.join(r, x))
            if not ignored(q):
                f.write(q + "\n")
for p in ["CMakeLists.txt", "amalgamate.py", "nostr.h", "nostr_relay.h", "nostr_gateway.h", "src/lib.c",
          "src/core/event.c", "examples/nostr-relay.c", "examples/nostr-gateway.c", "examples/serve.h",
          "examples/dashboard/index.html", "cmake/embed.cmake", "cmake/distrise.pc.in",
          "cmake/distrise-config.cmake", "deploy/config/relay.conf", "deploy/config/gateway.conf"]:
    if os.path.exists(os.path.join(root, p)):
        check(not ignored(p), ".dockerignore excludes %s, which the image build needs" % p)
for p in ["build/CMakeCache.txt", "build-deploy/x", ".git/HEAD", "tests/interop/node_modules/x"]:
    check(ignored(p), ".dockerignore should exclude %s" % p)

# -- Dockerfile
text = read(os.path.join(deploy, "Dockerfile"))
lines, cur = [], ""
for line in text.splitlines():
    if not cur and line.lstrip().startswith("#"):
        continue
    if line.rstrip().endswith("\\"):
        cur += line.rstrip()[:-1] + " "
        continue
    cur += line
    if cur.strip():
        lines.append(cur.strip())
    cur = ""
instrs = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if len(l.split(None, 1)) > 1 else "") for l in lines]
stages = []
for ins, arg in instrs:
    if ins == "FROM":
        stages.append({"from": arg, "instrs": []})
    elif stages:
        stages[-1]["instrs"].append((ins, arg))
check(len(stages) >= 2, "deploy/Dockerfile: expected a multi-stage build (build, runtime)")
build_stage, runtime = stages[0], stages[-1]
check(build_stage["from"].split()[0] == "debian:12", "Dockerfile build stage must be FROM debian:12")
check(runtime["from"].split()[0] == "debian:12-slim", "Dockerfile runtime stage must be FROM debian:12-slim")
check(all(ins != "HEALTHCHECK" for ins, _ in instrs), "Dockerfile: no HEALTHCHECK (orchestrators probe /healthz)")


def apt_packages(stage):
    pk = set()
    for ins, arg in stage["instrs"]:
        if ins != "RUN":
            continue
        for seg in re.split(r"&&|;|\|\|", arg):
            w = seg.split()
            if "apt-get" in w and "install" in w:
                pk.update(x for x in w[w.index("install") + 1:] if not x.startswith("-"))
    return pk


build_pkgs, runtime_pkgs = apt_packages(build_stage), apt_packages(runtime)
for p in ["build-essential", "cmake", "pkg-config", "python3", "libsecp256k1-dev", "libmbedtls-dev", "libpq-dev",
          "librabbitmq-dev"]:
    check(p in build_pkgs, "Dockerfile build stage does not apt-get install %s" % p)
check("ca-certificates" in runtime_pkgs, "Dockerfile runtime stage lacks ca-certificates (wss:// upstreams)")
check(not any(p.endswith("-dev") for p in runtime_pkgs), "Dockerfile runtime stage installs -dev packages")
build_text = " ".join(a for i, a in build_stage["instrs"] if i == "RUN")
m = re.search(r"cmake --install \S+ --prefix (\S+)", build_text)
check(bool(m), "Dockerfile build stage: expected `cmake --install BUILD --prefix DIR`")
prefix = m.group(1) if m else "/nonexistent"
check("NOSTR_BENCH=OFF" in build_text, "Dockerfile: configure with -DNOSTR_BENCH=OFF")
for p in sorted(build_pkgs | runtime_pkgs):
    known = subprocess.run(["dpkg-query", "-W", p], capture_output=True).returncode == 0 or \
        subprocess.run(["apt-cache", "show", p], capture_output=True).returncode == 0
    check(known, "Dockerfile: apt-get installs %s, which this Debian does not know (dpkg-query, apt-cache)" % p)
# The build stage's commands (after COPY of the context) with its paths moved
# into the temp dir, for the simulated build below.
with open(os.path.join(tmp, "build_stage.sh"), "w") as f:
    f.write("set -e\n")
    copied_context = False
    for ins, arg in build_stage["instrs"]:
        if ins == "COPY" and shlex.split(arg)[0] == ".":
            copied_context = True
        elif ins == "RUN" and copied_context and "apt-get" not in arg:
            cmdtext = arg.replace("$(nproc)", "2")
            cmdtext = re.sub(r"(?<![\w/.])" + re.escape(prefix) + r"\b", "$PFX", cmdtext)
            cmdtext = re.sub(r"(?<![\w/.])/build\b", "$BDIR", cmdtext)
            cmdtext = re.sub(r"(?<![\w/.])/src\b", "$CTX", cmdtext)
            f.write(cmdtext + "\n")
    check(copied_context, "Dockerfile build stage: expected COPY . (the repository) before the build")
user = [a for i, a in runtime["instrs"] if i == "USER"]
uid = user[-1].split(":")[0] if user else "0"
check(uid.isdigit() and int(uid) != 0, "Dockerfile runtime stage must end with a numeric non-root USER")
uid = int(uid) if uid.isdigit() else -1
expose = " ".join(a for i, a in runtime["instrs"] if i == "EXPOSE").split()
check(str(relay_port) in expose and str(gateway_port) in expose, "Dockerfile must EXPOSE 7777 7778")
volumes = " ".join(a for i, a in runtime["instrs"] if i == "VOLUME")
check("/data" in volumes, "Dockerfile: VOLUME /data (the relay's data)")
check(re.search(r"chown\s+(%d:%d|distrise:distrise)\s+/data" % (uid, uid), " ".join(
    a for i, a in runtime["instrs"] if i == "RUN")) is not None, "Dockerfile: /data must belong to the USER")
copied = {}  # image path -> repo path
for stage in stages:
    for ins, arg in stage["instrs"]:
        if ins not in ("COPY", "ADD"):
            continue
        w = shlex.split(arg)
        flags = [x for x in w if x.startswith("--")]
        args = [x for x in w if not x.startswith("--")]
        srcs, dest = args[:-1], args[-1]
        if any(f.startswith("--from=") for f in flags):
            if stage is runtime:
                check(all(s.startswith(prefix) for s in srcs),
                      "Dockerfile: COPY --from %s is not under the install prefix %s" % (srcs, prefix))
            continue
        for s in srcs:
            check(os.path.exists(os.path.join(root, s)), "Dockerfile COPY source %s does not exist" % s)
            if s not in (".", "./"):
                check(not ignored(s), "Dockerfile COPY source %s is excluded by .dockerignore" % s)
                copied[os.path.join(dest, os.path.basename(s)) if dest.endswith("/") else dest] = s
cmd = [a for i, a in runtime["instrs"] if i == "CMD"]
try:
    cmd = json.loads(cmd[-1]) if cmd else []
except ValueError:
    cmd = []
    bad("Dockerfile CMD must be exec (JSON) form")
check(cmd[:1] == ["nostr-relay"], "Dockerfile CMD must run nostr-relay")
if "--config" in cmd:
    cpath = cmd[cmd.index("--config") + 1]
    check(copied.get(cpath) == "deploy/config/relay.conf",
          "Dockerfile CMD --config %s is not deploy/config/relay.conf copied into the image" % cpath)
else:
    check("--bind" in cmd and "0.0.0.0" in cmd, "Dockerfile CMD: bind 0.0.0.0")

# -- 2: every library the programs link has its package in the runtime stage
EXCEPT = {"libc6": "the C library, in every Debian image", "libgcc-s1": "in debian:12-slim (required)"}


def pkg_of(path):
    for p in (path, os.path.realpath(path)):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    # merged /usr: dpkg knows the /lib path or the /usr/lib one
    alt = path[4:] if path.startswith("/usr/") else "/usr" + path
    r = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
    return r.stdout.split(":")[0].strip() if r.returncode == 0 else None


dpkg = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Provides}\t${Depends}, ${Pre-Depends}\n"],
                      capture_output=True, text=True).stdout
deps, provides = {}, {}
for line in dpkg.splitlines():
    name, prov, dep = line.split("\t")
    deps[name] = {a.strip().split()[0].split(":")[0] for a in re.split(r"[,|]", dep) if a.strip()}
    for pv in prov.split(","):
        if pv.strip():
            provides.setdefault(pv.strip().split()[0], set()).add(name)
closure, todo = set(), list(runtime_pkgs | set(EXCEPT))
while todo:
    p = todo.pop()
    if p in closure:
        continue
    closure.add(p)
    todo.extend(deps.get(p, ()))
    todo.extend(provides.get(p, ()))
for prog in ("nostr-relay", "nostr-gateway"):
    exe = os.path.join(build, prog)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                        subprocess.run(["readelf", "-d", exe], capture_output=True, text=True).stdout)
    resolved = {}
    for line in subprocess.run(["ldd", exe], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m:
            resolved[m.group(1)] = m.group(2)
        elif "not found" in line:
            bad("%s: ldd: %s" % (prog, line.strip()))
    check(len(needed) > 0, "%s: readelf found no NEEDED libraries" % prog)
    for lib in needed:
        path = resolved.get(lib)
        if not check(path is not None, "%s: ldd does not resolve %s" % (prog, lib)):
            continue
        pkg = pkg_of(path)
        if not check(pkg is not None, "%s: no Debian package owns %s (dpkg -S)" % (prog, path)):
            continue
        if pkg in EXCEPT:
            ok(pkg)
            continue
        check(pkg in runtime_pkgs, "%s links %s (%s): the Dockerfile's runtime apt-get install lacks %s"
              % (prog, lib, path, pkg))
    for lib, path in resolved.items():
        pkg = pkg_of(path)
        if pkg is not None:
            check(pkg in closure, "%s needs %s from %s, which no runtime package depends on" % (prog, path, pkg))

# -- compose
compose = docs[os.path.join(deploy, "compose.yaml")][0]
services = compose.get("services", {})
SIX = ["relay", "gateway", "postgres", "rabbitmq", "prometheus", "grafana"]
for s in SIX:
    check(s in services, "compose.yaml: no service %s" % s)
named_volumes = set((compose.get("volumes") or {}).keys())
compose_secrets = compose.get("secrets") or {}
for name, sec in compose_secrets.items():
    f = os.path.join(deploy, sec.get("file", ""))
    check(os.path.isfile(f), "compose.yaml: secret %s: file %s missing" % (name, rel(f)))
mounts = {}  # service -> {target: source (repo-relative path or volume name)}
for name, svc in services.items():
    svc = svc or {}
    for port in svc.get("ports", []):
        if isinstance(port, dict):
            check(port.get("host_ip") == "127.0.0.1", "compose.yaml: %s publishes %s beyond 127.0.0.1" % (name, port))
        else:
            check(str(port).startswith("127.0.0.1:"), "compose.yaml: %s publishes %s beyond 127.0.0.1" % (name, port))
    b = svc.get("build")
    if b:
        ctx = os.path.normpath(os.path.join(deploy, b.get("context", ".") if isinstance(b, dict) else b))
        check(os.path.isdir(ctx), "compose.yaml: %s build context %s missing" % (name, ctx))
        if isinstance(b, dict) and b.get("dockerfile"):
            df = os.path.join(ctx, b["dockerfile"])
            check(os.path.isfile(df), "compose.yaml: %s dockerfile %s missing" % (name, rel(df)))
    m = mounts.setdefault(name, {})
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            src, dst = v.get("source", ""), v.get("target", "")
        else:
            parts = v.split(":")
            src, dst = parts[0], parts[1] if len(parts) > 1 else parts[0]
        if src.startswith((".", "/")):
            full = os.path.normpath(os.path.join(deploy, src))
            if name == "grafana" and not os.path.exists(full):
                bad("compose.yaml: grafana mounts %s, which is not there yet (deploy/grafana/ is written "
                    "separately)" % rel(full))
            else:
                check(os.path.exists(full), "compose.yaml: %s mounts %s, which does not exist" % (name, rel(full)))
            m[dst] = rel(full)
        else:
            check(src in named_volumes, "compose.yaml: %s uses volume %s not declared under volumes:" % (name, src))
            m[dst] = src
    for s in svc.get("secrets", []):
        sname = s if isinstance(s, str) else s.get("source")
        check(sname in compose_secrets, "compose.yaml: %s uses undeclared secret %s" % (name, sname))
        target = s.get("target", sname) if isinstance(s, dict) else sname
        m[target if target.startswith("/") else "/run/secrets/" + target] = "secret:" + sname


def command(svc):
    c = svc.get("command", [])
    return shlex.split(c) if isinstance(c, str) else list(c)


def flag(cmd, name):
    return cmd[cmd.index(name) + 1] if name in cmd and cmd.index(name) + 1 < len(cmd) else None


rc_cmd, gw_cmd = command(services.get("relay", {})), command(services.get("gateway", {}))
check(rc_cmd[:1] in ([], ["nostr-relay"]), "compose.yaml: relay must run nostr-relay")
check(mounts.get("relay", {}).get("/data") in named_volumes, "compose.yaml: relay needs a named volume at /data")
rcfg = flag(rc_cmd, "--config") or "/etc/distrise/relay.conf"
check(mounts.get("relay", {}).get(rcfg, copied.get(rcfg)) == "deploy/config/relay.conf",
      "compose.yaml: relay --config %s is not deploy/config/relay.conf" % rcfg)
check(gw_cmd[:1] == ["nostr-gateway"], "compose.yaml: gateway must run nostr-gateway")
gcfg = flag(gw_cmd, "--config")
check(gcfg is not None and mounts.get("gateway", {}).get(gcfg) == "deploy/config/gateway.conf",
      "compose.yaml: gateway --config %s is not deploy/config/gateway.conf mounted" % gcfg)
tf = flag(gw_cmd, "--token-file")
check(tf is not None and str(mounts.get("gateway", {}).get(tf, "")).startswith("secret:"),
      "compose.yaml: gateway --token-file %s is not a compose secret" % tf)
check("--token" not in gw_cmd, "compose.yaml: the token must not be an argument (--token-file)")
check("PGPASSWORD" in (services.get("gateway", {}).get("environment") or {}), "compose.yaml: gateway needs PGPASSWORD")
amqp = flag(gw_cmd, "--amqp") or ""
m = re.match(r"amqp://[^@]*@([^:/]+):(\d+)/", amqp)
check(bool(m) and m.group(1) in services, "compose.yaml: gateway --amqp %r should name the rabbitmq service" % amqp)
dep = services.get("gateway", {}).get("depends_on", {})
for s in ("postgres", "rabbitmq"):
    check(isinstance(dep, dict) and (dep.get(s) or {}).get("condition") == "service_healthy",
          "compose.yaml: gateway must depend_on %s with condition service_healthy" % s)
    check(bool((services.get(s, {}).get("healthcheck") or {}).get("test")), "compose.yaml: %s needs a healthcheck" % s)
check(db_host in services, "gateway.conf db host %s is not a compose service" % db_host)
check(str(services.get("postgres", {}).get("image", "")).startswith("postgres:16"), "compose.yaml: postgres:16")
check(str(services.get("rabbitmq", {}).get("image", "")).startswith("rabbitmq:3"), "compose.yaml: rabbitmq:3")

# Prometheus: deploy/prometheus.yml's targets are the services, on the programs' ports
prom = docs[os.path.join(deploy, "prometheus.yml")][0]
want_ports = {"relay": relay_port, "gateway": gateway_port}
targets = [t for sc in prom.get("scrape_configs", []) for st in sc.get("static_configs", []) for t in st.get("targets", [])]
check(len(targets) >= 2, "deploy/prometheus.yml: expected the relay and gateway targets")
for t in targets:
    host, _, port = t.rpartition(":")
    check(host in services and want_ports.get(host) == int(port),
          "deploy/prometheus.yml target %s is not a compose service on its program's port" % t)
pm = mounts.get("prometheus", {})
check(pm.get("/etc/prometheus/prometheus.yml") == "deploy/prometheus.yml",
      "compose.yaml: prometheus must mount deploy/prometheus.yml at /etc/prometheus/prometheus.yml")
for rf in prom.get("rule_files", []):
    check(pm.get(os.path.join("/etc/prometheus", rf)) == os.path.join("deploy", rf),
          "compose.yaml: prometheus must mount deploy/%s next to prometheus.yml" % rf)
gm = mounts.get("grafana", {})
check(gm.get("/etc/grafana/provisioning") == "deploy/grafana/provisioning",
      "compose.yaml: grafana must mount deploy/grafana/provisioning at /etc/grafana/provisioning")
check(gm.get("/var/lib/grafana/dashboards") == "deploy/grafana/dashboards",
      "compose.yaml: grafana must mount deploy/grafana/dashboards at /var/lib/grafana/dashboards")
ds_urls = [d.get("url", "") for p, ds in docs.items() if "/grafana/provisioning/datasources/" in p
           for doc in ds for d in (doc.get("datasources") or [])]
for u in ds_urls:
    m = re.match(r"https?://([^:/]+):(\d+)", u)
    check(bool(m) and m.group(1) in services, "Grafana datasource %s is not a compose service" % u)

# -- Kubernetes
k8s = []
for p, ds in docs.items():
    if os.path.dirname(p) == os.path.join(deploy, "k8s"):
        for d in ds:
            k8s.append((rel(p), d))
objs = {}
NAMESPACED = {"ConfigMap", "Secret", "Deployment", "StatefulSet", "Service", "PersistentVolumeClaim"}
for p, d in k8s:
    if not check(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and (d.get("metadata") or {}).get("name"),
                 "%s: a document without apiVersion, kind or metadata.name" % p):
        continue
    objs[(d["kind"], d["metadata"]["name"])] = (p, d)
    if d["kind"] in NAMESPACED:
        check(d["metadata"].get("namespace") == "distrise", "%s: %s/%s not in namespace distrise"
              % (p, d["kind"], d["metadata"]["name"]))
check(("Namespace", "distrise") in objs, "deploy/k8s: no Namespace distrise")
cm = objs.get(("ConfigMap", "distrise-config"), (None, {}))[1]
confs = sorted(os.path.basename(c) for c in glob.glob(os.path.join(deploy, "config", "*.conf")))
check(sorted((cm.get("data") or {}).keys()) == confs,
      "deploy/k8s/configmap.yaml: data keys %s, deploy/config has %s" % (sorted((cm.get("data") or {}).keys()), confs))
for c in confs:
    check((cm.get("data") or {}).get(c) == read(os.path.join(deploy, "config", c)),
          "deploy/k8s/configmap.yaml: %s differs from deploy/config/%s (byte for byte; see the command in "
          "configmap.yaml)" % (c, c))
secret = objs.get(("Secret", "distrise-secrets"), (None, {}))[1]
sdata = dict(secret.get("stringData") or {})
for k in ("gateway-token", "db-password"):
    check(k in sdata, "deploy/k8s/secret.yaml: no stringData %s" % k)
for k, v in sdata.items():
    check("change-me" in str(v), "deploy/k8s/secret.yaml: %s must be an obvious placeholder (change-me...)" % k)
tok_file = os.path.join(deploy, "config/secrets/gateway_token")
if os.path.isfile(tok_file):
    check(read(tok_file).strip() == sdata.get("gateway-token"),
          "deploy/config/secrets/gateway_token and secret.yaml's gateway-token differ")
deploy_md = read(os.path.join(root, "docs/deploy.md")) if os.path.isfile(os.path.join(root, "docs/deploy.md")) else ""
check(bool(deploy_md), "docs/deploy.md missing")
documented_cms = set(re.findall(r"create configmap ([a-z0-9-]+)", deploy_md))
for f in re.findall(r"--from-file=(\S+)", deploy_md):
    if "alerting" in f:
        continue  # optional (grafana.yaml mounts it optionally)
    check(os.path.exists(os.path.join(root, f)), "docs/deploy.md: --from-file=%s does not exist" % f)
check(re.search(r"docker build -f deploy/Dockerfile( \S+)* \.(\s|$)", deploy_md) is not None,
      "docs/deploy.md: the docker build command (docker build -f deploy/Dockerfile ... .)")
check("docker compose -f deploy/compose.yaml up" in deploy_md, "docs/deploy.md: the compose command")
check("kubectl apply -f deploy/k8s/" in deploy_md, "docs/deploy.md: the kubectl command")

workloads = [(p, d) for p, d in k8s if isinstance(d, dict) and d.get("kind") in ("Deployment", "StatefulSet")]
ours = {}
for p, d in workloads:
    name = d["metadata"]["name"]
    spec = d.get("spec", {})
    tpl = spec.get("template", {})
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    check(sel and all(labels.get(k) == v for k, v in sel.items()), "%s: %s selector does not match its pod labels"
          % (p, name))
    pod = tpl.get("spec", {})
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for v in pod.get("volumes", []):
        if "configMap" in v:
            n = v["configMap"]["name"]
            check(("ConfigMap", n) in objs or n in documented_cms or v["configMap"].get("optional"),
                  "%s: ConfigMap %s is neither in deploy/k8s nor created in docs/deploy.md" % (p, n))
        if "secret" in v:
            n = v["secret"]["secretName"]
            check(("Secret", n) in objs, "%s: Secret %s not in deploy/k8s" % (p, n))
            for it in v["secret"].get("items", []):
                check(it["key"] in sdata, "%s: Secret key %s missing" % (p, it["key"]))
        if "persistentVolumeClaim" in v:
            check(("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]) in objs,
                  "%s: claim %s not in deploy/k8s" % (p, v["persistentVolumeClaim"]["claimName"]))
    psc = pod.get("securityContext") or {}
    for c in pod.get("containers", []):
        cname = "%s: %s/%s container %s" % (p, d["kind"], name, c.get("name"))
        res = c.get("resources") or {}
        check(bool(res.get("requests")), "%s has no resources.requests" % cname)
        check(bool((res.get("limits") or {}).get("memory")), "%s has no memory limit" % cname)
        for probe in ("readinessProbe", "livenessProbe"):
            check(bool(c.get(probe)), "%s has no %s" % (cname, probe))
        for e in c.get("env", []):
            ref = ((e.get("valueFrom") or {}).get("secretKeyRef") or {})
            if ref:
                check(("Secret", ref.get("name")) in objs and ref.get("key") in sdata,
                      "%s: env %s refers to a missing Secret key %s/%s" % (cname, e["name"], ref.get("name"),
                                                                           ref.get("key")))
        if not str(c.get("image", "")).startswith("distrise"):
            continue
        ours[name] = (p, d, c)
        ports = {pt.get("name"): pt["containerPort"] for pt in c.get("ports", [])}
        cmdl = list(c.get("command") or []) + list(c.get("args") or [])
        prog = cmdl[0] if cmdl else "nostr-relay"
        want = relay_port if prog == "nostr-relay" else gateway_port
        check(want in ports.values(), "%s: containerPort %d missing" % (cname, want))
        for probe in ("readinessProbe", "livenessProbe"):
            hg = (c.get(probe) or {}).get("httpGet") or {}
            port = hg.get("port")
            port = ports.get(port, port)
            check(hg.get("path") == "/healthz" and port == want, "%s: %s must be httpGet /healthz on port %d"
                  % (cname, probe, want))
        csc = c.get("securityContext") or {}
        check(csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, "%s: runAsNonRoot" % cname)
        check(csc.get("runAsUser", psc.get("runAsUser")) == uid, "%s: runAsUser must be the image's uid %d" % (cname, uid))
        check(csc.get("readOnlyRootFilesystem") is True, "%s: readOnlyRootFilesystem" % cname)
        check(csc.get("allowPrivilegeEscalation") is False, "%s: allowPrivilegeEscalation: false" % cname)
        mnts = {m["mountPath"]: vols.get(m["name"], {}) for m in c.get("volumeMounts", [])}
        cfg = flag(cmdl, "--config") or ("/etc/distrise/relay.conf" if prog == "nostr-relay" else None)
        v = mnts.get(os.path.dirname(cfg or "/-"), {})
        check("configMap" in v and ("ConfigMap", v["configMap"]["name"]) in objs and
              os.path.basename(cfg) in (objs[("ConfigMap", v["configMap"]["name"])][1].get("data") or {}),
              "%s: --config %s is not a file of a mounted ConfigMap" % (cname, cfg))
        check("--token" not in cmdl and not any("TOKEN" in e.get("name", "") for e in c.get("env", [])),
              "%s: the token must come as a file (--token-file), not an argument or env" % cname)
        if prog == "nostr-relay":
            check(d["spec"].get("replicas") == 1, "%s: the built-in store is single-writer: replicas 1" % cname)
            check((d["spec"].get("strategy") or {}).get("type") == "Recreate", "%s: strategy Recreate" % cname)
            check("persistentVolumeClaim" in mnts.get("/data", {}), "%s: /data must be a PersistentVolumeClaim" % cname)
        if prog == "nostr-gateway":
            check(d["spec"].get("replicas") == 1, "%s: one gateway per database: replicas 1" % cname)
            tfile = flag(cmdl, "--token-file") or ""
            v = mnts.get(os.path.dirname(tfile), {})
            items = [it["path"] for it in (v.get("secret") or {}).get("items", [])] or list(sdata)
            check("secret" in v and os.path.basename(tfile) in items,
                  "%s: --token-file %s is not a file of a mounted Secret" % (cname, tfile))
            env = {e["name"]: e for e in c.get("env", [])}
            check("secretKeyRef" in ((env.get("PGPASSWORD") or {}).get("valueFrom") or {}),
                  "%s: PGPASSWORD must come from the Secret" % cname)
            a = flag(cmdl, "--amqp")
            if a:
                m = re.match(r"amqp://[^@]*@([^:/]+):(\d+)/", a)
                check(bool(m) and ("Service", m.group(1)) in objs, "%s: --amqp %s names no Service" % (cname, a))
                for var in re.findall(r"\$\((\w+)\)", a):
                    check(var in env, "%s: --amqp uses $(%s), which is not in env" % (cname, var))
for n in ("relay", "gateway"):
    check(n in ours, "deploy/k8s: no Deployment running the distrise image as %s" % n)
# Services select pods and name their ports
svc_ports = {}
for p, d in k8s:
    if not isinstance(d, dict) or d.get("kind") != "Service":
        continue
    sel = (d.get("spec") or {}).get("selector") or {}
    match = [w for _, w in workloads if all(((w["spec"]["template"].get("metadata") or {}).get("labels") or {}).get(k) == v
                                            for k, v in sel.items())]
    check(sel and match, "%s: Service %s selects no workload" % (p, d["metadata"]["name"]))
    names = {pt.get("name") for w in match for c in w["spec"]["template"]["spec"]["containers"] for pt in c.get("ports", [])}
    nums = {pt.get("containerPort") for w in match for c in w["spec"]["template"]["spec"]["containers"] for pt in c.get("ports", [])}
    for pt in d["spec"].get("ports", []):
        tp = pt.get("targetPort", pt.get("port"))
        check(tp in names or tp in nums, "%s: Service %s targetPort %s is no container port" % (p, d["metadata"]["name"], tp))
        svc_ports.setdefault(d["metadata"]["name"], set()).add(pt["port"])
for t in targets:
    host, _, port = t.rpartition(":")
    check(int(port) in svc_ports.get(host, ()), "deploy/prometheus.yml target %s is no Kubernetes Service port" % t)
check(db_port in svc_ports.get(db_host, ()), "gateway.conf db %s:%d is no Kubernetes Service" % (db_host, db_port))
for u in ds_urls:
    m = re.match(r"https?://([^:/]+):(\d+)", u)
    check(bool(m) and int(m.group(2)) in svc_ports.get(m.group(1), ()), "Grafana datasource %s is no Kubernetes Service" % u)

print("static checks: %d passed, %d failed" % (oks, fails))
sys.exit(min(fails, 100))
PY
static_rc=$?
grep -v '^static checks:' "$tmp/static.out" >&2
static_summary=$(grep '^static checks:' "$tmp/static.out")
echo "${static_summary:-static checks: did not finish}"
if [ "$static_rc" -eq 0 ]; then ok; else bad "static checks (above)"; fi

# ---- 4 (before 3): the image's build stage, simulated ----
# The build stage's commands (from the Dockerfile, paths moved into the temp
# dir) on a copy of the build context filtered by .dockerignore, on this
# Debian 12 with the same -dev packages: the programs must land in the
# prefix the runtime stage copies from.
if [ -s "$tmp/build_stage.sh" ] && [ -s "$tmp/context.txt" ]; then
  mkdir -p "$tmp/ctx"
  if (cd "$root" && tar -cf - --no-recursion -T "$tmp/context.txt") | tar -C "$tmp/ctx" -xf -; then
    if CTX=$tmp/ctx BDIR=$tmp/image-build PFX=$tmp/image-prefix timeout 900 bash "$tmp/build_stage.sh" \
      > "$tmp/image-build.log" 2>&1; then
      ok
      for p in nostr-relay nostr-gateway; do
        if [ -x "$tmp/image-prefix/bin/$p" ]; then ok; else bad "simulated image build: no bin/$p in the prefix"; fi
      done
    else
      bad "the Dockerfile's build stage fails here (context filtered by .dockerignore):"
      tail -n 30 "$tmp/image-build.log" >&2
    fi
  else
    bad "could not copy the build context"
  fi
  rm -rf "$tmp/ctx" "$tmp/image-build"
else
  bad "no build-stage commands or context list from the static checks"
fi

# ---- 3: the programs start with the configuration they carry ----
# start_url LOG: the ws:// URL from a program's start line (10 s at most)
start_url() {
  local i url
  for i in $(seq 1 100); do
    url=$(sed -n 's/.* listening on \(ws:\/\/[^ ,"]*\).*/\1/p' "$1" | head -n 1)
    [ -n "$url" ] && { echo "$url"; return 0; }
    sleep 0.1
  done
  return 1
}
# http_code URL [curl args...]: the status, bounded
http_code() {
  local url=$1
  shift
  curl -s -o "$tmp/body" -w '%{http_code}' --max-time 10 "$@" "$url"
}
# stop PID NAME: SIGTERM, exit 0 within 20 s
stop() {
  local i
  kill -TERM "$1" 2> /dev/null
  for i in $(seq 1 200); do
    kill -0 "$1" 2> /dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2> /dev/null; then
    bad "$2 did not stop within 20 s of SIGTERM"
    return
  fi
  wait "$1"
  local rc=$? q kept=()
  # reaped: forget it (cleanup must not kill a reused pid)
  for q in "${pids[@]}"; do [ "$q" = "$1" ] || kept+=("$q"); done
  pids=(${kept[@]+"${kept[@]}"})
  if [ "$rc" -eq 0 ]; then ok; else bad "$2 exited $rc after SIGTERM (want 0)"; fi
}

conf_value() { sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1/p" "$1" | tail -n 1; }

# the relay: only bind, port and data overridden
relay_conf=$root/deploy/config/relay.conf
"$build/nostr-relay" --config "$relay_conf" --bind 127.0.0.1 --port 0 --data "$tmp/relay-data" \
  > /dev/null 2> "$tmp/relay.log" &
relay_pid=$!
pids+=("$relay_pid")
if relay_url=$(start_url "$tmp/relay.log"); then
  ok
  relay_http=http${relay_url#ws}
  code=$(http_code "${relay_http}healthz")
  if [ "$code" = 200 ]; then ok; else bad "relay GET /healthz: $code (want 200)"; fi
  want_name=$(conf_value "$relay_conf" name)
  code=$(http_code "$relay_http" -H 'Accept: application/nostr+json')
  got_name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("name",""))' "$tmp/body" 2> /dev/null)
  if [ "$code" = 200 ] && [ -n "$want_name" ] && [ "$got_name" = "$want_name" ]; then ok; else
    bad "relay NIP-11: status $code, name '$got_name' (want '$want_name' from relay.conf)"
  fi
  # one event for the gateway to fetch (gateway.conf's backfill reaches it)
  if timeout 20 "$build/nostr-publish" --relay "$relay_url" \
    --sec 0101010101010101010101010101010101010101010101010101010101010101 "deploy test" \
    > "$tmp/publish.log" 2>&1; then ok; else
    bad "nostr-publish to the relay failed:"
    cat "$tmp/publish.log" >&2
  fi
else
  bad "nostr-relay with deploy/config/relay.conf did not start:"
  cat "$tmp/relay.log" >&2
  relay_url=
fi

# the gateway: bind, port, db and amqp overridden; the token from secret.yaml
token=$(python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "Secret":
        print(d["stringData"]["gateway-token"])' "$root/deploy/k8s/secret.yaml" 2> /dev/null)
db_password=$(python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "Secret":
        print(d["stringData"]["db-password"])' "$root/deploy/k8s/secret.yaml" 2> /dev/null)
[ -n "$token" ] || bad "no gateway-token in deploy/k8s/secret.yaml"
printf '%s\n' "$token" > "$tmp/gateway_token"
chmod 0400 "$tmp/gateway_token"
if [ -z "$relay_url" ] || [ -z "$token" ]; then finish; fi
pg_start || { bad "PostgreSQL did not start (tests/pg_start.sh)"; finish; }
rmq_start || { bad "RabbitMQ did not start (tests/rabbitmq_start.sh)"; finish; }
PGPASSWORD=$db_password "$build/nostr-gateway" --config "$root/deploy/config/gateway.conf" \
  --bind 127.0.0.1 --port 0 --db "$PG_CONNINFO" --amqp "$RMQ_URL" --token-file "$tmp/gateway_token" \
  > /dev/null 2> "$tmp/gateway.log" &
gateway_pid=$!
pids+=("$gateway_pid")
if gw_url=$(start_url "$tmp/gateway.log"); then
  ok
  gw=http${gw_url#ws}
  code=$(http_code "${gw}healthz")
  if [ "$code" = 200 ]; then ok; else bad "gateway GET /healthz: $code (want 200)"; fi
  body="{\"url\": \"$relay_url\"}"
  code=$(http_code "${gw}api/relays" -H 'Authorization: Bearer not-the-token' -H 'Content-Type: application/json' \
    -d "$body")
  if [ "$code" = 401 ]; then ok; else bad "POST /api/relays with a wrong token: $code (want 401)"; fi
  code=$(http_code "${gw}api/relays" -H 'Content-Type: application/json' -d "$body")
  if [ "$code" = 401 ]; then ok; else bad "POST /api/relays without a token: $code (want 401)"; fi
  code=$(http_code "${gw}api/relays" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")
  if [ "$code" = 201 ]; then ok; else
    bad "POST /api/relays with the Secret's token: $code (want 201): $(cat "$tmp/body")"
  fi
  # /metrics: the upstream up and its event stored (through RabbitMQ into PostgreSQL), 30 s at most
  up='' stored=''
  for i in $(seq 1 150); do
    curl -s --max-time 5 -o "$tmp/metrics" "${gw}metrics"
    up=$(grep -F "nostr_gateway_upstream_up{relay=\"$relay_url\"}" "$tmp/metrics" | awk '{print $2}')
    stored=$(grep -F "nostr_gateway_upstream_stored_total{relay=\"$relay_url\"}" "$tmp/metrics" | awk '{print $2}')
    [ "$up" = 1 ] && [ "${stored:-0}" != 0 ] && break
    sleep 0.2
  done
  if [ "$up" = 1 ]; then ok; else bad "/metrics: nostr_gateway_upstream_up{relay=\"$relay_url\"} is '$up' (want 1)"; fi
  if [ -n "$stored" ] && [ "$stored" != 0 ]; then ok; else
    bad "/metrics: the upstream's event was not stored within 30 s (stored_total '$stored')"
    tail -n 20 "$tmp/gateway.log" >&2
  fi
  # the upstream goes away: one line saying so, with why
  stop "$relay_pid" nostr-relay
  relay_pid=
  for i in $(seq 1 100); do grep -q '"msg":"upstream 1 down: ' "$tmp/gateway.log" && break; sleep 0.1; done
  if grep -q '"msg":"upstream 1 down: ' "$tmp/gateway.log"; then ok; else
    bad "gateway log: no 'upstream 1 down' line after its relay stopped"
  fi
  stop "$gateway_pid" nostr-gateway
else
  bad "nostr-gateway with deploy/config/gateway.conf did not start:"
  cat "$tmp/gateway.log" >&2
fi
[ -n "$relay_pid" ] && stop "$relay_pid" nostr-relay

# log_format = json in both configs: every line one JSON object with ts,
# level and msg, and the gateway's notable events each on a line
python3 - "$tmp/relay.log" "$tmp/gateway.log" > "$tmp/logs.out" 2>&1 << 'PY'
import json, sys
fails = 0
for path in sys.argv[1:]:
    msgs = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        try:
            o = json.loads(line)
            assert isinstance(o, dict) and set(o) >= {"ts", "level", "msg"}, "fields"
            assert o["level"] in ("error", "warn", "info", "debug"), "level"
            msgs.append(o["msg"])
        except Exception as e:
            print(f"FAIL: {path}:{n}: not a JSON log line ({e}): {line.rstrip()[:200]}")
            fails += 1
    if not msgs:
        print(f"FAIL: {path}: no log lines")
        fails += 1
    if path.endswith("gateway.log"):
        for want in ("nostr-gateway listening on ", "upstream 1 added: ", "upstream 1 open: ", "upstream 1 down: ", "stopped"):
            if not any(m.startswith(want) for m in msgs):
                print(f"FAIL: {path}: no line starting {want!r}")
                fails += 1
print(f"{fails} log failures")
if fails:
    print(open(sys.argv[2]).read()[-3000:])
sys.exit(1 if fails else 0)
PY
if [ $? -eq 0 ]; then ok; else
  bad "JSON logs:"
  cat "$tmp/logs.out" >&2
fi
finish
