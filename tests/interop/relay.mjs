// A small in-memory NIP-01 relay on third-party code (ws + nostr-tools), the
// peer for Distrise's client interop tests. Loopback only.
//
//   node relay.mjs [--auth] [--tls CERT KEY] [--reject-kind K] [--max-seconds N] [--watch-stdin]
//
// Listens on 127.0.0.1 port 0 and prints "PORT <n>" on stdout when ready.
// Exits after --max-seconds (default 60), and with --watch-stdin when its
// stdin closes (the test that spawned it died), so a stray relay never
// outlives its test.
//
// EVENT  -> verifyEvent -> ["OK", id, true, ""] / [.., false, "invalid: ..."] /
//           [.., true, "duplicate: ..."]; live subscriptions get it
// REQ    -> stored matches newest first (per filter limit) -> EOSE -> live
// CLOSE, COUNT (NIP-45)
// --auth (NIP-42): sends ["AUTH", challenge] on connect; EVENT gets
//           OK false "auth-required: ..." and REQ/COUNT get CLOSED
//           "auth-required: ..." until a valid kind 22242 event arrives.
// --tls CERT KEY: wss:// through node's https server.
// --reject-kind K: events of kind K get OK false "blocked: ..." (a refusal to test).
import { WebSocketServer } from 'ws';
import { verifyEvent, matchFilters, matchFilter } from 'nostr-tools';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const args = process.argv.slice(2);
let authMode = false;
let tls = null;
let maxSeconds = 60;
let watchStdin = false;
let rejectKind = null;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--auth') authMode = true;
  else if (args[i] === '--tls') { tls = { cert: readFileSync(args[i + 1]), key: readFileSync(args[i + 2]) }; i += 2; }
  else if (args[i] === '--max-seconds') maxSeconds = Number(args[++i]);
  else if (args[i] === '--watch-stdin') watchStdin = true;
  else if (args[i] === '--reject-kind') rejectKind = Number(args[++i]);
  else { console.error(`relay.mjs: unknown argument ${args[i]}`); process.exit(2); }
}

const events = [];         // stored, any order
const seen = new Set();    // ids ever accepted (ephemeral ones included)
const clients = new Set(); // connections, each with .subs (Map sub -> filters)

const isHex = (s, n) => typeof s === 'string' && s.length === n && /^[0-9a-f]+$/.test(s);
const send = (ws, msg) => { if (ws.readyState === 1) ws.send(JSON.stringify(msg)); };
const newestFirst = (a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1);
const ephemeral = (k) => k >= 20000 && k < 30000;

function validShape(ev) {
  return ev && typeof ev === 'object' && isHex(ev.id, 64) && isHex(ev.pubkey, 64) && isHex(ev.sig, 128) &&
    Number.isInteger(ev.kind) && Number.isInteger(ev.created_at) && typeof ev.content === 'string' &&
    Array.isArray(ev.tags) && ev.tags.every((t) => Array.isArray(t) && t.every((x) => typeof x === 'string'));
}

function query(filters) {
  const out = new Map();
  for (const f of filters) {
    let n = 0;
    const limit = Number.isInteger(f.limit) ? f.limit : Infinity;
    for (const ev of [...events].sort(newestFirst)) {
      if (n >= limit) break;
      if (matchFilter(f, ev)) { out.set(ev.id, ev); n++; }
    }
  }
  return [...out.values()].sort(newestFirst);
}

function validFilters(filters) {
  return filters.length > 0 && filters.every((f) => f && typeof f === 'object' && !Array.isArray(f));
}

function onEvent(ws, ev) {
  if (!validShape(ev)) { send(ws, ['NOTICE', 'invalid: malformed event']); return; }
  if (authMode && !ws.authed) { send(ws, ['OK', ev.id, false, 'auth-required: this relay needs NIP-42 AUTH']); return; }
  if (!verifyEvent(ev)) { send(ws, ['OK', ev.id, false, 'invalid: bad id or signature']); return; }
  if (ev.kind === rejectKind) { send(ws, ['OK', ev.id, false, `blocked: kind ${ev.kind} is not accepted here`]); return; }
  if (seen.has(ev.id)) { send(ws, ['OK', ev.id, true, 'duplicate: already have this event']); return; }
  seen.add(ev.id);
  if (!ephemeral(ev.kind)) events.push(ev);
  send(ws, ['OK', ev.id, true, '']);
  for (const c of clients)
    for (const [sub, filters] of c.subs) if (matchFilters(filters, ev)) send(c, ['EVENT', sub, ev]);
}

function onAuth(ws, ev) {
  const tag = (name) => (Array.isArray(ev?.tags) ? ev.tags.find((t) => t[0] === name)?.[1] : undefined);
  const id = typeof ev?.id === 'string' ? ev.id : '';
  if (!validShape(ev) || !verifyEvent(ev)) { send(ws, ['OK', id, false, 'invalid: bad AUTH event']); return; }
  if (ev.kind !== 22242) { send(ws, ['OK', id, false, 'invalid: AUTH needs kind 22242']); return; }
  if (tag('challenge') !== ws.challenge) { send(ws, ['OK', id, false, 'invalid: wrong challenge']); return; }
  const relay = tag('relay');
  if (typeof relay !== 'string' || !/^wss?:\/\/(127\.0\.0\.1|localhost)(:\d+)?\/?/.test(relay)) {
    send(ws, ['OK', id, false, 'invalid: wrong relay tag']);
    return;
  }
  if (Math.abs(ev.created_at - Date.now() / 1000) > 600) { send(ws, ['OK', id, false, 'invalid: stale AUTH']); return; }
  ws.authed = ev.pubkey;
  send(ws, ['OK', id, true, '']);
}

function onMessage(ws, data, isBinary) {
  let msg;
  try { msg = JSON.parse(isBinary ? Buffer.from(data).toString('utf8') : data.toString()); } catch {
    send(ws, ['NOTICE', 'error: could not parse message']);
    return;
  }
  if (!Array.isArray(msg) || typeof msg[0] !== 'string') { send(ws, ['NOTICE', 'error: not a message']); return; }
  const [type, a, ...rest] = msg;
  if (type === 'EVENT') return onEvent(ws, a);
  if (type === 'AUTH') return onAuth(ws, a);
  if (type === 'CLOSE') { ws.subs.delete(a); return; }
  if (type === 'REQ' || type === 'COUNT') {
    if (typeof a !== 'string' || a.length < 1 || a.length > 64 || !validFilters(rest)) {
      send(ws, ['NOTICE', `error: bad ${type}`]);
      return;
    }
    if (authMode && !ws.authed) { send(ws, ['CLOSED', a, 'auth-required: this relay needs NIP-42 AUTH']); return; }
    if (type === 'COUNT') { send(ws, ['COUNT', a, { count: query(rest.map((f) => ({ ...f, limit: undefined }))).length }]); return; }
    ws.subs.set(a, rest);
    for (const ev of query(rest)) send(ws, ['EVENT', a, ev]);
    send(ws, ['EOSE', a]);
    return;
  }
  send(ws, ['NOTICE', `error: unknown message type ${type}`]);
}

const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer();
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => {
  ws.subs = new Map();
  ws.authed = null;
  clients.add(ws);
  ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
  ws.on('close', () => clients.delete(ws));
  ws.on('error', () => clients.delete(ws));
  if (authMode) {
    ws.challenge = randomBytes(16).toString('hex');
    send(ws, ['AUTH', ws.challenge]);
  }
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
if (watchStdin) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
setTimeout(() => process.exit(0), maxSeconds * 1000).unref();
process.on('SIGTERM', () => process.exit(0));
