// Browser test: a page talks to a voice agent (manifests/voice-agent.yaml: webrtc_source.audio ->
// llm_bridge -> webrtc_sink, route origin) and interrupts it.
//
// The page's microphone is Chromium's fake capture device playing a WAV file this script writes
// (--use-file-for-fake-audio-capture; Chromium loops it): SPEECH_MS of a loud voiced, speech-like
// signal (a 200 Hz harmonic series with vibrato and a syllable envelope), then GAP_MS of silence,
// over and over. The launcher runs the bridge with a reply longer than the gap (e.g. --set
// agent.mock-reply-ms=3000), so every reply is interrupted by the next burst of speech: barge-in.
//
// Checks (levels and counts, never elapsed times):
//  (a) the agent answered and the page hears it: the page plays the agent's audio track (a Web Audio
//      AnalyserNode on it) with energy in some 250 ms windows and near-silence in
//      others (replies between silences, not a constant signal), and the launcher's /metrics count
//      at least one meshflow_llm_first_audio_seconds observation;
//  (b) barge-in: meshflow_llm_interruption_seconds counts at least --min-interruptions;
//  (d) transcripts over the data channel: at least --min-replies final transcripts from the agent
//      peer, and at least one of the assistant (partial or final: interrupted replies end early);
//  (c) with --mock-server URL (openai_realtime against tests/fixtures/mock_realtime): the server's
//      GET /log holds the client's response.cancel and conversation.item.truncate.
//
//   node tests/browser/voice_agent.mjs --launcher http://127.0.0.1:PORT [--room agent]
//        [--min-replies 2] [--min-interruptions 1] [--mock-server http://127.0.0.1:PORT2]
//        [--speech-ms 1500] [--gap-ms 2000] [--watch-ms 60000] [--no-llm (only measure the audio, 10 s)]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  CHROMIUM_ARGS, clientBase, fail, log, main, openClient, parseArgs, sleep, snapshot, summary, waitFor,
} from './lib.mjs';

const args = parseArgs();
if (!args.launcher) {
  process.stderr.write('usage: voice_agent.mjs --launcher http://HOST:PORT [--room NAME] ' +
                       '[--min-replies N] [--min-interruptions N] [--mock-server URL]\n');
  process.exit(2);
}
const room = args.room || 'agent';
const minReplies = Number(args['min-replies'] ?? 2);
const minInterruptions = Number(args['min-interruptions'] ?? 1);
const SPEECH_MS = Number(args['speech-ms'] ?? 1500);
const GAP_MS = Number(args['gap-ms'] ?? 2000);
const RATE = 48000;
// A 250 ms window is loud above an RMS of 0.02 (-34 dBFS), quiet below 0.002 (-54 dBFS).
const LOUD = 0.02 ** 2 * 0.25;
const QUIET = 0.002 ** 2 * 0.25;

/// One period of the fake microphone: speech then silence, mono S16LE, as a WAV file.
function writeSpeechWav(file) {
  const speech = Math.round((RATE * SPEECH_MS) / 1000);
  const total = speech + Math.round((RATE * GAP_MS) / 1000);
  const pcm = Buffer.alloc(total * 2);
  let phase = 0;
  for (let i = 0; i < speech; i++) {
    const t = i / RATE;
    // 200 Hz fundamental with a slow 5 Hz vibrato (voiced speech is never a steady tone) ...
    const f0 = 200 * (1 + 0.03 * Math.sin(2 * Math.PI * 5 * t));
    phase += (2 * Math.PI * f0) / RATE;
    let v = 0;
    for (let h = 1; h <= 12; h++) v += Math.sin(h * phase) / h;  // harmonic-rich (sawtooth-like)
    // ... a syllable envelope (4 Hz, never below 60 %) and 10 ms fades at both ends.
    const env = (0.8 + 0.2 * Math.sin(2 * Math.PI * 4 * t)) * Math.min(1, t / 0.01, (speech - i) / RATE / 0.01);
    pcm.writeInt16LE(Math.round(Math.max(-1, Math.min(1, 0.35 * v * env)) * 32767), i * 2);
  }
  const hdr = Buffer.alloc(44);
  hdr.write('RIFF', 0);
  hdr.writeUInt32LE(36 + pcm.length, 4);
  hdr.write('WAVE', 8);
  hdr.write('fmt ', 12);
  hdr.writeUInt32LE(16, 16);
  hdr.writeUInt16LE(1, 20);        // PCM
  hdr.writeUInt16LE(1, 22);        // mono
  hdr.writeUInt32LE(RATE, 24);
  hdr.writeUInt32LE(RATE * 2, 28);
  hdr.writeUInt16LE(2, 32);
  hdr.writeUInt16LE(16, 34);
  hdr.write('data', 36);
  hdr.writeUInt32LE(pcm.length, 40);
  writeFileSync(file, Buffer.concat([hdr, pcm]));
  // RMS of the speech part in S16 units (the mock VAD's threshold is 800 by default).
  let sum = 0;
  for (let i = 0; i < speech; i++) sum += pcm.readInt16LE(i * 2) ** 2;
  return Math.sqrt(sum / speech);
}

