#!/usr/bin/env bash
# deploy/prometheus.yml and deploy/alerts.yml against a real Prometheus
# (Debian's /usr/bin/prometheus): a nostr-relay to scrape, a second
# nostr-relay as the gateway's upstream (one event published to it with
# nostr-publish), a nostr-gateway on a throwaway PostgreSQL
# (tests/pg_start.sh), then Prometheus with a copy of deploy/prometheus.yml
# whose targets point at those programs and whose intervals are 1 s. Passes
# when Prometheus's HTTP API has both targets up, the gateway's per-relay
# series for the upstream (connected, the event counted) and the three alert
# rules of deploy/alerts.yml loaded. Then deploy/grafana/ (Grafana is not in
# Debian, so no Grafana runs; see grafana_check below): the dashboard JSON
# and the provisioning YAML are well formed, every PromQL expression in them
# is one this Prometheus accepts and answers with series, every metric name
# in them is in the programs' /metrics, and the Grafana alert rules match
# deploy/alerts.yml.
# Usage: test_prometheus.sh BUILD_DIR (ctest runs it from tests/). Fails,
# not skips, without prometheus, python3 (with yaml) or PostgreSQL. Under a
# minute.
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
python3 -c 'import yaml' 2> /dev/null || fail "python3-yaml missing (apt-get install python3-yaml)"
for p in nostr-relay nostr-gateway nostr-publish; do
  [ -x "$build/$p" ] || fail "missing $build/$p"
done
for f in prometheus.yml alerts.yml grafana/dashboards/distrise.json \
  grafana/provisioning/datasources/prometheus.yml grafana/provisioning/dashboards/distrise.yml \
  grafana/provisioning/alerting/distrise.yml; do
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

