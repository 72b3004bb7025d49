// A foreign WebSocket media client (npm `ws`) for Meshflow's /ws (protocol v1, docs/protocols.md).
// Prints one JSON object with what it saw on stdout. Modes:
//   echo  --url URL [--frames N] [--seed S] [--burst]      send N frames of 20 ms PCM16 (48 kHz mono)
//         with bursty, jittered timing (seeded), collect what comes back
//   bad   --url URL                                         every bad frame of RELIABILITY.md's list
//   flood --url URL [--count N]                             N messages as fast as possible
//   slow  --url URL [--frames N]                            send big frames, never read (paused socket)
//   rtt   --url URL [--frames N] [--raw]                    round trip of each frame (echo servers)
//   peers --url URL --peers P --seconds S                   P peers at 50 frames/s
// Sample values are a deterministic function of the global sample index: sample(i).
import WebSocket from 'ws';

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) { args._ = a; continue; }
  const next = process.argv[i + 1];
  if (next === undefined || next.startsWith('--')) args[a.slice(2)] = true;
  else { args[a.slice(2)] = next; i++; }
}
const mode = args._ || 'echo';
const url = args.url;
const RATE = 48000, FRAME = 960;  // 20 ms
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sample = (i) => ((i * 7919) % 60000) - 30000;
const nowUs = () => Math.round(performance.timeOrigin * 1000 + performance.now() * 1000);

let seed = Number(args.seed || 1);
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };

function header(stream, seq, tsUs, flags = 0, version = 1) {
  const b = Buffer.alloc(16);
  b.writeUInt8(version, 0); b.writeUInt8(flags, 1); b.writeUInt16LE(stream, 2);
  b.writeUInt32LE(seq >>> 0, 4); b.writeBigUInt64LE(BigInt(tsUs), 8);
  return b;
}
function pcmFrame(first, n = FRAME) {
  const b = Buffer.alloc(n * 2);
  for (let k = 0; k < n; k++) b.writeInt16LE(sample(first + k), 2 * k);
  return b;
}

function open(u, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(u, opts);
    const st = { ws, texts: [], errors: [], status: null, starts: [], frames: [], closeCode: null,
      closeReason: '', disconnecting: null, bytes: 0 };
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const b = Buffer.from(data);
        st.frames.push({ stream: b.readUInt16LE(2), seq: b.readUInt32LE(4), ts: Number(b.readBigUInt64LE(8)),
          payload: b.subarray(16), at: nowUs() });
        st.bytes += b.length;
        if (st.onFrame) st.onFrame(st.frames[st.frames.length - 1]);
        return;
      }
      const m = JSON.parse(data.toString());
      st.texts.push(m);
      if (m.type === 'status' && m.state === 'connected') { st.status = m; resolve(st); }
      if (m.type === 'status' && m.state === 'disconnecting') st.disconnecting = m.reason;
      if (m.type === 'error') st.errors.push(m);
      if (m.type === 'stream.start') st.starts.push(m);
      if (st.onText) st.onText(m);
    });
    if (opts.raw) ws.on('open', () => resolve(st));
    ws.on('close', (code, reason) => { st.closeCode = code; st.closeReason = reason.toString(); resolve(st); });
    ws.on('error', (e) => reject(e));
  });
}

const startMsg = (id = 1) => JSON.stringify({ type: 'stream.start', stream_id: id, kind: 'audio', format: 'pcm16',
  rate: RATE, channels: 1, frame_ms: 20 });

function received(st) {
  const chunks = st.frames.map((f) => f.payload);
  const all = Buffer.concat(chunks);
  const samples = [];
  for (let k = 0; k + 1 < all.length; k += 2) samples.push(all.readInt16LE(k));
  return samples;
}

async function waitQuiet(st, ms, max = 10000) {
  const t0 = Date.now();
  let n = -1;
  while (Date.now() - t0 < max) {
    if (st.frames.length === n) return;
    n = st.frames.length;
    await sleep(ms);
  }
}

// Sends `frames` frames of stream 1 in bursts: the schedule is 20 ms per frame on average, but
// frames leave in groups of 1..5 after a jittered wait (as TCP delivers them after a stall).
async function sendBursty(st, frames, firstSample = 0, bursty = true) {
  let seq = 0;
  const t0 = Date.now();
  while (seq < frames) {
    const burst = bursty ? 1 + Math.floor(rnd() * 5) : 1;
    for (let k = 0; k < burst && seq < frames; k++, seq++) {
      st.ws.send(Buffer.concat([header(1, seq, (seq * 20000) + 1000000), pcmFrame(firstSample + seq * FRAME)]));
    }
    const due = t0 + seq * 20 + (bursty ? Math.floor(rnd() * 30) : 0);
    await sleep(Math.max(0, due - Date.now()));
  }
}