// Prometheus text -> [{name, labels, value, line}]
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]), line });
  }
  return out;
}

async function llmMetrics() {
  const res = await fetch(`${args.launcher}/metrics`);
  if (res.status !== 200) fail(`GET ${args.launcher}/metrics -> ${res.status}`);
  const all = parseMetrics(await res.text());
  const sum = (name) => all.filter((m) => m.name === name).reduce((a, m) => a + m.value, 0);
  return {
    firstAudio: sum('meshflow_llm_first_audio_seconds_count'),
    firstAudioSum: sum('meshflow_llm_first_audio_seconds_sum'),
    interruptions: sum('meshflow_llm_interruption_seconds_count'),
    interruptionSum: sum('meshflow_llm_interruption_seconds_sum'),
    reconnects: sum('meshflow_llm_reconnects_total'),
    errors: sum('meshflow_llm_errors_total'),
    lines: all.filter((m) => m.name.startsWith('meshflow_llm_')).map((m) => m.line),
  };
}

await main('voice-agent', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mf-voice-'));
  const wav = path.join(dir, 'speech.wav');
  const rms = writeSpeechWav(wav);
  log(`fake microphone: ${wav} (${SPEECH_MS} ms speech at RMS ${rms.toFixed(0)}, ${GAP_MS} ms silence, looped)`);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.MESHFLOW_CHROMIUM || '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, `--use-file-for-fake-audio-capture=${wav}`],
    headless: true,
  });
  try {
    await run(browser);
  } finally {
    await browser.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

async function run(browser) {
  const client = await clientBase(args.launcher);
  const user = await openClient(browser, client, { room, name: 'user', query: '&video=0' });
  const s0 = await waitFor(user, (s) => Object.keys(s.peers).length > 0, 'the launcher (agent) peer', 20000);
  const agentId = Object.keys(s0.peers)[0];
  log(`agent peer: ${agentId}`);
  await waitFor(user, (s) => {
    const p = s.peers[agentId];
    return s.localMedia.audio && p && p.connectionState === 'connected' && p.stats.audioBytesReceived > 0;
  }, `a connection to ${agentId} with audio arriving`, 45000);
  const m0 = await llmMetrics();
  log(`metrics at start: ${JSON.stringify({ ...m0, lines: undefined })}`);

  // Measure what the page plays of the agent's track: a Web Audio AnalyserNode on the agent's
  // audio track (headless Chromium has no audio output device, so the inbound-rtp audioLevel /
  // totalAudioEnergy of getStats() stay 0 whatever arrives). Every 50 ms: RMS of the last 2048
  // samples, accumulated as energy (sum of RMS^2 x 50 ms).
  const meterState = await user.page.evaluate((id) => {
    // The agent's audio track the page plays (an <audio> per remote audio track: window.meshflow.media).
    const tracks = window.meshflow.media(id, 'audio').map((m) => m.track);
    if (!tracks.length) return 'no audio track played';
    const stream = new MediaStream(tracks);
    const ctx = new AudioContext();
    const an = ctx.createAnalyser();
    an.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(an);
    const mute = ctx.createGain();
    mute.gain.value = 0;
    an.connect(mute).connect(ctx.destination);  // keep the graph pulled
    const buf = new Float32Array(an.fftSize);
    const m = { ticks: 0, energy: 0, rms: 0, maxRms: 0, state: ctx.state };
    window.__voiceAgentMeter = m;
    setInterval(() => {
      an.getFloatTimeDomainData(buf);
      let e = 0;
      for (const x of buf) e += x * x;
      m.rms = Math.sqrt(e / buf.length);
      m.maxRms = Math.max(m.maxRms, m.rms);
      m.energy += m.rms * m.rms * 0.05;
      m.ticks++;
      m.state = ctx.state;
    }, 50);
    return ctx.state;
  }, agentId);
  log(`audio meter on the agent's track: ${meterState}`);
  if (meterState === 'no audio track played') fail(`the page has no audio track from ${agentId}`);
  const meter = () => user.page.evaluate(() => ({ ...window.__voiceAgentMeter }));

  // Every 250 ms: the energy the page played since the last look (one window), and the launcher's
  // metrics.
  const windows = [];          // {dEnergy, rms}
  let prev = await meter();
  let m = m0;
  const deadline = Date.now() + Number(args['watch-ms'] ?? 60000);
  // A reply heard = a run of loud windows after a quiet one (so replies after a barge-in count).
  const replies = () => windows.filter((w, i) => w.dEnergy > LOUD && i > 0 &&
                                        windows.slice(0, i).reverse().find((x) => x.dEnergy > LOUD || x.dEnergy < QUIET)
                                          ?.dEnergy < QUIET).length;
  const done = () => {
    if (args['no-llm']) return windows.length >= 40;
    return replies() >= minReplies && m.firstAudio - m0.firstAudio >= minReplies &&
      m.interruptions - m0.interruptions >= minInterruptions;
  };
  while (!done() && Date.now() < deadline) {
    await sleep(250);
    const cur = await meter();
    if (!(await snapshot(user)).peers[agentId]) fail(`the agent peer ${agentId} is gone`);
    windows.push({ dEnergy: cur.energy - prev.energy, rms: cur.rms });
    prev = cur;
    m = await llmMetrics();
  }
  log(`meter: ${JSON.stringify(prev)}`);
  const energies = windows.map((w) => w.dEnergy);
  const maxE = Math.max(0, ...energies);
  const maxLevel = Math.max(0, ...windows.map((w) => w.rms));
  const loud = windows.filter((w) => w.dEnergy > LOUD).length;
  const quiet = windows.filter((w) => w.dEnergy < QUIET).length;
  const heard = replies();
  const s = await snapshot(user);
  const result = {
    repliesHeard: heard, windows: windows.length, loudWindows: loud, quietWindows: quiet, maxWindowEnergy: maxE, maxRms: maxLevel,
    energyPerWindow: energies.map((e) => Number(e.toPrecision(2))),
    firstAudioCount: m.firstAudio - m0.firstAudio,
    firstAudioMeanMs: m.firstAudio > 0 ? (1000 * m.firstAudioSum) / m.firstAudio : null,
    interruptionCount: m.interruptions - m0.interruptions,
    interruptionMeanMs: m.interruptions > 0 ? (1000 * m.interruptionSum) / m.interruptions : null,
    reconnects: m.reconnects, errors: m.errors,
    transcripts: s.transcripts.filter((t) => t.isFinal).map((t) => `${t.speaker}: ${t.text}`).slice(-6),
  };
  log(`result: ${JSON.stringify(result)}`);
  log(`launcher llm metrics:\n${m.lines.join('\n')}`);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  if (heard < minReplies) {
    fail(`the page heard ${heard} replies (runs of 250 ms windows with energy > ${LOUD} after one ` +
         `< ${QUIET}; want >= ${minReplies}); energy per window: ${JSON.stringify(result.energyPerWindow)}`);
  }
  if (result.firstAudioCount < minReplies) {
    fail(`meshflow_llm_first_audio_seconds counted ${result.firstAudioCount} replies (want >= ${minReplies})`);
  }
  if (result.interruptionCount < minInterruptions) {
    fail(`meshflow_llm_interruption_seconds counted ${result.interruptionCount} barge-ins ` +
         `(want >= ${minInterruptions})`);
  }
  // Interrupted replies are cancelled before their final transcript: finals may all be the user's.
  const fromAgent = s.transcripts.filter((t) => t.from === agentId);
  const finals = fromAgent.filter((t) => t.isFinal).length;
  const assistant = fromAgent.filter((t) => t.speaker === 'assistant').length;
  if (!args['no-llm'] && (finals < minReplies || assistant < 1)) {
    fail(`over the data channel the page got ${finals} final transcripts (want >= ${minReplies}) and ` +
         `${assistant} assistant transcripts (want >= 1) from ${agentId}; last: ${JSON.stringify(s.transcripts.slice(-10))}`);
  }
  if (m.errors > 0) fail(`the bridge reported ${m.errors} service errors:\n${m.lines.join('\n')}`);

  if (args['mock-server']) {
    const res = await fetch(`${args['mock-server']}/log`);
    if (res.status !== 200) fail(`GET ${args['mock-server']}/log -> ${res.status}`);
    const logged = await res.json();
    const events = logged.events || [];
    const count = (type) => events.filter((e) => e.type === type).length;
    const truncates = events.filter((e) => e.type === 'conversation.item.truncate');
    const seen = {
      handshakes: logged.handshakes, speech_started: count('input_audio_buffer.speech_started'),
      responses: count('response.created'), cancel: count('response.cancel'), truncate: truncates.length,
      audio_end_ms: truncates.map((e) => e.audio_end_ms),
    };
    log(`mock server log: ${JSON.stringify(seen)}`);
    process.stdout.write(`SERVER ${JSON.stringify(seen)}\n`);
    if (seen.cancel < minInterruptions || seen.truncate < minInterruptions) {
      fail(`the mock server did not receive response.cancel + conversation.item.truncate for the barge-in: ` +
           JSON.stringify(seen));
    }
    // The reply had been playing when the user barged in: it is truncated after some audio.
    if (!truncates.some((e) => e.audio_end_ms > 0)) fail(`no truncate with audio_end_ms > 0: ${JSON.stringify(seen)}`);
  }
}
