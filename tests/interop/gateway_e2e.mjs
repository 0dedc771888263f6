// End to end: nostr-gateway over three nostr-relay upstreams and a real
// PostgreSQL, events published with nostr-tools, reads through the
// gateway's REST API and its read relay (nostr-tools again).
//
//   node gateway_e2e.mjs --bin BUILD_DIR --tmp DIR --db CONNINFO [--pids FILE]
//
// Each check prints FAIL with a reason; the last line is "N passed, M
// failed"; exit 0 only when nothing failed. Every wait is bounded.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { programs, stop } from './programs.mjs';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { finalizeEvent, generateSecretKey } from 'nostr-tools/pure';

useWebSocketImplementation(WebSocket);

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const bin = opt('--bin');
const tmp = opt('--tmp');
const db = opt('--db');
const pidFile = opt('--pids');
const pgctl = opt('--pgctl');
const amqp = opt('--amqp'); // RabbitMQ between the gateway and the database
const rmqctl = opt('--rmqctl'); // a FIFO: "kill" or "restart" for the calling shell,
const rmqack = opt('--rmqack'); // which answers "done" on this one
function broker(cmd) {
  writeFileSync(rmqctl, cmd + '\n');
  readFileSync(rmqack); // blocks until the shell is done
}
const mode = amqp ? 'rabbitmq' : 'in-process';
if (!bin || !tmp || !db) {
  console.error('usage: node gateway_e2e.mjs --bin BUILD_DIR --tmp DIR --db CONNINFO [--pids FILE]');
  process.exit(2);
}
setTimeout(() => {
  console.error('gateway_e2e: global timeout');
  finish(true);
}, 240000).unref();

