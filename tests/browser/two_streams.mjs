// Browser test: one peer sends several streams of one kind. The launcher (tests/browser/manifests/
// two-streams.yaml) broadcasts a red and a blue test picture and a 440 Hz and a 1500 Hz tone on one
// webrtc_sink, each on its own transceiver. The page must show a decoding tile per video stream and
// play every audio stream (it once kept only the newest track of each kind per peer).
//
//   node tests/browser/two_streams.mjs --launcher http://127.0.0.1:PORT [--room NAME]
//
// Checks (levels and counts, no timings):
// - alice shows two tiles for the launcher peer, both decoding (videoWidth > 0, per-transceiver
//   framesDecoded growing); their pictures differ: the canvas mean colour of one is red, of the
//   other blue (each tile shows its own track, not the same one twice).
// - alice plays two audio tracks of the launcher: an AnalyserNode on each (headless Chromium's
//   getStats audio energy stays 0) has RMS > 0.02 and a spectral peak at 440 Hz on one, 1500 Hz on the
//   other.
// - bob joins (one more tile on alice's page: his fake camera); he stops sending video to alice (his
//   transceiver goes recvonly in a renegotiation): that tile goes, his audio keeps playing; he sends
//   again: the tile is back and decoding. He leaves: his tile disappears, the launcher's two tiles
//   and two audio tracks stay and keep decoding.
import {
  clientBase, fail, log, main, mediaFlowing, openClient, parseArgs, sleep, snapshot, summary, waitFor,
} from './lib.mjs';

const args = parseArgs();
if (!args.launcher) {
  process.stderr.write('usage: two_streams.mjs --launcher http://HOST:PORT [--room NAME]\n');
  process.exit(2);
}
const room = args.room || 'streams';

// In the page: the tiles of peer `id` (DOM), each with its track index, decoded size and mean colour
// over a 64x48 canvas averaged over a few frames.
async function tiles(p, id) {
  return p.page.evaluate(async (id) => {
    const figs = [...document.querySelectorAll('#grid .tile.remote')].filter((t) => t.dataset.peerId === id);
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 48;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    const out = [];
    for (const fig of figs) {
      const v = fig.querySelector('video');
      const t = { index: fig.dataset.trackIndex ?? null, label: fig.querySelector('.label')?.textContent,
        track: v?.srcObject?.getVideoTracks()[0]?.id ?? null, size: v ? `${v.videoWidth}x${v.videoHeight}` : null,
        paused: v?.paused, rgb: null };
      if (v && v.videoWidth) {
        const rgb = [0, 0, 0];
        for (let n = 0; n < 3; n++) {
          g.drawImage(v, 0, 0, 64, 48);
          const d = g.getImageData(0, 0, 64, 48).data;
          for (let i = 0; i < d.length; i += 4) for (let c = 0; c < 3; c++) rgb[c] += d[i + c] / (d.length / 4) / 3;
          await new Promise((r) => setTimeout(r, 100));
        }
        t.rgb = rgb.map((x) => Math.round(x));
      }
      out.push(t);
    }
    return out;
  }, id);
}

// In the page: an AnalyserNode on every audio track the page plays for `id` (window.meshflow.media):
// max RMS and the spectral peak (Hz) over `ms`.
async function audioTracks(p, id, ms = 3000) {
  return p.page.evaluate(async ({ id, ms }) => {
    if (typeof window.meshflow.media !== 'function') return { error: 'window.meshflow.media() missing' };
    const list = window.meshflow.media(id, 'audio');
    const ctx = new AudioContext();
    await ctx.resume().catch(() => {});
    const meters = list.map((m) => {
      const an = ctx.createAnalyser();
      an.fftSize = 4096;
      an.smoothingTimeConstant = 0;
      ctx.createMediaStreamSource(new MediaStream([m.track])).connect(an);
      const mute = ctx.createGain();
      mute.gain.value = 0;
      an.connect(mute).connect(ctx.destination);  // keep the graph pulled
      return { m, an, maxRms: 0, spectrum: new Float32Array(an.frequencyBinCount).fill(-Infinity) };
    });
    const buf = new Float32Array(4096), spec = new Float32Array(2048);
    for (let t = 0; t < ms; t += 50) {
      await new Promise((r) => setTimeout(r, 50));
      for (const x of meters) {
        x.an.getFloatTimeDomainData(buf);
        let e = 0;
        for (const s of buf) e += s * s;
        x.maxRms = Math.max(x.maxRms, Math.sqrt(e / buf.length));
        x.an.getFloatFrequencyData(spec);
        for (let i = 0; i < spec.length; i++) x.spectrum[i] = Math.max(x.spectrum[i], spec[i]);
      }
    }
    const res = meters.map((x) => {
      let peak = 1;
      for (let i = 2; i < x.spectrum.length; i++) if (x.spectrum[i] > x.spectrum[peak]) peak = i;
      return { index: x.m.index, track: x.m.track.id, element: x.m.element?.tagName, paused: x.m.element?.paused,
        maxRms: +x.maxRms.toFixed(4), peakHz: Math.round((peak * ctx.sampleRate) / x.an.fftSize) };
    });
    const state = ctx.state;
    await ctx.close();
    return { state, tracks: res };
  }, { id, ms });
}

