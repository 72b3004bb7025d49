// Meshflow browser client: one peer of a room's WebRTC full mesh.
//
// Served by meshflow-launch at /client?room=NAME; this file is /web/client.js. Plain modern JS, no
// build step, nothing fetched from anywhere but the page's own origin.
//
// What it does (docs/protocols.md is the reference for every message):
// - Signalling: JSON-RPC 2.0 over WebSocket at ws(s)://<host>/rpc. `peer.announce` joins the room
//   (media flags, correlation envelope, token); `peer.ping` every heartbeat_ms; the connection is
//   re-opened after a loss with exponential backoff (1 s doubling to 30 s, ±20 % jitter) and the
//   page re-announces with the same peer id (retrying on -32007 until the server has dropped the
//   old connection; dropping a stale session id on -32005).
// - Media: getUserMedia camera + microphone (receive-only, with a notice, if denied or disabled);
//   one RTCPeerConnection per remote peer (bundlePolicy max-bundle, ICE servers from the announce
//   result); codecs restricted to the server's SDP allowlist.
// - Negotiation: the newcomer offers to every peer of its announce result; existing peers answer.
//   Later renegotiations use "perfect negotiation": the peer whose id sorts first (plain string
//   comparison, `a < b`) is the polite one and rolls back its own offer on a collision. ICE is
//   trickled both ways (`""` = end of candidates); a failed ICE connection is restarted.
// - A reliable, ordered data channel "meshflow" per peer (opened by the offerer) carries JSON
//   events; `transcript` events ({type|event: "transcript", text, speaker, is_final}) are shown.
// - UI: a grid tile per remote video track, labelled with its peer id and the track's index ("bob ·
//   video 2": a launcher may send several streams of one kind), and an <audio> per remote audio track;
//   a peer without video keeps one tile. Tiles show the peer's signalling / ICE / DTLS / connection
//   states and live stats from getStats() once per second. Tracks that end (or stop being sent) leave
//   the page; see "Remote tracks" below.
//
// - Transport (web/transport.js): on load the page asks GET /session-config?room=&user= (user: ?user=
//   or a stable id kept in localStorage) and uses WebSocket media (web/ws-media.js, /ws, PCM16
//   frames, no signalling) instead of WebRTC when the session says so (session.transport or the
//   WebRTC rollout), when RTCPeerConnection is missing, or when ICE has not connected within
//   ice_timeout_ms (then the WebRTC attempt is torn down: peer connections closed, peer.disconnect).
//
// Query parameters: room (default "demo"), name (display name), token, audio=0, video=0,
// peer (ask for this peer id), signal (signalling URL override, for development), user (user id
// for the transport choice), transport=webrtc|websocket (override the choice, for development).
//
// Test hook: `window.meshflow` (see the bottom of this file), e.g.
//   await page.evaluate(() => window.meshflow.snapshot())
//   -> {peerId, room, signalling: {state, connects, announces, ...}, peers: {ID: {connectionState,
//       iceConnectionState, dtlsState, tracks: [{kind, index, shown, muted, ...}], videoTiles,
//       audioPlaying, stats: {framesDecoded, audioBytesReceived, ...}}}, tiles: [peer id per tile],
//       transport: 'webrtc'|'websocket'|'none'|null, transportReason, sessionConfig, userId,
//       ws: {state, peerId, framesSent, framesReceived, bytesSent, bytesReceived, lastRms, maxRms, ...}}

import {
  decideTransport, defaultConfig, iceTimedOut, normaliseConfig, stableUserId,
} from './transport.js';
import { WsMedia } from './ws-media.js';

const SDP_CODEC_ALLOWLIST = new Set([
  'opus', 'vp8', 'vp9', 'h264', 'av1', 'rtx', 'red', 'ulpfec', 'flexfec-03', 'telephone-event',
  'cn', 'pcmu', 'pcma', 'g722',
]);
const DEFAULT_HEARTBEAT_MS = 5000;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const BACKOFF_JITTER = 0.2;
const REQUEST_TIMEOUT_MS = 10000;
const STATS_INTERVAL_MS = 1000;
const FAILED_PEER_DROP_MS = 15000;
const LOG_LINES = 200;

// ---------------------------------------------------------------------------------------------
// Parameters

function readParams() {
  const q = new URLSearchParams(location.search);
  const flag = (name) => !['0', 'false', 'no', 'off'].includes((q.get(name) ?? '1').toLowerCase());
  const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return {
    room: q.get('room') || 'demo',
    name: q.get('name') || '',
    token: q.get('token') || '',
    audio: flag('audio'),
    video: flag('video'),
    peerId: q.get('peer') || '',
    signalUrl: q.get('signal') || `${wsScheme}//${location.host}/rpc`,
    wsUrl: `${wsScheme}//${location.host}/ws`,
    user: q.get('user') || '',
    transport: (q.get('transport') || '').toLowerCase(),
  };
}

const params = readParams();

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

const $ = (id) => document.getElementById(id);

function log(msg) {
  const line = `${new Date().toISOString().slice(11, 23)} ${msg}`;
  console.log(`[meshflow] ${msg}`);
  state.log.push(line);
  if (state.log.length > LOG_LINES) state.log.shift();
  const ol = $('log');
  if (!ol) return;
  const li = document.createElement('li');
  li.textContent = line;
  ol.prepend(li);
  while (ol.childElementCount > LOG_LINES) ol.lastElementChild.remove();
}

function notice(msg) {
  const p = $('notice');
  p.textContent = msg;
  p.hidden = !msg;
}

function setText(id, text, cls) {
  const el = $(id);
  if (!el) return;
  el.textContent = text;
  if (cls !== undefined) el.className = `state ${cls}`;
}

// ---------------------------------------------------------------------------------------------
// State (everything the test hook exposes lives here)

const state = {
  peerId: params.peerId || null,
  room: params.room,
  displayName: params.name,
  envelope: null,
  runId: `r-${Math.random().toString(36).slice(2, 10)}`,
  iceServers: [],
  heartbeatMs: DEFAULT_HEARTBEAT_MS,
  signalling: {
    state: 'connecting', // connecting | open | announced | reconnecting | closed | left
    url: params.signalUrl,
    connects: 0,      // WebSocket connections opened
    announces: 0,     // successful peer.announce results
    reconnects: 0,    // connections opened after a loss
    nextRetryMs: 0,
    lastError: null,
    lastClose: null,
  },
  localMedia: { audio: false, video: false, requested: { audio: params.audio, video: params.video }, error: null },
  peers: new Map(),   // peer id -> Peer
  departed: [],       // {peerId, reason, at} of peers that left
  transcripts: [],
  log: [],
  errors: [],
  // Transport choice (web/transport.js) and the ICE watchdog that triggers the WebSocket fallback.
  userId: null,
  transport: null,         // 'webrtc' | 'websocket' | 'none' once decided
  transportReason: null,
  sessionConfig: null,     // the /session-config answer (or the defaults)
  canFallBack: false,
  fallbacks: 0,            // WebRTC attempts given up for WebSocket
  ice: { firstPeerAt: null, connected: false },
};