let passed = 0;
let failed = 0;
function check(name, cond, detail) {
  if (cond) passed++;
  else {
    failed++;
    console.error(`FAIL [${mode}] ${name}${detail !== undefined ? ': ' + detail : ''}`);
  }
  return !!cond;
}
const eq = (name, want, got) =>
  check(name, JSON.stringify(want) === JSON.stringify(got), `want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await sleep(200);
  }
  return last;
}

// ---------------------------------------------------------------- processes
const { children, start } = programs({ bin, pidFile, verbose: !!process.env.GATEWAY_E2E_VERBOSE });
function finish(force) {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  console.log(`[${mode}] ${passed} passed, ${failed} failed`);
  process.exit(failed || force ? 1 : 0);
}

function startRelay(name, port, extra = '') {
  mkdirSync(`${tmp}/${name}`, { recursive: true });
  // no rate limits: the test floods one upstream on purpose
  writeFileSync(`${tmp}/${name}.conf`, 'events_per_s = -1\nip_events_per_s = -1\nreqs_per_s = -1\n' + extra);
  const conf = ['--port', String(port ?? 0), '--data', `${tmp}/${name}`, '--threads', '1', '--name', name,
    '--config', `${tmp}/${name}.conf`];
  return start('nostr-relay', conf, name);
}
let gwArgs;
function startGateway() {
  return start('nostr-gateway', gwArgs, 'gateway');
}

// ---------------------------------------------------------------- helpers
const sk = generateSecretKey();
let seq = 0;
function note(text, tags = []) {
  return finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000) - (seq++ % 50), tags, content: text }, sk);
}
async function publish(url, events) {
  const r = await Relay.connect(url);
  for (const ev of events) await r.publish(ev);
  r.close();
}
async function api(gw, path, init = {}) {
  const res = await fetch(gw.replace('ws://', 'http://').replace(/\/$/, '') + path, init);
  let body = null;
  const text = await res.text();
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}
const TOKEN = 'sekret-token';
const auth = { Authorization: `Bearer ${TOKEN}` };
// events carrying tag t=<label>, as the gateway has them: id -> [relay ids]
async function stored(gw, label) {
  const { status, body } = await api(gw, `/api/events?tag=t:${label}&limit=500`);
  if (status !== 200) return null;
  const m = new Map();
  for (const e of body.events) m.set(e.event.id, e.relays.map((r) => r.id).sort());
  m.raw = body.events;
  return m;
}

// ---------------------------------------------------------------- the run
try {
  const r1 = startRelay('r1');
  const r2 = startRelay('r2');
  const r3 = startRelay('r3');
  const [u1, u2, u3] = await Promise.all([r1.url, r2.url, r3.url]);
  const q = amqp ? ['--amqp', amqp] : [];
  gwArgs = ['--port', '0', '--db', db, '--relay', u1, '--relay', u2, '--token', TOKEN, '--threads', '2', ...q];
  let gw = startGateway();
  let g = await gw.url;

  // 1. overlapping events from two upstreams: each stored once, with every relay that had it
  const A = [];
  for (let i = 0; i < 30; i++) A.push({ ev: note(`a${i}`, [['t', 'seta']]), to: i % 3 });
  await publish(u1, A.filter((x) => x.to !== 1).map((x) => x.ev));
  await publish(u2, A.filter((x) => x.to !== 0).map((x) => x.ev));
  const relays = (await api(g, '/api/relays')).body;
  eq('two upstreams at start', [u1, u2], relays.map((r) => r.url));
  const id1 = relays[0].id;
  await until('NIP-11 names', async () => { const l = (await api(g, '/api/relays')).body; return l.every((x) => x.name) ? l : null; }, 10000);
  eq('NIP-11 of each upstream fetched and shown', ['r1', 'r2'], (await api(g, '/api/relays')).body.map((x) => x.name));
  const id2 = relays[1].id;
  let got = await until('set A stored', async () => {
    const m = await stored(g, 'seta');
    return m && m.size === 30 && A.every((x) => (m.get(x.ev.id) || []).length === (x.to === 2 ? 2 : 1)) ? m : null;
  });
  const setA = await stored(g, 'seta');
  eq('set A: every event stored once', 30, setA ? setA.raw.length : -1);
  check('set A: each with the relays that delivered it', !!got &&
    A.every((x) => JSON.stringify(setA.get(x.ev.id)) === JSON.stringify(x.to === 0 ? [id1] : x.to === 1 ? [id2] : [id1, id2].sort())),
  JSON.stringify(A.map((x) => [x.to, setA && setA.get(x.ev.id)])));
  eq('set A: stored verbatim', true, !!setA && A.every((x) => setA.raw.some((e) => e.event.id === x.ev.id && e.event.sig === x.ev.sig && e.event.content === x.ev.content)));

  // 2. the REST API: tokens, bad input, adding an upstream while running
  eq('POST without token', 401, (await api(g, '/api/relays', { method: 'POST', body: JSON.stringify({ url: u3 }) })).status);
  eq('POST with a wrong token', 401, (await api(g, '/api/relays', { method: 'POST', headers: { Authorization: 'Bearer nope' }, body: JSON.stringify({ url: u3 }) })).status);
  let r = await api(g, '/api/relays', { method: 'POST', headers: auth, body: JSON.stringify({ url: 'http://x/' }) });
  eq('POST a bad URL: 400', 400, r.status);
  check('POST a bad URL: JSON error', r.body && typeof r.body.error === 'string', JSON.stringify(r.body));
  eq('POST bad filters: 400', 400, (await api(g, '/api/relays', { method: 'POST', headers: auth, body: JSON.stringify({ url: u3, filters: [{ kinds: 'x' }] }) })).status);
  eq('POST not JSON: 400', 400, (await api(g, '/api/relays', { method: 'POST', headers: auth, body: 'url=' })).status);
  eq('POST a duplicate: 409', 409, (await api(g, '/api/relays', { method: 'POST', headers: auth, body: JSON.stringify({ url: u1 }) })).status);
  const B = [];
  for (let i = 0; i < 10; i++) B.push(note(`b${i}`, [['t', 'setb']]));
  await publish(u3, B); // before the gateway knows u3: backfilled when added
  r = await api(g, '/api/relays', { method: 'POST', headers: auth, body: JSON.stringify({ url: u3, filters: [{ kinds: [1] }] }) });
  eq('POST a new upstream: 201', 201, r.status);
  const id3 = r.body && r.body.id;
  got = await until('set B backfilled', async () => { const m = await stored(g, 'setb'); return m && m.size === 10 ? m : null; });
  eq('added upstream: its stored events backfilled', 10, got ? got.size : 0);
  check('added upstream: provenance', got && [...got.values()].every((v) => JSON.stringify(v) === JSON.stringify([id3])));
  const C = [note('c0', [['t', 'setc']])];
  await publish(u3, C);
  got = await until('set C live', async () => { const m = await stored(g, 'setc'); return m && m.size === 1 ? m : null; });
  eq('added upstream: live events', 1, got ? got.size : 0);

  // 2b. an upstream that wants NIP-42 AUTH before any REQ: the gateway answers it
  const r4 = startRelay('r4', 0, 'auth_required_read = true\n');
  const u4 = await r4.url;
  const L = [note('l0', [['t', 'setl']]), note('l1', [['t', 'setl']])];
  await publish(u4, L);
  r = await api(g, '/api/relays', { method: 'POST', headers: auth, body: JSON.stringify({ url: u4 }) });
  eq('POST an AUTH-requiring upstream', 201, r.status);
  got = await until('set L through AUTH', async () => { const m = await stored(g, 'setl'); return m && m.size === 2 ? m : null; });
  eq('NIP-42: events from an upstream that asks for AUTH', 2, got ? got.size : 0);
  eq('DELETE it again', 200, (await api(g, `/api/relays/${r.body.id}`, { method: 'DELETE', headers: auth })).status);

  // 3. the read relay: REQ from the database, live events as they are stored, no writes
  const reader = await Relay.connect(g);
  const seen = [];
  let eose = false;
  const sub = reader.subscribe([{ '#t': ['seta'], limit: 100 }, { '#t': ['setd'] }], {
    onevent: (e) => seen.push(e.id),
    oneose: () => { eose = true; },
  });
  await until('EOSE', async () => eose, 10000);
  eq('read relay: stored events before EOSE', 30, seen.length);
  const D = [note('d0', [['t', 'setd']])];
  await publish(u1, D);
  await until('live push', async () => seen.includes(D[0].id), 10000);
  check('read relay: a newly stored event arrives live', seen.includes(D[0].id));
  sub.close();
  let refused = '';
  try {
    await reader.publish(note('nope'));
  } catch (e) {
    refused = String(e.message || e);
  }
  check('read relay: EVENT refused with blocked:', /blocked:/.test(refused), refused);
  reader.close();

  // 4. removing an upstream while running
  eq('DELETE without token', 401, (await api(g, `/api/relays/${id2}`, { method: 'DELETE' })).status);
  eq('DELETE an unknown id', 404, (await api(g, '/api/relays/999', { method: 'DELETE', headers: auth })).status);
  eq('DELETE', 200, (await api(g, `/api/relays/${id2}`, { method: 'DELETE', headers: auth })).status);
  eq('after DELETE: the list', [u1, u3], (await api(g, '/api/relays')).body.map((x) => x.url));
  await publish(u2, [note('e0', [['t', 'sete']])]);
  await publish(u1, [note('f0', [['t', 'setf']])]);
  await until('set F', async () => { const m = await stored(g, 'setf'); return m && m.size === 1; });
  eq('removed upstream: its new events are not taken', 0, (await stored(g, 'sete')).size);

  // 5. stats and metrics
  const stats = (await api(g, '/api/stats')).body;
  check('stats: stored counts', stats.stored >= 42 && stats.relays.length === 2, JSON.stringify(stats).slice(0, 300));
  const st1 = stats.relays.find((x) => x.id === id1);
  check('stats: per relay counters', st1 && st1.received >= 21 && st1.state === 'open' && st1.avg_size > 100 && st1.median_size > 100, JSON.stringify(st1).slice(0, 400));
  const metrics = (await api(g, '/metrics')).body;
  check('metrics: per relay series', metrics.includes(`nostr_gateway_upstream_events_received_total{relay="${u1}"}`), metrics.slice(0, 300));
  check('metrics: the read relay too', metrics.includes('nostr_relay_connections'));

  // 6. the gateway killed during ingest and restarted: every event once
  const E = [];
  for (let i = 0; i < 200; i++) E.push(note(`g${i}`, [['t', 'setg']]));
  const pub = publish(u1, E);
  await sleep(150);
  await stop(gw, 'SIGKILL');
  await pub;
  gwArgs = ['--port', '0', '--db', db, '--token', TOKEN, '--threads', '2']; // the list comes from the database
  // the list comes from the database; a small queue from now on, so that
  // the outage and the flood below push back on the upstream reads
  gwArgs = ['--port', '0', '--db', db, '--token', TOKEN, '--threads', '2', '--queue', '64', '--batch', '16', ...q];
  gw = startGateway();
  g = await gw.url;
  eq('restart: the upstream list comes from the database', [u1, u3], (await api(g, '/api/relays')).body.map((x) => x.url));
  got = await until('set G after restart', async () => { const m = await stored(g, 'setg'); return m && m.raw.length >= 200 ? m : null; }, 30000);
  const setG = await stored(g, 'setg');
  eq('restart: every event published during the kill is stored', 200, setG ? setG.size : 0);
  eq('restart: none twice', 200, setG ? setG.raw.length : 0);

  // 7. an upstream killed and restarted on its port: the gateway reconnects
  const port1 = Number(new URL(u1).port);
  await stop(r1, 'SIGKILL');
  await sleep(300);
  const r1b = startRelay('r1', port1);
  await r1b.url;
  const H = [note('h0', [['t', 'seth']])];
  await publish(u1, H);
  got = await until('set H after upstream restart', async () => { const m = await stored(g, 'seth'); return m && m.size === 1 ? m : null; }, 30000);
  eq('upstream restart: reconnected and stored', 1, got ? got.size : 0);
  const st = (await api(g, '/api/relays')).body.find((x) => x.url === u1);
  check('upstream restart: counted as a reconnect', st && st.reconnects >= 1, JSON.stringify(st).slice(0, 300));

  // 8. the database down during ingest (an immediate stop, like a crash), then back
  if (check('pgctl given', !!pgctl)) {
    const I = [];
    for (let i = 0; i < 150; i++) I.push(note(`i${i}`, [['t', 'seti']]));
    execFileSync('bash', [pgctl, 'stop'], { stdio: 'ignore' });
    await publish(u3, I);
    await sleep(1500);
    const during = await api(g, '/api/stats');
    check('database down: the gateway still answers', during.status === 200, during.status);
    check('database down: the queue fills and reads pause', during.body.queue_depth > 0 || during.body.backlog > 0,
      JSON.stringify(during.body).slice(0, 200));
    execFileSync('bash', [pgctl, 'start'], { stdio: 'ignore' });
    got = await until('set I after the outage', async () => { const m = await stored(g, 'seti'); return m && m.size === 150 ? m : null; }, 40000);
    eq('database back: every event stored', 150, got ? got.size : 0);
    eq('database back: none twice', 150, got ? got.raw.length : 0);
  }

  // 9. a flood from one upstream does not starve another, and memory stays bounded
  const F = [];
  for (let i = 0; i < 3000; i++) F.push(note(`flood ${i}`, [['t', 'setflood']]));
  const flood = Promise.all([0, 1, 2, 3].map((k) => publish(u3, F.filter((_, i) => i % 4 === k))));
  await sleep(200);
  const J = [];
  for (let i = 0; i < 5; i++) J.push(note(`j${i}`, [['t', 'setj']]));
  const t0 = Date.now();
  await publish(u1, J);
  got = await until('set J during the flood', async () => { const m = await stored(g, 'setj'); return m && m.size === 5 ? m : null; }, 30000);
  eq('flood: the other upstream is served', 5, got ? got.size : 0);
  console.log(`  (set J stored ${Date.now() - t0} ms after publishing, during a 3000-event flood)`);
  await flood;
  const target = (await api(g, '/api/relays')).body.find((x) => x.url === u3);
  got = await until('the flood stored', async () => {
    const m = await stored(g, 'setflood');
    return m && m.size === 500 ? m : null; // /api/events pages at 500
  }, 60000);
  const cnt = await until('count', async () => {
    const st = (await api(g, '/api/relays')).body.find((x) => x.url === u3);
    return st && st.stored >= target.stored + 0 && st.received >= 3000 && st.stored === st.submitted ? st : null;
  }, 60000);
  check('flood: all of it stored in the end', !!cnt, JSON.stringify(cnt || target).slice(0, 300));
  const stats2 = (await api(g, '/api/stats')).body;
  check('flood: the small queue pushed back (reads paused)', stats2.paused_times > 0, stats2.paused_times);
  const rss = Number((readFileSync(`/proc/${gw.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/) || [0, 0])[1]);
  check('flood: gateway memory bounded (RSS < 256 MiB, ASan builds included)', rss > 0 && rss < 256 * 1024, `${rss} KiB`);
  console.log(`  (gateway RSS after the flood: ${(rss / 1024).toFixed(1)} MiB)`);

  // 10. the broker killed during ingest and restarted: every event stored once
  if (amqp && check('rmqctl given', !!rmqctl && !!rmqack)) {
    const K = [];
    for (let i = 0; i < 200; i++) K.push(note(`k${i}`, [['t', 'setk']]));
    const pk = publish(u1, K);
    await sleep(100);
    broker('kill');
    await pk;
    await sleep(1000);
    broker('restart');
    got = await until('set K after the broker restart', async () => { const m = await stored(g, 'setk'); return m && m.size === 200 ? m : null; }, 60000);
    eq('broker restart: every event stored', 200, got ? got.size : 0);
    eq('broker restart: none twice', 200, got ? got.raw.length : 0);
  }

  eq('SIGTERM: exit 0', 0, await stop(gw));
} catch (e) {
  check('no exception', false, e.stack || String(e));
}
finish(false);
