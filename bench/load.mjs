// A Node.js load generator for Nostr relays: the phases, flags, event split
// and output of bench_relay_load.c, with the WebSocket clients of the `ws`
// package (the one in tests/interop/node_modules) on Node's event loop, as
// an independent Node load generator would drive a relay (the issue's
// strfry numbers were measured that way).
//
//   node bench/load.mjs --url ws://127.0.0.1:PORT/ [--events FILE|N] [--mode MODE]
//                       [--conns C] [--inflight K] [--rounds R] [--pid PID]
//                       [--reqs Q] [--req-conns C] [--req-inflight K]
//                       [--subs S] [--fanout-events M] [--idle N] [--timeout S]
//                       [--max-message BYTES] [--zero-mask]
//
// Same flags and defaults as bench_relay_load: MODE ingest, req, fanout,
// idle or all (default all: idle on the fresh relay, then ingest, req,
// fanout); 8 publisher connections x 500 EVENTs in flight; 2000 REQs over
// 4 connections x 25 open; 200 subscribers x 2000 kind-1 events; 1000 idle
// connections; 3 rounds, medians printed. --events is a JSONL file of
// signed events, or N for bench_relay_load's generated set
// /tmp/distrise-bench/events-N.jsonl (this script does not sign: run
// bench_relay_load once to make the file; run_relay_bench.sh does).
//
// The same split as bench_relay_load (no event is sent twice in a run): the
// last R*M kind-1 events are kept for fan-out (at most half the file), the
// rest is cut into R ingest slices; events whose EVENT message would be over
// --max-message bytes are not sent. The REQ filters are drawn from the events
// the relay OKed (ephemeral kinds left out) with the same seeded generator as
// bench_relay_load, so both send the same REQs: authors+limit 20, kinds+limit
// 20, #e / #p (alternately) +limit 20, since/until 60 s window +limit 50.
//
// Measured as bench_relay_load does: ingest events/s = OKs / (last OK -
// first send), OK latency from the send to the OK; REQ/s = REQs answered /
// (last EOSE - first send), time to EOSE, rows and KiB (bytes read from the
// sockets) per REQ, each REQ CLOSEd at its EOSE; fan-out deliveries/s =
// deliveries / (last delivery - first send), latency from the send to
// arrival at a subscriber; idle = relay VmRSS growth / N connections.
// Latencies include the time the message waited in this process's event
// loop. With a relay PID (--pid, else the process listening on the URL's
// port) each phase prints the cores the relay, this process (all its
// threads: /proc/self/stat), the kernel's softirq work and other processes
// kept busy. Not measured here: bare verify (bench_relay_load times
// libsecp256k1 in C before each ingest round; there is no C in this process).
//
// Like bench_relay_load, messages are recognised by their prefix (["OK","...
// ["EVENT","... ["EOSE","...) without parsing whole events, and what a
// connection has to send after a read (refills, CLOSEs) is written at once
// after the messages of that read (the socket is corked meanwhile).
// Frames are masked with ws's random keys, in JavaScript (the optional native
// bufferutil package is not installed): some 7 us per KiB sent here, a
// tenth of a core at 6,000 events/s.
// --zero-mask sends all-zero keys, which ws does not apply (a relay unmasks
// as before), for a load generator that spends less of the shared cores.
// Sockets: run with `ulimit -n` above idle + subs + conns + req-conns.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const requireInterop = createRequire(path.join(HERE, '..', 'tests', 'interop', 'package.json'));
let WebSocket, WS_VERSION;
try {
  WebSocket = requireInterop('ws');
  WS_VERSION = requireInterop('ws/package.json').version;
} catch (e) {
  console.error(`load.mjs: cannot load the ws package from tests/interop/node_modules (npm ci there): ${e.message}`);
  process.exit(1);
}

const CACHE_DIR = '/tmp/distrise-bench';
const MAX_HANDSHAKES = 64;
const MAX_ROUNDS = 32;

const now = () => performance.now() / 1e3;

function die(msg) {
  console.error(`load.mjs: ${msg}`);
  process.exit(1);
}

function usage() {
  console.error(
    'usage: node bench/load.mjs --url ws://127.0.0.1:PORT/ [--events FILE|N] [--mode ingest|req|fanout|idle|all]\n' +
      '       [--conns C] [--inflight K] [--rounds R] [--pid PID] [--reqs Q] [--req-conns C]\n' +
      '       [--req-inflight K] [--subs S] [--fanout-events M] [--idle N] [--timeout S]\n' +
      '       [--max-message BYTES] [--zero-mask]'
  );
  process.exit(2);
}

// ---- options ----