let localStream = null;
let wsMedia = null; // WsMedia once the page uses the WebSocket transport

// ---------------------------------------------------------------------------------------------
// Signalling: JSON-RPC 2.0 over WebSocket, with heartbeat and reconnection.

class Signalling {
  constructor(url) {
    this.url = url;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.attempt = 0;
    this.stopped = false;
    this.heartbeat = null;
    this.retryTimer = null;
    this.lastReceived = 0;
    this.onNotification = () => {};
    this.onOpen = () => {};
    this.onLost = () => {};
  }

  connect() {
    if (this.stopped) return;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleReconnect(`cannot open ${this.url}: ${e.message}`);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastReceived = performance.now();
      this.startHeartbeat(DEFAULT_HEARTBEAT_MS);
      this.onOpen();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastReceived = performance.now();
      this.onMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopHeartbeat();
      this.failPending(`connection closed (${ev.code})`);
      state.signalling.lastClose = { code: ev.code, reason: ev.reason, at: Date.now() };
      this.onLost(ev.code);
      this.scheduleReconnect(`connection closed (code ${ev.code}${ev.reason ? `, ${ev.reason}` : ''})`);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  scheduleReconnect(why) {
    if (this.stopped || this.retryTimer) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(base * (1 + (Math.random() * 2 - 1) * BACKOFF_JITTER));
    this.attempt++;
    state.signalling.state = 'reconnecting';
    state.signalling.nextRetryMs = delay;
    state.signalling.lastError = why;
    renderSession();
    log(`signalling: ${why}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  /// Called once announced: the next loss starts again at 1 s.
  resetBackoff() { this.attempt = 0; }

  startHeartbeat(ms) {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      // Silent for 3 heartbeats: the connection is dead even if the socket has not noticed.
      if (performance.now() - this.lastReceived > 3 * ms + 1000) {
        log('signalling: no answer for 3 heartbeats; reconnecting');
        this.ws.close(4000, 'heartbeat');
        this.ws.onclose({ code: 4000, reason: 'heartbeat (client)' });
        return;
      }
      this.request('peer.ping', {}).catch(() => {});
    }, ms);
  }

  stopHeartbeat() {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  failPending(why) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error(why), { code: 'disconnected' }));
    }
    this.pending.clear();
  }

  request(method, params) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(Object.assign(new Error('not connected'), { code: 'disconnected' }));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error(`${method}: no response`), { code: 'timeout' }));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer, method });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      log(`signalling: unparsable message dropped (${e.message})`);
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) this.dispatch(m);
  }

  dispatch(m) {
    if (!m || typeof m !== 'object' || m.jsonrpc !== '2.0') return;
    if (typeof m.method === 'string') {
      // The server never sends requests, only notifications.
      this.onNotification(m.method, m.params || {});
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) {
      if (m.error) log(`signalling: error ${m.error.code} ${m.error.message} (id ${m.id})`);
      return;
    }
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error) {
      const err = new Error(`${p.method}: ${m.error.code} ${m.error.message}` +
                            (m.error.data?.reason ? ` (${m.error.data.reason})` : ''));
      err.code = m.error.code;
      err.data = m.error.data;
      p.reject(err);
    } else {
      p.resolve(m.result);
    }
  }

  close() {
    this.stopped = true;
    this.stopHeartbeat();
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000, 'bye');
    this.ws = null;
  }
}

const sig = new Signalling(params.signalUrl);

// ---------------------------------------------------------------------------------------------
// Remote peers

function restrictCodecs(transceiver, kind) {
  if (typeof transceiver.setCodecPreferences !== 'function' || !RTCRtpReceiver.getCapabilities) return;
  const caps = RTCRtpReceiver.getCapabilities(kind);
  if (!caps) return;
  const codecs = caps.codecs.filter((c) => SDP_CODEC_ALLOWLIST.has(c.mimeType.split('/')[1].toLowerCase()));
  try {
    transceiver.setCodecPreferences(codecs);
  } catch (e) {
    log(`setCodecPreferences(${kind}) failed: ${e.message}`);
  }
}

class Peer {
  constructor(id, info) {
    this.id = id;
    this.displayName = info?.display_name || '';
    this.media = info?.media || null;
    this.polite = state.peerId < id;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.isSettingRemoteAnswerPending = false;
    this.pendingCandidates = [];
    this.localTracksAttached = false;
    this.dc = null;
    this.created = performance.now();
    this.connectedAt = null;
    this.failedSince = null;
    this.closed = false;
    this.eventsReceived = 0;
    this.lastEvent = null;
    this.offersSent = 0;
    this.offersReceived = 0;
    this.collisions = 0;
    this.stats = emptyStats();
    this.prev = null;
    // Remote media (see "Remote tracks" below): every live remote track, by track id.
    this.remote = new Map();           // track id -> RemoteTrack
    this.nextIndex = { audio: 1, video: 1 };
    this.audioEls = new Map();         // track id -> <audio> playing it
    this.figures = [makeTile(this)];   // one tile per shown video track (DOM order), or one empty tile
    this.pc = this.makePc();
  }

  /// The peer's first tile (the one an audio-only peer still has).
  get tile() { return this.figures[0]; }

  makePc() {
    const pc = new RTCPeerConnection({
      iceServers: state.iceServers,
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    pc.onicecandidate = ({ candidate }) => {
      if (pc !== this.pc) return;
      const params = { to: this.id, candidate: candidate ? candidate.candidate : '' };
      if (candidate && candidate.sdpMid != null) params.sdp_mid = candidate.sdpMid;
      if (candidate && candidate.sdpMLineIndex != null) params.sdp_mline_index = candidate.sdpMLineIndex;
      if (candidate && !candidate.candidate) return; // per-m-line end marker; the null event ends all
      send('peer.ice_candidate', params);
    };
    pc.onnegotiationneeded = () => this.negotiate();
    pc.ontrack = ({ track, streams, transceiver }) => {
      if (pc !== this.pc) return;
      onRemoteTrack(this, track, streams, transceiver);
    };
    pc.ondatachannel = ({ channel }) => this.setupDataChannel(channel);
    const update = () => {
      if (pc !== this.pc) return;
      if (['connected', 'completed'].includes(pc.iceConnectionState)) state.ice.connected = true;
      if (pc.connectionState === 'connected' && this.connectedAt === null) {
        this.connectedAt = performance.now();
        log(`${this.id}: connected in ${Math.round(this.connectedAt - this.created)} ms`);
      }
      if (pc.connectionState === 'failed') {
        this.failedSince ??= performance.now();
      } else if (pc.connectionState === 'connected') {
        this.failedSince = null;
      }
      renderPeer(this);
      // A renegotiation may have stopped a transceiver or made it inactive / send-only.
      if (pc.signalingState === 'stable') syncMedia(this);
    };
    pc.onconnectionstatechange = update;
    pc.onsignalingstatechange = update;
    pc.onicegatheringstatechange = update;
    pc.oniceconnectionstatechange = () => {
      update();
      if (pc === this.pc && pc.iceConnectionState === 'failed') {
        log(`${this.id}: ICE failed; restarting ICE`);
        pc.restartIce();
      }
    };
    return pc;
  }

  /// The offerer side: transceivers for our media (or receive-only) and the data channel; the
  /// negotiationneeded event that follows sends the offer.
  startAsOfferer() {
    for (const kind of ['audio', 'video']) {
      const track = localStream?.getTracks().find((t) => t.kind === kind);
      const tr = track
        ? this.pc.addTransceiver(track, { direction: 'sendrecv', streams: [localStream] })
        : this.pc.addTransceiver(kind, { direction: 'recvonly' });
      restrictCodecs(tr, kind);
    }
    this.localTracksAttached = true;
    this.setupDataChannel(this.pc.createDataChannel('meshflow', { ordered: true }));
  }

  /// The answerer side: put our tracks on the transceivers the remote offer created.
  attachLocalTracks() {
    if (this.localTracksAttached) return;
    this.localTracksAttached = true;
    for (const tr of this.pc.getTransceivers()) {
      const kind = tr.receiver.track.kind;
      restrictCodecs(tr, kind);
      if (tr.sender.track || tr.stopped || tr.currentDirection === 'stopped') continue;
      const track = localStream?.getTracks().find((t) => t.kind === kind && !this.usesTrack(t));
      if (track) {
        tr.sender.replaceTrack(track);
        tr.sender.setStreams?.(localStream);
        tr.direction = 'sendrecv';
      }
    }
  }

  usesTrack(track) { return this.pc.getSenders().some((s) => s.track === track); }

  async negotiate() {
    const pc = this.pc;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      if (pc !== this.pc) return;
      this.offersSent++;
      await send('peer.offer', { to: this.id, sdp: pc.localDescription.sdp, ...envelopeParam() });
    } catch (e) {
      log(`${this.id}: offer failed: ${e.message}`);
      state.errors.push(`${this.id}: offer: ${e.message}`);
    } finally {
      this.makingOffer = false;
    }
  }

  async onDescription(type, sdp) {
    const pc = this.pc;
    // Perfect negotiation (W3C WebRTC §10.7).
    const readyForOffer = !this.makingOffer &&
      (pc.signalingState === 'stable' || this.isSettingRemoteAnswerPending);
    const offerCollision = type === 'offer' && !readyForOffer;
    if (type === 'offer') this.offersReceived++;
    if (offerCollision) this.collisions++;
    this.ignoreOffer = !this.polite && offerCollision;
    if (this.ignoreOffer) {
      log(`${this.id}: ignoring colliding offer (we are impolite)`);
      return;
    }
    this.isSettingRemoteAnswerPending = type === 'answer';
    try {
      await pc.setRemoteDescription({ type, sdp });
    } finally {
      this.isSettingRemoteAnswerPending = false;
    }
    await this.flushCandidates();
    if (type === 'offer') {
      this.attachLocalTracks();
      await pc.setLocalDescription();
      await send('peer.answer', { to: this.id, sdp: pc.localDescription.sdp, ...envelopeParam() });
    }
  }

  async onCandidate(p) {
    const init = { candidate: p.candidate ?? '' };
    if (p.sdp_mid != null) init.sdpMid = p.sdp_mid;
    if (p.sdp_mline_index != null) init.sdpMLineIndex = p.sdp_mline_index;
    if (!init.candidate && init.sdpMid == null && init.sdpMLineIndex == null) init.sdpMLineIndex = 0;
    if (!this.pc.remoteDescription) {
      this.pendingCandidates.push(init);
      return;
    }
    await this.addCandidate(init);
  }

  async flushCandidates() {
    const list = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const c of list) await this.addCandidate(c);
  }

  async addCandidate(init) {
    try {
      await this.pc.addIceCandidate(init);
    } catch (e) {
      if (!this.ignoreOffer && init.candidate) log(`${this.id}: addIceCandidate failed: ${e.message}`);
    }
  }

  setupDataChannel(dc) {
    this.dc = dc;
    dc.onopen = () => {
      renderPeer(this);
      this.sendEvent({ type: 'hello', peer_id: state.peerId, display_name: state.displayName });
    };
    dc.onclose = () => renderPeer(this);
    dc.onmessage = ({ data }) => {
      this.eventsReceived++;
      let ev;
      try {
        ev = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
      } catch {
        return;
      }
      this.lastEvent = ev;
      const type = ev.type ?? ev.event ?? ev.method;
      if (type === 'transcript') showTranscript(this.id, ev.params ?? ev);
    };
  }

  sendEvent(obj) {
    if (this.dc?.readyState !== 'open') return false;
    this.dc.send(JSON.stringify(obj));
    return true;
  }

  /// Replace the RTCPeerConnection (the other side started over with a fresh one).
  reset() {
    log(`${this.id}: starting a fresh connection`);
    this.pc.close();
    this.dc = null;
    this.pendingCandidates = [];
    this.localTracksAttached = false;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.connectedAt = null;
    this.failedSince = null;
    this.created = performance.now();
    this.prev = null;
    this.remote.clear();
    this.nextIndex = { audio: 1, video: 1 };
    this.pc = this.makePc();
    syncMedia(this);
  }

  close() {
    this.closed = true;
    this.pc.close();
    for (const fig of this.figures) fig.remove();
    for (const el of this.audioEls.values()) {
      el.srcObject = null;
      el.remove();
    }
    this.audioEls.clear();
    this.remote.clear();
  }

  /// Ids of the remote tracks the page shows (a tile) or plays (an <audio>).
  shownTrackIds() {
    return [...this.figures.map((f) => f.dataset.trackId).filter(Boolean), ...this.audioEls.keys()];
  }

  get healthy() {
    return ['new', 'connecting', 'connected'].includes(this.pc.connectionState) &&
           this.pc.signalingState !== 'closed';
  }
}

function envelopeParam() { return state.envelope ? { envelope: state.envelope } : {}; }

async function send(method, params) {
  try {
    return await sig.request(method, params);
  } catch (e) {
    log(`${method} to ${params.to ?? ''}: ${e.message}`);
    state.errors.push(e.message);
    return null;
  }
}

function addPeer(id, info, { offer }) {
  state.ice.firstPeerAt ??= performance.now();
  const p = new Peer(id, info);
  state.peers.set(id, p);
  log(`${id}: ${offer ? 'offering' : 'waiting for its offer'} (${p.polite ? 'polite' : 'impolite'})`);
  if (offer) p.startAsOfferer();
  renderPeer(p);
  return p;
}

function removePeer(id, reason) {
  const p = state.peers.get(id);
  if (!p) return;
  p.close();
  state.peers.delete(id);
  state.departed.push({ peerId: id, reason, at: Date.now() });
  log(`${id}: left (${reason})`);
}

// ---------------------------------------------------------------------------------------------
// Room membership

let announceRetries = 0;

async function announce() {
  const params_ = {
    room: params.room,
    media: { audio: state.localMedia.audio, video: state.localMedia.video, data: true },
    envelope: state.envelope ? { ...state.envelope } : { run_id: state.runId },
  };
  if (state.peerId) params_.peer_id = state.peerId;
  if (params.name) params_.display_name = params.name;
  if (params.token) params_.token = params.token;
  let result;
  try {
    result = await sig.request('peer.announce', params_);
  } catch (e) {
    state.signalling.lastError = e.message;
    log(`announce: ${e.message}`);
    if (e.code === -32005 && state.envelope) {
      // The room was created anew (the server restarted) with another session id: join it as it
      // is, keeping only our run id.
      state.envelope = null;
      setTimeout(announce, 0);
    } else if (e.code === -32007 || e.code === -32004 || e.code === 'timeout') {
      // Our old connection is not gone yet on the server (at most 3 heartbeats), or we are too
      // fast: retry on this connection with backoff.
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(announceRetries++, 5));
      const ws = sig.ws;
      setTimeout(() => { if (ws && ws === sig.ws && ws.readyState === WebSocket.OPEN) announce(); }, delay);
    } else if (e.code === 'disconnected') {
      // onclose reconnects and announces again.
    } else {
      notice(`Cannot join room "${params.room}": ${e.message}`);
      state.signalling.state = 'closed';
      renderSession();
    }
    return;
  }
  state.peerId = result.peer_id;
  state.room = result.room ?? params.room;
  state.envelope = result.envelope ?? null;
  state.heartbeatMs = Number(result.heartbeat_ms) > 0 ? Number(result.heartbeat_ms) : DEFAULT_HEARTBEAT_MS;
  state.iceServers = normaliseIceServers(result.ice_servers);
  state.signalling.announces++;
  state.signalling.state = 'announced';
  state.signalling.lastError = null;
  announceRetries = 0;
  sig.resetBackoff();
  sig.startHeartbeat(state.heartbeatMs);
  renderSession();
  const peers = Array.isArray(result.peers) ? result.peers : [];
  log(`announced as ${state.peerId} in ${state.room}; ${peers.length} peer(s) here`);
  for (const info of peers) {
    const id = info.peer_id;
    if (!id || id === state.peerId) continue;
    const existing = state.peers.get(id);
    if (existing) {
      existing.displayName = info.display_name || existing.displayName;
      existing.media = info.media || existing.media;
      if (existing.healthy) continue; // survived our reconnect: keep the media flowing
      removePeer(id, 'reconnect');
    }
    addPeer(id, info, { offer: true });
  }
}

function normaliseIceServers(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((s) => s && s.urls).map((s) => {
    const out = { urls: s.urls };
    if (s.username) out.username = s.username;
    if (s.credential) out.credential = s.credential;
    return out;
  });
}

sig.onOpen = () => {
  state.signalling.connects++;
  if (state.signalling.connects > 1) state.signalling.reconnects++;
  state.signalling.state = 'open';
  renderSession();
  log(`signalling: connected to ${sig.url}`);
  announce();
};

sig.onLost = () => {
  state.signalling.state = 'reconnecting';
  renderSession();
};

sig.onNotification = async (method, p) => {
  try {
    switch (method) {
      case 'peer.joined': {
        const existing = state.peers.get(p.peer_id);
        if (existing) {
          if (existing.healthy) break; // same peer back after a signalling reconnect
          removePeer(p.peer_id, 'rejoined');
        }
        log(`${p.peer_id}: joined${p.display_name ? ` (${p.display_name})` : ''}`);
        addPeer(p.peer_id, p, { offer: false });
        break;
      }
      case 'peer.left':
        removePeer(p.peer_id, p.reason || 'left');
        break;
      case 'peer.offer':
      case 'peer.answer': {
        const type = method === 'peer.offer' ? 'offer' : 'answer';
        let peer = state.peers.get(p.from);
        if (!peer) {
          if (type === 'answer') {
            log(`${p.from}: answer from an unknown peer dropped`);
            break;
          }
          peer = addPeer(p.from, {}, { offer: false });
        }
        try {
          await peer.onDescription(type, p.sdp);
        } catch (e) {
          if (type !== 'offer') throw e;
          // An offer our connection cannot take (the other side started over after a reconnect,
          // new DTLS identity): start over too.
          log(`${p.from}: offer not applicable (${e.message})`);
          peer.reset();
          await peer.onDescription(type, p.sdp);
        }
        break;
      }
      case 'peer.ice_candidate': {
        const peer = state.peers.get(p.from);
        if (peer) await peer.onCandidate(p);
        break;
      }
      default:
        log(`signalling: unknown notification ${method}`);
    }
  } catch (e) {
    log(`${method} from ${p.from ?? p.peer_id}: ${e.message}`);
    state.errors.push(`${method}: ${e.message}`);
  }
};

// ---------------------------------------------------------------------------------------------
// Media and tiles

async function openLocalMedia() {
  const want = { audio: params.audio, video: params.video };
  if (!want.audio && !want.video) {
    notice('Receive-only: camera and microphone are off (audio=0&video=0).');
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia) {
    state.localMedia.error = 'getUserMedia is not available (a secure context is required)';
    notice(`Receive-only: ${state.localMedia.error}.`);
    return;
  }
  try {
    localStream = await navigator.mediaDevices.getUserMedia({
      audio: want.audio ? { echoCancellation: true, noiseSuppression: true } : false,
      video: want.video ? { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } } : false,
    });
  } catch (e) {
    state.localMedia.error = `${e.name}: ${e.message}`;
    notice(`Receive-only: no access to camera/microphone (${e.name}). Others will not see or hear you.`);
    log(`getUserMedia failed: ${state.localMedia.error}`);
    return;
  }
  state.localMedia.audio = localStream.getAudioTracks().length > 0;
  state.localMedia.video = localStream.getVideoTracks().length > 0;
  $('local-video').srcObject = localStream;
  const missing = [want.audio && !state.localMedia.audio && 'microphone', want.video && !state.localMedia.video && 'camera']
    .filter(Boolean);
  if (missing.length) notice(`Sending without ${missing.join(' and ')}.`);
}

// ---------------------------------------------------------------------------------------------
// Remote tracks: a peer may send several streams of one kind (a launcher linking two video outputs
// to its webrtc_sink, each on a transceiver of its own). Every live remote video track gets a tile
// of its own (the peer's tiles stay together in the grid, labelled "<peer> · video N"); every live
// remote audio track is played by an <audio> element of its own in #remote-audio (Chromium plays
// only the first audio track of a MediaStream in one media element; and a remote track feeds Web
// Audio only while an element plays it). Video elements are muted: sound comes from the <audio>s.
//
// A track stops being shown when it ends, when its transceiver is stopped or no longer receives
// (inactive / sendonly after a renegotiation), when the remote removes it from its stream
// (removetrack), or when it has been muted (no media) for MUTE_HIDE_MS; it comes back on unmute or
// when a renegotiation adds it again. A peer without a shown video track keeps one empty tile
// (its states and stats). syncMedia() reconciles the page with this after every such event.

const MUTE_HIDE_MS = 5000;

class RemoteTrack {
  constructor(track, transceiver, index, streams) {
    this.track = track;
    this.kind = track.kind;
    this.transceiver = transceiver;
    this.index = index;                 // 1, 2, ... per kind, in arrival order
    this.streamId = streams[0]?.id ?? '';
    this.stream = new MediaStream([track]);
    this.removed = false;               // the remote took it out of its stream (removetrack)
    this.mutedSince = track.muted ? performance.now() : null;
  }

  /// Still a track of this connection (not ended, transceiver not stopped).
  get alive() {
    const t = this.transceiver;
    return this.track.readyState === 'live' && !t?.stopped && t?.currentDirection !== 'stopped';
  }

  /// Shown / played now.
  shown(now) {
    const dir = this.transceiver?.currentDirection;  // null until the first negotiation completes
    return this.alive && !this.removed && dir !== 'inactive' && dir !== 'sendonly' &&
      !(this.mutedSince !== null && now - this.mutedSince > MUTE_HIDE_MS);
  }
}

const watchedStreams = new WeakSet();

function onRemoteTrack(peer, track, streams, transceiver) {
  let r = peer.remote.get(track.id);
  if (r) {
    r.removed = false;  // sent again after a renegotiation
    r.transceiver = transceiver ?? r.transceiver;
  } else {
    r = new RemoteTrack(track, transceiver, peer.nextIndex[track.kind]++, streams);
    peer.remote.set(track.id, r);
    const pc = peer.pc;
    const sync = () => { if (pc === peer.pc) syncMedia(peer); };
    track.addEventListener('ended', sync);
    track.addEventListener('mute', () => {
      r.mutedSince ??= performance.now();
      sync();
    });
    track.addEventListener('unmute', () => {
      r.mutedSince = null;
      sync();
      replay(peer, track.id);
    });
  }
  log(`${peer.id}: remote ${track.kind} track ${r.index} (mid ${transceiver?.mid ?? '-'}, stream ${r.streamId || '-'})`);
  for (const s of streams) {
    if (watchedStreams.has(s)) continue;
    watchedStreams.add(s);
    s.addEventListener('removetrack', ({ track: t }) => {
      const x = peer.remote.get(t.id);
      if (!x) return;
      x.removed = true;
      log(`${peer.id}: remote ${t.kind} track ${x.index} removed from its stream`);
      syncMedia(peer);
    });
  }
  syncMedia(peer);
}

function makeTile(peer) {
  const fig = $('tile-template').content.firstElementChild.cloneNode(true);
  fig.dataset.peerId = peer.id;
  fig.dataset.trackId = '';
  fig.querySelector('.label').textContent = tileLabel(peer, fig);
  $('grid').append(fig);
  return fig;
}

function peerLabel(peer) { return peer.displayName ? `${peer.id} (${peer.displayName})` : peer.id; }

function tileLabel(peer, fig) {
  return fig.dataset.trackId ? `${peerLabel(peer)} · video ${fig.dataset.trackIndex}` : peerLabel(peer);
}

/// Put the page in line with the peer's remote tracks: a tile per shown video track (reusing the
/// peer's free tiles), an <audio> per shown audio track; nothing of what is no longer shown.
function syncMedia(peer) {
  if (peer.closed) return;
  const now = performance.now();
  for (const [id, r] of peer.remote) {
    if (!r.alive) {
      log(`${peer.id}: remote ${r.kind} track ${r.index} ended`);
      peer.remote.delete(id);
    }
  }
  const shown = [...peer.remote.values()].filter((r) => r.shown(now)).sort((a, b) => a.index - b.index);

  // Video: keep the tiles whose track is still shown; reuse or add tiles for the others.
  const videos = shown.filter((r) => r.kind === 'video');
  const want = new Set(videos.map((r) => r.track.id));
  const kept = new Map();
  const free = [];
  for (const fig of peer.figures) {
    const id = fig.dataset.trackId;
    if (id && want.has(id) && !kept.has(id)) kept.set(id, fig);
    else free.push(fig);
  }
  let changed = false;
  for (const r of videos) {
    if (kept.has(r.track.id)) continue;
    let fig = free.shift();
    if (!fig) {
      fig = makeTile(peer);
      peer.figures.at(-1)?.after(fig);  // next to the peer's other tiles
    }
    fig.dataset.trackId = r.track.id;
    fig.dataset.trackIndex = String(r.index);
    fig.dataset.streamId = r.streamId;
    const video = fig.querySelector('video');
    video.muted = true;  // sound: the <audio> elements
    video.srcObject = r.stream;
    video.play().catch(() => {});
    kept.set(r.track.id, fig);
    changed = true;
  }
  if (kept.size === 0) {
    // No video shown: one empty tile (states, stats) stays.
    const fig = free.shift() ?? makeTile(peer);
    if (fig.dataset.trackId) changed = true;
    fig.dataset.trackId = '';
    delete fig.dataset.trackIndex;
    delete fig.dataset.streamId;
    fig.querySelector('video').srcObject = null;
    kept.set('', fig);
  }
  for (const fig of free) {
    fig.querySelector('video').srcObject = null;
    fig.remove();
    changed = true;
  }
  peer.figures = [...kept.values()].sort((a, b) =>
    (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));

  // Audio: one playing <audio> per shown audio track.
  const audios = new Map(shown.filter((r) => r.kind === 'audio').map((r) => [r.track.id, r]));
  for (const [id, el] of peer.audioEls) {
    if (audios.has(id)) continue;
    el.srcObject = null;
    el.remove();
    peer.audioEls.delete(id);
    changed = true;
  }
  for (const [id, r] of audios) {
    if (peer.audioEls.has(id)) continue;
    const el = document.createElement('audio');
    el.autoplay = true;
    el.dataset.peerId = peer.id;
    el.dataset.trackId = id;
    el.dataset.trackIndex = String(r.index);
    el.srcObject = r.stream;
    $('remote-audio').append(el);
    peer.audioEls.set(id, el);
    playWithSound(el);
    changed = true;
  }
  if (changed) renderPeer(peer);
}

/// Play a track's element again (after an unmute: the element may have stalled meanwhile).
function replay(peer, trackId) {
  const el = peer.audioEls.get(trackId);
  if (el) playWithSound(el);
  const video = peer.figures.find((f) => f.dataset.trackId === trackId)?.querySelector('video');
  video?.play().catch(() => {});
}

let audioBlocked = false;

function playWithSound(el) {
  el.muted = false;
  el.play().catch((e) => {
    if (e.name !== 'NotAllowedError') return;
    // Autoplay policy: play muted now (keeps the track flowing), unmute on the first click.
    el.muted = true;
    el.play().catch(() => {});
    if (!audioBlocked) {
      audioBlocked = true;
      const b = $('enable-audio');
      b.hidden = false;
      notice('The browser blocked sound until you interact with the page: click "Enable audio".');
    }
  });
}

$('enable-audio').addEventListener('click', () => {
  audioBlocked = false;
  $('enable-audio').hidden = true;
  notice('');
  for (const p of state.peers.values()) for (const el of p.audioEls.values()) playWithSound(el);
  wsMedia?.resumeAudio();
});

$('leave').addEventListener('click', () => leave());

function showTranscript(from, t) {
  const entry = {
    from,
    text: String(t.text ?? ''),
    speaker: t.speaker ?? from,
    isFinal: t.is_final !== false,
    at: Date.now(),
  };
  state.transcripts.push(entry);
  if (state.transcripts.length > 500) state.transcripts.shift();
  const ol = $('transcript');
  let li = ol.querySelector(`li.partial[data-from="${CSS.escape(from)}"]`);
  if (!li) {
    li = document.createElement('li');
    li.dataset.from = from;
    ol.append(li);
  }
  li.textContent = `${entry.speaker}: ${entry.text}`;
  li.className = entry.isFinal ? '' : 'partial';
  ol.scrollTop = ol.scrollHeight;
}

function renderSession() {
  setText('room', state.room);
  setText('peer-id', state.peerId ?? '-');
  const label = $('local-tile')?.querySelector('.label');
  if (label) label.textContent = `you${state.peerId ? ` · ${state.peerId}` : ''}${params.name ? ` (${params.name})` : ''}`;
  const s = state.signalling;
  const text = s.state === 'reconnecting' ? `reconnecting (retry in ${(s.nextRetryMs / 1000).toFixed(1)} s)` : s.state;
  setText('signalling-state', text, s.state);
  setText('transport', state.transport ?? 'deciding', state.transport === 'none' ? 'closed' : 'open');
  const t = $('transport');
  if (t) t.title = state.transportReason ?? '';
}

function renderPeer(peer) {
  if (peer.closed) return;
  const pc = peer.pc;
  const conn = pc.connectionState;
  const states =
    `sig ${pc.signalingState} · ice ${pc.iceConnectionState} · dtls ${peer.stats.dtlsState ?? '-'} · ${conn}` +
    ` · dc ${peer.dc?.readyState ?? '-'} · video ${peer.figures.filter((x) => x.dataset.trackId).length}` +
    ` · audio ${peer.audioEls.size}`;
  const s = peer.stats;
  const f = (v, d = 0) => (v == null ? '-' : Number(v).toFixed(d));
  // Per peer (all its streams): every tile of the peer shows the same.
  const stats =
    `rtt ${f(s.rttMs)} ms · loss ${f(s.lossPct, 1)}% · jitter ${f(s.jitterMs)} ms · ` +
    `in ${f(s.bitrateInKbps)} kb/s · out ${f(s.bitrateOutKbps)} kb/s · ` +
    `frames ${s.framesDecoded}${s.frameWidth ? ` ${s.frameWidth}x${s.frameHeight}` : ''}` +
    `${s.framesPerSecond != null ? ` @${f(s.framesPerSecond)}fps` : ''}`;
  for (const fig of peer.figures) {
    fig.className = `tile remote ${conn}`;
    fig.querySelector('.label').textContent = tileLabel(peer, fig);
    fig.querySelector('.states').textContent = states;
    fig.querySelector('.stats').textContent = stats;
  }
}

// ---------------------------------------------------------------------------------------------
// Stats (once per second per peer)

function emptyStats() {
  return {
    rttMs: null, lossPct: null, jitterMs: null, bitrateInKbps: null, bitrateOutKbps: null,
    framesDecoded: 0, framesDropped: 0, framesPerSecond: null, frameWidth: null, frameHeight: null,
    videoBytesReceived: 0, videoPacketsReceived: 0, videoPacketsLost: 0,
    audioBytesReceived: 0, audioPacketsReceived: 0, audioPacketsLost: 0, audioSamplesReceived: 0,
    audioLevel: null, audioEnergy: 0, bytesSent: 0, videoFramesEncoded: 0, audioJitterMs: null, videoJitterMs: null,
    dtlsState: null, iceState: null, localCandidateType: null, remoteCandidateType: null,
    updatedAt: null,
  };
}

async function collectStats(peer) {
  if (peer.closed || peer.pc.connectionState === 'closed') return;
  const report = await peer.pc.getStats();
  const s = emptyStats();
  let transport = null;
  const byId = new Map();
  report.forEach((r) => byId.set(r.id, r));
  let rttFromRemote = null;
  let bytesIn = 0;
  report.forEach((r) => {
    switch (r.type) {
      case 'inbound-rtp':
        bytesIn += r.bytesReceived ?? 0;
        if (r.kind === 'video') {
          s.framesDecoded += r.framesDecoded ?? 0;
          s.framesDropped += r.framesDropped ?? 0;
          s.videoBytesReceived += r.bytesReceived ?? 0;
          s.videoPacketsReceived += r.packetsReceived ?? 0;
          s.videoPacketsLost += r.packetsLost ?? 0;
          if (r.framesPerSecond != null) s.framesPerSecond = r.framesPerSecond;
          if (r.frameWidth) { s.frameWidth = r.frameWidth; s.frameHeight = r.frameHeight; }
          if (r.jitter != null) s.videoJitterMs = r.jitter * 1000;
        } else if (r.kind === 'audio') {
          s.audioBytesReceived += r.bytesReceived ?? 0;
          s.audioPacketsReceived += r.packetsReceived ?? 0;
          s.audioPacketsLost += r.packetsLost ?? 0;
          s.audioSamplesReceived += r.totalSamplesReceived ?? 0;
          if (r.audioLevel != null) s.audioLevel = r.audioLevel;
          if (r.totalAudioEnergy != null) s.audioEnergy += r.totalAudioEnergy;
          if (r.jitter != null) s.audioJitterMs = r.jitter * 1000;
        }
        break;
      case 'outbound-rtp':
        s.bytesSent += r.bytesSent ?? 0;
        if (r.kind === 'video') s.videoFramesEncoded += r.framesEncoded ?? 0;
        break;
      case 'remote-inbound-rtp':
        if (r.roundTripTime != null) rttFromRemote = r.roundTripTime * 1000;
        break;
      case 'transport':
        transport ??= r;
        break;
      default:
        break;
    }
  });
  if (transport) {
    s.dtlsState = transport.dtlsState ?? null;
    s.iceState = transport.iceState ?? null;
    const pair = byId.get(transport.selectedCandidatePairId);
    if (pair) {
      if (pair.currentRoundTripTime != null) s.rttMs = pair.currentRoundTripTime * 1000;
      s.localCandidateType = byId.get(pair.localCandidateId)?.candidateType ?? null;
      s.remoteCandidateType = byId.get(pair.remoteCandidateId)?.candidateType ?? null;
    }
  }
  if (s.rttMs == null) s.rttMs = rttFromRemote;
  const jit = [s.audioJitterMs, s.videoJitterMs].filter((v) => v != null);
  s.jitterMs = jit.length ? Math.max(...jit) : null;
  const now = performance.now();
  const lost = s.audioPacketsLost + s.videoPacketsLost;
  const received = s.audioPacketsReceived + s.videoPacketsReceived;
  if (peer.prev) {
    const dt = (now - peer.prev.at) / 1000;
    if (dt > 0) {
      s.bitrateInKbps = Math.max(0, (bytesIn - peer.prev.bytesIn) * 8 / dt / 1000);
      s.bitrateOutKbps = Math.max(0, (s.bytesSent - peer.prev.bytesSent) * 8 / dt / 1000);
    }
    const dLost = Math.max(0, lost - peer.prev.lost);
    const dRecv = Math.max(0, received - peer.prev.received);
    s.lossPct = dLost + dRecv > 0 ? (100 * dLost) / (dLost + dRecv) : 0;
  }
  peer.prev = { at: now, bytesIn, bytesSent: s.bytesSent, lost, received };
  s.updatedAt = Date.now();
  peer.stats = s;
  renderPeer(peer);
}

setInterval(() => {
  const now = performance.now();
  for (const peer of [...state.peers.values()]) {
    collectStats(peer).catch((e) => log(`${peer.id}: getStats failed: ${e.message}`));
    syncMedia(peer);  // hides tracks muted for MUTE_HIDE_MS
    // A peer whose connection stays failed (ICE restart did not help) and that the server did not
    // report as gone (e.g. both sides lost signalling): drop it.
    if (peer.failedSince !== null && now - peer.failedSince > FAILED_PEER_DROP_MS) {
      removePeer(peer.id, 'failed');
    }
  }
}, STATS_INTERVAL_MS);

// ---------------------------------------------------------------------------------------------
// Leaving

async function leave() {
  wsMedia?.stop();
  if (sig.ws?.readyState === WebSocket.OPEN) await send('peer.disconnect', {});
  sig.close();
  for (const id of [...state.peers.keys()]) removePeer(id, 'left');
  for (const t of localStream?.getTracks() ?? []) t.stop();
  state.signalling.state = 'left';
  renderSession();
  $('leave').disabled = true;
}

addEventListener('pagehide', () => {
  sig.close();
  wsMedia?.stop();
});

// ---------------------------------------------------------------------------------------------
// Test hook

function peerSnapshot(p) {
  return {
    peerId: p.id,
    displayName: p.displayName,
    polite: p.polite,
    connectionState: p.pc.connectionState,
    iceConnectionState: p.pc.iceConnectionState,
    iceGatheringState: p.pc.iceGatheringState,
    signalingState: p.pc.signalingState,
    dtlsState: p.stats.dtlsState,
    dataChannelState: p.dc?.readyState ?? null,
    setupMs: p.connectedAt === null ? null : Math.round(p.connectedAt - p.created),
    eventsReceived: p.eventsReceived,
    offersSent: p.offersSent,
    offersReceived: p.offersReceived,
    collisions: p.collisions,
    lastEvent: p.lastEvent,
    hasTile: p.tile.isConnected,
    // Kinds of the remote tracks shown (a tile each) or played (an <audio> each).
    remoteTracks: [...p.remote.values()].filter((r) => p.shownTrackIds().includes(r.track.id)).map((r) => r.kind),
    // Every remote track of the connection: index (per kind), shown or not, muted.
    tracks: [...p.remote.values()].map((r) => ({
      kind: r.kind, index: r.index, id: r.track.id, mid: r.transceiver?.mid ?? null, streamId: r.streamId,
      shown: p.shownTrackIds().includes(r.track.id), muted: r.track.muted, removed: r.removed,
      direction: r.transceiver?.currentDirection ?? null,
    })),
    videoTiles: p.figures.filter((f) => f.dataset.trackId).length,
    audioPlaying: p.audioEls.size,
    stats: { ...p.stats },
  };
}

window.meshflow = {
  version: 1,
  get peerId() { return state.peerId; },
  get room() { return state.room; },
  get envelope() { return state.envelope; },
  get signalling() { return { ...state.signalling }; },
  get localMedia() { return { ...state.localMedia }; },
  get peers() {
    return Object.fromEntries([...state.peers.values()].map((p) => [p.id, peerSnapshot(p)]));
  },
  get transport() { return state.transport; },
  get userId() { return state.userId; },
  /// WebSocket transport stats (null while the page uses WebRTC): frames/bytes sent and received,
  /// lastRms/maxRms of the received audio, player jitter-buffer stats, connection state.
  get ws() { return wsMedia ? wsMedia.snapshot() : null; },
  /// Everything above as one JSON-serialisable object (what tests read).
  snapshot() {
    return {
      version: 1,
      peerId: state.peerId,
      room: state.room,
      displayName: state.displayName,
      envelope: state.envelope,
      heartbeatMs: state.heartbeatMs,
      iceServers: state.iceServers,
      signalling: { ...state.signalling },
      localMedia: { ...state.localMedia },
      peers: this.peers,
      tiles: [...document.querySelectorAll('#grid .tile.remote')].map((t) => t.dataset.peerId),
      departed: [...state.departed],
      transcripts: [...state.transcripts],
      errors: [...state.errors],
      userId: state.userId,
      transport: state.transport,
      transportReason: state.transportReason,
      sessionConfig: state.sessionConfig,
      fallbacks: state.fallbacks,
      ice: { ...state.ice },
      ws: this.ws,
    };
  },
  /// Start an ICE restart with one peer (a renegotiation: tests use it to exercise perfect
  /// negotiation when both sides do it at once). False if there is no such peer.
  restartIce(peerId) {
    const p = state.peers.get(peerId);
    if (!p) return false;
    p.pc.restartIce();
    return true;
  },
  /// Stop (`on` false) or resume sending our `kind` ('audio' | 'video') to one peer: the
  /// transceivers carrying our track go recvonly / back to sendrecv, a renegotiation follows (the
  /// other page removes / shows that track again; tests use it). False if there is no such peer.
  setSending(peerId, kind, on) {
    const p = state.peers.get(peerId);
    if (!p) return false;
    for (const t of p.pc.getTransceivers()) {
      if (t.receiver.track.kind !== kind || !t.sender.track || t.currentDirection === 'stopped') continue;
      t.direction = on ? 'sendrecv' : 'recvonly';
    }
    return true;
  },
  /// Diagnosis: one peer's transceivers (mid, directions, receiver track, what it decoded) and
  /// which of their tracks the peer's tile shows.
  async transceivers(peerId) {
    const p = state.peers.get(peerId);
    if (!p) return null;
    const shown = p.shownTrackIds();
    const sdp = (p.pc.remoteDescription?.sdp ?? '').split(/\r?\n/)
      .filter((l) => /^(m=|a=mid|a=ssrc|a=rtpmap|a=extmap|a=sendrecv|a=sendonly|a=recvonly|a=inactive)/.test(l));
    const all = [];
    (await p.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') all.push({ kind: s.kind, mid: s.mid, ssrc: s.ssrc, packets: s.packetsReceived, track: s.trackIdentifier });
    });
    const list = await Promise.all(p.pc.getTransceivers().map(async (t) => {
      const r = { mid: t.mid, direction: t.direction, current: t.currentDirection,
        kind: t.receiver.track.kind, track: t.receiver.track.id, muted: t.receiver.track.muted,
        shown: shown.includes(t.receiver.track.id) };
      const stats = await t.receiver.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        r.ssrc = s.ssrc;
        r.packets = s.packetsReceived;
        if (s.framesDecoded !== undefined) r.framesDecoded = s.framesDecoded;
      });
      return r;
    }));
    return { transceivers: list, inbound: all, remoteSdp: sdp };
  },
  /// In-page only (live objects, not JSON): the remote tracks of `peerId` the page shows or plays,
  /// in index order, each {kind, index, track, element (its <video> or <audio>), streamId}.
  /// `kind` ('audio' | 'video') filters. Tests measure pixels and sound through these.
  media(peerId, kind) {
    const p = state.peers.get(peerId);
    if (!p) return [];
    const out = [];
    for (const r of p.remote.values()) {
      if (kind && r.kind !== kind) continue;
      const element = r.kind === 'audio' ? p.audioEls.get(r.track.id)
        : p.figures.find((f) => f.dataset.trackId === r.track.id)?.querySelector('video');
      if (element) out.push({ kind: r.kind, index: r.index, track: r.track, element, streamId: r.streamId });
    }
    return out.sort((a, b) => (a.kind === b.kind ? a.index - b.index : a.kind < b.kind ? -1 : 1));
  },
  /// Send a JSON event on the data channel to one peer (true if sent).
  send(peerId, event) { return state.peers.get(peerId)?.sendEvent(event) ?? false; },
  /// Send a JSON event to every peer; returns how many got it.
  broadcast(event) { return [...state.peers.values()].filter((p) => p.sendEvent(event)).length; },
  leave,
  log: state.log,
};

// ---------------------------------------------------------------------------------------------
// Start

// ---------------------------------------------------------------------------------------------
// Transport: WebRTC (signalling + mesh above) or WebSocket media (ws-media.js)

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

async function fetchSessionConfig() {
  const url = `/session-config?room=${encodeURIComponent(params.room)}&user=${encodeURIComponent(state.userId)}`;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const res = await fetch(url, { signal: ctl.signal, cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const cfg = normaliseConfig(await res.json(), params.room, state.userId);
    if (cfg.error) log(`session-config: ${cfg.error}; using the defaults`);
    return cfg;
  } catch (e) {
    log(`session-config: ${url} failed (${e.message}); using the defaults`);
    return defaultConfig(params.room, state.userId);
  } finally {
    clearTimeout(timer);
  }
}

/// Tell the launcher we use WebSocket although it offered WebRTC (counted in its metrics as
/// meshflow_transport_fallbacks_total{reason}); best effort.
function reportFallback(reason) {
  const url = `/session-config?room=${encodeURIComponent(params.room)}&user=${encodeURIComponent(state.userId)}` +
              `&fallback=${reason}`;
  fetch(url, { method: 'POST' }).catch((e) => log(`session-config: fallback report failed (${e.message})`));
}

function setTransport(transport, reason) {
  state.transport = transport;
  state.transportReason = reason;
  log(`transport: ${transport} (${reason})`);
  renderSession();
}

function renderWs() {
  const panel = $('ws-panel');
  if (!panel || !wsMedia) return;
  panel.hidden = false;
  const s = wsMedia.stats;
  const f = (v, d = 0) => (v == null ? '-' : Number(v).toFixed(d));
  panel.querySelector('.states').textContent =
    `ws ${s.state}${s.peerId ? ` · ${s.peerId}` : ''}${s.state === 'reconnecting' ? ` (retry in ${f(s.nextRetryMs / 1000, 1)} s)` : ''}` +
    ` · audio ${s.audioContextState ?? '-'}${s.lastError ? ` · ${s.lastError}` : ''}`;
  panel.querySelector('.stats').textContent =
    `sent ${s.framesSent} frames / ${f(s.bytesSent / 1024)} KiB · received ${s.framesReceived} frames / ` +
    `${f(s.bytesReceived / 1024)} KiB · lost ${s.framesLost} · level ${f(s.lastRms, 3)} (max ${f(s.maxRms, 3)}) · ` +
    `buffer ${f(s.player.bufferedMs)} ms · underruns ${s.player.underruns} · rtt ${f(s.rttMs, 1)} ms`;
  if (wsMedia.audioSuspended && !audioBlocked) {
    audioBlocked = true;
    $('enable-audio').hidden = false;
    notice('The browser blocked sound until you interact with the page: click "Enable audio".');
  }
}

async function startWebSocket() {
  if (wsMedia) return;
  const q = new URLSearchParams({ room: params.room, user: state.userId });
  if (params.token) q.set('token', params.token);
  wsMedia = new WsMedia({
    url: `${params.wsUrl}?${q}`,
    stream: localStream,
    log,
    onChange: () => {
      if (wsMedia?.stats.peerId) state.peerId = wsMedia.stats.peerId;
      renderSession();
      renderWs();
    },
    onTranscript: (t) => showTranscript(t.speaker || 'session', t),
  });
  setInterval(renderWs, STATS_INTERVAL_MS);
  state.signalling.state = 'unused';
  renderSession();
  await wsMedia.start();
}

/// Give up on WebRTC (ICE did not connect in time): leave the mesh, then use WebSocket.
async function fallBackToWebSocket(why) {
  if (state.transport !== 'webrtc') return;
  state.fallbacks++;
  setTransport('websocket', why);
  reportFallback('ice_timeout');
  notice(`WebRTC did not connect (${why}); using the WebSocket fallback.`);
  if (sig.ws?.readyState === WebSocket.OPEN) await send('peer.disconnect', {});
  sig.close();
  for (const id of [...state.peers.keys()]) removePeer(id, 'fallback');
  state.peerId = null;
  await startWebSocket();
}

async function start() {
  state.userId = stableUserId(params.user, storage());
  renderSession();
  const [cfg] = await Promise.all([fetchSessionConfig(), openLocalMedia()]);
  $('local-tile').querySelector('.media-note').textContent =
    [state.localMedia.video ? 'camera' : 'no camera', state.localMedia.audio ? 'mic' : 'no mic'].join(' · ');
  state.sessionConfig = cfg;
  const hasRtc = typeof window.RTCPeerConnection === 'function';
  const d = decideTransport(cfg, { hasRtc, override: params.transport });
  state.canFallBack = d.canFallBack;
  setTransport(d.transport, d.reason);
  if (d.transport === 'websocket') {
    if (d.fallback) reportFallback(d.fallback);
    await startWebSocket();
    return;
  }
  if (d.transport === 'none') {
    notice(`Cannot send or receive media: ${d.reason}.`);
    state.signalling.state = 'closed';
    renderSession();
    return;
  }
  sig.connect();
  if (!d.canFallBack) return;
  const watchdog = setInterval(() => {
    if (state.transport !== 'webrtc' || state.ice.connected) {
      clearInterval(watchdog);
      return;
    }
    if (iceTimedOut({ ...state.ice, now: performance.now(), timeoutMs: cfg.ice_timeout_ms })) {
      clearInterval(watchdog);
      fallBackToWebSocket(`ICE not connected within ${cfg.ice_timeout_ms} ms`);
    }
  }, 250);
}

renderSession();
await start();
