// End to end: nostr-tools (and raw `ws` for what a client library hides)
// against Distrise's nostr-relay program on loopback, for one store.
//
//   node relay_e2e.mjs --relay BUILD/nostr-relay --tmp DIR [--db CONNINFO] [--pids FILE]
//
// Starts the relays itself on free ports (--port 0; the start line names
// the address): the main one with a --config file, one with --auth and
// auth_required_read, one with tight rate limits. Each check prints FAIL
// with a reason when it fails; the last line is "N passed, M failed" and
// the exit status is 0 only when nothing failed. Without --db every relay
// uses the built-in store in its own directory under DIR; with --db they
// all use that database. Child PIDs are appended to --pids so the calling
// shell can kill them if this script dies. Every wait is bounded.
import { spawn } from 'node:child_process';
import { writeFileSync, appendFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { npubEncode } from 'nostr-tools/nip19';

useWebSocketImplementation(WebSocket);

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const relayBin = opt('--relay');
const tmp = opt('--tmp');
const db = opt('--db');
const pidFile = opt('--pids');
if (!relayBin || !tmp) {
  console.error('usage: node relay_e2e.mjs --relay BUILD/nostr-relay --tmp DIR [--db CONNINFO] [--pids FILE]');
  process.exit(2);
}
const storeName = db ? 'pgwire' : 'built-in';
setTimeout(() => {
  console.error(`relay_e2e (${storeName}): global timeout`);
  finish(true);
}, 280000).unref();

// ---------------------------------------------------------------- checks
let passed = 0;
let failed = 0;
function check(name, cond, detail) {
  if (cond) passed++;
  else {
    failed++;
    console.error(`FAIL [${storeName}] ${name}${detail !== undefined ? ': ' + detail : ''}`);
  }
  return !!cond;
}
const eq = (name, want, got) => check(name, JSON.stringify(want) === JSON.stringify(got), `want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}
async function section(name, fn) {
  try {
    await withTimeout(fn(), 90000, name);
  } catch (e) {
    check(`${name} (section threw)`, false, e?.stack ?? String(e));
  }
}

// ---------------------------------------------------------------- relays
const children = new Set();
process.on('exit', () => { for (const c of children) try { c.kill('SIGKILL'); } catch {} });

function startRelay(label, extra) {
  const dataArgs = db ? ['--db', db] : ['--data', `${tmp}/${label}-data`];
  const argv = ['--port', '0', ...dataArgs, ...extra];
  const proc = spawn(relayBin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(proc);
  if (pidFile) appendFileSync(pidFile, `${proc.pid}\n`);
  const r = { label, proc, argv, stderr: '', exitCode: undefined };
  r.exited = new Promise((resolve) => proc.on('exit', (code, sig) => {
    children.delete(proc);
    r.exitCode = code ?? sig;
    resolve(r.exitCode);
  }));
  proc.stderr.setEncoding('utf8');
  return withTimeout(new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      r.stderr += d;
      const m = /listening on (ws:\/\/[^/\s]+\/)/.exec(r.stderr);
      if (m && !r.url) {
        r.url = m[1].replace(/\/$/, '');
        r.http = r.url.replace(/^ws:/, 'http:');
        resolve(r);
      }
    });
    r.exited.then((code) => reject(new Error(`${label} relay exited (${code}): ${r.stderr}`)));
  }), 20000, `${label} relay start`);
}

async function stopRelay(r, ms = 15000) {
  if (r.exitCode !== undefined) return r.exitCode;
  r.proc.kill('SIGTERM');
  return withTimeout(r.exited, ms, `${r.label} relay exit after SIGTERM`);
}

// ---------------------------------------------------------------- clients
async function connect(url) {
  const relay = await withTimeout(Relay.connect(url), 10000, `connect ${url}`);
  relay.publishTimeout = 20000;
  relay.baseEoseTimeout = 20000;
  relay.onnotice = () => {};
  return relay;
}

// publish through nostr-tools: {ok, msg}
async function pub(relay, ev) {
  try {
    const msg = await relay.publish(ev);
    return { ok: true, msg };
  } catch (e) {
    return { ok: false, msg: e?.message ?? String(e) };
  }
}

// A raw WebSocket that keeps every message in order, for exact checks.
class Raw {
  static async open(url) {
    const ws = new WebSocket(url);
    const raw = new Raw(ws);
    await withTimeout(once(ws, 'open'), 10000, 'raw ws open');
    return raw;
  }
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiter = null;
    this.closeCode = undefined;
    ws.on('message', (data) => {
      let m;
      try { m = JSON.parse(data.toString()); } catch { m = ['<unparsable>', data.toString()]; }
      this.queue.push(m);
      if (this.waiter) this.waiter();
    });
    ws.on('close', (code) => { this.closeCode = code; if (this.waiter) this.waiter(); });
    ws.on('error', () => {});
  }
  send(x) { this.ws.send(typeof x === 'string' ? x : JSON.stringify(x)); }
  // the first queued message matching pred (removed), or null after ms
  async next(pred, ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.queue.findIndex(pred);
      if (i >= 0) return this.queue.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0 || this.closeCode !== undefined) return null;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(t); resolve(); };
      });
      this.waiter = null;
    }
  }
  // REQ: events until EOSE (or CLOSED): {events, end}; the subscription is
  // closed after its EOSE (max_subs is 20 here)
  async req(sub, ...filters) {
    const r = await this.live(sub, ...filters);
    if (r.end?.[0] === 'EOSE') this.send(['CLOSE', sub]);
    return r;
  }
  // the same, leaving the subscription open for live events
  async live(sub, ...filters) {
    this.send(['REQ', sub, ...filters]);
    const events = [];
    for (;;) {
      const m = await this.next((x) => x[1] === sub && ['EVENT', 'EOSE', 'CLOSED'].includes(x[0]), 10000);
      if (!m) return { events, end: null };
      if (m[0] === 'EVENT') events.push(m[2]);
      else return { events, end: m };
    }
  }
  async count(sub, ...filters) {
    this.send(['COUNT', sub, ...filters]);
    const m = await this.next((x) => x[1] === sub && (x[0] === 'COUNT' || x[0] === 'CLOSED'), 10000);
    return m && m[0] === 'COUNT' ? m[2].count : m;
  }
  async publish(ev) {
    this.send(['EVENT', ev]);
    return this.next((x) => x[0] === 'OK' && x[1] === ev.id, 10000);
  }
  close() { try { this.ws.close(); } catch {} }
}

// ---------------------------------------------------------------- events
const now = () => Math.floor(Date.now() / 1000);
const keys = () => { const sk = generateSecretKey(); return { sk, pk: getPublicKey(sk) }; };
const mk = (k, kind, content, tags = [], created_at = now()) => finalizeEvent({ kind, created_at, tags, content }, k.sk);
const ids = (evs) => evs.map((e) => e.id);
const sortNewest = (evs) => [...evs].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));

// what must survive a restart, and what must stay gone
const mustHave = new Map(); // id -> event
const mustLack = new Set();
const have = (...evs) => evs.forEach((e) => { mustHave.set(e.id, e); mustLack.delete(e.id); });
const lack = (...evs) => evs.forEach((e) => { mustLack.add(e.id); mustHave.delete(e.id); });

async function queryIds(raw, idList, tag) {
  const found = new Set();
  for (let i = 0; i < idList.length; i += 200) {
    const { events } = await raw.req(`${tag}${i}`, { ids: idList.slice(i, i + 200) });
    events.forEach((e) => found.add(e.id));
  }
  return found;
}

// ---------------------------------------------------------------- config
const A = keys(), B = keys(), C = keys(), D = keys(), banned = keys(), operator = keys();
const mainConfig = `${tmp}/main.conf`;
writeFileSync(mainConfig, [
  '# nostr-relay configuration for the end-to-end test',
  'description = "Distrise end-to-end test relay"',
  'contact = mailto:e2e@example.invalid',
  `pubkey = ${npubEncode(operator.pk)}`,
  'max_subs = 20',
  'max_filters = 8',
  'max_limit = 500',
  'events_per_s = -1',
  'reqs_per_s = -1',
  'ip_events_per_s = -1',
  '  kinds_deny = 4444, 7000-7001   ',
  `pubkeys_deny = ${banned.pk}`,
  '',
].join('\n'));
const mainArgs = ['--config', mainConfig, '--name', 'Distrise e2e', '--max-event-bytes', '8192', '--threads', '2'];

// ---------------------------------------------------------------- the suite
let main = await startRelay('main', mainArgs);
let nt = await connect(main.url);
let raw = await Raw.open(main.url);

const a1 = mk(A, 1, 'hello from nostr-tools', [], now() - 30);
await section('publish', async () => {
  const r = await pub(nt, a1);
  check('publish: OK true', r.ok, r.msg);
  have(a1);
  const { events, end } = await raw.req('q-a1', { ids: [a1.id] });
  check('publish: stored event comes back', events.length === 1 && events[0].id === a1.id && end?.[0] === 'EOSE');
  eq('publish: returned verbatim', JSON.stringify(a1), JSON.stringify(events[0]));
});

await section('duplicate', async () => {
  const r = await pub(nt, a1);
  check('duplicate: answered with duplicate:', r.msg.startsWith('duplicate:'), JSON.stringify(r));
  eq('duplicate: stored once', 1, await raw.count('c-dup', { ids: [a1.id] }));
});

await section('invalid', async () => {
  const good = mk(A, 1, 'to be tampered with');
  const badSig = { ...good, sig: good.sig.slice(0, -1) + (good.sig.endsWith('0') ? '1' : '0') };
  let r = await pub(nt, badSig);
  check('invalid sig: OK false invalid:', !r.ok && r.msg.startsWith('invalid:'), JSON.stringify(r));
  const badId = { ...good, content: 'tampered' };
  r = await pub(nt, badId);
  check('invalid id: OK false invalid:', !r.ok && r.msg.startsWith('invalid:'), JSON.stringify(r));
  const future = mk(A, 1, 'from the future', [], now() + 3600);
  r = await pub(nt, future);
  check('created_at an hour ahead: OK false', !r.ok, JSON.stringify(r));
  const big = mk(A, 1, 'x'.repeat(9000));
  r = await pub(nt, big);
  check('over --max-event-bytes: OK false', !r.ok, JSON.stringify(r));
  const found = await queryIds(raw, [good.id, future.id, big.id], 'q-inv');
  eq('invalid events are not stored', 0, found.size);
  lack(good, future, big);
});

await section('policy', async () => {
  let r = await pub(nt, mk(A, 4444, 'denied kind'));
  check('kinds_deny: blocked:', !r.ok && r.msg.startsWith('blocked:'), JSON.stringify(r));
  r = await pub(nt, mk(A, 7001, 'denied kind range'));
  check('kinds_deny range: blocked:', !r.ok && r.msg.startsWith('blocked:'), JSON.stringify(r));
  r = await pub(nt, mk(banned, 1, 'banned author'));
  check('pubkeys_deny (npub in config): blocked:', !r.ok && r.msg.startsWith('blocked:'), JSON.stringify(r));
});

await section('REQ, EOSE, live, CLOSE', async () => {
  const older = mk(A, 1, 'older', [], now() - 100);
  const middle = mk(A, 1, 'middle', [], now() - 50);
  for (const e of [older, middle]) check('REQ setup publish', (await pub(nt, e)).ok);
  have(older, middle);
  const { events, end } = await raw.live('s1', { authors: [A.pk], kinds: [1] });
  eq('REQ: stored events newest first, then EOSE', ids(sortNewest([a1, older, middle])), ids(events));
  eq('REQ: EOSE ends the stored events', 'EOSE', end?.[0]);
  const lim = await raw.req('s-lim', { authors: [A.pk], kinds: [1], limit: 2 });
  eq('REQ: limit honoured', ids(sortNewest([a1, older, middle]).slice(0, 2)), ids(lim.events));
  const two = await raw.req('s-2f', { ids: [older.id] }, { ids: [middle.id] }, { ids: [older.id] });
  eq('REQ: several filters, each event once', ids(sortNewest([older, middle])), ids(two.events));

  const live = mk(A, 1, 'live one');
  check('live: publish', (await pub(nt, live)).ok);
  have(live);
  const got = await raw.next((m) => m[0] === 'EVENT' && m[1] === 's1', 5000);
  eq('live: event delivered to the open subscription', live.id, got?.[2]?.id);

  raw.send(['CLOSE', 's1']);
  await sleep(100);
  const after = mk(A, 1, 'after close');
  check('CLOSE: publish', (await pub(nt, after)).ok);
  have(after);
  check('CLOSE: no more events on the closed subscription', (await raw.next((m) => m[1] === 's1', 700)) === null);

  // a REQ with an open id replaces it
  await raw.live('s2', { authors: [A.pk], kinds: [1], limit: 0 });
  await raw.live('s2', { authors: [B.pk], kinds: [1], limit: 0 });
  const fromA = mk(A, 1, 'A after replace'), fromB = mk(B, 1, 'B after replace');
  check('replace sub: publish', (await pub(nt, fromA)).ok && (await pub(nt, fromB)).ok);
  have(fromA, fromB);
  const m = await raw.next((x) => x[0] === 'EVENT' && x[1] === 's2', 3000);
  eq('REQ with an open id replaces its filters', fromB.id, m?.[2]?.id);
  check('replaced filters no longer match', (await raw.next((x) => x[1] === 's2', 500)) === null);
  raw.send(['CLOSE', 's2']);

  // nostr-tools' own subscription
  const seen = [];
  let eosed = false;
  const sub = nt.subscribe([{ authors: [A.pk], kinds: [1], limit: 3 }], {
    onevent: (e) => seen.push(e.id),
    oneose: () => { eosed = true; },
  });
  for (let i = 0; i < 50 && !eosed; i++) await sleep(100);
  check('nostr-tools subscribe: EOSE', eosed);
  eq('nostr-tools subscribe: 3 newest', 3, seen.length);
  sub.close();
});

await section('COUNT', async () => {
  const n = await withTimeout(nt.count([{ authors: [A.pk], kinds: [1] }]), 10000, 'count');
  const want = [...mustHave.values()].filter((e) => e.pubkey === A.pk && e.kind === 1).length;
  eq('COUNT (nostr-tools): matches what was stored', want, n);
  eq('COUNT (raw): two filters, union', want + 1, await raw.count('c2', { authors: [A.pk], kinds: [1] }, { authors: [B.pk] }));
  eq('COUNT: limit is ignored', want, await raw.count('c3', { authors: [A.pk], kinds: [1], limit: 1 }));
});

await section('replaceable and addressable', async () => {
  const t = now() - 20;
  const p1 = mk(B, 0, '{"name":"b1"}', [], t - 10), p2 = mk(B, 0, '{"name":"b2"}', [], t - 5);
  for (const e of [p1, p2]) check('kind 0 publish', (await pub(nt, e)).ok);
  let q = await raw.req('r0', { authors: [B.pk], kinds: [0] });
  eq('replaceable: only the newest kept', [p2.id], ids(q.events));
  const r = await pub(nt, p1);
  check('replaceable: older version refused or ignored', true, JSON.stringify(r));
  q = await raw.req('r0b', { authors: [B.pk], kinds: [0] });
  eq('replaceable: older version does not come back', [p2.id], ids(q.events));
  have(p2);
  lack(p1);

  // same created_at: the lowest id wins, whichever arrives first
  const c1 = mk(B, 3, 'contacts one', [], t), c2 = mk(B, 3, 'contacts two', [], t);
  const [lo, hi] = c1.id < c2.id ? [c1, c2] : [c2, c1];
  check('kind 3 publish', (await pub(nt, hi)).ok);
  await pub(nt, lo);
  q = await raw.req('r3', { authors: [B.pk], kinds: [3] });
  eq('replaceable tie: lowest id kept', [lo.id], ids(q.events));
  have(lo);
  lack(hi);

  const x1 = mk(B, 30000, 'x v1', [['d', 'x']], t - 10), x2 = mk(B, 30000, 'x v2', [['d', 'x']], t - 5);
  const y1 = mk(B, 30000, 'y v1', [['d', 'y']], t - 10);
  for (const e of [x1, x2, y1]) check('kind 30000 publish', (await pub(nt, e)).ok);
  q = await raw.req('r30k', { authors: [B.pk], kinds: [30000] });
  eq('addressable: newest per d tag', ids(sortNewest([x2, y1])), ids(q.events));
  q = await raw.req('r30kd', { authors: [B.pk], kinds: [30000], '#d': ['x'] });
  eq('addressable: #d filter', [x2.id], ids(q.events));
  have(x2, y1);
  lack(x1);
});

await section('deletion', async () => {
  const n1 = mk(C, 1, 'to be deleted'), n2 = mk(C, 1, 'someone else tries to delete this');
  for (const e of [n1, n2]) check('deletion setup', (await pub(nt, e)).ok);
  const del = mk(C, 5, 'oops', [['e', n1.id]]);
  check('deletion: kind 5 accepted', (await pub(nt, del)).ok);
  let q = await raw.req('d1', { ids: [n1.id, del.id] });
  eq('deletion: event gone, deletion stored', [del.id], ids(q.events));
  const again = await pub(nt, n1);
  q = await raw.req('d2', { ids: [n1.id] });
  eq('deletion: a deleted event put again stays deleted', 0, q.events.length);
  check('deletion: re-publish answered', typeof again.msg === 'string');
  const foreign = mk(D, 5, 'not mine', [['e', n2.id]]);
  await pub(nt, foreign);
  q = await raw.req('d3', { ids: [n2.id] });
  eq('deletion: only the author can delete', [n2.id], ids(q.events));
  have(n2, del);
  lack(n1);

  // by coordinate: every version of C's 30001:z up to the deletion
  const z = mk(C, 30001, 'z', [['d', 'z']], now() - 5), w = mk(C, 30001, 'w', [['d', 'w']], now() - 5);
  for (const e of [z, w]) check('a-deletion setup', (await pub(nt, e)).ok);
  const delA = mk(C, 5, '', [['a', `30001:${C.pk}:z`]]);
  check('deletion by a tag accepted', (await pub(nt, delA)).ok);
  q = await raw.req('d4', { authors: [C.pk], kinds: [30001] });
  eq('deletion by a tag: only that coordinate goes', [w.id], ids(q.events));
  have(w, delA);
  lack(z);
});

await section('ephemeral', async () => {
  const live = await Raw.open(main.url);
  const s = await live.live('eph', { kinds: [20001], authors: [D.pk] });
  eq('ephemeral: nothing stored before', 0, s.events.length);
  const e = mk(D, 20001, 'here and gone');
  const r = await pub(nt, e);
  check('ephemeral: OK true', r.ok, r.msg);
  const m = await live.next((x) => x[0] === 'EVENT' && x[1] === 'eph', 5000);
  eq('ephemeral: delivered live', e.id, m?.[2]?.id);
  const q = await raw.req('eph-q', { ids: [e.id] });
  eq('ephemeral: never stored', 0, q.events.length);
  lack(e);
  live.close();
});

await section('expiration', async () => {
  const past = mk(D, 1, 'already expired', [['expiration', String(now() - 10)]]);
  let r = await pub(nt, past);
  check('expiration: already expired is refused', !r.ok, JSON.stringify(r));
  const exp = now() + 2;
  const soon = mk(D, 1, 'expires soon', [['expiration', String(exp)]]);
  r = await pub(nt, soon);
  check('expiration: future expiration accepted', r.ok, r.msg);
  let q = await raw.req('x1', { ids: [soon.id] });
  eq('expiration: returned before it expires', [soon.id], ids(q.events));
  while (now() <= exp) await sleep(200);
  await sleep(300);
  q = await raw.req('x2', { ids: [soon.id] });
  eq('expiration: never returned after', 0, q.events.length);
  eq('expiration: not counted after', 0, await raw.count('x3', { ids: [soon.id] }));
  lack(past, soon);
});

await section('search', async () => {
  const f = mk(D, 1, 'The quick brown Fox jumps'), g = mk(D, 1, 'a lazy dog sleeps');
  for (const e of [f, g]) check('search setup', (await pub(nt, e)).ok);
  have(f, g);
  let q = await raw.req('se1', { authors: [D.pk], search: 'quick FOX' });
  eq('search: every word, any case', [f.id], ids(q.events));
  q = await raw.req('se2', { authors: [D.pk], search: 'fox dog' });
  eq('search: all words must match', 0, q.events.length);
});

await section('protected (NIP-70)', async () => {
  const c = await connect(main.url);
  const prot = mk(A, 1, 'protected note', [['-']]);
  let r = await pub(c, prot);
  check('protected: without AUTH refused auth-required:', !r.ok && r.msg.startsWith('auth-required:'), JSON.stringify(r));
  for (let i = 0; i < 30 && !c.challenge; i++) await sleep(100);
  check('protected: relay sent an AUTH challenge', !!c.challenge);
  const ok = await withTimeout(c.auth((t) => finalizeEvent(t, A.sk)), 10000, 'auth').then((m) => ({ ok: true, m }), (e) => ({ ok: false, m: e.message }));
  check('protected: AUTH accepted', ok.ok, ok.m);
  r = await pub(c, prot);
  check('protected: by its authed author, OK true', r.ok, r.msg);
  have(prot);
  const other = mk(B, 1, 'protected, other author', [['-']]);
  r = await pub(c, other);
  check('protected: another author refused', !r.ok && /^(auth-required|restricted):/.test(r.msg), JSON.stringify(r));
  lack(other);
  c.close();
});

await section('limits', async () => {
  const l = await Raw.open(main.url);
  for (let i = 0; i < 20; i++) l.send(['REQ', `lim${i}`, { ids: [a1.id] }]); // left open
  for (let i = 0; i < 20; i++) await l.next((m) => m[0] === 'EOSE' && m[1] === `lim${i}`, 5000);
  const over = await l.live('lim20', { ids: [a1.id] });
  check('max_subs 20 (config): the 21st gets CLOSED', over.end?.[0] === 'CLOSED' && typeof over.end?.[2] === 'string', JSON.stringify(over.end));
  l.send(['CLOSE', 'lim0']);
  const again = await l.req('lim21', { ids: [a1.id] });
  eq('after a CLOSE another REQ fits', 'EOSE', again.end?.[0]);
  const filters = Array.from({ length: 9 }, () => ({ ids: [a1.id] }));
  const many = await l.req('lim-f', ...filters);
  eq('max_filters 8 (config): 9 filters get CLOSED', 'CLOSED', many.end?.[0]);
  l.close();
});

await section('bad input', async () => {
  const b = await Raw.open(main.url);
  const hex = 'ab'.repeat(32);
  const cases = [
    ['not json', 'not json', 'NOTICE'],
    ['an object', '{"a":1}', 'NOTICE'],
    ['an empty array', '[]', 'NOTICE'],
    ['unknown type', '["HELLO","x"]', 'NOTICE'],
    ['type not a string', '[1,2]', 'NOTICE'],
    ['deep nesting', '['.repeat(2000) + ']'.repeat(2000), 'NOTICE'],
    ['EVENT without event', '["EVENT"]', 'NOTICE'],
    ['EVENT with a string', '["EVENT","x"]', 'NOTICE'],
    ['EVENT missing fields', `["EVENT",{"id":"${hex}","kind":1}]`, 'OK'],
    ['EVENT content a number', JSON.stringify(['EVENT', { ...a1, content: 5 }]), 'OK'],
    ['EVENT kind negative', JSON.stringify(['EVENT', { ...a1, kind: -1 }]), 'OK'],
    ['EVENT uppercase hex id', JSON.stringify(['EVENT', { ...a1, id: a1.id.toUpperCase() }]), 'NOTICE'],
    ['EVENT extra argument', JSON.stringify(['EVENT', a1, 5]), 'OK'],
    ['REQ without id', '["REQ"]', 'NOTICE'],
    ['REQ id a number', '["REQ",5,{}]', 'NOTICE'],
    ['REQ empty id', '["REQ","",{}]', 'NOTICE'],
    ['REQ id too long', JSON.stringify(['REQ', 'x'.repeat(100), {}]), 'NOTICE'],
    ['REQ without filters', '["REQ","bq1"]', 'CLOSED'],
    ['REQ filter a number', '["REQ","bq2",5]', 'CLOSED'],
    ['REQ kinds a string', '["REQ","bq3",{"kinds":"x"}]', 'CLOSED'],
    ['REQ unknown field', '["REQ","bq4",{"color":"red"}]', 'CLOSED'],
    ['REQ bad id hex', '["REQ","bq5",{"ids":["zz"]}]', 'CLOSED'],
    ['REQ negative limit', '["REQ","bq6",{"limit":-1}]', 'CLOSED'],
    ['CLOSE without id', '["CLOSE"]', 'NOTICE'],
    ['CLOSE id a number', '["CLOSE",5]', 'NOTICE'],
    ['COUNT without filters', '["COUNT","bc1"]', 'CLOSED'],
    ['COUNT bad filter', '["COUNT","bc2",{"authors":["nothex"]}]', 'CLOSED'],
    ['COUNT id a number', '["COUNT",1,{}]', 'NOTICE'],
    ['AUTH without event', '["AUTH"]', 'NOTICE'],
    ['AUTH with a string', '["AUTH","x"]', 'NOTICE'],
    ['AUTH wrong kind', JSON.stringify(['AUTH', a1]), 'OK'],
    ['AUTH bad event', `["AUTH",{"id":"${hex}","kind":22242}]`, 'OK'],
  ];
  let i = 0;
  for (const [name, payload, want] of cases) {
    b.send(payload);
    const m = await b.next((x) => x[0] !== 'AUTH', 4000);
    const type = m?.[0];
    // NOTICE when nothing can be answered to; OK false for an EVENT or AUTH
    // whose id could be read; CLOSED for a REQ or COUNT whose id could be
    // read; every reason with NIP-01's invalid: prefix
    let good;
    if (want === 'NOTICE') good = type === 'NOTICE' && /^invalid: /.test(m[1]);
    else if (want === 'CLOSED') good = type === 'CLOSED' && typeof m[1] === 'string' && /^invalid: /.test(m[2]);
    else good = type === 'OK' && /^[0-9a-f]{64}$/.test(m[1]) && m[2] === false && /^invalid: /.test(m[3]);
    check(`bad input: ${name} -> ${want}`, good, JSON.stringify(m));
    if (process.env.E2E_DEBUG) console.error(`bad input: ${name}: ${JSON.stringify(m)}`);
    b.queue.length = 0;
    const alive = await b.req(`alive${i++}`, { ids: [a1.id] });
    check(`bad input: ${name}: connection still answers`, alive.end?.[0] === 'EOSE' && alive.events.length === 1, JSON.stringify(alive));
  }
  // a binary frame: refused with a NOTICE, the connection lives on
  b.ws.send(Buffer.from('["REQ","bin",{}]'), { binary: true });
  const nb = await b.next((x) => x[0] !== 'AUTH', 4000);
  check('bad input: binary frame -> NOTICE', nb?.[0] === 'NOTICE', JSON.stringify(nb));
  const aliveBin = await b.req('alive-bin', { ids: [a1.id] });
  eq('bad input: binary frame: connection still answers', 'EOSE', aliveBin.end?.[0]);
  b.close();

  // protocol violations close that connection only
  const u = await Raw.open(main.url);
  u.ws._socket.write(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28])); // masked text frame, invalid UTF-8
  for (let k = 0; k < 30 && u.closeCode === undefined; k++) await sleep(100);
  check('invalid UTF-8 text: connection closed (1007)', u.closeCode === 1007 || u.closeCode === 1006, String(u.closeCode));
  const big = await Raw.open(main.url);
  big.send('["REQ","big",{"search":"' + 'y'.repeat(300000) + '"}]');
  for (let k = 0; k < 50 && big.closeCode === undefined; k++) await sleep(100);
  check('message over max_message: connection closed', big.closeCode !== undefined, String(big.closeCode));

  // raw HTTP garbage on a socket: a 4xx and the socket closes
  const sock = createConnection({ host: new URL(main.http).hostname, port: Number(new URL(main.http).port) });
  await withTimeout(once(sock, 'connect'), 5000, 'tcp connect');
  let reply = '';
  sock.on('data', (d) => { reply += d; });
  sock.write('BLAH / NOPE\r\n\r\n');
  await withTimeout(Promise.race([once(sock, 'end'), once(sock, 'close')]), 5000, 'http garbage close').catch(() => {});
  check('HTTP garbage: 4xx answer', /^HTTP\/1\.1 4\d\d/.test(reply), JSON.stringify(reply.slice(0, 80)));
  sock.destroy();
  const still = await raw.req('alive-after', { ids: [a1.id] });
  eq('bad input: the relay still serves other connections', 'EOSE', still.end?.[0]);
});

await section('HTTP: NIP-11, /metrics, /healthz', async () => {
  let res = await withTimeout(fetch(main.http + '/', { headers: { Accept: 'application/nostr+json' } }), 5000, 'nip11');
  eq('NIP-11: 200', 200, res.status);
  check('NIP-11: content type', (res.headers.get('content-type') || '').includes('application/nostr+json'), res.headers.get('content-type'));
  check('NIP-11: CORS', res.headers.get('access-control-allow-origin') === '*', res.headers.get('access-control-allow-origin'));
  const info = await res.json();
  eq('NIP-11: name from --name', 'Distrise e2e', info.name);
  eq('NIP-11: description from the config file', 'Distrise end-to-end test relay', info.description);
  eq('NIP-11: pubkey from the config (npub -> hex)', operator.pk, info.pubkey);
  eq('NIP-11: contact', 'mailto:e2e@example.invalid', info.contact);
  check('NIP-11: supported_nips', Array.isArray(info.supported_nips) && [1, 9, 11, 40, 42, 45, 50, 70].every((n) => info.supported_nips.includes(n)), JSON.stringify(info.supported_nips));
  const lim = info.limitation || {};
  eq('NIP-11: limitation.max_subscriptions from config', 20, lim.max_subscriptions);
  eq('NIP-11: limitation.max_limit from config', 500, lim.max_limit);
  check('NIP-11: limitation.max_message_length fits --max-event-bytes', lim.max_message_length >= 8192, JSON.stringify(lim));
  check('NIP-11: limitation.auth_required false', lim.auth_required === false || lim.auth_required === undefined, JSON.stringify(lim));
  res = await withTimeout(fetch(main.http + '/metrics'), 5000, 'metrics');
  const text = await res.text();
  eq('/metrics: 200', 200, res.status);
  check('/metrics: Prometheus text', /^# (HELP|TYPE) /m.test(text) && /^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/m.test(text), text.slice(0, 200));
  check('/metrics: counts stored events', /^nostr_relay_events_stored_total [1-9]/m.test(text), text.slice(0, 400));
  check('/metrics: rejections by reason', /^nostr_relay_events_rejected_total\{reason="invalid"\} [1-9]/m.test(text), text.slice(0, 400));
  check('/metrics: verify threads (--threads 2)', /^nostr_relay_verify_threads 2$/m.test(text), text.slice(-400));
  if (!db) check('/metrics: built-in store size', /^nostr_store_events [1-9]/m.test(text), text.slice(-400));
  res = await withTimeout(fetch(main.http + '/healthz'), 5000, 'healthz');
  eq('/healthz: 200', 200, res.status);
  await res.text();
  res = await withTimeout(fetch(main.http + '/nope'), 5000, '404');
  eq('unknown path: 404', 404, res.status);
  await res.text();
});

await section('50 connections publishing at once', async () => {
  const N = 50, M = 20;
  const ks = Array.from({ length: N }, keys);
  const evs = ks.map((k, i) => Array.from({ length: M }, (_, j) => mk(k, 1, `load ${i}/${j}`, [['t', 'load']], now() - j)));
  const conns = await Promise.all(ks.map(() => connect(main.url)));
  // each connection publishes its own 20 events and its neighbour's: every event arrives twice at once
  const results = await Promise.all(conns.map((c, i) => Promise.all([...evs[i], ...evs[(i + 1) % N]].map((e) => pub(c, e).then((r) => ({ id: e.id, ...r }))))));
  const byId = new Map();
  for (const r of results.flat()) {
    if (!byId.has(r.id)) byId.set(r.id, []);
    byId.get(r.id).push(r);
  }
  let accepted = 0, doubles = 0, refused = [];
  for (const rs of byId.values()) {
    const fresh = rs.filter((r) => r.ok && !r.msg.startsWith('duplicate:'));
    const dups = rs.filter((r) => r.msg.startsWith('duplicate:'));
    if (fresh.length === 1) accepted++;
    if (fresh.length === 1 && dups.length === 1) doubles++;
    refused.push(...rs.filter((r) => !r.ok && !r.msg.startsWith('duplicate:')));
  }
  eq('load: every event accepted exactly once (OK without duplicate:)', N * M, accepted);
  eq('load: every second copy answered duplicate:', N * M, doubles);
  eq('load: nothing refused', [], refused.slice(0, 3));
  eq('load: COUNT is exactly N*M', N * M, await raw.count('load-c', { authors: ks.map((k) => k.pk) }));
  let exact = 0;
  for (let i = 0; i < N; i++) {
    const q = await raw.req(`load-q${i}`, { authors: [ks[i].pk], limit: 100 });
    const got = ids(q.events);
    if (got.length === M && new Set(got).size === M && JSON.stringify(got) === JSON.stringify(ids(sortNewest(evs[i])))) exact++;
  }
  eq('load: each author has its 20 events, once each, newest first', N, exact);
  const capped = await raw.req('load-cap', { '#t': ['load'], limit: 100000 });
  eq('load: a limit above max_limit is capped at 500', 500, capped.events.length);
  evs.flat().forEach((e) => have(e));
  conns.forEach((c) => c.close());

  // a reader that stops reading: the relay queues up to max_output (16 MiB)
  // beyond what the kernel buffers, then closes it with a NOTICE and 1008;
  // everyone else is served meanwhile
  const slow = await Raw.open(main.url);
  slow.ws._socket.pause();
  for (let i = 0; i < 400; i++) slow.send(['REQ', 'slow', { '#t': ['load'], limit: 500 }]);
  await sleep(1500);
  const other = await raw.req('while-slow', { ids: [a1.id] });
  eq('slow reader: others still served', 'EOSE', other.end?.[0]);
  slow.ws._socket.resume();
  for (let k = 0; k < 100 && slow.closeCode === undefined; k++) await sleep(100);
  eq('slow reader: closed with 1008 (policy)', 1008, slow.closeCode);
  check('slow reader: told why in a NOTICE', slow.queue.some((m) => m[0] === 'NOTICE' && /slow/.test(m[1])), JSON.stringify(slow.queue.filter((m) => m[0] !== 'EVENT').slice(-3)));
  slow.queue.length = 0;
});

await section('rate limits', async () => {
  const cfg = `${tmp}/rate.conf`;
  writeFileSync(cfg, 'events_per_s = 1\nevents_burst = 3\nidle_timeout_ms = 1500\nmax_conns_per_ip = 4\n');
  const rl = await startRelay('rate', ['--config', cfg, '--threads', '0']);
  const c = await connect(rl.url);
  const K = keys();
  const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => pub(c, mk(K, 1, `burst ${i}`))));
  check('rate limit: a burst over events_burst gets rate-limited:', rs.some((r) => !r.ok && r.msg.startsWith('rate-limited:')), JSON.stringify(rs.map((r) => r.msg)));
  check('rate limit: the first ones pass', rs.filter((r) => r.ok).length >= 1, JSON.stringify(rs.map((r) => r.msg)));
  // idle_timeout_ms: a silent connection is closed
  const idle = await Raw.open(rl.url);
  for (let k = 0; k < 60 && idle.closeCode === undefined; k++) await sleep(100);
  check('idle_timeout_ms 1500: a silent connection is closed', idle.closeCode !== undefined, String(idle.closeCode));
  // max_conns_per_ip 4 (the idle ones are gone by now): four fit, the fifth is refused
  c.close();
  await sleep(200);
  const extra = [];
  for (let k = 0; k < 4; k++) extra.push(await Raw.open(rl.url));
  const fifth = await Raw.open(rl.url).then(async (x) => { const r = await x.req('p', { limit: 0 }); x.close(); return r.end; }, () => 'refused');
  check('max_conns_per_ip 4: the fifth connection from one address is refused', fifth === 'refused' || fifth === null, JSON.stringify(fifth));
  extra.forEach((x) => x.close());
  eq('rate relay: exit 0 on SIGTERM', 0, await stopRelay(rl));
});

await section('AUTH relay (--auth, auth_required_read, json logs)', async () => {
  const cfg = `${tmp}/auth.conf`;
  writeFileSync(cfg, 'auth_required_read = true\n');
  const ar = await startRelay('auth', ['--auth', '--config', cfg, '--log-format', 'json']);
  const c = await connect(ar.url);
  const K = keys();
  const e1 = mk(K, 1, 'needs auth');
  let r = await pub(c, e1);
  check('--auth: publish before AUTH refused auth-required:', !r.ok && r.msg.startsWith('auth-required:'), JSON.stringify(r));
  const rw = await Raw.open(ar.url);
  const ch = await rw.next((m) => m[0] === 'AUTH', 5000);
  check('--auth: challenge sent', typeof ch?.[1] === 'string' && ch[1].length >= 8, JSON.stringify(ch));
  const before = await rw.req('ar1', { kinds: [1] });
  check('auth_required_read: REQ before AUTH gets CLOSED auth-required:', before.end?.[0] === 'CLOSED' && /^auth-required:/.test(before.end?.[2]), JSON.stringify(before.end));
  const cnt = await rw.count('ar-c', { kinds: [1] });
  check('auth_required_read: COUNT before AUTH gets CLOSED', Array.isArray(cnt) && cnt[0] === 'CLOSED', JSON.stringify(cnt));
  const wrong = finalizeEvent({ kind: 22242, created_at: now(), tags: [['relay', ar.url], ['challenge', 'not-the-challenge']], content: '' }, K.sk);
  rw.send(['AUTH', wrong]);
  let m = await rw.next((x) => x[0] === 'OK' && x[1] === wrong.id, 5000);
  check('AUTH with a wrong challenge: OK false', m?.[2] === false, JSON.stringify(m));
  const stale = finalizeEvent({ kind: 22242, created_at: now() - 3600, tags: [['relay', ar.url], ['challenge', ch?.[1] ?? '']], content: '' }, K.sk);
  rw.send(['AUTH', stale]);
  m = await rw.next((x) => x[0] === 'OK' && x[1] === stale.id, 5000);
  check('AUTH an hour old: OK false', m?.[2] === false, JSON.stringify(m));
  const good = finalizeEvent({ kind: 22242, created_at: now(), tags: [['relay', ar.url + '/'], ['challenge', ch?.[1] ?? '']], content: '' }, K.sk);
  rw.send(['AUTH', good]);
  m = await rw.next((x) => x[0] === 'OK' && x[1] === good.id, 5000);
  check('AUTH with the challenge: OK true', m?.[2] === true, JSON.stringify(m));
  const after = await rw.req('ar2', { kinds: [1] });
  eq('after AUTH: REQ answered', 'EOSE', after.end?.[0]);
  const ok = await withTimeout(c.auth((t) => finalizeEvent(t, K.sk)), 10000, 'auth').then(() => true, (e) => e.message);
  check('nostr-tools relay.auth: accepted', ok === true, ok);
  r = await pub(c, e1);
  check('--auth: publish after AUTH OK true', r.ok, r.msg);
  const back = await rw.req('ar3', { ids: [e1.id] });
  eq('--auth: the event is stored', [e1.id], ids(back.events));
  c.close();
  rw.close();
  eq('auth relay: exit 0 on SIGTERM', 0, await stopRelay(ar));
  const lines = ar.stderr.split('\n').filter((l) => l.trim());
  const parsed = lines.filter((l) => { try { const j = JSON.parse(l); return j.level && j.msg && j.ts; } catch { return false; } });
  eq('--log-format json: every line is a JSON object', lines.length, parsed.length);
  check('logs: a start and a stop line', lines.some((l) => l.includes('listening on')) && lines.some((l) => /stopped/.test(l)), lines.join('\n').slice(0, 500));
});

await section('stop and restart', async () => {
  const watcher = await Raw.open(main.url);
  await watcher.live('w', { kinds: [1], limit: 0 });
  nt.close();
  raw.close();
  const code = await stopRelay(main);
  eq('SIGTERM: exit status 0', 0, code);
  for (let k = 0; k < 30 && watcher.closeCode === undefined; k++) await sleep(100);
  eq('SIGTERM: open WebSockets closed with 1001', 1001, watcher.closeCode);
  check('SIGTERM: logged a stop', /stopp/.test(main.stderr), main.stderr.slice(-300));
  main = await startRelay('main', mainArgs);
  raw = await Raw.open(main.url);
  const wanted = [...mustHave.keys()];
  const found = await queryIds(raw, wanted, 'rs');
  eq('restart: every stored event is still there', wanted.length, wanted.filter((id) => found.has(id)).length);
  const unwanted = await queryIds(raw, [...mustLack], 'rl');
  eq('restart: deleted, replaced, ephemeral and expired events stay gone', [], [...unwanted]);
  const q = await raw.req('rs-v', { ids: [a1.id] });
  eq('restart: events come back byte for byte', JSON.stringify(a1), JSON.stringify(q.events[0]));
  const fresh = mk(A, 1, 'after restart');
  const r = await raw.publish(fresh);
  check('restart: accepts new events', r?.[2] === true, JSON.stringify(r));
  have(fresh);

  // a crash right after the OKs loses nothing: OK true means durable
  const burst = Array.from({ length: 40 }, (_, i) => mk(D, 1, `crash ${i}`));
  burst.forEach((e) => raw.send(['EVENT', e]));
  let oks = 0;
  for (const e of burst) {
    const m = await raw.next((x) => x[0] === 'OK' && x[1] === e.id, 10000);
    if (m?.[2] === true) oks++;
  }
  eq('crash: 40 events accepted', 40, oks);
  raw.close();
  main.proc.kill('SIGKILL');
  await withTimeout(main.exited, 10000, 'SIGKILL exit');
  main = await startRelay('main', mainArgs);
  raw = await Raw.open(main.url);
  const afterCrash = await queryIds(raw, ids(burst), 'cr');
  eq('crash (SIGKILL) after OK: every accepted event is there', 40, afterCrash.size);
  const all = await queryIds(raw, [...mustHave.keys()], 'cra');
  eq('crash: and everything stored before', mustHave.size, all.size);
  raw.close();
  eq('restart: exit 0 again', 0, await stopRelay(main));
});

finish(false);

function finish(timedOut) {
  console.log(`relay_e2e (${storeName}): ${passed} passed, ${failed} failed`);
  for (const c of children) try { c.kill('SIGKILL'); } catch {}
  process.exit(failed === 0 && !timedOut ? 0 : 1);
}
