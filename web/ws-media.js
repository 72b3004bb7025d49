// Meshflow browser client, WebSocket media transport (the fallback when WebRTC is not used):
// microphone -> PCM16 frames to the launcher's /ws, and PCM16 frames from /ws -> speakers.
//
// Protocol (docs/protocols.md, "WebSocket media transport (/ws)"):
// - ws(s)://HOST/ws?room=ROOM&user=USER[&token=T]. Text frames are JSON objects with a "type":
//   the server's first message is {type: "status", state: "connected", peer_id, heartbeat_ms};
//   `stream.start` precedes the binary frames of a stream; `ping`/`pong`; `error {code, message}`;
//   `transcript`; `status: disconnecting` before a graceful close.
// - Binary frames: a 16-byte little-endian header (u8 version = 1, u8 flags (bit0 discontinuity),
//   u16 stream_id, u32 seq, u64 capture_ts_us) then PCM16 LE samples.
//
// Sending: an AudioWorklet (inline module, Blob URL) takes the microphone, mixes it to mono and
// resamples it to 48 kHz; the page cuts 20 ms frames (960 samples) and sends them as stream 1.
// Receiving: each frame of a stream the server announced is converted to float, its RMS measured,
// and handed to a player AudioWorklet with a small jitter buffer (starts at 60 ms, re-primes after
// an underrun, drops the oldest audio beyond 200 ms), resampling to the AudioContext's rate.
// Reconnects with exponential backoff (1 s doubling to 30 s, +-20 % jitter); pings every
// heartbeat_ms / 2; a connection silent for 3 heartbeats is closed and re-opened.

export const SEND_STREAM_ID = 1;
export const SEND_RATE = 48000;
export const FRAME_MS = 20;
const HEADER_BYTES = 16;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const BACKOFF_JITTER = 0.2;
const DEFAULT_HEARTBEAT_MS = 5000;
const MAX_BUFFERED_BYTES = 256 * 1024; // the socket is not draining: drop frames, do not queue more

// Capture worklet: mono mix, linear resampling to `outRate`, posts Float32Array chunks.
const CAPTURE_WORKLET = `
class MeshflowCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.outRate = options.processorOptions.outRate;
    this.step = sampleRate / this.outRate;  // input samples per output sample
    this.pos = 0;                           // fractional read position relative to this.prev
    this.prev = 0;                          // last input sample of the previous block
    this.out = new Float32Array(2048);
    this.n = 0;
  }
  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0 || input[0].length === 0) return true;
    const len = input[0].length;
    const mono = new Float32Array(len);
    for (const ch of input) for (let i = 0; i < len; i++) mono[i] += ch[i] / input.length;
    // Sample k of the virtual signal [prev, mono...] is prev for k = 0, mono[k-1] otherwise.
    while (this.pos < len) {
      const k = Math.floor(this.pos);
      const f = this.pos - k;
      const a = k === 0 ? this.prev : mono[k - 1];
      const b = mono[k];
      this.out[this.n++] = a + (b - a) * f;
      if (this.n === this.out.length) this.flush();
      this.pos += this.step;
    }
    this.pos -= len;
    this.prev = mono[len - 1];
    this.flush();
    return true;
  }
  flush() {
    if (this.n === 0) return;
    const chunk = this.out.slice(0, this.n);
    this.port.postMessage(chunk, [chunk.buffer]);
    this.n = 0;
  }
}
registerProcessor('meshflow-capture', MeshflowCapture);
`;