const framesByMid = async (p, id) => {
  const tr = await p.page.evaluate((id) => window.meshflow.transceivers(id), id);
  return Object.fromEntries((tr?.transceivers ?? []).filter((t) => t.kind === 'video').map((t) => [t.mid, t]));
};

await main('two_streams', async (ctx) => {
  const browser = await ctx.browser();
  const client = await clientBase(args.launcher);
  const alice = await openClient(browser, client, { room, name: 'alice' });
  const s0 = await waitFor(alice, (s) => Object.keys(s.peers).length > 0, 'the launcher peer', 20000);
  const launcherId = Object.keys(s0.peers)[0];
  log(`launcher peer: ${launcherId}`);
  await waitFor(alice, mediaFlowing(launcherId, { frames: 60 }), 'video+audio from the launcher', 60000);

  // (a) two decoding tiles for the launcher, with different pictures (one red, one blue).
  const problems = [];
  const check = (ok, msg) => { if (!ok) { log(`FAILED CHECK ${msg}`); problems.push(msg); } };
  let t = [];
  const end = Date.now() + 30000;
  while (Date.now() < end) {
    t = await tiles(alice, launcherId);
    if (t.filter((x) => x.rgb).length >= 2) break;
    await sleep(500);
  }
  log(`alice: the launcher's tiles: ${JSON.stringify(t)}`);
  const decoding = t.filter((x) => x.rgb);
  if (decoding.length < 2) {
    const tr = await alice.page.evaluate((id) => window.meshflow.transceivers(id), launcherId);
    fail(`alice shows ${decoding.length} decoding tile(s) of the launcher, want 2: ${JSON.stringify(t)}; ` +
         `transceivers: ${JSON.stringify(tr?.transceivers)}`);
  }
  check(decoding.length === 2, `alice shows ${decoding.length} decoding tiles of the launcher, want exactly 2`);
  check(new Set(decoding.map((x) => x.track)).size === decoding.length, `two tiles show the same track: ${JSON.stringify(t)}`);
  const isRed = ([r, g, b]) => r > 150 && g < 80 && b < 80;
  const isBlue = ([r, g, b]) => b > 150 && r < 80 && g < 80;
  check(decoding.some((x) => isRed(x.rgb)) && decoding.some((x) => isBlue(x.rgb)),
    `the launcher's tiles are not one red and one blue picture: ${JSON.stringify(decoding)}`);
  check(decoding.every((x) => x.label?.includes(launcherId)) && new Set(decoding.map((x) => x.label)).size === 2,
    `the launcher's tiles are not labelled with its id and distinct: ${JSON.stringify(decoding.map((x) => x.label))}`);
  // Both video transceivers decode and keep decoding.
  const f1 = await framesByMid(alice, launcherId);
  await sleep(1500);
  const f2 = await framesByMid(alice, launcherId);
  const growing = Object.keys(f2).filter((mid) => f2[mid].shown && f2[mid].framesDecoded > (f1[mid]?.framesDecoded ?? 0));
  log(`alice: video transceivers of the launcher: ${JSON.stringify(Object.values(f2))}`);
  check(growing.length === 2, `not two shown video transceivers decoding: ${JSON.stringify(Object.values(f2))}`);

  // (b) both audio tracks play: level on each, one at 440 Hz, the other at 1500 Hz.
  const a = await audioTracks(alice, launcherId);
  log(`alice: the launcher's audio tracks: ${JSON.stringify(a)}`);
  if (a.error) fail(`alice: ${a.error}`);
  check(a.tracks.length === 2, `alice plays ${a.tracks.length} audio track(s) of the launcher, want 2`);
  check(a.tracks.every((x) => x.maxRms > 0.02), `an audio track of the launcher is silent: ${JSON.stringify(a.tracks)}`);
  const near = (hz) => a.tracks.some((x) => Math.abs(x.peakHz - hz) < 40);
  check(near(440) && near(1500), `the launcher's audio tracks are not the 440 Hz and 1500 Hz tones: ${JSON.stringify(a.tracks)}`);
  const snap = (await snapshot(alice)).peers[launcherId];
  check(snap.videoTiles === 2 && snap.audioPlaying === 2,
    `alice's snapshot of the launcher: videoTiles ${snap.videoTiles}, audioPlaying ${snap.audioPlaying}`);

  // (c) another page's tile comes and goes; the launcher's stay.
  const bob = await openClient(browser, client, { room, name: 'bob' });
  await waitFor(alice, (s) => mediaFlowing(bob.peerId)(s) && s.peers[bob.peerId].videoTiles === 1 &&
    s.peers[bob.peerId].audioPlaying === 1, `a tile and audio of ${bob.peerId}`, 45000);
  const withBob = (await snapshot(alice)).tiles;
  log(`alice's tiles with bob: ${JSON.stringify(withBob)}`);
  check(withBob.filter((x) => x === launcherId).length === 2 && withBob.filter((x) => x === bob.peerId).length === 1,
    `alice's tiles with bob there: ${JSON.stringify(withBob)}`);
  // bob stops sending video to alice (a renegotiation makes his transceiver recvonly): alice
  // removes that tile (bob keeps his empty one: states, stats) and keeps playing his audio; when he
  // sends again, the tile is back.
  if (!await bob.page.evaluate((id) => window.meshflow.setSending(id, 'video', false), alice.peerId)) {
    fail(`bob has no connection to ${alice.peerId}`);
  }
  const paused = await waitFor(alice, (s) => s.peers[bob.peerId]?.videoTiles === 0 &&
    s.peers[bob.peerId].audioPlaying === 1 && s.tiles.filter((x) => x === bob.peerId).length === 1,
  `${bob.peerId}'s video tile to go when he stops sending video`, 20000);
  log(`alice after bob stopped his video: tracks ${JSON.stringify(paused.peers[bob.peerId].tracks)}`);
  const emptyTile = await alice.page.evaluate((id) => [...document.querySelectorAll('#grid .tile.remote')]
    .filter((t) => t.dataset.peerId === id).map((t) => ({ track: t.dataset.trackId, src: !!t.querySelector('video').srcObject })), bob.peerId);
  check(emptyTile.length === 1 && !emptyTile[0].track && !emptyTile[0].src,
    `bob's remaining tile still shows a video: ${JSON.stringify(emptyTile)}`);
  await bob.page.evaluate((id) => window.meshflow.setSending(id, 'video', true), alice.peerId);
  await waitFor(alice, (s) => s.peers[bob.peerId]?.videoTiles === 1 && s.peers[bob.peerId].audioPlaying === 1,
    `${bob.peerId}'s video tile to come back`, 20000);
  const back = await tiles(alice, bob.peerId);
  log(`alice: bob's tiles after he sends video again: ${JSON.stringify(back)}`);
  const backEnd = Date.now() + 10000;
  let again = back;
  while (!again.some((x) => x.rgb) && Date.now() < backEnd) {
    await sleep(500);
    again = await tiles(alice, bob.peerId);
  }
  check(again.length === 1 && again[0].rgb, `bob's video tile is back but not decoding: ${JSON.stringify(again)}`);

  await bob.context.close();
  const after = await waitFor(alice, (s) => !s.peers[bob.peerId] && !s.tiles.includes(bob.peerId),
    `${bob.peerId}'s tile to go`, 20000);
  const left = await alice.page.evaluate((id) => ({
    tiles: [...document.querySelectorAll('#grid .tile.remote')].map((t) => t.dataset.peerId),
    audio: [...document.querySelectorAll('#remote-audio audio')].map((e) => e.dataset.peerId),
  }), bob.peerId);
  log(`alice after bob left: ${JSON.stringify(left)}`);
  check(!left.tiles.includes(bob.peerId) && !left.audio.includes(bob.peerId),
    `bob's tile or audio is still on alice's page: ${JSON.stringify(left)}`);
  check(left.tiles.filter((x) => x === launcherId).length === 2 && left.audio.filter((x) => x === launcherId).length === 2,
    `the launcher's tiles/audio changed when bob left: ${JSON.stringify(left)}`);
  const f3 = await framesByMid(alice, launcherId);
  await sleep(1500);
  const f4 = await framesByMid(alice, launcherId);
  const still = Object.keys(f4).filter((mid) => f4[mid].shown && f4[mid].framesDecoded > (f3[mid]?.framesDecoded ?? 0));
  check(still.length === 2, `the launcher's two videos stopped decoding after bob left: ${JSON.stringify(Object.values(f4))}`);

  process.stdout.write(`RESULT ${JSON.stringify({ tiles: decoding, audio: a.tracks, departed: after.departed,
    launcher: summary(after).peers[launcherId] })}\n`);
  if (problems.length) fail(problems.join('\n'));
});
