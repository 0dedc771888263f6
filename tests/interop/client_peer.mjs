// nostr-tools' own client as a second peer: publishes through nostr-tools'
// Relay (over the npm ws package) so Distrise's client, subscribed to the
// same relay, must receive what a third-party client sent.
//
//   node client_peer.mjs URL SECRET_HEX CONTENT [KIND]
//
// Prints the published event's id on stdout; exit 0 when the relay
// answered OK true, 1 otherwise.
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { finalizeEvent } from 'nostr-tools/pure';
import { hexToBytes } from '@noble/hashes/utils.js';
import WebSocket from 'ws';

useWebSocketImplementation(WebSocket);
const [url, secHex, content, kind] = process.argv.slice(2);
if (!url || !secHex || content === undefined) {
  console.error('usage: node client_peer.mjs URL SECRET_HEX CONTENT [KIND]');
  process.exit(2);
}
setTimeout(() => { console.error('client_peer: timeout'); process.exit(1); }, 15000).unref();
try {
  const relay = await Relay.connect(url);
  const ev = finalizeEvent({ kind: Number(kind ?? 1), created_at: Math.floor(Date.now() / 1000), tags: [], content },
    hexToBytes(secHex));
  await relay.publish(ev);
  console.log(ev.id);
  relay.close();
  process.exit(0);
} catch (e) {
  console.error(`client_peer: ${e?.message ?? e}`);
  process.exit(1);
}
