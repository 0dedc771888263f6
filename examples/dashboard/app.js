// Distrise gateway dashboard: the upstream relays (live), one relay's
// charts, and an event browser, over the gateway's REST API (docs/gateway.md).
//
// Plain ES2020, no framework, no build step; served by nostr-gateway from
// its binary under a Content-Security-Policy that allows only this origin.
// Event content, tags and relay documents come from strangers: they are
// only ever put in the page with textContent or as attribute values,
// never as HTML.

const POLL_MS = 2000;
const TOKEN_KEY = 'distrise.gateway.token';
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- formatting

const numberFmt = new Intl.NumberFormat(undefined);
const fmtInt = (n) => (typeof n === 'number' ? numberFmt.format(n) : '–');

function fmtBytes(n) {
  if (typeof n !== 'number' || !n) return '–';
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function fmtTime(unix) {
  if (!unix) return '–';
  return new Date(unix * 1000).toLocaleString();
}

function fmtAgo(unix) {
  if (!unix) return '–';
  const s = Math.round(Date.now() / 1000 - unix);
  if (s < 0) return 'in the future';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const shortHex = (h) => (typeof h === 'string' && h.length > 16 ? `${h.slice(0, 8)}…${h.slice(-4)}` : String(h));

// ---------------------------------------------------------------- npub (NIP-19, bech32)

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function bech32Polymod(values) {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i];
  }
  return chk >>> 0;
}

function bech32Encode(hrp, bytes) {
  const words = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((acc >>> bits) & 31);
    }
  }
  if (bits > 0) words.push((acc << (5 - bits)) & 31);
  const codes = [...hrp].map((c) => c.charCodeAt(0));
  const expanded = [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31)];
  const pm = bech32Polymod([...expanded, ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  for (let i = 0; i < 6; i++) words.push((pm >>> (5 * (5 - i))) & 31);
  return `${hrp}1${words.map((w) => BECH32[w]).join('')}`;
}

function npub(hex) {
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) return String(hex);
  const bytes = [];
  for (let i = 0; i < 64; i += 2) bytes.push(parseInt(hex.slice(i, i + 2), 16));
  return bech32Encode('npub', bytes);
}

const shortNpub = (n) => (n.length > 20 ? `${n.slice(0, 12)}…${n.slice(-6)}` : n);

// ---------------------------------------------------------------- the API

// One request; the body parsed as JSON when it is JSON. Throws only when
// the gateway cannot be reached (or takes longer than timeoutMs).
async function api(path, init = {}, timeoutMs = 8000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetch(path, { ...init, signal: ctl.signal, cache: 'no-store' });
    const text = await res.text();
    let body = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body };
  } catch (e) {
    throw new Error(e.name === 'AbortError' ? 'no answer in time' : e.message || String(e));
  } finally {
    clearTimeout(timer);
  }
}

const apiError = (r) => (r.body && typeof r.body.error === 'string' ? r.body.error : `HTTP ${r.status}`);

function token() {
  return $('token').value.trim();
}

function writeHeaders() {
  const h = { 'Content-Type': 'application/json' };
  if (token()) h.Authorization = `Bearer ${token()}`;
  return h;
}

// The message for a write the gateway refused, by status.
function writeRefusal(r) {
  if (r.status === 401)
    return 'Unauthorised: the gateway did not accept the token. Enter the right token (the gateway\'s --token) in the Token field at the top.';
  if (r.status === 403)
    return 'Forbidden: writes are off because the gateway has no token configured (start it with --token). Enter the right token once it has one.';
  return null;
}

function say(el, text, kind) {
  el.textContent = text;
  el.className = `msg${kind ? ` ${kind}` : ''}`;
}

// ---------------------------------------------------------------- polling

let lastGood = 0;
let selected = null; // the relay shown in the details panel (its id)
const rows = new Map(); // relay id -> <tr>

function banner(text) {
  const b = $('banner');
  b.hidden = !text;
  b.textContent = text || '';
}

