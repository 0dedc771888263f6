// nostr-gateway's web dashboard in headless Chromium: three nostr-relay
// upstreams, the gateway over a real PostgreSQL, events published with
// nostr-tools, the page driven through playwright-core (no browser
// download: Debian's chromium).
//
//   node dashboard.mjs --bin BUILD_DIR --tmp DIR --db CONNINFO [--pids FILE]
//                      [--chromium PATH] [--shots DIR]
//
// Each check prints FAIL with a reason; the last line is "N passed, M
// failed"; exit 0 only when nothing failed. Every wait is bounded. Any
// console error, page error, failed request or unexpected HTTP error in
// the page fails the run.
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { programs, stop } from './programs.mjs';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { npubEncode } from 'nostr-tools/nip19';
import { chromium } from 'playwright-core';

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
const chromiumPath = opt('--chromium') || '/usr/bin/chromium';
const shots = opt('--shots');
if (!bin || !tmp || !db) {
  console.error('usage: node dashboard.mjs --bin BUILD_DIR --tmp DIR --db CONNINFO [--pids FILE] [--chromium PATH] [--shots DIR]');
  process.exit(2);
}

let passed = 0;
let failed = 0;
function check(name, cond, detail) {
  if (cond) passed++;
  else {
    failed++;
    console.error(`FAIL ${name}${detail !== undefined ? ': ' + detail : ''}`);
  }
  return !!cond;
}
const eq = (name, want, got) =>
  check(name, JSON.stringify(want) === JSON.stringify(got), `want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
    } catch (e) {
      last = undefined;
    }
    if (last) return last;
    await sleep(200);
  }
  return last;
}

// ---------------------------------------------------------------- processes
const { children, start } = programs({ bin, pidFile, verbose: !!process.env.DASHBOARD_VERBOSE });
let browser = null;
let finishing = false;
async function finish(force) {
  if (finishing) return;
  finishing = true;
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  console.log(`dashboard: ${passed} passed, ${failed} failed`);
  process.exit(failed || force ? 1 : 0);
}
setTimeout(() => {
  console.error('dashboard: global timeout');
  failed++;
  finish(true);
}, 240000).unref();

// Chromium's own pid, for the shell's cleanup should this process die.
function recordBrowserPids() {
  if (!pidFile) return;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && /chrom/.test(stat)) appendFileSync(pidFile, `${d}\n`);
    } catch {
      // gone already
    }
  }
}

function startRelay(name, port) {
  mkdirSync(`${tmp}/${name}`, { recursive: true });
  writeFileSync(`${tmp}/${name}.conf`, 'events_per_s = -1\nip_events_per_s = -1\nreqs_per_s = -1\n');
  return start('nostr-relay', ['--port', String(port ?? 0), '--data', `${tmp}/${name}`, '--threads', '1',
    '--name', name, '--config', `${tmp}/${name}.conf`], name);
}

// ---------------------------------------------------------------- events
const skA = generateSecretKey();
const skB = generateSecretKey();
const skC = generateSecretKey();
const npubA = npubEncode(getPublicKey(skA));
const npubB = npubEncode(getPublicKey(skB));
const now = Math.floor(Date.now() / 1000);
const ev = (sk, created_at, content, tags = [], kind = 1) => finalizeEvent({ kind, created_at, tags, content }, sk);
async function publish(url, events) {
  const r = await Relay.connect(url);
  for (const e of events) await r.publish(e);
  r.close();
}

// Author A: 25 notes for paging, 12 of them in one second (more than a
// page of 10), the rest a second apart below it.
const S = now - 120;
const setA = [];
for (let i = 0; i < 12; i++) setA.push(ev(skA, S, `page note same second ${i}`, [['t', 'paging']]));
for (let i = 0; i < 13; i++) setA.push(ev(skA, S - 10 - i, `page note ${i}`, [['t', 'paging']]));
// Author B: a hostile note, a reaction, a note with a hashtag and a rare word
const HOSTILE = '<img src=x onerror=alert(1)>';
const hostile = ev(skB, now - 60, HOSTILE, [['t', 'hostile']]);
const reaction = ev(skB, now - 59, '+', [['e', setA[0].id], ['p', getPublicKey(skA)]], 7);
const fox = ev(skB, now - 58, 'the quick brown fox meets a zebra', [['t', 'animals'], ['t', 'nostr']]);
const setB = [hostile, reaction, fox];
const other = [ev(skC, now - 57, 'an unrelated note', [['t', 'misc']])];
// For the time range: one note 30 s into each of three minutes, 40 minutes
// ago (the gateway reads its upstreams an hour back).
const M0 = Math.floor(now / 60) * 60 - 40 * 60;
const range = [0, 1, 2].map((i) => ev(skC, M0 + i * 60 + 30, `range ${i}`, [['t', 'range']]));

// ---------------------------------------------------------------- the run
const TOKEN = 'dash-token';
const consoleErrors = [];
const failedRequests = [];
const httpErrors = [];
const dialogs = [];
let watching = true;

async function run() {
  const r1 = startRelay('r1');
  const r2 = startRelay('r2');
  const r3 = startRelay('r3');
  const [u1, u2, u3] = await Promise.all([r1.url, r2.url, r3.url]);
  const gw = start('nostr-gateway', ['--port', '0', '--db', db, '--relay', u1, '--token', TOKEN, '--threads', '1'],
    'gateway');
  const g = await gw.url;
  const base = g.replace('ws://', 'http://');
  const api = async (path, init = {}) => {
    const res = await fetch(base + path.replace(/^\//, ''), init);
    const text = await res.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      // text
    }
    return { status: res.status, headers: res.headers, body };
  };

  // 1. HTTP: the page, its files, headers; NIP-11 and the WebSocket on / untouched
  let r = await api('/');
  eq('GET /: 200', 200, r.status);
  eq('GET /: text/html', 'text/html; charset=utf-8', r.headers.get('content-type'));
  const csp = r.headers.get('content-security-policy') || '';
  check('GET /: CSP default-src \'self\', no inline script', /default-src 'self'/.test(csp) && !/unsafe-inline|unsafe-eval/.test(csp), csp);
  eq('GET /: nosniff', 'nosniff', r.headers.get('x-content-type-options'));
  eq('GET /: no-store', 'no-store', r.headers.get('cache-control'));
  check('GET /: the page', typeof r.body === 'string' && r.body.includes('<script type="module" src="app.js">') &&
    !/<script>/.test(r.body), String(r.body).slice(0, 200));
  eq('GET /index.html is the same page', r.body, (await api('/index.html')).body);
  r = await api('/app.js');
  check('GET /app.js', r.status === 200 && r.headers.get('content-type') === 'text/javascript; charset=utf-8' &&
    r.body.includes('textContent'), `${r.status} ${r.headers.get('content-type')}`);
  r = await api('/style.css');
  check('GET /style.css', r.status === 200 && r.headers.get('content-type') === 'text/css; charset=utf-8',
    `${r.status} ${r.headers.get('content-type')}`);
  r = await api('/', { method: 'HEAD' });
  check('HEAD /: 200, length, no body', r.status === 200 && Number(r.headers.get('content-length')) > 1000 && r.body === '',
    `${r.status} ${r.headers.get('content-length')}`);
  r = await api('/', { headers: { Accept: 'application/nostr+json' } });
  check('GET / with Accept: application/nostr+json: NIP-11', r.status === 200 &&
    /application\/nostr\+json/.test(r.headers.get('content-type')) && typeof r.body === 'object' && r.body.name === 'nostr-gateway',
  JSON.stringify(r.body).slice(0, 200));
  eq('GET /nothing-here: 404', 404, (await api('/nothing-here')).status);
  eq('GET /api/relays: still the API', [u1], (await api('/api/relays')).body.map((x) => x.url));
  {
    const reader = await Relay.connect(g);
    let eose = false;
    const sub = reader.subscribe([{ kinds: [1], limit: 1 }], { onevent() {}, oneose() { eose = true; } });
    await until(() => eose, 10000);
    check('WebSocket on /: the read relay answers REQ', eose);
    sub.close();
    reader.close();
  }

  // the events for the browser, through the first upstream
  const all = [...setA, ...setB, ...other, ...range];
  await publish(u1, all);
  const storedAll = await until(async () => {
    const x = await api('/api/events?limit=500');
    return x.status === 200 && all.every((e) => x.body.events.some((y) => y.event.id === e.id)) ? x : null;
  }, 20000);
  check('the test events are stored', !!storedAll);

  // 2. the browser
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  recordBrowserPids();
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, colorScheme: 'light' });
  const page = await context.newPage();
  // 4xx answers the test asks for on purpose (Chromium logs each as a console error)
  const expected = [];
  page.on('console', (m) => {
    if (!watching || m.type() !== 'error') return;
    const loc = m.location();
    const i = expected.findIndex((x) => loc.url && loc.url.endsWith(x.path) && m.text().includes(`status of ${x.status}`));
    if (i >= 0) expected.splice(i, 1);
    else consoleErrors.push(`${m.text()} (${loc.url || '?'})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('requestfailed', (q) => { if (watching) failedRequests.push(`${q.url()}: ${q.failure() && q.failure().errorText}`); });
  page.on('response', (s) => { if (watching && s.status() >= 400) httpErrors.push(`${s.status()} ${s.request().method()} ${s.url()}`); });
  page.on('dialog', async (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    if (d.type() === 'confirm') await d.accept();
    else await d.dismiss();
  });
  const text = async (sel) => ((await page.locator(sel).first().textContent()) || '').trim();
  const num = async (sel) => Number((await text(sel)).replace(/[^0-9]/g, '') || '0');
  const row = (url) => `#relays tbody tr[data-url="${url}"]`;

  await page.goto(base, { waitUntil: 'load' });
  await page.locator(row(u1)).waitFor({ timeout: 10000 });
  check('page: the first upstream\'s row', await page.locator(row(u1)).count() === 1);
  check('page: no banner while the gateway answers', await page.locator('#banner').isHidden());
  await until(async () => (await text(`${row(u1)} .name`)) === 'r1', 10000);
  eq('page: the NIP-11 name in the row', 'r1', await text(`${row(u1)} .name`));
  check('page: connected', /^connected/.test(await until(async () => {
    const t = await text(`${row(u1)} .state`);
    return /^connected/.test(t) ? t : null;
  }, 10000)));

  // 3. add a relay through the form, with the token
  await page.fill('#token', TOKEN);
  await page.fill('#add-url', u2);
  await page.fill('#add-filters', '[{"kinds": [1, 7]}]');
  await page.click('#add-form button[type=submit]');
  await page.locator(row(u2)).waitFor({ timeout: 10000 });
  check('add: the row appears', await page.locator(row(u2)).count() === 1);
  check('add: the form says so', /^Added /.test(await text('#add-msg')), await text('#add-msg'));
  eq('add: the token stays in sessionStorage', TOKEN, await page.evaluate(() => sessionStorage.getItem('distrise.gateway.token')));
  eq('add: the filters reached the gateway', [{ kinds: [1, 7] }],
    (await api('/api/relays')).body.find((x) => x.url === u2)?.filters);
  const before = await num(`${row(u2)} .received`);
  const flow = [];
  for (let i = 0; i < 40; i++) flow.push(ev(skC, now - 30 + (i % 20), `flow ${i} ${'x'.repeat(i * 20)}`, [['t', 'flow']]));
  await publish(u2, flow);
  const rose = await until(async () => (await num(`${row(u2)} .received`)) >= before + 40 &&
    (await num(`${row(u2)} .stored`)) >= 40, 20000);
  check('add: the counters rise as events arrive', rose,
    `received ${await text(`${row(u2)} .received`)}, stored ${await text(`${row(u2)} .stored`)}`);
  check('add: events/s shown', Number(await text(`${row(u2)} .rate`)) >= 0, await text(`${row(u2)} .rate`));
  check('add: sizes shown', / B$/.test(await text(`${row(u2)} .avg`)) && / B$/.test(await text(`${row(u2)} .median`)),
    `${await text(`${row(u2)} .avg`)} / ${await text(`${row(u2)} .median`)}`);

  // 4. a wrong token, then a bad URL: the messages
  await page.fill('#token', 'not-the-token');
  await page.fill('#add-url', u3);
  await page.fill('#add-filters', '');
  expected.push({ path: '/api/relays', status: 401 });
  await page.click('#add-form button[type=submit]');
  const unauth = await until(async () => { const t = await text('#add-msg'); return /Unauthorised/.test(t) ? t : null; }, 10000);
  check('wrong token: the unauthorised message asks for the right token', unauth && /enter the right token/i.test(unauth), unauth);
  check('wrong token: shown as an error', await page.locator('#add-msg.error').count() === 1);
  eq('wrong token: no row', 0, await page.locator(row(u3)).count());
  await page.fill('#token', TOKEN);
  await page.fill('#add-url', 'http://not-a-relay.example/');
  const apiSays = (await api('/api/relays', { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ url: 'http://not-a-relay.example/' }) })).body.error;
  expected.push({ path: '/api/relays', status: 400 });
  await page.click('#add-form button[type=submit]');
  const bad = await until(async () => { const t = await text('#add-msg'); return /^Not added/.test(t) ? t : null; }, 10000);
  eq('bad URL: the API\'s error shown by the form', `Not added: ${apiSays}`, bad);
  await page.fill('#add-filters', '[{"kinds": ');
  await page.fill('#add-url', u3);
  await page.click('#add-form button[type=submit]');
  check('bad filters: refused before sending', /^Filters: not valid JSON/.test(await text('#add-msg')), await text('#add-msg'));
  await page.fill('#add-filters', '');
  await page.click('#add-form button[type=submit]');
  await page.locator(row(u3)).waitFor({ timeout: 10000 });
  check('third relay added', await page.locator(row(u3)).count() === 1);

  // 5. relay details: the charts
  await page.click(`${row(u2)} .name`);
  await page.locator('#details').waitFor({ state: 'visible', timeout: 5000 });
  eq('details: the selected relay', (await api('/api/relays')).body.find((x) => x.url === u2).id,
    Number(await page.getAttribute('#details', 'data-id')));
  eq('details: 60 minute bars', 60, await page.locator('#chart-minutes rect[data-minute]').count());
  let bar = await until(async () => {
    const c = Number(await page.getAttribute('#chart-minutes rect[data-minute="0"]', 'data-count'));
    const h = Number(await page.getAttribute('#chart-minutes rect[data-minute="0"]', 'height'));
    return c > 0 && h > 0 ? { c, h } : null;
  }, 8000);
  if (!bar) { // a minute boundary passed since the events came: a few more
    await publish(u2, [ev(skC, now, 'one more for this minute', [['t', 'flow']])]);
    bar = await until(async () => {
      const c = Number(await page.getAttribute('#chart-minutes rect[data-minute="0"]', 'data-count'));
      return c > 0 ? { c } : null;
    }, 10000);
  }
  check('details: a non-zero bar for the current minute', !!bar, JSON.stringify(bar));
  const box0 = await page.locator('#chart-minutes rect[data-minute="0"]').boundingBox();
  const box59 = await page.locator('#chart-minutes rect[data-minute="59"]').boundingBox();
  check('details: the current minute is drawn at the right', box0 && box59 && box0.x > box59.x);
  const sizeBars = await page.locator('#chart-sizes rect[data-count]').evaluateAll((els) =>
    els.map((e) => Number(e.getAttribute('data-count'))));
  check('details: the size distribution counts the relay\'s events', sizeBars.reduce((a, b) => a + b, 0) >= 40,
    JSON.stringify(sizeBars));
  const detailsText = await text('#d-facts');
  check('details: facts', /Reconnects/.test(detailsText) && /kinds/.test(detailsText), detailsText.slice(0, 200));
  if (shots) await page.locator('#details').screenshot({ path: `${shots}/dashboard-relay.png` });

  // 6. the event browser
  await page.click('#tab-events');
  await page.locator('#search-form').waitFor({ state: 'visible' });
  const ids = async () => page.locator('#notes > li').evaluateAll((els) => els.map((e) => e.dataset.id));
  const searchFor = async (fields) => {
    for (const f of ['#q-authors', '#q-kinds', '#q-tag', '#q-search', '#q-since', '#q-until']) await page.fill(f, fields[f] || '');
    await page.fill('#q-limit', String(fields['#q-limit'] || 20));
    await page.locator('#search-msg').evaluate((el) => { el.textContent = ''; });
    await page.click('#search-form button[type=submit]');
    await until(async () => { const t = await text('#search-msg'); return t && t !== 'Searching…' ? t : null; }, 10000);
    return ids();
  };
  const sorted = (a) => [...a].sort();
  eq('search by author (npub)', sorted(setB.map((e) => e.id)), sorted(await searchFor({ '#q-authors': npubB })));
  eq('search by authors (hex and npub, comma-separated)', sorted([...setA, ...setB].map((e) => e.id)),
    sorted(await searchFor({ '#q-authors': `${getPublicKey(skB)}, ${npubA}`, '#q-limit': 500 })));
  eq('search by kinds (two) and author', sorted(setB.map((e) => e.id)),
    sorted(await searchFor({ '#q-authors': npubB, '#q-kinds': '7, 1' })));
  eq('search by hashtag', [fox.id], await searchFor({ '#q-tag': '#animals' }));
  eq('search by text', [fox.id], await searchFor({ '#q-search': 'zebra' }));
  eq('search by kind', [reaction.id], await searchFor({ '#q-kinds': '7' }));
  const hostileIds = await searchFor({ '#q-tag': 'hostile' });
  eq('hostile note found', [hostile.id], hostileIds);
  eq('hostile note: its content shown as text', HOSTILE, await page.locator('#notes > li .content').first().textContent());
  eq('hostile note: no element made from it', 0, await page.locator('#notes img').count());
  // time range: since/until from datetime-local (whole minutes, local time)
  const local = (t) => {
    const d = new Date(t * 1000);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
  };
  eq('search by time range (the middle minute)', [range[1].id],
    await searchFor({ '#q-tag': 'range', '#q-since': local(M0 + 60), '#q-until': local(M0 + 120) }));
  eq('search by time range (since only)', sorted([range[1].id, range[2].id]),
    sorted(await searchFor({ '#q-tag': 'range', '#q-since': local(M0 + 60) })));

  // paging: author A by 10s, 12 of the 25 in one second
  let got = await searchFor({ '#q-authors': npubA, '#q-limit': 10 });
  eq('paging: first page', 10, got.length);
  for (let i = 0; i < 6 && await page.locator('#older').isVisible(); i++) {
    const n = got.length;
    await page.click('#older');
    // more notes, or the end (then read the list again: it may have grown
    // between reading it and seeing the button hidden)
    got = await until(async () => {
      const x = await ids();
      if (x.length > n) return x;
      return await page.locator('#older').isHidden() ? ids() : null;
    }, 10000) || got;
    if (process.env.DASHBOARD_VERBOSE) console.error(`paging: ${n} -> ${got.length}: ${await text('#search-msg')}`);
  }
  eq('paging: every note of the author, none twice', sorted(setA.map((e) => e.id)), sorted(got));
  eq('paging: no repeats', got.length, new Set(got).size);
  const times = got.map((id) => setA.find((e) => e.id === id)?.created_at);
  check('paging: newest first', times.every((t, i) => i === 0 || t <= times[i - 1]), JSON.stringify(times));
  check('paging: the end is said', /no older ones/.test(await text('#search-msg')), await text('#search-msg'));
  const authorShown = await text('#notes > li .author');
  check('notes: the author as a shortened npub', authorShown.startsWith(npubA.slice(0, 12)) && authorShown.includes('…') &&
    (await page.getAttribute('#notes > li .author', 'title')) === npubA, authorShown);
  check('notes: the relays each was seen on', (await text('#notes > li .seen')).includes(u1), await text('#notes > li .seen'));
  check('notes: tags', (await text('#notes > li .tags')).includes('t: paging'), await text('#notes > li .tags'));
  if (shots) {
    await searchFor({ '#q-authors': `${npubB}, ${npubA}`, '#q-limit': 6 });
    await page.screenshot({ path: `${shots}/dashboard-events.png`, fullPage: true });
  }
  await page.click('#tab-relays');

  // 7. an upstream killed: its row says not connected, with the error
  await stop(r3, 'SIGKILL');
  const down = await until(async () => {
    const s = await text(`${row(u3)} .state`);
    const e = await text(`${row(u3)} .error`);
    return /not connected/.test(s) && e ? { s, e } : null;
  }, 20000);
  check('killed upstream: not connected, with its error', !!down, JSON.stringify(down));
  check('killed upstream: the row marked', await page.locator(`${row(u3)}.down`).count() === 1);
  check('the other upstreams still connected', /^connected/.test(await text(`${row(u1)} .state`)) &&
    /^connected/.test(await text(`${row(u2)} .state`)));
  if (shots) {
    await page.click(`${row(u2)} .name`); // close the details for the table's picture
    await page.locator('#details').waitFor({ state: 'hidden' });
    await page.screenshot({ path: `${shots}/dashboard-relays.png`, fullPage: true });
  }

  // 8. remove a relay
  await page.click(`${row(u2)} .remove`);
  await page.locator(row(u2)).waitFor({ state: 'detached', timeout: 10000 });
  eq('remove: the row is gone', 0, await page.locator(row(u2)).count());
  check('remove: asked first', dialogs.some((d) => d.startsWith('confirm:')), JSON.stringify(dialogs));
  eq('remove: gone from the gateway', [u1, u3], (await api('/api/relays')).body.map((x) => x.url));
  await sleep(2500); // a poll later, still gone
  eq('remove: still gone after a refresh', 0, await page.locator(row(u2)).count());

  // the page so far: clean
  if (process.env.DASHBOARD_VERBOSE) console.error(`4xx not logged by the browser: ${JSON.stringify(expected)}`);
  eq('no console errors', [], consoleErrors);
  eq('no failed requests', [], failedRequests);
  eq('no HTTP errors but the expected ones', ['401 POST', '400 POST'], httpErrors.map((x) => x.split(' ').slice(0, 2).join(' ')));
  eq('no alert or other dialog from content', [], dialogs.filter((d) => !d.startsWith('confirm:')));

  // 9. the gateway gone: a banner while polling fails, gone when it is back
  watching = false;
  await stop(gw, 'SIGKILL');
  const bannerText = await until(async () => (await page.locator('#banner').isVisible()) && await text('#banner'), 10000);
  check('gateway down: the banner says it is not reachable', /not reachable/.test(bannerText || ''), bannerText);
}

try {
  await run();
} catch (e) {
  check('no exception', false, e.stack || String(e));
}
await finish(false);