# grafana_check: deploy/grafana/ against this Prometheus (at most 30 s for
# series to appear; a rejected expression fails at once):
# - the dashboard: uid distrise, schemaVersion, the multi-select `relay`
#   variable on label_values(nostr_gateway_upstream_up, relay), unique panel
#   ids, every panel and target on the datasource uid "prometheus" (or a
#   datasource variable), every target with an expr;
# - the provisioning files: datasource uid prometheus at
#   http://prometheus:9090, the dashboard provider on
#   /var/lib/grafana/dashboards; the alert rules with uid, title, condition
#   (a refId of a threshold/math step), data (Prometheus queries with a
#   relativeTimeRange and an expr, reduce/threshold steps on existing
#   refIds), for, labels, annotations; the same alert names, `for` and
#   severity as deploy/alerts.yml;
# - every metric name in an expression is in the /metrics of nostr-relay or
#   nostr-gateway (a renamed metric fails here);
# - every expression ($relay as .* and as the upstream's URL,
#   $__rate_interval as 1m, ...) is accepted by /api/v1/query and answers at
#   least one series (only the upstream's for $relay = its URL; both the
#   nostr-relay and the gateway's read relay for nostr_relay_* panels); the
#   relay variable lists the upstream;
# - each Grafana rule (query, then threshold) fires for exactly the series
#   deploy/alerts.yml's rule of the same name returns, at the same instant.
grafana_check() {
  cat > "$tmp/grafana_check.py" << 'PYEOF'
# deploy/grafana/ checked against the running Prometheus and programs
# (from tests/test_prometheus.sh): argv = PROM_URL DEPLOY_DIR RELAY_METRICS_URL
# GATEWAY_METRICS_URL UPSTREAM_URL TIMEOUT_S. Exit 1 with FAIL lines on any problem.
import json, re, sys, time, urllib.error, urllib.parse, urllib.request
import yaml

prom, deploy, relay_metrics, gw_metrics, up_url, timeout = sys.argv[1:7]
deadline = time.time() + float(timeout)
errors = []


def err(msg):
    errors.append(msg)


def done():
    if errors:
        for e in errors:
            print("FAIL: " + e, file=sys.stderr)
        sys.exit(1)


def load(path, how):
    try:
        with open(deploy + "/" + path) as f:
            return how(f)
    except Exception as e:
        err(f"deploy/{path}: cannot load: {e}")
        return None


dash = load("grafana/dashboards/distrise.json", json.load)
alerting = load("grafana/provisioning/alerting/distrise.yml", yaml.safe_load)
dsprov = load("grafana/provisioning/datasources/prometheus.yml", yaml.safe_load)
dbprov = load("grafana/provisioning/dashboards/distrise.yml", yaml.safe_load)
promrules = load("alerts.yml", yaml.safe_load)
done()

# ---- provisioning files ----
dss = (dsprov or {}).get("datasources") or []
if dsprov.get("apiVersion") != 1 or not any(
        d.get("uid") == "prometheus" and d.get("type") == "prometheus" and d.get("url") == "http://prometheus:9090"
        for d in dss):
    err("datasources/prometheus.yml: needs apiVersion 1 and a datasource uid prometheus, type prometheus, "
        "url http://prometheus:9090")
provs = (dbprov or {}).get("providers") or []
if dbprov.get("apiVersion") != 1 or not any(
        p.get("type", "file") == "file" and (p.get("options") or {}).get("path") == "/var/lib/grafana/dashboards"
        for p in provs):
    err("dashboards/distrise.yml: needs apiVersion 1 and a file provider with options.path /var/lib/grafana/dashboards")

# ---- the dashboard ----
D = "dashboards/distrise.json"
if not isinstance(dash, dict):
    err(f"{D}: not a JSON object")
    done()
if dash.get("uid") != "distrise":
    err(f"{D}: uid is {dash.get('uid')!r}, not \"distrise\"")
if not isinstance(dash.get("schemaVersion"), int) or not 36 <= dash["schemaVersion"] <= 41:
    err(f"{D}: schemaVersion {dash.get('schemaVersion')!r}, expected 36..41")
if not dash.get("title"):
    err(f"{D}: no title")
tvars = {v.get("name"): v for v in (dash.get("templating") or {}).get("list") or []}
dsvars = {n for n, v in tvars.items() if v.get("type") == "datasource"}
RELAY_VALUES = "label_values(nostr_gateway_upstream_up, relay)"


def ds_ok(ds):
    if not isinstance(ds, dict):
        return False
    uid = ds.get("uid", "")
    if uid == "prometheus":
        return ds.get("type", "prometheus") == "prometheus"
    m = re.fullmatch(r"\$\{?(\w+)\}?", uid)
    return bool(m and m.group(1) in dsvars)


rv = tvars.get("relay")
if not rv:
    err(f"{D}: no template variable `relay`")
else:
    q = rv.get("query")
    q = q.get("query") if isinstance(q, dict) else q
    if rv.get("type") != "query" or (q or "").replace(" ", "") != RELAY_VALUES.replace(" ", ""):
        err(f"{D}: variable relay must be a query variable on {RELAY_VALUES} (is {rv.get('type')!r} {q!r})")
    if rv.get("multi") is not True or rv.get("includeAll") is not True:
        err(f"{D}: variable relay must be multi-select with All")
    if not ds_ok(rv.get("datasource")):
        err(f"{D}: variable relay: datasource {rv.get('datasource')!r} is not the prometheus one")

exprs = []  # (where, expr)
ids = {}


def walk(panels, where):
    for p in panels or []:
        pid, title = p.get("id"), p.get("title", "?")
        w = f"{D}: panel {pid} {title!r}"
        if not isinstance(pid, int):
            err(f"{w}: id is not an integer")
        elif pid in ids:
            err(f"{w}: id {pid} also used by {ids[pid]!r}")
        else:
            ids[pid] = title
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24:
            err(f"{w}: bad gridPos {g}")
        if p.get("type") == "row":
            walk(p.get("panels"), where)
            continue
        if not ds_ok(p.get("datasource")):
            err(f"{w}: datasource {p.get('datasource')!r} is neither uid prometheus nor a datasource variable")
        ts = p.get("targets") or []
        if not ts:
            err(f"{w}: no targets")
        refs = [t.get("refId") for t in ts]
        if len(set(refs)) != len(refs) or None in refs:
            err(f"{w}: refIds missing or not unique: {refs}")
        for t in ts:
            if "datasource" in t and not ds_ok(t["datasource"]):
                err(f"{w}: target {t.get('refId')}: datasource {t['datasource']!r}")
            if not isinstance(t.get("expr"), str) or not t["expr"].strip():
                err(f"{w}: target {t.get('refId')} has no expr")
            else:
                exprs.append((f"{w} target {t.get('refId')}", t["expr"]))


walk(dash.get("panels"), D)
if not exprs:
    err(f"{D}: no panel queries")

# ---- the alert rules ----
A = "provisioning/alerting/distrise.yml"
grules = {}
if not isinstance(alerting, dict) or alerting.get("apiVersion") != 1 or not alerting.get("groups"):
    err(f"{A}: needs apiVersion 1 and groups")
else:
    for g in alerting["groups"]:
        if not g.get("name") or not g.get("folder") or not g.get("interval") or not g.get("rules"):
            err(f"{A}: group {g.get('name')!r} needs name, folder, interval and rules")
        for r in g.get("rules") or []:
            w = f"{A}: rule {r.get('title') or r.get('uid')!r}"
            for k in ("uid", "title", "condition", "data", "for", "labels", "annotations"):
                if not r.get(k):
                    err(f"{w}: no {k}")
            if r.get("uid") and not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(r["uid"])):
                err(f"{w}: uid {r['uid']!r} (Grafana: at most 40 of [A-Za-z0-9_-])")
            if r.get("uid") in {x["uid"] for x in grules.values()}:
                err(f"{w}: uid {r['uid']!r} used twice")
            data = r.get("data") or []
            refs = {d.get("refId"): d for d in data}
            if len(refs) != len(data) or None in refs:
                err(f"{w}: data refIds missing or not unique")
            if r.get("condition") not in refs:
                err(f"{w}: condition {r.get('condition')!r} is not one of the data refIds {sorted(refs, key=str)}")
            queries, steps = [], {}
            for d in data:
                m = d.get("model") or {}
                dw = f"{w}: data {d.get('refId')}"
                if m.get("refId") != d.get("refId"):
                    err(f"{dw}: model.refId {m.get('refId')!r} differs")
                if d.get("datasourceUid") == "__expr__":
                    steps[d.get("refId")] = m
                    if m.get("type") not in ("reduce", "threshold", "math", "resample", "classic_conditions"):
                        err(f"{dw}: expression type {m.get('type')!r}")
                    if m.get("type") in ("reduce", "threshold", "resample") and m.get("expression") not in refs:
                        err(f"{dw}: expression {m.get('expression')!r} is not a refId of the rule")
                    if m.get("type") == "threshold":
                        c = (m.get("conditions") or [{}])[0].get("evaluator") or {}
                        if c.get("type") not in ("gt", "lt", "within_range", "outside_range") or not c.get("params"):
                            err(f"{dw}: threshold evaluator {c!r}")
                elif d.get("datasourceUid") == "prometheus":
                    rt = d.get("relativeTimeRange") or {}
                    if not isinstance(rt.get("from"), int) or not isinstance(rt.get("to"), int) or rt["from"] <= rt["to"]:
                        err(f"{dw}: relativeTimeRange {rt!r} (needs from > to, seconds)")
                    if not isinstance(m.get("expr"), str) or not m["expr"].strip():
                        err(f"{dw}: no model.expr")
                    else:
                        queries.append((d["refId"], m["expr"]))
                        exprs.append((f"{dw}", m["expr"]))
                else:
                    err(f"{dw}: datasourceUid {d.get('datasourceUid')!r} is neither prometheus nor __expr__")
            if not queries:
                err(f"{w}: no Prometheus query")
            if not any(s.get("type") in ("reduce", "threshold") for s in steps.values()):
                err(f"{w}: no reduce/threshold expression step")
            cond = steps.get(r.get("condition"))
            if cond is None or cond.get("type") not in ("threshold", "math", "classic_conditions"):
                err(f"{w}: the condition {r.get('condition')!r} is not a threshold/math expression step")
            grules[r.get("title")] = {"uid": r.get("uid"), "rule": r, "queries": queries, "steps": steps}

