// Browser test 4: WebRTC and WebSocket participants in one room (manifests/ws-webrtc-room.yaml).
//
// - alice: a normal page; WebRTC to the launcher's peer (webrtc_source / webrtc_sink).
// - bob:   WebRTC disabled in the page (RTCPeerConnection and friends deleted before the client
//          runs): the client falls back to the WebSocket transport (/ws, PCM16 frames).
// - carol (--ice-fallback): RTCPeerConnection exists but can never connect (every connection is
//          forced to iceTransportPolicy "relay" with no TURN server): after ice_timeout_ms the client
//          tears the WebRTC attempt down and switches to WebSocket.
//
// Checks (levels and counts, never times): bob's received WebSocket audio is non-silent (RMS of
// Chromium's fake-microphone beep from alice, through webrtc_source -> websocket_sink); alice's
// received WebRTC audio from the launcher gains energy once bob sends (bob's beep through
// websocket_source -> jitter_sync -> webrtc_sink) - and not before; the launcher's /metrics count
// the transport decisions.
//
// --reverse adds the check that alice hears bob; --ice-fallback adds carol.
//
//   node tests/browser/ws-fallback.mjs --launcher http://127.0.0.1:PORT [--room mixed] [--ice-fallback] [--reverse]
import {
  clientBase, fail, log, main, mediaFlowing, openClient, parseArgs, sleep, snapshot, summary, waitFor,
} from './lib.mjs';

const args = parseArgs();
if (!args.launcher) {
  process.stderr.write('usage: ws-fallback.mjs --launcher http://HOST:PORT [--room NAME] [--ice-fallback] [--reverse]\n');
  process.exit(2);
}
const room = args.room || 'mixed';
const RMS_THRESHOLD = 0.01;   // -40 dBFS: the fake microphone's beep is about 0.4; silence is ~0
const ENERGY_THRESHOLD = 0.01; // totalAudioEnergy gained while bob's beeps arrive (silence adds ~0)

function disableWebRtc() {
  for (const name of ['RTCPeerConnection', 'webkitRTCPeerConnection', 'RTCSessionDescription',
    'RTCIceCandidate', 'RTCDataChannel', 'RTCRtpSender', 'RTCRtpReceiver', 'RTCRtpTransceiver']) {
    delete window[name];
  }
}

function breakIce() {
  const Orig = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Orig {
    constructor(cfg = {}) {
      super({ ...cfg, iceServers: [], iceTransportPolicy: 'relay' });
    }
  };
}