const o = {
  url: null,
  events: '100000',
  mode: 'all',
  conns: 8,
  inflight: 500,
  rounds: 3,
  pid: 0,
  reqs: 2000,
  reqConns: 4,
  reqInflight: 25,
  subs: 200,
  fanoutEvents: 2000,
  idle: 1000,
  timeout: 60,
  maxMessage: 131072,
  zeroMask: false,
};
{
  const names = {
    '--url': ['url', String],
    '--events': ['events', String],
    '--mode': ['mode', String],
    '--conns': ['conns', parseInt],
    '--inflight': ['inflight', parseInt],
    '--rounds': ['rounds', parseInt],
    '--pid': ['pid', parseInt],
    '--reqs': ['reqs', parseInt],
    '--req-conns': ['reqConns', parseInt],
    '--req-inflight': ['reqInflight', parseInt],
    '--subs': ['subs', parseInt],
    '--fanout-events': ['fanoutEvents', parseInt],
    '--idle': ['idle', parseInt],
    '--timeout': ['timeout', parseFloat],
    '--max-message': ['maxMessage', parseInt],
  };
  const argv = process.argv.slice(2).filter((a) => (a === '--zero-mask' ? !(o.zeroMask = true) : true));
  for (let a = 0; a < argv.length; a += 2) {
    const spec = names[argv[a]];
    if (!spec || a + 1 >= argv.length) usage();
    o[spec[0]] = spec[1](argv[a + 1]);
  }
  const pos = ['conns', 'inflight', 'rounds', 'reqs', 'reqConns', 'reqInflight', 'subs', 'fanoutEvents', 'idle'];
  if (!o.url || pos.some((k) => !(o[k] >= 1)) || o.rounds > MAX_ROUNDS || !(o.timeout > 0) || !(o.maxMessage > 0))
    usage();
  if (!['ingest', 'req', 'fanout', 'idle', 'all'].includes(o.mode)) usage();
}
const all = o.mode === 'all';
const mIngest = all || o.mode === 'ingest';
const mReq = all || o.mode === 'req';
const mFanout = all || o.mode === 'fanout';
const mIdle = all || o.mode === 'idle';

let port;
{
  const m = /^ws:\/\/([^/:]+):(\d+)(\/.*)?$/.exec(o.url);
  if (!m) die('the URL must be ws://host:port/...');
  port = Number(m[2]);
}

// ---- statistics and output, as bench_util.h / bench_relay_load print them ----

// p-th percentile of v[0..n) (copied, sorted), bench_util.h's pct()
function pct(v, n, p) {
  if (!n) return 0;
  const c = Float64Array.from(v.subarray ? v.subarray(0, n) : v.slice(0, n)).sort();
  const k = Math.floor((p / 100) * (n - 1) + 0.5);
  return c[Math.min(k, n - 1)];
}

function printMetric(name, v, unit, prec) {
  const n = v.length;
  const vals = v.map((x) => x.toFixed(prec)).join(' ');
  console.log(
    `${name.padEnd(30)} ${pct(v, n, 50).toFixed(prec).padStart(12)} ${unit.padEnd(12)} (${n > 1 ? 'median of ' : ''}${vals})`
  );
}

// ---- /proc: the relay's PID, RSS and CPU, this process's CPU, the machine ----

let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {}
const NCPU = os.cpus().length;

function findPidByPort(p) {
  let inode = null;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const w = line.trim().split(/\s+/);
      if (w.length < 10) continue;
      const lport = parseInt(w[1].slice(w[1].lastIndexOf(':') + 1), 16);
      if (w[3] === '0A' && lport === p) {
        inode = w[9];
        break;
      }
    }
    if (inode) break;
  }
  if (!inode) return 0;
  const want = `socket:[${inode}]`;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let fds;
    try {
      fds = fs.readdirSync(`/proc/${d}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${d}/fd/${fd}`) === want) return Number(d);
      } catch {}
    }
  }
  return 0;
}

