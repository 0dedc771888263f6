// The npm `ws` package as the real peer for tests/test_ws_interop.c.
//   node ws_peer.mjs client PORT   connect to the C echo server on 127.0.0.1:PORT,
//                                  send messages, check the echoes; prints PASS/FAIL
//   node ws_peer.mjs server        run an echo server on 127.0.0.1 (port 0), print
//                                  "PORT n", report what the C client did
// Exit status 0 only when every check passed.
import { WebSocket, WebSocketServer } from 'ws';

const [mode, portArg] = process.argv.slice(2);
const timer = setTimeout(() => finish(false, 'timeout'), 15000);
let failures = 0;

function finish(ok, why) {
  clearTimeout(timer);
  console.log(ok && failures === 0 ? `PASS ${why}` : `FAIL ${why}`);
  process.exit(ok && failures === 0 ? 0 : 1);
}

function check(cond, what) {
  if (!cond) {
    failures++;
    console.log(`check failed: ${what}`);
  }
}

// Text of `n` UTF-8 bytes with 2- and 3-byte characters mixed in.
function textOfBytes(n) {
  let s = '';
  let bytes = 0;
  const parts = ['a', 'é', '€', 'z'];
  for (let i = 0; bytes < n; i++) {
    const p = parts[i % parts.length];
    const len = Buffer.byteLength(p);
    if (bytes + len > n) {
      s += 'x'.repeat(n - bytes);
      break;
    }
    s += p;
    bytes += len;
  }
  return s;
}

function binaryOf(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

// Wait for the next event of a kind on a socket.
function next(ws, ev) {
  return new Promise((resolve) => ws.once(ev, (...args) => resolve(args)));
}

async function clientMode(port) {
  const url = `ws://127.0.0.1:${port}/echo`;
  const ws = new WebSocket(url); // offers permessage-deflate: the C server must not take it
  await next(ws, 'open');
  check(ws.extensions === '', 'no extension negotiated');
  const sizes = [0, 1, 2, 125, 126, 127, 1000, 65535, 65536, 65537, 131072, 200000];
  let count = 0;
  for (const n of sizes) {
    const t = textOfBytes(n);
    ws.send(t);
    const [data, isBinary] = await next(ws, 'message');
    check(!isBinary && data.toString('utf8') === t, `text echo of ${n} bytes`);
    const b = binaryOf(n);
    ws.send(b);
    const [bdata, bIsBinary] = await next(ws, 'message');
    check(bIsBinary && Buffer.compare(bdata, b) === 0, `binary echo of ${n} bytes`);
    count += 2;
  }
  // Fragmented text, a 2-byte and a 3-byte character cut between fragments,
  // with a ping between the fragments.
  const whole = Buffer.from('fragé€end', 'utf8');
  const pongP = next(ws, 'pong'); // both may arrive in one read: listen first
  const msgP = next(ws, 'message');
  ws.send(whole.subarray(0, 5), { binary: false, fin: false }); // "frag" + first byte of é
  ws.ping(Buffer.from('mid'));
  ws.send(whole.subarray(5, 8), { binary: false, fin: false });
  ws.send(whole.subarray(8), { binary: false, fin: true });
  const [pong] = await pongP;
  check(pong.toString() === 'mid', 'pong payload');
  const [fdata, fIsBinary] = await msgP;
  check(!fIsBinary && Buffer.compare(fdata, whole) === 0, 'fragmented text echo');
  // Fragmented binary of many pieces, 100000 bytes in all.
  const big = binaryOf(100000);
  for (let at = 0; at < big.length; at += 7000) {
    const end = Math.min(at + 7000, big.length);
    ws.send(big.subarray(at, end), { binary: true, fin: end === big.length });
  }
  const [gdata] = await next(ws, 'message');
  check(Buffer.compare(gdata, big) === 0, 'fragmented binary echo');
  count += 2;
  ws.close(4001, 'bye');
  const [code, reason] = await next(ws, 'close');
  check(code === 4001 && reason.toString() === 'bye', `close echo (got ${code})`);

  // A second connection sends a text frame that is not UTF-8: the C server
  // must close with 1007.
  const bad = new WebSocket(url);
  await next(bad, 'open');
  bad.send(Buffer.from([0x61, 0xff, 0x62]), { binary: false });
  const [badCode] = await next(bad, 'close');
  check(badCode === 1007, `close 1007 on bad UTF-8 (got ${badCode})`);
  finish(true, `client ${count} messages`);
}

function serverMode() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('listening', () => console.log(`PORT ${wss.address().port}`));
  wss.on('connection', (ws, req) => {
    check(req.headers['sec-websocket-version'] === '13', 'version 13');
    let messages = 0;
    let pongs = 0;
    ws.on('pong', () => pongs++);
    ws.on('message', (data, isBinary) => {
      messages++;
      if (!isBinary && data.toString() === 'frag-please') {
        // Fragments from the server, a UTF-8 character cut between them,
        // a ping in the middle that the C client must answer.
        const whole = Buffer.from('héllo wörld €', 'utf8');
        ws.send(whole.subarray(0, 2), { binary: false, fin: false });
        ws.ping(Buffer.from('srv'));
        ws.send(whole.subarray(2, 9), { binary: false, fin: false });
        ws.send(whole.subarray(9), { binary: false, fin: true });
        return;
      }
      ws.send(data, { binary: isBinary });
    });
    ws.on('ping', (data) => console.log(`PING ${data.toString()}`));
    ws.on('close', (code, reason) => {
      console.log(`CLOSE ${code} ${reason.toString()} messages=${messages} pongs=${pongs}`);
      check(pongs === 1, 'the C client answered the ping');
      wss.close();
      finish(true, 'server');
    });
  });
}

if (mode === 'client') clientMode(Number(portArg)).catch((e) => finish(false, String(e)));
else if (mode === 'server') serverMode();
else finish(false, 'usage: ws_peer.mjs client PORT | server');
