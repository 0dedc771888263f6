// nostr-tools as the third-party peer for the core codec (no network).
//   node core.mjs make OUT     write events signed by nostr-tools, one JSON per line:
//                              {"event": <event>, "serialized": <serializeEvent(event)>}
//   node core.mjs verify IN    check events signed by Distrise (one JSON per line) with
//                              nostr-tools: getEventHash == id and verifyEvent; exit 1 on any failure
//   node core.mjs match EVENTS FILTERS   print one line per filter: a 0/1 char per event (matchFilter)
import { finalizeEvent, verifyEvent, getEventHash, serializeEvent, matchFilter } from 'nostr-tools';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';

const [mode, a, b] = process.argv.slice(2);
const lines = (f) => readFileSync(f, 'utf8').split('\n').filter((l) => l.length);

// Contents that exercise every escaping rule of the canonical form.
function trickyContents() {
  const out = [];
  let all = '';
  for (let c = 0; c < 0x80; c++) all += String.fromCharCode(c);
  out.push(all);                                   // every ASCII byte, controls included
  for (let c = 0; c < 0x20; c++) out.push(`x${String.fromCharCode(c)}y`);
  out.push('\u007f DEL', 'line\u2028sep\u2029para', '</script><b>&amp;</b>', 'quote " back \\ slash /');
  out.push('émoji 😀 中文 𝄞', '', ' ', '\\u0000 literal', '\u0000nul');
  out.push('a'.repeat(70000));                     // long content
  return out;
}

function secretKey() {
  return createHash('sha256').update('distrise interop core v1').digest();
}

if (mode === 'make') {
  const sk = secretKey();
  const out = [];
  trickyContents().forEach((content, i) => {
    const tags = [['t', content.slice(0, 40)], ['e', 'f'.repeat(64), '', 'root'], ['x', '\u0001\n"\\']];
    const ev = finalizeEvent({ kind: i % 3 === 0 ? 1 : 30000 + i, created_at: 1700000000 + i, tags, content }, sk);
    out.push(JSON.stringify({ event: ev, serialized: serializeEvent(ev) }));
  });
  writeFileSync(a, out.join('\n') + '\n');
  console.log(`${out.length} events written`);
} else if (mode === 'verify') {
  let ok = 0, bad = 0;
  for (const l of lines(a)) {
    const ev = JSON.parse(l);
    const hashOk = getEventHash(ev) === ev.id;
    const sigOk = verifyEvent(ev);
    if (hashOk && sigOk) ok++;
    else { bad++; console.error(`rejected ${ev.id}: hash ${hashOk} sig ${sigOk}`); }
  }
  console.log(`${ok} verified, ${bad} rejected`);
  process.exit(bad || !ok ? 1 : 0);
} else if (mode === 'match') {
  const events = lines(a).map((l) => JSON.parse(l));
  for (const l of lines(b)) {
    const f = JSON.parse(l);
    console.log(events.map((e) => (matchFilter(f, e) ? '1' : '0')).join(''));
  }
} else {
  console.error('usage: node core.mjs make OUT | verify IN | match EVENTS FILTERS');
  process.exit(2);
}