async function openWsClient(browser, client, { name, init }) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  await page.addInitScript(init);
  page.on('console', (m) => {
    if (process.env.MESHFLOW_BROWSER_VERBOSE || m.type() === 'error') log(`[${name} ${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => log(`[${name} pageerror] ${e.message}`));
  const url = `${client.base}/client?room=${encodeURIComponent(room)}&name=${name}&user=${name}&video=0${client.extra}`;
  log(`${name}: open ${url}`);
  const res = await page.goto(url);
  if (!res || res.status() !== 200) fail(`${name}: GET ${url} -> ${res ? res.status() : 'no response'}`);
  return { name, context, page, url };
}

const wsSummary = (s) => s && s.ws && {
  transport: s.transport, reason: s.transportReason, state: s.ws.state, peerId: s.ws.peerId,
  sent: s.ws.framesSent, received: s.ws.framesReceived, lost: s.ws.framesLost, lastRms: s.ws.lastRms,
  maxRms: s.ws.maxRms, nonSilent: s.ws.nonSilentFrames, player: s.ws.player, rttMs: s.ws.rttMs, errors: s.ws.errors,
  lastClose: s.ws.lastClose, lastError: s.ws.lastError,
};

// Audio energy the page plays of peer `id`'s track, from a Web Audio AnalyserNode on its audio
// track (headless Chromium has no audio output device: getStats() audioLevel / totalAudioEnergy
// stay 0 whatever arrives). Every 50 ms: RMS of the last 2048 samples, summed as RMS^2 x 50 ms.
async function audioEnergy(p, id) {
  return (p.page ?? p).evaluate((peer) => {
    window.__meters ??= {};
    let m = window.__meters[peer];
    if (!m) {
      // The peer's audio track the page plays (an <audio> per remote audio track: window.meshflow.media).
      const tracks = window.meshflow.media(peer, 'audio').map((m) => m.track);
      if (!tracks.length) return 0;
      const stream = new MediaStream(tracks);
      const ctx = new AudioContext();
      const an = ctx.createAnalyser();
      an.fftSize = 2048;
      ctx.createMediaStreamSource(stream).connect(an);
      const mute = ctx.createGain();
      mute.gain.value = 0;
      an.connect(mute).connect(ctx.destination);  // keep the graph pulled
      const buf = new Float32Array(an.fftSize);
      m = window.__meters[peer] = { energy: 0 };
      setInterval(() => {
        an.getFloatTimeDomainData(buf);
        let e = 0;
        for (const x of buf) e += x * x;
        m.energy += (e / buf.length) * 0.05;
      }, 50);
    }
    return m.energy;
  }, id);
}

async function energyGain(p, id, ms) {
  const a = await audioEnergy(p, id);
  await sleep(ms);
  return (await audioEnergy(p, id)) - a;
}

async function metrics() {
  const res = await fetch(`${args.launcher}/metrics`);
  if (res.status !== 200) fail(`GET /metrics -> ${res.status}`);
  return (await res.text()).split('\n').filter((l) => l && !l.startsWith('#'));
}

await main('ws-fallback', async (ctx) => {
  const browser = await ctx.browser();
  const client = await clientBase(args.launcher);

  // alice: WebRTC with the launcher's peer (the launcher announced when it started).
  const alice = await openClient(browser, client, { room, name: 'alice', query: '&user=alice&video=0' });
  const sa = await snapshot(alice);
  if (sa.transport !== 'webrtc') fail(`alice uses ${sa.transport} (${sa.transportReason}), not webrtc`);
  const s0 = await waitFor(alice, (s) => Object.keys(s.peers).length > 0, 'the launcher peer', 20000);
  const launcherId = Object.keys(s0.peers)[0];
  await waitFor(alice, mediaFlowing(launcherId, { video: false, audio: false }), `connected to ${launcherId}`, 45000);
  // Nobody on WebSocket yet: what alice gets from the launcher carries (next to) no energy.
  const before = await energyGain(alice, launcherId, 3000);
  log(`alice: audio energy from ${launcherId} before any WebSocket peer: +${before.toFixed(5)} in 3 s`);

  // bob: no WebRTC in the page -> WebSocket.
  const bob = await openWsClient(browser, client, { name: 'bob', init: disableWebRtc });
  const sb = await waitFor(bob, (s) => s.transport === 'websocket' && s.ws?.state === 'connected', 'the WebSocket transport', 20000);
  log(`bob: ${JSON.stringify(wsSummary(sb))}`);
  if (!/RTCPeerConnection is missing/.test(sb.transportReason)) fail(`bob's transport reason: ${sb.transportReason}`);
  if (Object.keys(sb.peers).length !== 0) fail('bob has WebRTC peers');

  // bob hears alice: non-silent PCM16 frames on /ws.
  const hb = await waitFor(bob, (s) => s.ws.framesReceived > 50 && s.ws.maxRms > RMS_THRESHOLD && s.ws.nonSilentFrames > 5 &&
    s.ws.framesSent > 50,
    `non-silent audio on /ws (RMS > ${RMS_THRESHOLD})`, 30000).catch((e) => e);
  if (hb instanceof Error) {
    fail(`${hb.message}\nbob ws: ${JSON.stringify(wsSummary(await snapshot(bob)))}\nlauncher metrics:\n` +
         (await metrics()).filter((l) => /ws|websocket|jitter/.test(l)).join('\n'));
  }
  log(`bob hears alice: ${JSON.stringify(wsSummary(hb))}`);

  const result = { alice: { before }, bob: wsSummary(hb) };
  // alice hears bob: the launcher's audio to alice gains energy now that bob's beeps arrive.
  let after = 0;
  if (args.reverse) {
    for (let i = 0; i < 10 && after <= ENERGY_THRESHOLD; i++) after = await energyGain(alice, launcherId, 2000);
    log(`alice: audio energy from ${launcherId} with bob sending: +${after.toFixed(5)} in 2 s`);
    if (!(after > ENERGY_THRESHOLD)) {
      fail(`alice does not hear bob: audio energy from ${launcherId} grew ${after} in 2 s (want > ${ENERGY_THRESHOLD})\n` +
           `alice: ${JSON.stringify(summary(await snapshot(alice)).peers)}`);
    }
    if (!(after > 2 * before)) fail(`alice's energy did not rise with bob (before ${before}, after ${after})`);
    result.alice.after = after;
  }

  if (args['ice-fallback']) {
    // carol: WebRTC exists but ICE can never connect -> falls back after ice_timeout_ms.
    const carol = await openWsClient(browser, client, { name: 'carol', init: breakIce });
    const sc = await waitFor(carol, (s) => s.transport === 'websocket' && s.ws?.state === 'connected',
      'the fallback to WebSocket after the ICE timeout', 60000);
    log(`carol: ${sc.transportReason}; fallbacks ${sc.fallbacks}`);
    if (!/ICE not connected within \d+ ms/.test(sc.transportReason) || sc.fallbacks !== 1) {
      fail(`carol's fallback: ${sc.transportReason} (fallbacks ${sc.fallbacks})`);
    }
    if (Object.keys(sc.peers).length !== 0) fail(`carol kept WebRTC peers: ${Object.keys(sc.peers)}`);
    if (sc.signalling.state === 'announced') fail('carol is still announced on /rpc');
    const hc = await waitFor(carol, (s) => s.ws.maxRms > RMS_THRESHOLD && s.ws.framesSent > 50,
      'non-silent audio on /ws after the fallback', 30000);
    log(`carol hears alice: ${JSON.stringify(wsSummary(hc))}`);
    result.carol = wsSummary(hc);
  }

  // The launcher counted the transport decisions (/session-config) and its peers per transport.
  const m = await metrics();
  const decisions = m.filter((l) => l.startsWith('meshflow_session_config_total'));
  log(`launcher: ${decisions.join('; ')}`);
  if (!decisions.some((l) => /transport="webrtc"/.test(l))) fail(`no webrtc decision in /metrics: ${decisions}`);
  // Peers by transport: WebSocket connections (bob, carol) and announced WebRTC peers (the
  // launcher's own peer and alice; carol left /rpc when she fell back).
  const peers = m.filter((l) => /^meshflow_(ws_connections|signalling_peers) /.test(l));
  log(`launcher peers: ${peers.join('; ')}`);
  const gauge = (name) => Number((peers.find((l) => l.startsWith(`${name} `)) || ' NaN').split(' ')[1]);
  const wsPeers = args['ice-fallback'] ? 2 : 1;
  if (gauge('meshflow_ws_connections') !== wsPeers) fail(`meshflow_ws_connections is not ${wsPeers}: ${peers}`);
  if (gauge('meshflow_signalling_peers') !== 2) fail(`meshflow_signalling_peers is not 2: ${peers}`);
  // And the fallbacks the pages reported, by reason.
  const fallbacks = m.filter((l) => l.startsWith('meshflow_transport_fallbacks_total'));
  log(`launcher fallbacks: ${fallbacks.join('; ')}`);
  if (!fallbacks.includes('meshflow_transport_fallbacks_total{reason="no_webrtc"} 1')) fail(`no_webrtc fallback not counted: ${fallbacks}`);
  if (args['ice-fallback'] && !fallbacks.includes('meshflow_transport_fallbacks_total{reason="ice_timeout"} 1')) {
    fail(`ice_timeout fallback not counted: ${fallbacks}`);
  }
  result.metrics = [...decisions, ...peers, ...fallbacks];
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
});
