// The browser client's transport choice (web/transport.js), run under node without a browser:
// /session-config answers -> WebRTC or WebSocket, the missing-RTCPeerConnection and ICE-timeout
// fallbacks, malformed answers, and the stable user id. Also the binary frame codec of
// web/ws-media.js (16-byte header, PCM16 LE) against hand-laid bytes.
//
//   node tests/browser/transport_decision.mjs      (prints PASS transport-decision, exit 0)
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = (f) => pathToFileURL(path.resolve(here, '../../web', f)).href;
const {
  decideTransport, defaultConfig, iceTimedOut, normaliseConfig, stableUserId, USER_KEY, DEFAULT_ICE_TIMEOUT_MS,
} = await import(web('transport.js'));
const { encodeFrame, decodeFrame } = await import(web('ws-media.js'));

const server = (o) => normaliseConfig({
  room: 'r', user: 'u', transport: 'webrtc', bucket: 10, rollout_percent: 50, mode: 'auto',
  ice_timeout_ms: 4000, ...o,
}, 'r', 'u');

// The server's decision is followed.
let d = decideTransport(server({}), { hasRtc: true });
assert.equal(d.transport, 'webrtc');
assert.equal(d.canFallBack, true);
assert.match(d.reason, /bucket 10 < 50%/);
d = decideTransport(server({ transport: 'websocket', bucket: 70 }), { hasRtc: true });
assert.equal(d.transport, 'websocket');
assert.match(d.reason, /bucket 70 is not below 50%/);
d = decideTransport(server({ transport: 'websocket', mode: 'websocket' }), { hasRtc: true });
assert.equal(d.transport, 'websocket');
assert.match(d.reason, /session.transport: websocket/);

// No RTCPeerConnection: WebSocket, unless the session forces WebRTC (then nothing works, said so).
d = decideTransport(server({}), { hasRtc: false });
assert.equal(d.transport, 'websocket');
assert.match(d.reason, /RTCPeerConnection is missing/);
assert.equal(d.fallback, 'no_webrtc');
assert.equal(decideTransport(server({ transport: 'websocket' }), { hasRtc: false }).fallback, undefined);
d = decideTransport(server({ mode: 'webrtc' }), { hasRtc: false });
assert.equal(d.transport, 'none');
// Forced WebRTC never falls back on an ICE timeout.
assert.equal(decideTransport(server({ mode: 'webrtc' }), { hasRtc: true }).canFallBack, false);

// ?transport= overrides.
assert.equal(decideTransport(server({}), { hasRtc: true, override: 'websocket' }).transport, 'websocket');
assert.equal(decideTransport(server({ transport: 'websocket' }), { hasRtc: true, override: 'webrtc' }).transport, 'webrtc');
assert.equal(decideTransport(server({}), { hasRtc: false, override: 'webrtc' }).transport, 'none');

// Malformed or missing answers: the defaults (WebRTC, fallback allowed).
for (const bad of [null, 'x', {}, { transport: 'carrier-pigeon' }]) {
  const c = normaliseConfig(bad, 'r', 'u');
  assert.ok(c.error, JSON.stringify(bad));
  assert.equal(c.transport, 'webrtc');
  assert.equal(decideTransport(c, { hasRtc: true }).canFallBack, true);
}
assert.equal(server({ ice_timeout_ms: -1 }).ice_timeout_ms, DEFAULT_ICE_TIMEOUT_MS);
assert.equal(server({}).ice_timeout_ms, 4000);
assert.equal(defaultConfig('r', 'u').source, 'default');
assert.match(decideTransport(defaultConfig('r', 'u'), { hasRtc: true }).reason, /default/);

// ICE watchdog: only after the first peer connection, only until ICE first connects.
assert.equal(iceTimedOut({ firstPeerAt: null, connected: false, now: 1e9, timeoutMs: 100 }), false);
assert.equal(iceTimedOut({ firstPeerAt: 1000, connected: false, now: 1099, timeoutMs: 100 }), false);
assert.equal(iceTimedOut({ firstPeerAt: 1000, connected: false, now: 1100, timeoutMs: 100 }), true);
assert.equal(iceTimedOut({ firstPeerAt: 1000, connected: true, now: 5000, timeoutMs: 100 }), false);

// Stable user id: ?user= wins; otherwise created once and kept in storage.
const store = new Map();
const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
assert.equal(stableUserId('bob', storage), 'bob');
const id1 = stableUserId('', storage);
assert.match(id1, /^u-[a-z0-9]+$/);
assert.equal(store.get(USER_KEY), id1);
assert.equal(stableUserId('', storage), id1);
const broken = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('denied'); } };
assert.match(stableUserId('', broken), /^u-/);

// Frame codec: header fields little-endian at the agreed offsets.
const pcm = Int16Array.from([0, 1, -1, 32767, -32768]);
const buf = encodeFrame(258, 0x01020304, 2 ** 40 + 5, pcm, 1);
const b = new Uint8Array(buf);
assert.equal(buf.byteLength, 16 + 10);
assert.deepEqual([...b.slice(0, 8)], [1, 1, 2, 1, 4, 3, 2, 1]);
assert.deepEqual([...b.slice(8, 16)], [5, 0, 0, 0, 0, 1, 0, 0]);
assert.deepEqual([...b.slice(16, 20)], [0, 0, 1, 0]);
const f = decodeFrame(buf);
assert.equal(f.streamId, 258);
assert.equal(f.seq, 0x01020304);
assert.equal(f.flags, 1);
assert.equal(f.captureTsUs, 2 ** 40 + 5);
assert.deepEqual([...f.samples], [...pcm]);
assert.ok(decodeFrame(new ArrayBuffer(10)).error);
assert.ok(decodeFrame(new ArrayBuffer(17)).error); // odd payload
const v2 = new Uint8Array(buf.slice(0));
v2[0] = 2;
assert.match(decodeFrame(v2.buffer).error, /version 2/);

process.stdout.write('PASS transport-decision\n');