// Player worklet: a jitter buffer of float samples at `inRate`, played at the context's rate.
const PLAYER_WORKLET = `
class MeshflowPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.inRate = options.processorOptions.inRate;
    this.targetSamples = Math.round(this.inRate * options.processorOptions.targetMs / 1000);
    this.maxSamples = Math.round(this.inRate * options.processorOptions.maxMs / 1000);
    this.queue = [];        // Float32Array chunks
    this.head = 0;          // read offset into queue[0]
    this.buffered = 0;      // samples queued
    this.priming = true;    // waiting for targetSamples before playing
    this.pos = 0;           // fractional position between cur and next
    this.cur = 0;
    this.stats = { underruns: 0, droppedSamples: 0, playedSamples: 0, bufferedMs: 0 };
    this.lastReport = 0;
    this.port.onmessage = ({ data }) => {
      if (data === 'reset') { this.queue = []; this.head = 0; this.buffered = 0; this.priming = true; return; }
      this.queue.push(data);
      this.buffered += data.length;
      while (this.buffered > this.maxSamples && this.queue.length > 1) {
        const drop = this.queue[0].length - this.head;
        this.queue.shift();
        this.head = 0;
        this.buffered -= drop;
        this.stats.droppedSamples += drop;
      }
    };
  }
  next() {
    while (this.queue.length && this.head >= this.queue[0].length) { this.queue.shift(); this.head = 0; }
    if (!this.queue.length) return null;
    this.buffered--;
    return this.queue[0][this.head++];
  }
  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (this.priming && this.buffered >= this.targetSamples) this.priming = false;
    const step = this.inRate / sampleRate;
    for (let i = 0; i < out.length; i++) {
      if (this.priming) { out[i] = 0; continue; }
      this.pos += step;
      while (this.pos >= 1) {
        const s = this.next();
        if (s === null) {
          this.stats.underruns++;
          this.priming = true;
          this.pos = 0;
          break;
        }
        this.cur = s;
        this.pos -= 1;
        this.stats.playedSamples++;
      }
      out[i] = this.priming ? 0 : this.cur;
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (currentTime - this.lastReport > 0.25) {
      this.lastReport = currentTime;
      this.stats.bufferedMs = (1000 * this.buffered) / this.inRate;
      this.port.postMessage({ ...this.stats });
    }
    return true;
  }
}
registerProcessor('meshflow-player', MeshflowPlayer);
`;

function moduleUrl(code) {
  return URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
}

/// Build one binary media frame: the 16-byte header, then `pcm` (Int16Array) little-endian.
export function encodeFrame(streamId, seq, captureTsUs, pcm, flags = 0) {
  const buf = new ArrayBuffer(HEADER_BYTES + pcm.length * 2);
  const v = new DataView(buf);
  v.setUint8(0, 1);
  v.setUint8(1, flags);
  v.setUint16(2, streamId, true);
  v.setUint32(4, seq >>> 0, true);
  v.setBigUint64(8, BigInt(Math.max(0, Math.round(captureTsUs))), true);
  for (let i = 0; i < pcm.length; i++) v.setInt16(HEADER_BYTES + 2 * i, pcm[i], true);
  return buf;
}

/// Parse a binary frame -> {version, flags, streamId, seq, captureTsUs, samples: Int16Array} or
/// {error} if it is not a valid v1 frame.
export function decodeFrame(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < HEADER_BYTES) return { error: 'short frame' };
  const v = new DataView(buf);
  const version = v.getUint8(0);
  if (version !== 1) return { error: `version ${version}` };
  const payload = buf.byteLength - HEADER_BYTES;
  if (payload % 2) return { error: `odd payload length ${payload}` };
  const samples = new Int16Array(payload / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = v.getInt16(HEADER_BYTES + 2 * i, true);
  return {
    version, flags: v.getUint8(1), streamId: v.getUint16(2, true), seq: v.getUint32(4, true),
    captureTsUs: Number(v.getBigUint64(8, true)), samples,
  };
}