function rssKib(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

// CPU seconds (user + system, all threads) of /proc/<which>/stat, or -1
function procCpuS(which) {
  try {
    const s = fs.readFileSync(`/proc/${which}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime: fields 14 and 15
  } catch {
    return -1;
  }
}

// all cores' busy seconds from /proc/stat, and the part in irq + softirq
function machineBusyS() {
  try {
    const line = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    if (v.length < 7) return null;
    return {
      busy: (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] || 0)) / CLK_TCK,
      irq: (v[5] + v[6]) / CLK_TCK,
    };
  } catch {
    return null;
  }
}

function cpuStart() {
  const m = machineBusyS();
  return {
    wall: now(),
    self: procCpuS('self'),
    relay: o.pid ? procCpuS(o.pid) : -1,
    machine: m ? m.busy : -1,
    irq: m ? m.irq : 0,
  };
}

function cpuStop(m, acc) {
  acc.wall += now() - m.wall;
  acc.self += procCpuS('self') - m.self;
  if (o.pid && m.relay >= 0) acc.relay += procCpuS(o.pid) - m.relay;
  if (m.machine >= 0) {
    const x = machineBusyS();
    if (x) {
      acc.machine += x.busy - m.machine;
      acc.irq += x.irq - m.irq;
    }
  }
}

const cpuAcc = () => ({ wall: 0, self: 0, relay: 0, machine: 0, irq: 0 });

function cpuReport(phase, a) {
  if (a.wall <= 0) return;
  const other = Math.max(0, a.machine - a.self - a.relay - a.irq);
  const c = (x) => (x / a.wall).toFixed(2);
  console.log(
    `${phase.padEnd(30)} cores busy over ${a.wall.toFixed(1)} s: relay ${c(a.relay)}, load generator ${c(a.self)}, ` +
      `softirq ${c(a.irq)}, other processes ${c(other)} (machine ${c(a.machine)} of ${NCPU})`
  );
}

// ---- the event set ----

function eventsPath(spec) {
  if (/^\d+$/.test(spec)) {
    const p = `${CACHE_DIR}/events-${spec}.jsonl`;
    if (!fs.existsSync(p))
      die(`${p} does not exist: bench_relay_load --events ${spec} generates it (bench/run_relay_bench.sh does)`);
    return p;
  }
  return spec;
}

const HEX64 = /^[0-9a-fA-F]{64}$/;
const HEX128 = /^[0-9a-fA-F]{128}$/;

// The fields bench_events_meta gives, or null for a line that is not an event.
function parseMeta(line) {
  let ev;
  try {
    ev = JSON.parse(line.toString('utf8'));
  } catch {
    return null;
  }
  if (!ev || typeof ev !== 'object' || typeof ev.id !== 'string' || !HEX64.test(ev.id)) return null;
  if (typeof ev.pubkey !== 'string' || !HEX64.test(ev.pubkey) || typeof ev.sig !== 'string' || !HEX128.test(ev.sig))
    return null;
  if (!Number.isInteger(ev.kind) || ev.kind < 0 || !Number.isInteger(ev.created_at)) return null;
  if (typeof ev.content !== 'string' || !Array.isArray(ev.tags)) return null;
  const m = { id: ev.id.toLowerCase(), pubkey: ev.pubkey.toLowerCase(), kind: ev.kind, created_at: ev.created_at };
  m.e = m.p = null;
  for (const t of ev.tags) {
    if (!Array.isArray(t) || t.some((x) => typeof x !== 'string')) return null;
    if (t.length < 2 || t[0].length !== 1 || !HEX64.test(t[1])) continue;
    if (t[0] === 'e' && !m.e) m.e = t[1].toLowerCase();
    else if (t[0] === 'p' && !m.p) m.p = t[1].toLowerCase();
  }
  return m;
}

const evPath = eventsPath(o.events);
let data;
try {
  data = fs.readFileSync(evPath);
} catch (e) {
  die(`cannot read ${evPath}: ${e.message}`);
}
const lines = []; // Buffer views of the lines (no newline)
{
  let p = 0;
  while (p < data.length) {
    let nl = data.indexOf(10, p);
    if (nl < 0) nl = data.length;
    let end = nl;
    if (end > p && data[end - 1] === 13) end--;
    if (end > p) lines.push(data.subarray(p, end));
    p = nl + 1;
  }
}
const N = lines.length;
if (!N) die(`no events in ${evPath}`);
const meta = new Array(N);
const byId = new Map(); // id hex -> first index with it
let good = 0,
  totalBytes = 0;
for (let i = 0; i < N; i++) {
  totalBytes += lines[i].length;
  const m = parseMeta(lines[i]);
  meta[i] = m;
  if (!m) continue;
  good++;
  if (!byId.has(m.id)) byId.set(m.id, i);
}
if (!o.pid) o.pid = findPidByPort(port);

const sentAt = new Float64Array(N);
const acked = new Uint8Array(N);
const stored = new Uint8Array(N);
const owner = new Int32Array(N).fill(-1); // the connection an event was sent on
const lat = new Float64Array(Math.max(N, o.reqs));
let nlat = 0;

const S = {
  // publisher phase
  list: null,
  listPos: 0,
  acks: 0,
  okTrue: 0,
  okDup: 0,
  okFalse: 0,
  lost: 0,
  lastOk: 0,
  reasons: [],
  pubActive: false,
  // req phase
  rq: null, // {sent, rows, done}
  filters: null,
  rqNext: 0,
  rqDone: 0,
  rqClosed: 0,
  lastEose: 0,
  reqActive: false,
  // fanout phase
  dlat: null,
  ndlat: 0,
  deliveries: 0,
  lastDelivery: 0,
  // progress
  lastProgress: 0,
  notices: 0,
};

console.log(
  `# load.mjs (node ${process.version}, ws ${WS_VERSION}) ${o.url}: ${N} events (${good} parsed, ` +
    `${(totalBytes / 1e6).toFixed(1)} MB) from ${evPath}; relay pid ${o.pid}; rounds ${o.rounds}`
);

// ---- connections ----

const ROLE_PUB = 0,
  ROLE_REQ = 1,
  ROLE_SUB = 2,
  ROLE_IDLE = 3;
const conns = []; // every connection, for closeAll
let connSerial = 0;

class Conn {
  constructor(role) {
    this.serial = connSerial++;
    this.role = role;
    this.open = false;
    this.dead = false;
    this.inflight = 0; // publisher: EVENTs without OK; req: REQs without EOSE
    this.gotAuth = false;
    this.eose = false;
    this.out = []; // messages to send after this read (CLOSEs)
    this.flushQueued = false;
    this.ws = null;
  }
  bytesRead() {
    return this.ws && this.ws._socket ? this.ws._socket.bytesRead : this.lastBytesRead || 0;
  }
}

// One connection; resolves when it is open or has failed.
function connect(role) {
  return new Promise((resolve) => {
    const c = new Conn(role);
    conns.push(c);
    let ws;
    try {
      ws = new WebSocket(o.url, {
        perMessageDeflate: false,
        maxPayload: 16 << 20,
        allowSynchronousEvents: true,
        handshakeTimeout: o.timeout * 1e3,
        ...(o.zeroMask ? { generateMask: (m) => m.fill(0) } : {}),
      });
    } catch (e) {
      die(`cannot connect to the relay: ${e.message}`);
    }
    c.ws = ws;
    ws.on('open', () => {
      c.open = true;
      resolve(c);
    });
    ws.on('message', (d, isBinary) => {
      if (!isBinary) onMessage(c, d);
    });
    ws.on('error', (e) => {
      if (!c.open) console.error(`load.mjs: connect: ${e.message}`);
    });
    ws.on('close', (code, reason) => {
      if (c.ws && c.ws._socket) c.lastBytesRead = c.ws._socket.bytesRead;
      if (c.open && !c.closing && S.notices < 5 && code !== 1000 && code !== 1001)
        console.error(`load.mjs: relay closed a connection: ${code} ${reason}`);
      c.open = false;
      c.dead = true;
      resolve(c);
    });
  });
}

// Open n connections (at most MAX_HANDSHAKES handshaking at a time); the open ones.
async function openConns(n, role) {
  const out = [];
  let next = 0;
  const t0 = now();
  async function worker() {
    while (next < n && now() - t0 < o.timeout) {
      next++;
      const c = await connect(role);
      if (c.open) out.push(c);
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, MAX_HANDSHAKES) }, worker));
  if (out.length < n) console.error(`load.mjs: ${out.length} of ${n} connections opened`);
  return out;
}

function closeAll() {
  for (const c of conns) {
    c.closing = true;
    if (c.ws) c.ws.terminate();
  }
  conns.length = 0;
}

const TEXT = { binary: false }; // a Buffer too goes as a text frame

// Send now (the caller corks) or after this read.
function sendText(c, s) {
  if (!c.open || c.ws.readyState !== WebSocket.OPEN) return false;
  c.ws.send(s, TEXT);
  return true;
}

// After the messages of one read: refill, send what is queued, in one write.
function queueFlush(c) {
  if (c.flushQueued) return;
  c.flushQueued = true;
  queueMicrotask(() => flush(c));
}

function flush(c) {
  c.flushQueued = false;
  if (!c.open) return;
  const sock = c.ws._socket;
  if (sock) sock.cork();
  for (const m of c.out) sendText(c, m);
  c.out.length = 0;
  if (c.role === ROLE_PUB && S.pubActive) fillPub(c);
  else if (c.role === ROLE_REQ && S.reqActive) fillReq(c);
  if (sock) sock.uncork();
}

// ---- messages from the relay ----

const OK_PRE = Buffer.from('["OK","');
const EVENT_PRE = Buffer.from('["EVENT","');
const EOSE_PRE = Buffer.from('["EOSE","');
const CLOSED_PRE = Buffer.from('["CLOSED","');
const AUTH_PRE = Buffer.from('["AUTH",');
const NOTICE_PRE = Buffer.from('["NOTICE",');
const ID_KEY = Buffer.from('"id":"');

// d starts with pre (d[at..] matches pre), compared here rather than in a native call per message
function startsWith(d, pre, at = 0) {
  if (d.length < at + pre.length) return false;
  for (let i = 0; i < pre.length; i++) if (d[at + i] !== pre[i]) return false;
  return true;
}

// where the 64 hex characters of the "id" of the event in an EVENT message start, or -1
function idOffset(d) {
  let p = 10;
  while (p < d.length && d[p] !== 0x7b) p++; // '{' after the subscription id
  if (startsWith(d, ID_KEY, p + 1)) p += 1 + ID_KEY.length; // {"id":" first, as relays write it
  else if ((p = d.indexOf(ID_KEY, 10)) >= 0) p += ID_KEY.length;
  return p >= 0 && p + 64 <= d.length ? p : -1;
}

// "q<index>" at d[p..] (up to the closing quote) -> index, or -1
function subIndex(d, p) {
  if (p >= d.length || d[p] !== 0x71) return -1;
  let k = 0;
  for (p++; p < d.length && d[p] !== 0x22; p++) {
    if (d[p] < 0x30 || d[p] > 0x39) return -1;
    k = k * 10 + (d[p] - 0x30);
  }
  return k;
}

let waiter = null; // the predicate a phase waits on

function onMessage(c, d) {
  if (startsWith(d, OK_PRE)) {
    onOk(c, d);
  } else if (startsWith(d, EVENT_PRE)) {
    if (c.role === ROLE_SUB) {
      if (!c.eose) return; // stored events before EOSE
      const t = now();
      S.deliveries++;
      S.lastDelivery = t;
      S.lastProgress = t;
      const at = S.dlat && S.ndlat < S.dlat.length ? idOffset(d) : -1;
      if (at >= 0) {
        const idx = byId.get(d.toString('latin1', at, at + 64));
        if (idx !== undefined) S.dlat[S.ndlat++] = (t - sentAt[idx]) * 1e3;
      }
    } else if (c.role === ROLE_REQ) {
      const k = subIndex(d, 10);
      if (k >= 0 && S.rq && k < S.rq.length) S.rq[k].rows++;
    }
  } else if (startsWith(d, EOSE_PRE)) {
    if (c.role === ROLE_SUB) {
      c.eose = true;
    } else if (c.role === ROLE_REQ) {
      const k = subIndex(d, 9);
      if (k < 0 || !S.rq || k >= S.rq.length || S.rq[k].done) return;
      const t = now();
      S.rq[k].done = true;
      S.rqDone++;
      lat[nlat++] = (t - S.rq[k].sent) * 1e3;
      S.lastEose = t;
      S.lastProgress = t;
      if (c.inflight) c.inflight--;
      c.out.push(`["CLOSE","q${k}"]`);
      queueFlush(c);
    }
  } else if (startsWith(d, CLOSED_PRE)) {
    const k = subIndex(d, 11);
    if (S.notices++ < 5) console.error(`load.mjs: ${d.toString('utf8', 0, Math.min(200, d.length))}`);
    if (c.role === ROLE_REQ && S.rq && k >= 0 && k < S.rq.length && !S.rq[k].done) {
      S.rq[k].done = true;
      S.rqDone++;
      S.rqClosed++;
      S.lastProgress = now();
      if (c.inflight) c.inflight--;
      queueFlush(c);
    }
  } else if (startsWith(d, AUTH_PRE)) {
    c.gotAuth = true;
  } else if (startsWith(d, NOTICE_PRE)) {
    if (S.notices++ < 5) console.error(`load.mjs: ${d.toString('utf8', 0, Math.min(200, d.length))}`);
  }
  if (waiter) waiter();
}

function onOk(c, d) {
  const t = now();
  if (d.length < 7 + 64 + 7) return;
  if (d[71] !== 0x22 || d[72] !== 0x2c) return; // '",'
  const idx = byId.get(d.toString('latin1', 7, 71));
  const ok = d.toString('latin1', 73, 77) === 'true';
  const q = d.indexOf(0x22, 73);
  const msg = q >= 0 ? d.toString('utf8', q + 1, Math.max(q + 1, d.length - 2)) : null;
  if (c.inflight) c.inflight--;
  queueFlush(c);
  if (idx === undefined || acked[idx]) return;
  acked[idx] = 1;
  S.acks++;
  S.lastOk = t;
  S.lastProgress = t;
  lat[nlat++] = (t - sentAt[idx]) * 1e3;
  if (ok) {
    stored[idx] = 1;
    if (msg && msg.startsWith('duplicate:')) S.okDup++;
    else S.okTrue++;
  } else {
    S.okFalse++;
    if (msg && S.reasons.length < 4 && !S.reasons.some((r) => msg.startsWith(r.split(':')[0])))
      S.reasons.push(msg.slice(0, 150));
  }
}

// ---- sending ----

const EVENT_OPEN = Buffer.from('["EVENT",');
const EVENT_CLOSE = Buffer.from(']');

function fillPub(c) {
  const L = S.list;
  while (c.open && c.inflight < o.inflight && S.listPos < L.length) {
    const idx = L[S.listPos++];
    const msg = Buffer.concat([EVENT_OPEN, lines[idx], EVENT_CLOSE]);
    sentAt[idx] = now();
    owner[idx] = c.serial;
    if (!sendText(c, msg)) break;
    c.inflight++;
  }
}

function fillReq(c) {
  while (c.open && c.inflight < o.reqInflight && S.rqNext < S.rq.length) {
    const k = S.rqNext++;
    S.rq[k].sent = now();
    if (!sendText(c, `["REQ","q${k}",${S.filters[k]}]`)) break;
    c.inflight++;
  }
}

function corked(c, fn) {
  const sock = c.ws._socket;
  if (sock) sock.cork();
  fn();
  if (sock) sock.uncork();
}

// Resolve when pred() holds (checked after every message and every 100 ms);
// tick() runs every 100 ms and may return false to give up.
function until(pred, tick) {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(iv);
      waiter = null;
      resolve();
    };
    const iv = setInterval(() => {
      if (pred()) finish();
      else if (tick && tick() === false) finish();
    }, 100);
    waiter = () => {
      if (pred()) finish();
    };
    if (pred()) finish();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- phases ----

// Publish list over pubs (K in flight each) until every event has its OK or
// nothing moves for --timeout. Returns {rate, t0}; fills lat / nlat.
async function publish(pubs, list) {
  const acks0 = S.acks;
  let want = 0;
  for (const idx of list) want += !acked[idx];
  S.list = list;
  S.listPos = 0;
  nlat = 0;
  const t0 = now();
  S.lastOk = t0;
  S.lastProgress = t0;
  S.pubActive = true;
  for (const c of pubs) corked(c, () => fillPub(c));
  let reconnecting = false;
  await until(
    () => S.acks - acks0 >= want,
    () => {
      if (!reconnecting) {
        for (let k = 0; k < pubs.length; k++) {
          if (!pubs[k].dead) continue;
          // the relay closed it: what it had in flight is lost; go on with a new connection
          const gone = pubs[k];
          for (let i = 0; i < S.listPos; i++) {
            const idx = list[i];
            if (owner[idx] === gone.serial && !acked[idx]) {
              acked[idx] = 1;
              S.acks++;
              S.lost++;
            }
          }
          reconnecting = true;
          openConns(1, ROLE_PUB).then((cs) => {
            if (cs.length !== 1) die('cannot reconnect a publisher');
            pubs[k] = cs[0];
            S.lastProgress = now();
            corked(cs[0], () => fillPub(cs[0]));
            reconnecting = false;
            if (waiter) waiter();
          });
          break;
        }
      }
      if (now() - S.lastProgress > o.timeout) {
        console.error(`load.mjs: no OK for ${o.timeout} s; ${S.acks - acks0} of ${want} answered`);
        return false;
      }
      return true;
    }
  );
  S.pubActive = false;
  return { rate: S.lastOk <= t0 ? 0 : (S.acks - acks0) / (S.lastOk - t0), t0 };
}

function printReasons() {
  for (const r of S.reasons) console.log(`${'  rejected, e.g.'.padEnd(30)} ${r}`);
  S.reasons = [];
}

async function phaseIngest(region) {
  const rate = [],
    p50 = [],
    p99 = [];
  let okt = 0,
    okd = 0,
    okf = 0;
  const lost0 = S.lost;
  const acc = cpuAcc();
  console.log(
    `# ingest: ${o.conns} connections x ${o.inflight} in flight, ${region.length} events in ${o.rounds} slices`
  );
  const pubs = await openConns(o.conns, ROLE_PUB);
  if (!pubs.length) die('no connection for ingest');
  for (let r = 0; r < o.rounds; r++) {
    const lo = Math.floor((region.length * r) / o.rounds),
      hi = Math.floor((region.length * (r + 1)) / o.rounds);
    const t0 = S.okTrue,
      d0 = S.okDup,
      f0 = S.okFalse;
    const cm = cpuStart();
    const res = await publish(pubs, region.slice(lo, hi));
    cpuStop(cm, acc);
    rate.push(res.rate);
    p50.push(pct(lat, nlat, 50));
    p99.push(pct(lat, nlat, 99));
    okt += S.okTrue - t0;
    okd += S.okDup - d0;
    okf += S.okFalse - f0;
  }
  printMetric('ingest_events_per_s', rate, 'events/s', 0);
  printMetric('ingest_ok_p50_ms', p50, 'ms', 2);
  printMetric('ingest_ok_p99_ms', p99, 'ms', 2);
  console.log(
    `${'ingest_answers'.padEnd(30)} ${okt} stored, ${okd} duplicate, ${okf} refused, ${S.lost - lost0} lost ` +
      '(the relay closed their connection)'
  );
  cpuReport('ingest_cpu', acc);
  printReasons();
  closeAll();
}

// bench_events.h's splitmix64 and xorshift64*, so the filters match bench_relay_load's
const M64 = (1n << 64n) - 1n;
function splitmix(x) {
  x = (x + 0x9e3779b97f4a7c15n) & M64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & M64;
  return x ^ (x >> 31n);
}
function makeRng(seed) {
  let s = seed;
  return (n) => {
    s ^= s >> 12n;
    s = (s ^ (s << 25n)) & M64;
    s ^= s >> 27n;
    return Number(((s * 2685821657736338717n) & M64) % BigInt(n));
  };
}

// Q filters drawn from the stored events (seeded by round), as make_filters does.
function makeFilters(pool, round) {
  const next = makeRng(splitmix(0xfeedn + BigInt(round)) | 1n);
  const f = new Array(o.reqs);
  for (let k = 0; k < o.reqs; k++) {
    let m = meta[pool[next(pool.length)]];
    switch (k % 5) {
      case 0:
        f[k] = `{"authors":["${m.pubkey}"],"limit":20}`;
        break;
      case 1:
        f[k] = `{"kinds":[${m.kind}],"limit":20}`;
        break;
      case 2:
      case 3: {
        const key = k % 5 === 2 ? 'e' : 'p';
        for (let tries = 0; tries < 100 && !m[key]; tries++) m = meta[pool[next(pool.length)]];
        f[k] = `{"#${key}":["${m[key] || '0'.repeat(64)}"],"limit":20}`;
        break;
      }
      default:
        f[k] = `{"since":${m.created_at - 30},"until":${m.created_at + 30},"limit":50}`;
    }
  }
  return f;
}

async function phaseReq(region) {
  const rate = [],
    p50 = [],
    p99 = [],
    rows = [],
    kib = [];
  const acc = cpuAcc();
  let closed = 0,
    eosed = 0;
  const pool = region.filter((i) => stored[i] && !(meta[i].kind >= 20000 && meta[i].kind < 30000));
  if (!pool.length) {
    console.log('# req: no stored events to query');
    return;
  }
  console.log(
    `# req: ${o.reqs} REQs per round over ${o.reqConns} connections x ${o.reqInflight} open, ` +
      `from ${pool.length} stored events`
  );
  const rcs = await openConns(o.reqConns, ROLE_REQ);
  if (!rcs.length) die('no connection for REQ');
  for (let r = 0; r < o.rounds; r++) {
    S.filters = makeFilters(pool, r);
    S.rq = Array.from({ length: o.reqs }, () => ({ sent: 0, rows: 0, done: false }));
    S.rqNext = S.rqDone = S.rqClosed = 0;
    nlat = 0;
    const rx0 = rcs.reduce((s, c) => s + c.bytesRead(), 0);
    const cm = cpuStart();
    const t0 = now();
    S.lastEose = S.lastProgress = t0;
    S.reqActive = true;
    for (const c of rcs) corked(c, () => fillReq(c));
    await until(
      () => S.rqDone >= S.rq.length,
      () => {
        if (now() - S.lastProgress > o.timeout) {
          console.error(`load.mjs: no EOSE for ${o.timeout} s; ${S.rqDone} of ${S.rq.length} done`);
          return false;
        }
        return true;
      }
    );
    S.reqActive = false;
    cpuStop(cm, acc);
    rate.push(S.lastEose > t0 ? (S.rqDone - S.rqClosed) / (S.lastEose - t0) : 0);
    p50.push(pct(lat, nlat, 50));
    p99.push(pct(lat, nlat, 99));
    rows.push(S.rq.reduce((s, q) => s + q.rows, 0) / S.rq.length);
    kib.push((rcs.reduce((s, c) => s + c.bytesRead(), 0) - rx0) / 1024 / S.rq.length);
    closed += S.rqClosed;
    eosed += S.rqDone - S.rqClosed;
  }
  printMetric('req_per_s', rate, 'REQ/s', 0);
  printMetric('req_eose_p50_ms', p50, 'ms', 2);
  printMetric('req_eose_p99_ms', p99, 'ms', 2);
  printMetric('req_rows_per_req', rows, 'events', 1);
  printMetric('req_kib_per_req', kib, 'KiB', 1);
  if (closed) console.log(`${'req_closed_by_relay'.padEnd(30)} ${closed}`);
  // not in bench_relay_load's output: how many REQs ended with an EOSE
  console.log(`${'req_answers'.padEnd(30)} ${eosed} EOSE, ${closed} CLOSED of ${o.reqs * o.rounds} REQs`);
  cpuReport('req_cpu', acc);
  S.rq = S.filters = null;
  closeAll();
}

async function phaseFanout(reserve) {
  const rate = [],
    p50 = [],
    p99 = [];
  const acc = cpuAcc();
  const per = Math.floor(reserve.length / o.rounds);
  if (per === 0) {
    console.log('# fanout: no kind-1 events left for it');
    return;
  }
  const subs = await openConns(o.subs, ROLE_SUB);
  console.log(`# fanout: ${subs.length} subscribers of kinds [1], ${per} events per round`);
  const req = '["REQ","f",{"kinds":[1],"limit":0}]';
  for (const c of subs) sendText(c, req);
  const t0 = now();
  await until(
    () => subs.every((c) => c.eose || !c.open),
    () => {
      if (now() - t0 > o.timeout) {
        console.error(
          `load.mjs: only ${subs.filter((c) => c.eose || !c.open).length} of ${subs.length} subscriptions got EOSE`
        );
        return false;
      }
      return true;
    }
  );
  const pubs = await openConns(1, ROLE_PUB);
  if (pubs.length !== 1) die('no publisher connection');
  S.dlat = new Float64Array(subs.length * per);
  let got = 0,
    expected = 0,
    sent = 0;
  for (let r = 0; r < o.rounds; r++) {
    const ok0 = S.okTrue;
    S.deliveries = 0;
    S.ndlat = 0;
    const cm = cpuStart();
    const { t0: tf } = await publish(pubs, reserve.slice(per * r, per * (r + 1)));
    const want = (S.okTrue - ok0) * subs.length;
    S.lastProgress = now();
    await until(
      () => S.deliveries >= want,
      () => now() - S.lastProgress < 5.0
    );
    if (S.deliveries < want) console.error(`load.mjs: ${S.deliveries} of ${want} deliveries arrived`);
    cpuStop(cm, acc);
    got += S.deliveries;
    expected += want;
    sent += per;
    rate.push(S.lastDelivery > tf ? S.deliveries / (S.lastDelivery - tf) : 0);
    p50.push(pct(S.dlat, S.ndlat, 50));
    p99.push(pct(S.dlat, S.ndlat, 99));
  }
  printMetric('fanout_deliveries_per_s', rate, 'deliveries/s', 0);
  printMetric('fanout_latency_p50_ms', p50, 'ms', 2);
  printMetric('fanout_latency_p99_ms', p99, 'ms', 2);
  // not in bench_relay_load's output: the check that every subscriber got every event
  console.log(
    `${'fanout_deliveries'.padEnd(30)} ${got} of ${expected} expected (${subs.length} subscribers x ` +
      `${expected / Math.max(1, subs.length)} of ${sent} events OKed)`
  );
  cpuReport('fanout_cpu', acc);
  printReasons();
  S.dlat = null;
  closeAll();
}

async function phaseIdle() {
  if (!o.pid) {
    console.log('# idle: no relay PID (give --pid); skipped');
    return;
  }
  const before = rssKib(o.pid);
  const cs = await openConns(o.idle, ROLE_IDLE);
  const n = cs.length;
  let t0 = now();
  while (cs.some((c) => !c.gotAuth) && now() - t0 < 2.0) await sleep(50);
  await sleep(500);
  const after = rssKib(o.pid);
  const authed = cs.filter((c) => c.gotAuth).length;
  console.log(
    `# idle: ${n} WebSocket connections open (${authed} got an AUTH challenge); relay RSS ${before} -> ${after} KiB`
  );
  if (n && before > 0 && after > 0)
    console.log(
      `${'idle_bytes_per_conn'.padEnd(30)} ${(((after - before) * 1024) / n).toFixed(0).padStart(12)} ` +
        `${'bytes'.padEnd(12)} (${after - before} KiB over ${n} connections)`
    );
  closeAll();
}

// ---- main ----

// the last rounds*M kind-1 events for fan-out, the rest for ingest
const region = [],
  reserve = [];
{
  const wantReserve = mFanout ? o.fanoutEvents * o.rounds : 0;
  let cut = N,
    n = 0,
    skipped = 0;
  while (cut > 0 && n < wantReserve && N - cut < Math.floor(N / 2)) {
    cut--;
    if (meta[cut] && meta[cut].kind === 1) n++;
  }
  for (let i = 0; i < N; i++) {
    if (!meta[i]) continue;
    if (lines[i].length + 11 > o.maxMessage) skipped++;
    else if (i >= cut && meta[i].kind === 1) reserve.push(i);
    else if (i < cut) region.push(i);
  }
  if (skipped)
    console.log(
      `# ${skipped} events not sent: their EVENT message is over ${o.maxMessage} bytes ` +
        '(the relay would close the connection; --max-message)'
    );
}

// Idle first: RSS growth on a fresh relay. Before other phases it runs in
// a child process of its own: with a thousand clients opened and closed in
// this process, the later phases' REQ/s and fan-out came out ~40% lower
// (Node's own cost: the same run with --idle 1 did not show it, and the
// relay's CPU per REQ did not change).
if (mIdle && !all) {
  await phaseIdle();
} else if (mIdle) {
  const args = ['--url', o.url, '--events', o.events, '--mode', 'idle', '--idle', String(o.idle)];
  args.push('--pid', String(o.pid), '--timeout', String(o.timeout));
  if (o.zeroMask) args.push('--zero-mask');
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: 'inherit' });
  if (r.status !== 0) die('the idle phase (child process) failed');
}
if (mIngest) {
  await phaseIngest(region);
} else if (mReq) {
  // REQ alone: make sure the relay has the events (not timed)
  console.log(`# req: loading ${region.length} events first (not timed)`);
  const pubs = await openConns(o.conns, ROLE_PUB);
  await publish(pubs, region);
  closeAll();
}
if (mReq) await phaseReq(region);
if (mFanout) await phaseFanout(reserve);
process.exit(0);