# ---- consistent with deploy/alerts.yml ----
prules = {r["alert"]: r for g in (promrules or {}).get("groups") or [] for r in g.get("rules") or [] if "alert" in r}
if set(prules) != set(grules):
    err(f"{A}: alert titles {sorted(grules, key=str)} differ from deploy/alerts.yml's {sorted(prules)}")
for name in set(prules) & set(grules):
    gr, pr = grules[name]["rule"], prules[name]
    if str(gr.get("for")) != str(pr.get("for")):
        err(f"{A}: {name}: for {gr.get('for')!r}, deploy/alerts.yml says {pr.get('for')!r}")
    if (gr.get("labels") or {}).get("severity") != (pr.get("labels") or {}).get("severity"):
        err(f"{A}: {name}: severity differs from deploy/alerts.yml")
    # the same windows and thresholds (numbers other than 0 and 1, durations)
    consts = lambda e: {c for c in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:ms|[smhdwy])?(?![\w.])", e)
                        if c not in ("0", "1")}
    gc = set().union(*[consts(q) for _, q in grules[name]["queries"]])
    for s in grules[name]["steps"].values():
        for c in s.get("conditions") or []:
            gc |= consts(" ".join(str(x) for x in (c.get("evaluator") or {}).get("params") or []))
    if gc != consts(pr.get("expr", "")):
        err(f"{A}: {name}: windows/thresholds {sorted(gc)} differ from deploy/alerts.yml's "
            f"{sorted(consts(pr.get('expr', '')))}")