async function poll() {
  try {
    const r = await api('api/stats', {}, 5000);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${apiError(r)}`);
    lastGood = Date.now();
    banner(null);
    renderTotals(r.body);
    renderRelays(r.body.relays || []);
  } catch (e) {
    const when = lastGood ? ` The figures shown are from ${new Date(lastGood).toLocaleTimeString()}.` : '';
    banner(`The gateway is not reachable (${e.message}). Retrying every ${POLL_MS / 1000} s.${when}`);
  }
  setTimeout(poll, POLL_MS);
}

function renderTotals(st) {
  $('t-received').textContent = fmtInt(st.received);
  $('t-stored').textContent = fmtInt(st.stored);
  $('t-duplicates').textContent = fmtInt(st.duplicates);
  $('t-backlog').textContent = fmtInt(st.backlog);
  $('t-queue').textContent = fmtInt(st.queue_depth);
  $('t-lag').textContent = typeof st.consumer_lag_s === 'number' ? `${st.consumer_lag_s.toFixed(1)} s` : '–';
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

// ---------------------------------------------------------------- the relay table

// [what a person reads, the dot's class]
function describeState(r) {
  switch (r.state) {
    case 'open':
      return ['connected', 'open'];
    case 'connecting':
    case 'tls':
    case 'upgrading':
      return [r.last_error ? 'not connected (reconnecting)' : 'connecting', r.last_error ? 'down' : 'connecting'];
    case 'backoff':
      return ['not connected (retrying)', 'down'];
    case 'idle':
      return ['not started', 'connecting'];
    default:
      return ['not connected', 'down'];
  }
}

const relayName = (r) => r.name || (r.info && typeof r.info.name === 'string' && r.info.name) || '';

function cell(tr, cls) {
  const td = document.createElement('td');
  td.className = cls;
  tr.appendChild(td);
  return td;
}

function makeRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.id = String(r.id);
  const relay = cell(tr, 'relay');
  const name = document.createElement('button');
  name.type = 'button';
  name.className = 'link name';
  name.addEventListener('click', (e) => {
    e.stopPropagation();
    select(r.id);
  });
  const url = document.createElement('span');
  url.className = 'url';
  relay.append(name, url);
  const state = cell(tr, 'state');
  state.append(document.createElement('span'), document.createElement('span'));
  state.firstChild.className = 'dot';
  for (const c of ['rate', 'received', 'stored', 'duplicates', 'invalid', 'avg', 'median']) cell(tr, `num ${c}`);
  cell(tr, 'newest');
  cell(tr, 'error');
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'danger remove';
  remove.textContent = 'Remove';
  remove.addEventListener('click', (e) => {
    e.stopPropagation();
    removeRelay(r.id, tr.dataset.url);
  });
  cell(tr, 'actions').appendChild(remove);
  tr.addEventListener('click', () => select(r.id));
  return tr;
}

function updateRow(tr, r) {
  const q = (sel) => tr.querySelector(sel);
  const [stateText, dot] = describeState(r);
  tr.dataset.url = r.url;
  tr.dataset.state = r.state;
  tr.classList.toggle('down', dot === 'down');
  tr.classList.toggle('selected', r.id === selected);
  q('.name').textContent = relayName(r) || r.url;
  q('.name').setAttribute('aria-label', `Details of ${relayName(r) || r.url}`);
  q('.url').textContent = relayName(r) ? r.url : '';
  q('.state .dot').className = `dot ${dot}`;
  q('.state .dot + span').textContent = stateText;
  q('.rate').textContent = typeof r.rate_1m === 'number' ? r.rate_1m.toFixed(2) : '–';
  q('.received').textContent = fmtInt(r.received);
  q('.stored').textContent = fmtInt(r.stored);
  q('.duplicates').textContent = fmtInt(r.duplicates);
  q('.invalid').textContent = fmtInt(r.invalid);
  q('.avg').textContent = fmtBytes(r.avg_size);
  q('.median').textContent = fmtBytes(r.median_size);
  q('.newest').textContent = fmtAgo(r.newest_created_at);
  q('.newest').title = fmtTime(r.newest_created_at);
  q('.error').textContent = r.last_error || '';
  q('.remove').setAttribute('aria-label', `Remove ${r.url}`);
}

let lastRelays = [];

function renderRelays(list) {
  lastRelays = list;
  const tbody = $('relays').tBodies[0];
  const keep = new Set();
  list.forEach((r, i) => {
    let tr = rows.get(r.id);
    if (!tr) {
      tr = makeRow(r);
      rows.set(r.id, tr);
    }
    // moved only when out of place, so that focus inside a row survives a refresh
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    updateRow(tr, r);
    keep.add(r.id);
  });
  for (const [id, tr] of rows) {
    if (!keep.has(id)) {
      tr.remove();
      rows.delete(id);
    }
  }
  $('no-relays').hidden = list.length > 0;
  renderDetails();
}

async function removeRelay(id, url) {
  const msg = $('relay-msg');
  if (!window.confirm(`Remove ${url}? Its events stay in the database.`)) return;
  let r;
  try {
    r = await api(`api/relays/${encodeURIComponent(id)}`, { method: 'DELETE', headers: writeHeaders() });
  } catch (e) {
    say(msg, `Not removed: the gateway is not reachable (${e.message}).`, 'error');
    return;
  }
  if (r.status === 200) {
    say(msg, `Removed ${url}.`, 'ok');
    if (selected === id) selected = null;
    renderRelays(lastRelays.filter((x) => x.id !== id));
  } else {
    say(msg, writeRefusal(r) || `Not removed: ${apiError(r)}`, 'error');
  }
}

async function addRelay(e) {
  e.preventDefault();
  const msg = $('add-msg');
  const url = $('add-url').value.trim();
  const ftext = $('add-filters').value.trim();
  const body = { url };
  if (!url) {
    say(msg, 'Enter the relay\'s URL (wss://… or ws://…).', 'error');
    return;
  }
  if (ftext) {
    try {
      body.filters = JSON.parse(ftext);
    } catch (err) {
      say(msg, `Filters: not valid JSON (${err.message}).`, 'error');
      return;
    }
  }
  const button = e.target.querySelector('button[type=submit]');
  button.disabled = true;
  say(msg, 'Adding…');
  try {
    const r = await api('api/relays', { method: 'POST', headers: writeHeaders(), body: JSON.stringify(body) });
    if (r.status === 201) {
      say(msg, `Added ${r.body.url} (id ${r.body.id}).`, 'ok');
      $('add-url').value = '';
      $('add-filters').value = '';
      refreshSoon();
    } else {
      say(msg, writeRefusal(r) || `Not added: ${apiError(r)}`, 'error');
    }
  } catch (err) {
    say(msg, `Not added: the gateway is not reachable (${err.message}).`, 'error');
  } finally {
    button.disabled = false;
  }
}

// One extra poll right after a change, besides the regular ones.
async function refreshSoon() {
  try {
    const r = await api('api/stats', {}, 5000);
    if (r.status === 200) {
      renderTotals(r.body);
      renderRelays(r.body.relays || []);
    }
  } catch {
    // the regular poll shows the banner
  }
}

// ---------------------------------------------------------------- relay details

function select(id) {
  selected = selected === id ? null : id;
  for (const [rid, tr] of rows) tr.classList.toggle('selected', rid === selected);
  renderDetails();
  if (selected !== null) $('details').scrollIntoView({ block: 'nearest' });
}

function fact(dl, label, value) {
  const div = document.createElement('div');
  const dt = document.createElement('dt');
  const dd = document.createElement('dd');
  dt.textContent = label;
  dd.textContent = value;
  div.append(dt, dd);
  dl.appendChild(div);
}

function renderDetails() {
  const panel = $('details');
  const r = lastRelays.find((x) => x.id === selected);
  if (!r) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  panel.dataset.id = String(r.id);
  $('d-title').textContent = relayName(r) ? `${relayName(r)} — ${r.url}` : r.url;
  const dl = $('d-facts');
  dl.replaceChildren();
  const info = r.info && typeof r.info === 'object' ? r.info : {};
  fact(dl, 'State', describeState(r)[0]);
  if (r.last_error) fact(dl, 'Last error', r.last_error);
  if (typeof info.description === 'string' && info.description) fact(dl, 'Description', info.description);
  if (typeof info.software === 'string' && info.software)
    fact(dl, 'Software', `${info.software}${typeof info.version === 'string' ? ` ${info.version}` : ''}`);
  fact(dl, 'Events/s', `${(r.rate_1m || 0).toFixed(2)} (1 min), ${(r.rate_15m || 0).toFixed(2)} (15 min)`);
  fact(dl, 'Received', `${fmtInt(r.received)} (${fmtBytes(r.bytes)})`);
  fact(dl, 'Handed over / stored', `${fmtInt(r.submitted)} / ${fmtInt(r.stored)}`);
  fact(dl, 'Reconnects', fmtInt(r.reconnects));
  fact(dl, 'Newest event', fmtTime(r.newest_created_at));
  fact(dl, 'Stored up to', fmtTime(r.since));
  fact(dl, 'Added', fmtTime(r.added_at));
  fact(dl, 'Filters', JSON.stringify(r.filters));
  drawMinutes($('chart-minutes'), Array.isArray(r.per_minute) ? r.per_minute : []);
  drawSizes($('chart-sizes'), Array.isArray(r.sizes) ? r.sizes : []);
}

// ---------------------------------------------------------------- charts (inline SVG)

const W = 600;
const H = 200;
const PAD = { left: 44, right: 8, top: 10, bottom: 24 };

function svg(parent, name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  parent.appendChild(el);
  return el;
}

// A round number at least max (1, 2 or 5 times a power of ten).
function niceMax(max) {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

// The frame: horizontal grid lines with their values, and the x labels.
function axes(el, top, xLabels) {
  const plotH = H - PAD.top - PAD.bottom;
  for (const f of [0, 0.5, 1]) {
    const y = PAD.top + plotH * (1 - f);
    svg(el, 'line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y, y2: y });
    svg(el, 'text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end' }, fmtInt(Math.round(top * f)));
  }
  for (const [x, label, anchor] of xLabels) svg(el, 'text', { x, y: H - 6, 'text-anchor': anchor }, label);
}

// per_minute[0] is the current minute: drawn at the right, the oldest at the left.
function drawMinutes(el, counts) {
  el.replaceChildren();
  const n = 60;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const top = niceMax(Math.max(0, ...counts.slice(0, n)));
  const bw = plotW / n;
  const total = counts.slice(0, n).reduce((a, b) => a + b, 0);
  el.setAttribute('aria-label', `Events per minute over the last hour: ${fmtInt(total)} in all, ` +
    `${fmtInt(counts[0] || 0)} this minute, at most ${fmtInt(Math.max(0, ...counts))} in one minute.`);
  axes(el, top, [[PAD.left, '60 min ago', 'start'], [PAD.left + plotW / 2, '30 min ago', 'middle'],
    [W - PAD.right, 'now', 'end']]);
  for (let i = 0; i < n; i++) {
    const v = counts[i] || 0;
    const h = (v / top) * plotH;
    const bar = svg(el, 'rect', {
      class: i === 0 ? 'bar now' : 'bar',
      x: (PAD.left + plotW - (i + 1) * bw + 0.5).toFixed(1),
      y: (PAD.top + plotH - h).toFixed(1),
      width: Math.max(1, bw - 1).toFixed(1),
      height: h.toFixed(1),
      'data-minute': i,
      'data-count': v,
    });
    svg(bar, 'title', {}, `${i === 0 ? 'this minute' : `${i} min ago`}: ${fmtInt(v)} events`);
  }
}

// The buckets are 8 per power of two from 16 B: lower bound (16 + 2k) << p,
// width 2 << p. Drawn from the smallest to the largest bucket seen, empty
// ones between included, so the shape is the real one.
function bucketIndex(lower) {
  const p = Math.max(0, Math.floor(Math.log2(lower)) - 4);
  return p * 8 + Math.round((lower / 2 ** p - 16) / 2);
}

function bucketLower(b) {
  return (16 + 2 * (b % 8)) * 2 ** Math.floor(b / 8);
}

function fmtSize(n) {
  return n < 1024 ? `${n} B` : `${+(n / 1024).toFixed(1)} KiB`;
}

function drawSizes(el, sizes) {
  el.replaceChildren();
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  if (!sizes.length) {
    el.setAttribute('aria-label', 'Event sizes: no events yet.');
    axes(el, 1, []);
    svg(el, 'text', { x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle' }, 'no events yet');
    return;
  }
  const counts = new Map(sizes.map(([lower, count]) => [bucketIndex(lower), count]));
  const first = Math.min(...counts.keys());
  const last = Math.max(...counts.keys());
  const n = last - first + 1;
  const top = niceMax(Math.max(...counts.values()));
  const bw = plotW / n;
  const sum = [...counts.values()].reduce((a, b) => a + b, 0);
  el.setAttribute('aria-label', `Event sizes: ${fmtInt(sum)} events from ${fmtSize(bucketLower(first))} ` +
    `to ${fmtSize(bucketLower(last + 1))}.`);
  axes(el, top, [[PAD.left, fmtSize(bucketLower(first)), 'start'],
    [W - PAD.right, fmtSize(bucketLower(last + 1)), 'end']]);
  for (let b = first; b <= last; b++) {
    const v = counts.get(b) || 0;
    const h = (v / top) * plotH;
    const bar = svg(el, 'rect', {
      class: 'bar',
      x: (PAD.left + (b - first) * bw + 0.5).toFixed(1),
      y: (PAD.top + plotH - h).toFixed(1),
      width: Math.max(1, bw - 1).toFixed(1),
      height: h.toFixed(1),
      'data-lower': bucketLower(b),
      'data-count': v,
    });
    svg(bar, 'title', {}, `${fmtSize(bucketLower(b))} – ${fmtSize(bucketLower(b + 1))}: ${fmtInt(v)} events`);
  }
}

// ---------------------------------------------------------------- event browser

const browse = {
  params: null, // the search's query (without until and limit)
  limit: 20,
  cursor: null, // until for the next page (unix seconds, inclusive), null: now
  shown: new Set(), // ids on the page already
};

function toUnix(value) {
  if (!value) return null;
  const t = new Date(value).getTime(); // datetime-local: local time
  return Number.isNaN(t) ? NaN : Math.floor(t / 1000);
}

// The form as query parameters; throws with a message on bad input.
function searchForm() {
  const p = new URLSearchParams();
  const authors = $('q-authors').value.split(/[\s,]+/).filter(Boolean);
  if (authors.length) p.set('authors', authors.join(','));
  const kinds = $('q-kinds').value.split(/[\s,]+/).filter(Boolean);
  if (kinds.some((k) => !/^\d+$/.test(k))) throw new Error('Kinds: whole numbers, comma-separated (1, 7).');
  if (kinds.length) p.set('kinds', kinds.join(','));
  const tag = $('q-tag').value.trim().replace(/^#/, '');
  if (tag) p.set('tag', `t:${tag}`);
  const text = $('q-search').value.trim();
  if (text) p.set('search', text);
  const since = toUnix($('q-since').value);
  const until = toUnix($('q-until').value);
  if (Number.isNaN(since) || Number.isNaN(until)) throw new Error('Since and until: not a date and time.');
  if (since !== null && until !== null && since > until) throw new Error('Since is after until.');
  if (since !== null) p.set('since', String(since));
  const limit = Math.min(500, Math.max(1, parseInt($('q-limit').value, 10) || 20));
  return { p, until, limit };
}

async function search(e) {
  e.preventDefault();
  let q;
  try {
    q = searchForm();
  } catch (err) {
    say($('search-msg'), err.message, 'error');
    return;
  }
  browse.params = q.p;
  browse.cursor = q.until;
  browse.limit = q.limit;
  browse.shown = new Set();
  $('notes').replaceChildren();
  await page();
}

// GET /api/events for the search, at most limit events, newest first.
async function fetchEvents(since, until, limit) {
  const p = new URLSearchParams(browse.params);
  if (since !== null) p.set('since', String(since));
  if (until !== null) p.set('until', String(until));
  p.set('limit', String(limit));
  const r = await api(`api/events?${p}`);
  if (r.status !== 200) throw new Error(`Search failed: ${apiError(r)}`);
  return Array.isArray(r.body.events) ? r.body.events.filter((x) => x && x.event) : [];
}

// The next page, older than what is shown. until is inclusive: the notes
// sharing the oldest second shown are asked again and dropped by id, so
// none is skipped or shown twice. When a whole page is that one second,
// all shown, the second is read whole (up to 500) and the cursor moves
// below it.
async function page() {
  const msg = $('search-msg');
  const older = $('older');
  const unseen = (events) => events.filter((x) => !browse.shown.has(x.event.id));
  let fresh = [];
  let more = false;
  older.disabled = true;
  say(msg, 'Searching…');
  try {
    for (let tries = 0; tries < 4 && !fresh.length; tries++) {
      const events = await fetchEvents(null, browse.cursor, browse.limit);
      fresh = unseen(events);
      more = events.length >= browse.limit;
      if (fresh.length || !more || browse.cursor === null) {
        if (events.length) browse.cursor = Math.min(...events.map((x) => x.event.created_at));
        break;
      }
      fresh = unseen(await fetchEvents(browse.cursor, browse.cursor, 500));
      browse.cursor -= 1;
    }
  } catch (err) {
    const text = err.message.startsWith('Search failed')
      ? err.message
      : `Search failed: the gateway is not reachable (${err.message}).`;
    say(msg, text, 'error');
    return;
  } finally {
    older.disabled = false;
  }
  const list = $('notes');
  for (const x of fresh) {
    browse.shown.add(x.event.id);
    list.appendChild(renderNote(x));
  }
  const n = browse.shown.size;
  older.hidden = !more;
  say(msg, n ? `${fmtInt(n)} note${n === 1 ? '' : 's'}${more ? '' : ', no older ones'}.` : 'No notes match.');
}

function renderNote(x) {
  const ev = x.event;
  const li = $('note-template').content.firstElementChild.cloneNode(true);
  li.dataset.id = String(ev.id);
  const full = npub(ev.pubkey);
  const author = li.querySelector('.author');
  author.textContent = shortNpub(full);
  author.title = full;
  li.querySelector('.kind').textContent = `kind ${ev.kind}`;
  const time = li.querySelector('time');
  time.textContent = fmtTime(ev.created_at);
  time.dateTime = new Date(ev.created_at * 1000).toISOString();
  li.querySelector('.content').textContent = String(ev.content ?? '');
  const tags = li.querySelector('.tags');
  for (const t of Array.isArray(ev.tags) ? ev.tags : []) {
    if (!Array.isArray(t) || !t.length) continue;
    const item = document.createElement('li');
    const values = t.slice(1).map((v) => (/^[0-9a-f]{64}$/.test(String(v)) ? shortHex(v) : String(v)));
    item.textContent = values.length ? `${t[0]}: ${values.join(' ')}` : String(t[0]);
    item.title = t.map(String).join(' ');
    tags.appendChild(item);
  }
  if (!tags.children.length) tags.remove();
  const relays = Array.isArray(x.relays) ? x.relays : [];
  const seen = li.querySelector('.seen');
  seen.textContent = relays.length
    ? `seen on ${relays.map((r) => r.url || `relay ${r.id} (removed)`).join(', ')}`
    : 'relays unknown';
  seen.title = relays.map((r) => `${r.url || r.id}: first seen ${fmtTime(r.first_seen)}`).join('\n');
  const id = li.querySelector('.id');
  id.textContent = `id ${shortHex(ev.id)}`;
  id.title = String(ev.id);
  return li;
}

// ---------------------------------------------------------------- tabs

function showTab(name) {
  for (const t of ['relays', 'events']) {
    const on = t === name;
    const tab = $(`tab-${t}`);
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`view-${t}`).hidden = !on;
  }
}

function setupTabs() {
  const tabs = [$('tab-relays'), $('tab-events')];
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => showTab(tab.id.slice(4)));
    tab.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
      const next = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      showTab(next.id.slice(4));
    });
  });
  if (location.hash === '#events') showTab('events');
}

// ---------------------------------------------------------------- start

function start() {
  const t = $('token');
  try {
    t.value = sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    // storage off: the field still works for this page
  }
  t.addEventListener('input', () => {
    try {
      sessionStorage.setItem(TOKEN_KEY, t.value);
    } catch {
      // as above
    }
  });
  $('add-form').addEventListener('submit', addRelay);
  $('search-form').addEventListener('submit', search);
  $('older').addEventListener('click', () => page());
  $('d-close').addEventListener('click', () => select(selected));
  setupTabs();
  poll();
}

start();