async function echo() {
  const frames = Number(args.frames || 100);
  const st = await open(url);
  if (!st.status) return { connected: false, closeCode: st.closeCode, closeReason: st.closeReason };
  st.ws.send(startMsg());
  await sendBursty(st, frames, 0, !!args.burst);
  await waitQuiet(st, 500, 3000);
  const got = received(st);
  // The sent sequence inside what came back: first index of sample(0..) and how many match.
  let start = -1;
  for (let k = 0; k + 2 < got.length; k++)
    if (got[k] === sample(0) && got[k + 1] === sample(1) && got[k + 2] === sample(2)) { start = k; break; }
  let exact = 0;
  if (start >= 0) while (start + exact < got.length && exact < frames * FRAME && got[start + exact] === sample(exact)) exact++;
  let nonzero = 0;
  for (const v of got) if (v !== 0) nonzero++;
  const seqs = st.frames.map((f) => f.seq);
  let seqOk = true;
  for (let k = 1; k < seqs.length; k++) if (seqs[k] !== ((seqs[k - 1] + 1) >>> 0)) seqOk = false;
  st.ws.close(1000);
  return { connected: true, peer_id: st.status.peer_id, sent_frames: frames, sent_samples: frames * FRAME,
    received_frames: st.frames.length, received_samples: got.length, exact_from: start, exact_samples: exact,
    nonzero_samples: nonzero, seq_contiguous: seqOk, stream_starts: st.starts, errors: st.errors };
}

async function bad() {
  // A well-behaved peer streams at the same time and must get all of its audio back.
  const good = await open(url);
  good.ws.send(startMsg());
  const goodDone = sendBursty(good, 150, 0, false);
  const st = await open(url);
  const cases = [];
  const expect = async (name, send, code) => {
    const before = st.errors.length;
    send();
    const t0 = Date.now();
    while (st.errors.length === before && Date.now() - t0 < 3000 && st.closeCode === null) await sleep(10);
    const e = st.errors[before];
    cases.push({ name, expected: code, got: e ? e.code : null, message: e ? e.message : null });
  };
  const ws = st.ws;
  await expect('binary_before_start', () => ws.send(Buffer.concat([header(1, 0, 0), pcmFrame(0)])), 'unknown_stream');
  ws.send(startMsg(1));
  await expect('short_header', () => ws.send(Buffer.from([1, 0, 1, 0, 0])), 'bad_frame');
  await expect('bad_version', () => ws.send(Buffer.concat([header(1, 0, 0, 0, 7), pcmFrame(0)])), 'bad_frame');
  await expect('unknown_stream', () => ws.send(Buffer.concat([header(9, 0, 0), pcmFrame(0)])), 'unknown_stream');
  await expect('odd_length', () => ws.send(Buffer.concat([header(1, 1, 0), Buffer.alloc(1921)])), 'bad_frame');
  await expect('oversize_pcm', () => ws.send(Buffer.concat([header(1, 2, 0), Buffer.alloc(9600 * 2 + 2)])), 'too_large');
  await expect('bad_json', () => ws.send('{"type": "ping",'), 'bad_json');
  await expect('not_an_object', () => ws.send('[1,2]'), 'bad_json');
  await expect('unknown_type', () => ws.send('{"type":"launch.missiles"}'), 'unknown_type');
  await expect('bad_stream_start', () => ws.send('{"type":"stream.start","stream_id":70000}'), 'bad_message');
  await expect('text_too_large', () => ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(20000) })), 'too_large');
  // Still connected and served: a ping is answered.
  let pong = null;
  st.onText = (m) => { if (m.type === 'pong') pong = m; };
  ws.send('{"type":"ping","t":42}');
  for (let k = 0; k < 100 && !pong; k++) await sleep(10);
  await goodDone;
  await waitQuiet(good, 300);
  const goodGot = received(good);
  let exact = 0;
  const start = goodGot.indexOf(sample(0));
  if (start >= 0) while (start + exact < goodGot.length && goodGot[start + exact] === sample(exact)) exact++;
  // Over the frame limit (libsoup refuses it and closes this connection only).
  const big = await open(url);
  big.ws.send(Buffer.alloc(200 * 1024));
  for (let k = 0; k < 300 && big.closeCode === null; k++) await sleep(10);
  ws.close(1000); good.ws.close(1000);
  return { cases, pong, still_open: st.closeCode === null || st.closeCode === 1000, good_exact_samples: exact,
    good_sent_samples: 150 * FRAME, oversize_close_code: big.closeCode };
}

async function flood() {
  const good = await open(url);
  good.ws.send(startMsg());
  const goodDone = sendBursty(good, 100, 0, false);
  const st = await open(url);
  const count = Number(args.count || 3000);
  for (let k = 0; k < count; k++) st.ws.send('{"type":"ping","t":1}');
  for (let k = 0; k < 300 && st.closeCode === null; k++) await sleep(10);
  await goodDone;
  await waitQuiet(good, 300);
  const got = received(good);
  let exact = 0;
  const start = got.indexOf(sample(0));
  if (start >= 0) while (start + exact < got.length && got[start + exact] === sample(exact)) exact++;
  const rl = st.errors.filter((e) => e.code === 'rate_limited');
  const pongs = st.texts.filter((m) => m.type === 'pong').length;
  good.ws.close(1000);
  return { sent: count, pongs, rate_limited_errors: rl.length, first_error: rl[0] || null,
    close_code: st.closeCode, disconnecting: st.disconnecting, good_exact_samples: exact, good_sent_samples: 100 * FRAME };
}