done()

# ---- every metric name is one the programs serve ----
def metric_names(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return {re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", l).group(0) for l in text.splitlines() if l and l[0] != "#"}


try:
    served = metric_names(relay_metrics) | metric_names(gw_metrics)
except Exception as e:
    err(f"cannot read /metrics: {e}")
    done()
served.add("up")  # Prometheus's own, per target
KEYWORDS = {"bool", "and", "or", "unless", "offset", "by", "without", "on", "ignoring", "group_left",
            "group_right", "inf", "nan", "atan2"}


def metrics_in(expr):
    s = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'|`[^`]*`', '""', expr)  # strings
    s = re.sub(r"\{[^}]*\}", "", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)  # ranges
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+(:\w+)?\}?", " ", s)  # Grafana variables
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", s):
        n = m.group(0)
        if n.lower() in KEYWORDS or re.match(r"\s*\(", s[m.end():]):
            continue  # a function, an aggregation or a keyword
        names.add(n)
    return names


for where, e in exprs + [(f"{D}: variable relay", "nostr_gateway_upstream_up")]:
    ns = metrics_in(e)
    if not ns:
        err(f"{where}: no metric name found in {e!r}")
    for n in sorted(ns - served):
        err(f"{where}: metric {n} is not in the /metrics output of nostr-relay or nostr-gateway ({e!r})")
done()

# ---- every expression against Prometheus ----
BUILTIN = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600",
           "__range_ms": "3600000", "__interval_ms": "15000"}


def subst(expr, relay):
    def one(m):
        v = m.group(1) or m.group(2)
        if v == "relay":
            return relay
        if v in BUILTIN:
            return BUILTIN[v]
        raise KeyError(v)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", one, expr)


def api(path, form=None):
    data = urllib.parse.urlencode(form).encode() if form else None
    try:
        with urllib.request.urlopen(prom + path, data=data, timeout=5) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400 with a JSON error body
        try:
            return json.load(e)
        except Exception:
            return {"status": "error", "error": str(e)}
    except Exception as e:
        return {"status": "error", "errorType": "connection", "error": str(e)}