function floatToPcm16(f32) {
  const out = new Int16Array(f32.length);
  for (let i = 0; i < f32.length; i++) {
    const s = Math.max(-1, Math.min(1, f32[i]));
    out[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
  }
  return out;
}

export function emptyWsStats() {
  return {
    state: 'idle', // idle | connecting | connected | reconnecting | closed
    url: null, peerId: null, sessionId: null, heartbeatMs: DEFAULT_HEARTBEAT_MS,
    connects: 0, reconnects: 0, nextRetryMs: 0, lastClose: null, lastError: null,
    framesSent: 0, bytesSent: 0, framesDroppedSend: 0,
    framesReceived: 0, bytesReceived: 0, framesLost: 0, badFrames: 0, unknownStreamFrames: 0,
    lastRms: 0, maxRms: 0, nonSilentFrames: 0, lastFrameAt: null,
    streams: {}, // stream id -> {rate, channels, frameMs, frames}
    pings: 0, pongs: 0, rttMs: null,
    player: { underruns: 0, droppedSamples: 0, playedSamples: 0, bufferedMs: 0 },
    errors: [], transcripts: 0, audioContextRate: null, audioContextState: null, capturing: false,
  };
}

/// RMS above which a received frame counts as non-silent (-40 dBFS).
export const NON_SILENT_RMS = 0.01;

export class WsMedia {
  /// `url`: the /ws URL with its query; `stream`: a MediaStream with the microphone (or null:
  /// receive-only); `log(msg)`, `onChange()`, `onTranscript(t)` callbacks.
  constructor({ url, stream, log, onChange, onTranscript }) {
    this.url = url;
    this.stream = stream;
    this.log = log || (() => {});
    this.onChange = onChange || (() => {});
    this.onTranscript = onTranscript || (() => {});
    this.stats = emptyWsStats();
    this.stats.url = url;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.retryTimer = null;
    this.heartbeat = null;
    this.lastReceived = 0;
    this.ctx = null;
    this.player = null;
    this.capture = null;
    this.pending = new Float32Array(0); // captured samples not yet sent (< one frame)
    this.seq = 0;
    this.tsUs = null;
    this.discont = true;
    this.recvSeq = new Map(); // stream id -> last seq
    this.pingSent = new Map(); // t -> performance.now()
  }

  async start() {
    await this.setupAudio();
    this.connect();
  }

  async setupAudio() {
    try {
      try {
        this.ctx = new AudioContext({ sampleRate: SEND_RATE, latencyHint: 'interactive' });
      } catch {
        this.ctx = new AudioContext({ latencyHint: 'interactive' });
      }
      this.stats.audioContextRate = this.ctx.sampleRate;
      await this.ctx.audioWorklet.addModule(moduleUrl(PLAYER_WORKLET));
      await this.ctx.audioWorklet.addModule(moduleUrl(CAPTURE_WORKLET));
      this.player = new AudioWorkletNode(this.ctx, 'meshflow-player', {
        numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1],
        processorOptions: { inRate: SEND_RATE, targetMs: 60, maxMs: 200 },
      });
      this.player.port.onmessage = ({ data }) => { this.stats.player = data; };
      this.player.connect(this.ctx.destination);
      const track = this.stream?.getAudioTracks()[0];
      if (track) {
        const src = this.ctx.createMediaStreamSource(new MediaStream([track]));
        this.capture = new AudioWorkletNode(this.ctx, 'meshflow-capture', {
          numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
          processorOptions: { outRate: SEND_RATE },
        });
        this.capture.port.onmessage = ({ data }) => this.onCaptured(data);
        // Keep the capture node pulled by the graph without making it audible.
        const mute = this.ctx.createGain();
        mute.gain.value = 0;
        src.connect(this.capture).connect(mute).connect(this.ctx.destination);
        this.stats.capturing = true;
      }
      if (this.ctx.state === 'suspended') await this.ctx.resume().catch(() => {});
      this.stats.audioContextState = this.ctx.state;
      this.ctx.onstatechange = () => { this.stats.audioContextState = this.ctx.state; this.onChange(); };
    } catch (e) {
      this.stats.lastError = `audio setup: ${e.message}`;
      this.stats.errors.push(this.stats.lastError);
      this.log(`ws: ${this.stats.lastError}`);
    }
  }

  /// The AudioContext may start suspended (autoplay policy): resume it on a user gesture.
  resumeAudio() { return this.ctx?.resume(); }
  get audioSuspended() { return this.ctx?.state === 'suspended'; }

  connect() {
    if (this.stopped) return;
    this.stats.state = this.stats.connects ? 'reconnecting' : 'connecting';
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleReconnect(`cannot open ${this.url}: ${e.message}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastReceived = performance.now();
      this.stats.connects++;
      if (this.stats.connects > 1) this.stats.reconnects++;
      this.log(`ws: connected to ${this.url}`);
      this.startHeartbeat(DEFAULT_HEARTBEAT_MS);
      this.onChange();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastReceived = performance.now();
      if (typeof ev.data === 'string') this.onText(ev.data);
      else this.onBinary(ev.data);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopHeartbeat();
      this.stats.lastClose = { code: ev.code, reason: ev.reason, at: Date.now() };
      this.stats.peerId = null;
      this.recvSeq.clear();
      this.discont = true;
      this.player?.port.postMessage('reset');
      this.scheduleReconnect(`connection closed (code ${ev.code}${ev.reason ? `, ${ev.reason}` : ''})`);
    };
    ws.onerror = () => { /* onclose follows */ };
    this.onChange();
  }

  scheduleReconnect(why) {
    if (this.stopped || this.retryTimer) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(base * (1 + (Math.random() * 2 - 1) * BACKOFF_JITTER));
    this.attempt++;
    this.stats.state = 'reconnecting';
    this.stats.nextRetryMs = delay;
    this.stats.lastError = why;
    this.log(`ws: ${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.onChange();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  startHeartbeat(ms) {
    this.stopHeartbeat();
    this.stats.heartbeatMs = ms;
    this.heartbeat = setInterval(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      if (performance.now() - this.lastReceived > 3 * ms + 1000) {
        this.log('ws: nothing received for 3 heartbeats; reconnecting');
        ws.close(4000, 'heartbeat (client)');
        ws.onclose({ code: 4000, reason: 'heartbeat (client)' });
        return;
      }
      const t = Math.round(performance.now() * 1000) / 1000;
      this.pingSent.set(t, performance.now());
      if (this.pingSent.size > 16) this.pingSent.delete(this.pingSent.keys().next().value);
      this.sendJson({ type: 'ping', t });
      this.stats.pings++;
    }, Math.max(250, Math.floor(ms / 2)));
  }

  stopHeartbeat() {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  sendJson(obj) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  onText(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      this.log(`ws: unparsable text frame dropped (${e.message})`);
      return;
    }
    switch (m?.type) {
      case 'status':
        if (m.state === 'connected') {
          this.stats.state = 'connected';
          this.stats.peerId = m.peer_id ?? null;
          this.stats.sessionId = m.session_id ?? null;
          this.stats.lastError = null;
          this.attempt = 0;
          if (Number(m.heartbeat_ms) > 0) this.startHeartbeat(Number(m.heartbeat_ms));
          this.log(`ws: joined ${m.room ?? ''} as ${m.peer_id}`);
          if (this.capture) this.announceSendStream();
        } else if (m.state === 'disconnecting') {
          this.log(`ws: server is disconnecting us (${m.reason ?? 'no reason'})`);
        }
        break;
      case 'stream.start':
        this.stats.streams[m.stream_id] = {
          kind: m.kind, format: m.format, rate: m.rate, channels: m.channels, frameMs: m.frame_ms, frames: 0,
        };
        this.recvSeq.delete(m.stream_id);
        this.log(`ws: stream ${m.stream_id} starts (${m.kind} ${m.format} ${m.rate} Hz x${m.channels})`);
        break;
      case 'stream.stop':
        delete this.stats.streams[m.stream_id];
        break;
      case 'ping':
        this.sendJson({ type: 'pong', t: m.t });
        break;
      case 'pong': {
        const sent = this.pingSent.get(m.t);
        if (sent !== undefined) {
          this.stats.rttMs = performance.now() - sent;
          this.pingSent.delete(m.t);
        }
        this.stats.pongs++;
        break;
      }
      case 'error':
        this.stats.lastError = `${m.code}: ${m.message}`;
        this.stats.errors.push(this.stats.lastError);
        if (this.stats.errors.length > 50) this.stats.errors.shift();
        this.log(`ws: server error ${this.stats.lastError}`);
        break;
      case 'transcript':
        this.stats.transcripts++;
        this.onTranscript(m);
        break;
      default:
        this.log(`ws: unknown message type ${m?.type}`);
    }
    this.onChange();
  }

  onBinary(buf) {
    const f = decodeFrame(buf);
    if (f.error) {
      this.stats.badFrames++;
      this.log(`ws: bad frame from the server (${f.error})`);
      return;
    }
    const stream = this.stats.streams[f.streamId];
    if (!stream) {
      this.stats.unknownStreamFrames++;
      return;
    }
    const last = this.recvSeq.get(f.streamId);
    if (last !== undefined) {
      const gap = (f.seq - last - 1) >>> 0;
      if (gap > 0 && gap < 1000) this.stats.framesLost += gap;
    }
    this.recvSeq.set(f.streamId, f.seq);
    stream.frames++;
    this.stats.framesReceived++;
    this.stats.bytesReceived += buf.byteLength;
    this.stats.lastFrameAt = Date.now();
    const ch = Math.max(1, stream.channels | 0);
    const n = Math.floor(f.samples.length / ch);
    const mono = new Float32Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < ch; c++) s += f.samples[i * ch + c];
      s /= ch * 32768;
      mono[i] = s;
      sum += s * s;
    }
    const rms = n ? Math.sqrt(sum / n) : 0;
    this.stats.lastRms = rms;
    if (rms > this.stats.maxRms) this.stats.maxRms = rms;
    if (rms > NON_SILENT_RMS) this.stats.nonSilentFrames++;
    // The player runs at SEND_RATE input; other rates are resampled here (rare: the server sends 48 kHz).
    this.player?.port.postMessage(stream.rate === SEND_RATE ? mono : resample(mono, stream.rate, SEND_RATE),
                                  []);
  }

  announceSendStream() {
    this.sendJson({
      type: 'stream.start', stream_id: SEND_STREAM_ID, kind: 'audio', format: 'pcm16', rate: SEND_RATE,
      channels: 1, frame_ms: FRAME_MS,
    });
    this.discont = true;
  }

  onCaptured(chunk) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.stats.state !== 'connected') {
      this.pending = new Float32Array(0);
      return;
    }
    const frame = (SEND_RATE * FRAME_MS) / 1000;
    const all = new Float32Array(this.pending.length + chunk.length);
    all.set(this.pending);
    all.set(chunk, this.pending.length);
    let off = 0;
    for (; off + frame <= all.length; off += frame) {
      const pcm = floatToPcm16(all.subarray(off, off + frame));
      const nowUs = (performance.timeOrigin + performance.now()) * 1000;
      if (this.tsUs === null || this.discont) this.tsUs = Math.max(nowUs, (this.tsUs ?? 0) + FRAME_MS * 1000);
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.stats.framesDroppedSend++;
        this.discont = true;
        continue;
      }
      const flags = this.discont ? 1 : 0;
      const buf = encodeFrame(SEND_STREAM_ID, this.seq, this.tsUs, pcm, flags);
      ws.send(buf);
      this.seq = (this.seq + 1) >>> 0;
      this.tsUs += FRAME_MS * 1000;
      this.discont = false;
      this.stats.framesSent++;
      this.stats.bytesSent += buf.byteLength;
    }
    this.pending = all.slice(off);
  }

  stop() {
    this.stopped = true;
    this.stopHeartbeat();
    clearTimeout(this.retryTimer);
    if (this.ws) {
      this.sendJson({ type: 'stream.stop', stream_id: SEND_STREAM_ID });
      this.ws.close(1000, 'bye');
    }
    this.ws = null;
    this.stats.state = 'closed';
    this.ctx?.close().catch(() => {});
    this.onChange();
  }

  snapshot() {
    return { ...this.stats, streams: JSON.parse(JSON.stringify(this.stats.streams)), errors: [...this.stats.errors] };
  }
}

function resample(x, from, to) {
  if (!(from > 0) || from === to) return x;
  const n = Math.floor((x.length * to) / from);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = (i * from) / to;
    const k = Math.floor(p);
    const a = x[k] ?? 0;
    const b = x[k + 1] ?? a;
    out[i] = a + (b - a) * (p - k);
  }
  return out;
}