async function slow() {
  // 48 kHz stereo, 200 ms per frame (the largest allowed): 38 400 bytes each, echoed back.
  const frames = Number(args.frames || 150);
  const st = await open(url);
  st.ws.send(JSON.stringify({ type: 'stream.start', stream_id: 1, kind: 'audio', format: 'pcm16', rate: 48000,
    channels: 2, frame_ms: 200 }));
  st.ws._socket.pause();  // stop reading: the server's outbound queue must stay bounded
  const payload = Buffer.alloc(38400, 1);
  for (let seq = 0; seq < frames; seq++) {
    st.ws.send(Buffer.concat([header(1, seq, seq * 200000), payload]));
    await sleep(10);
  }
  await sleep(1000);
  // A second peer is still served while this one does not read.
  const other = await open(url);
  other.ws.send(startMsg());
  await sendBursty(other, 50, 0, false);
  await waitQuiet(other, 300);
  const otherSamples = received(other).length;
  st.ws._socket.resume();
  await sleep(1500);
  const r = { sent_frames: frames, received_frames: st.frames.length, other_sent_samples: 50 * FRAME,
    other_received_samples: otherSamples, close_code: st.closeCode };
  st.ws.close(1000); other.ws.close(1000);
  return r;
}

function pct(v, p) { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; }

async function rtt() {
  const frames = Number(args.frames || 500);
  const st = await open(url, { raw: !!args.raw });
  if (!args.raw && !st.status) return { error: 'not connected', closeCode: st.closeCode };
  if (!args.raw) st.ws.send(startMsg());
  const rtts = [];
  for (let seq = 0; seq < frames; seq++) {
    const t = nowUs();
    const done = new Promise((r) => { st.onFrame = (f) => { if (f.ts === t) r(); }; });
    st.ws.send(Buffer.concat([header(1, seq, t), pcmFrame(seq * FRAME)]));
    await Promise.race([done, sleep(1000)]);
    rtts.push((nowUs() - t) / 1000);
    await sleep(5);
  }
  st.ws.close(1000);
  const warm = rtts.slice(10);
  return { frames, p50_ms: pct(warm, 0.5), p99_ms: pct(warm, 0.99), max_ms: Math.max(...warm) };
}

async function peers() {
  const n = Number(args.peers || 10), seconds = Number(args.seconds || 60);
  const all = [];
  for (let k = 0; k < n; k++) { const st = await open(url); st.ws.send(startMsg()); all.push(st); }
  const frames = seconds * 50;
  await Promise.all(all.map((st) => sendBursty(st, frames, 0, !!args.burst)));
  await sleep(1000);
  const r = all.map((st) => ({ peer: st.status.peer_id, received_samples: received(st).length }));
  for (const st of all) st.ws.close(1000);
  return { peers: n, seconds, sent_samples_each: frames * FRAME, result: r };
}

async function silent() {
  // Connect and say nothing: the server must close after 3 x heartbeat_ms.
  const st = await open(url);
  for (let k = 0; k < 3000 && st.closeCode === null; k++) await sleep(10);
  return { connected: !!st.status, heartbeat_ms: st.status && st.status.heartbeat_ms, close_code: st.closeCode,
    close_reason: st.closeReason, disconnecting: st.disconnecting };
}

async function listen() {
  // Connect and collect what arrives for --ms milliseconds (transcripts, stream.start, frames).
  const st = await open(url);
  if (args.ready) process.stderr.write('ready\n');
  await sleep(Number(args.ms || 2000));
  st.ws.close(1000);
  return { connected: !!st.status, transcripts: st.texts.filter((m) => m.type === 'transcript'),
    frames: st.frames.length, starts: st.starts.length };
}

async function fragments() {
  // One binary message split into 1 KiB continuation frames, never finished (CVE-2025-32049:
  // libsoup 3.2.3 reassembles without bound): the server must close 1009 after ~64 KiB.
  const total = Number(args.total || 8 * 1024 * 1024);
  const st = await open(url);
  const chunk = Buffer.alloc(1024, 1);
  let sent = 0;
  st.ws.send(header(1, 0, 0), { fin: false, binary: true });
  while (sent < total && st.closeCode === null && st.ws.readyState === WebSocket.OPEN) {
    if (st.ws.bufferedAmount > 1024 * 1024) { await sleep(5); continue; }
    st.ws.send(chunk, { fin: false, binary: true });
    sent += chunk.length;
    if (sent % (64 * 1024) === 0) await sleep(1);
  }
  for (let k = 0; k < 300 && st.closeCode === null; k++) await sleep(10);
  return { sent, close_code: st.closeCode };
}

const modes = { echo, bad, flood, slow, rtt, peers, silent, listen, fragments };
try {
  const r = await modes[mode]();
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + '\n');
  process.exit(1);
}