def query(expr, at=None):
    form = {"query": expr}
    if at is not None:
        form["time"] = repr(at)
    return api("/api/v1/query", form)


cases = []  # (where, PromQL, per-relay, all nostr_relay_*)
for where, e in exprs:
    try:
        variants = [subst(e, ".*")] + ([subst(e, up_url)] if re.search(r"\$\{?relay\b", e) else [])
    except KeyError as k:
        err(f"{where}: unknown variable ${k.args[0]} in {e!r}")
        continue
    relay_only = all(n.startswith("nostr_relay_") for n in metrics_in(e))
    for i, v in enumerate(variants):
        cases.append((where, v, i == 1, relay_only))
done()

pending = None
while True:
    problems = []
    for where, q, per_relay, relay_only in cases:
        d = query(q)
        if d.get("status") != "success":
            if d.get("errorType") in ("bad_data", "execution"):  # parse error, unknown function...
                err(f"{where}: Prometheus rejects {q!r}: {d.get('errorType')}: {d.get('error')}")
            else:
                problems.append(f"{where}: {q!r}: {d.get('error')}")
            continue
        res = d["data"]["result"]
        if d["data"].get("resultType") != "vector" or not res:
            problems.append(f"{where}: no series for {q!r}")
        elif per_relay and any(s["metric"].get("relay", up_url) != up_url for s in res):
            problems.append(f"{where}: {q!r} gives other relays than {up_url}")
        elif relay_only and {"nostr-relay", "nostr-gateway"} - {s["metric"].get("job") for s in res}:
            problems.append(f"{where}: {q!r} lacks the nostr-relay or the gateway's read relay (job label): "
                            f"{sorted({str(s['metric'].get('job')) for s in res})}")
    done()  # rejected expressions: no point retrying
    # the relay variable's values
    d = api("/api/v1/label/relay/values?" + urllib.parse.urlencode({"match[]": "nostr_gateway_upstream_up"}))
    if d.get("status") != "success" or up_url not in d.get("data", []):
        problems.append(f"{D}: variable relay ({RELAY_VALUES}) does not list {up_url}: {d}")
    # each Grafana rule fires for the same series as deploy/alerts.yml's
    now = time.time()
    for name, g in grules.items():
        thr = [s for s in g["steps"].values() if s.get("type") == "threshold"]
        if len(g["queries"]) != 1 or len(thr) != 1 or name not in prules:
            continue
        ev = thr[0]["conditions"][0]["evaluator"]
        if ev["type"] not in ("gt", "lt"):
            continue
        gq = f"({g['queries'][0][1]}) {'>' if ev['type'] == 'gt' else '<'} {ev['params'][0]}"
        a, b = query(gq, now), query(prules[name]["expr"], now)
        if a.get("status") != "success" or b.get("status") != "success":
            problems.append(f"{A}: {name}: cannot evaluate {gq!r} or deploy/alerts.yml's expr: {a} {b}")
            continue
        key = lambda s: tuple(sorted((k, v) for k, v in s["metric"].items() if k != "__name__"))
        ga, pa = sorted(map(key, a["data"]["result"])), sorted(map(key, b["data"]["result"]))
        if ga != pa:
            problems.append(f"{A}: {name} would fire for {ga}, deploy/alerts.yml's for {pa}")
    if not problems:
        break
    if time.time() > deadline:
        for p in problems:
            err(p)
        done()
    time.sleep(1)
print(f"ok: deploy/grafana: {len(exprs)} PromQL expressions ({len(cases)} queries) answered by Prometheus, "
      f"metric names served by the programs, {len(grules)} Grafana alert rules consistent with deploy/alerts.yml")
PYEOF
  python3 "$tmp/grafana_check.py" "$prom" "$deploy" "http://$(hostport "$relay_url")/metrics" \
    "http://$(hostport "$gw_url")/metrics" "$up_url" 30
}
grafana_check || fail "deploy/grafana/ does not hold up against Prometheus (above)"
exit 0
