// Browser test: the headline demo of `./dev run` (manifests/default.yaml). Two participants open
// /client?room=<the manifest's room>; each must see the other page (direct mesh), see ITSELF blurred
// (the launcher, a peer of the room, blurs each peer's camera and sends it back to that peer only)
// and hear the launcher's mix-minus (the other page's beep); /metrics show the launcher decoding both.
//
//   node tests/browser/blur_room.mjs --launcher http://127.0.0.1:PORT --room demo
//
// How "itself, blurred" is measured (levels and ratios, no timings):
// - Each participant runs in its own Chromium with Chromium's fake camera fed from a Y4M file made
//   here (--use-file-for-fake-video-capture): a high-contrast 8 px checkerboard (sharp) whose
//   brightness differs per half of the picture: alice's is bright on the LEFT, bob's bright on the
//   TOP. The two cameras are thus orthogonal at low spatial frequency and both full of sharp edges.
// - In the page, a video element (local preview, the launcher's tile, the other page's tile) is
//   drawn to a 160x120 canvas, grayscale. Sharpness = mean |4-neighbour Laplacian|. Layout = the
//   8x6 grid of 20x20-block means (a low-pass: it averages the checkerboard away, keeping the
//   bright/dark halves). Several frames are sampled and averaged.
// - Checks per page: launcher tile sharpness < 0.35 x the sharpness of both the local preview and
//   the other page's tile (which went through VP8 too); Pearson correlation of the launcher tile's
//   layout with the page's OWN preview layout > 0.8 and more than 0.5 above its correlation with
//   the other page's tile layout (the other camera).
// - Audio: a Web Audio AnalyserNode on the launcher's audio track (window.meshflow.media; headless
//   Chromium's getStats audioLevel stays 0), max RMS over the watch > 0.005 (the fake mic beeps).
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CHROMIUM_ARGS, clientBase, fail, log, main, mediaFlowing, openClient, parseArgs, sleep, summary,
  waitFor,
} from './lib.mjs';

const args = parseArgs();
if (!args.launcher || !args.room) {
  process.stderr.write('usage: blur_room.mjs --launcher http://HOST:PORT --room NAME\n');
  process.exit(2);
}
const room = args.room;
const W = 320, H = 240, FRAMES = 10;

// A gray Y4M clip: 8 px checkerboard, bright half where `bright(x, y)` says, dark elsewhere.
async function writeY4m(file, bright) {
  const y = Buffer.alloc(W * H);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const on = ((r >> 3) + (c >> 3)) & 1;
      y[r * W + c] = bright(c, r) ? (on ? 235 : 120) : (on ? 100 : 16);
    }
  }
  const chroma = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  const parts = [Buffer.from(`YUV4MPEG2 W${W} H${H} F30:1 Ip A1:1 C420jpeg\n`)];
  for (let i = 0; i < FRAMES; i++) parts.push(Buffer.from('FRAME\n'), y, chroma);
  await writeFile(file, Buffer.concat(parts));
}

// In the page: sample the three videos `count` times; per video the mean sharpness and the mean
// 8x6 layout, plus its decoded size.
async function sampleVideos(p, ids, count = 6) {
  return p.page.evaluate(async ({ ids, count }) => {
    const tileVideo = (id) =>
      [...document.querySelectorAll('#grid .tile.remote')].find((t) => t.dataset.peerId === id)?.querySelector('video');
    const videos = { own: document.getElementById('local-video'), launcher: tileVideo(ids.launcher), other: tileVideo(ids.other) };
    const cw = 160, ch = 120, bs = 20;
    const canvas = document.createElement('canvas');
    canvas.width = cw;
    canvas.height = ch;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    // Wait (bounded by a count of 100 ms polls) for every element to show a decoded frame.
    for (let i = 0; i < 150 && Object.values(videos).some((v) => v && !v.videoWidth); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const acc = {};
    for (const k of Object.keys(videos)) acc[k] = { sharp: 0, layout: new Array((cw / bs) * (ch / bs)).fill(0), size: null, mean: 0 };
    for (let n = 0; n < count; n++) {
      for (const [k, v] of Object.entries(videos)) {
        if (!v || !v.videoWidth) {
          const why = v ? `videoWidth 0, paused ${v.paused}, readyState ${v.readyState}, tracks ` +
            `${v.srcObject ? v.srcObject.getTracks().map((t) => `${t.kind}:${t.readyState}:${t.muted ? 'muted' : 'live'}`) : 'none'}` : 'no element';
          let fresh = 'n/a';
          const vt = v?.srcObject?.getVideoTracks()[0];
          if (vt) {
            // Diagnosis: does the same track render in a fresh element?
            const e = document.createElement('video');
            e.muted = true;
            e.srcObject = new MediaStream([vt]);
            document.body.append(e);
            e.play().catch(() => {});  // not awaited: it never settles without a frame
            for (let i = 0; i < 50 && !e.videoWidth; i++) await new Promise((r) => setTimeout(r, 100));
            fresh = `${e.videoWidth}x${e.videoHeight}`;
            e.remove();
            if (window.MediaStreamTrackProcessor) {
              const reader = new MediaStreamTrackProcessor({ track: vt.clone() }).readable.getReader();
              const got = await Promise.race([reader.read().then((r) => r.value ? `${r.value.codedWidth}x${r.value.codedHeight} ts ${r.value.timestamp}` : 'done'),
                new Promise((r) => setTimeout(() => r('none in 5 s'), 5000))]);
              fresh += `; MediaStreamTrackProcessor frame: ${got}`;
            }
          }
          const states = Object.entries(videos).map(([n, x]) => `${n}:${x?.readyState}`).join(' ');
          return { error: `${k} video has no frames (${why}; the same track in a fresh element: ${fresh}; readyStates ${states})` };
        }
        g.drawImage(v, 0, 0, cw, ch);
        const d = g.getImageData(0, 0, cw, ch).data;
        const gray = new Float32Array(cw * ch);
        for (let i = 0; i < cw * ch; i++) gray[i] = 0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2];
        let lap = 0, sum = 0;
        for (let y = 1; y < ch - 1; y++) {
          for (let x = 1; x < cw - 1; x++) {
            const i = y * cw + x;
            lap += Math.abs(4 * gray[i] - gray[i - 1] - gray[i + 1] - gray[i - cw] - gray[i + cw]);
          }
        }
        for (let i = 0; i < cw * ch; i++) sum += gray[i];
        const a = acc[k];
        a.sharp += lap / ((cw - 2) * (ch - 2)) / count;
        a.mean += sum / (cw * ch) / count;
        for (let by = 0; by < ch / bs; by++) {
          for (let bx = 0; bx < cw / bs; bx++) {
            let s = 0;
            for (let y = by * bs; y < (by + 1) * bs; y++) for (let x = bx * bs; x < (bx + 1) * bs; x++) s += gray[y * cw + x];
            a.layout[by * (cw / bs) + bx] += s / (bs * bs) / count;
          }
        }
        a.size = `${v.videoWidth}x${v.videoHeight}`;
      }
      await new Promise((r) => setTimeout(r, 400));
    }
    return acc;
  }, { ids, count });
}

function pearson(a, b) {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n, mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

// An AnalyserNode on the audio track of `id`'s tile; resolves to the max RMS seen until it exceeds
// `level` or `ticks` 50 ms windows passed.
async function audioLevel(p, id, level, ticks) {
  return p.page.evaluate(async ({ id, level, ticks }) => {
    // The peer's audio tracks the page plays (one <audio> each; web/client.js window.meshflow.media).
    const tracks = window.meshflow.media(id, 'audio').map((m) => m.track);
    if (!tracks.length) return { error: 'the page plays no audio track of the launcher' };
    const ctx = new AudioContext();
    await ctx.resume().catch(() => {});
    const an = ctx.createAnalyser();
    an.fftSize = 2048;
    ctx.createMediaStreamSource(new MediaStream(tracks)).connect(an);
    const mute = ctx.createGain();
    mute.gain.value = 0;
    an.connect(mute).connect(ctx.destination);
    const buf = new Float32Array(an.fftSize);
    let maxRms = 0, n = 0;
    while (n < ticks && maxRms <= level) {
      await new Promise((r) => setTimeout(r, 50));
      an.getFloatTimeDomainData(buf);
      let e = 0;
      for (const x of buf) e += x * x;
      maxRms = Math.max(maxRms, Math.sqrt(e / buf.length));
      n++;
    }
    const state = ctx.state;
    ctx.close();
    return { maxRms, windows: n, state };
  }, { id, level, ticks });
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

await main('blur_room', async () => {
  const { chromium } = await import('playwright-core');
  const dir = await mkdtemp(path.join(tmpdir(), 'meshflow-blur-room-'));
  const browsers = [];
  try {
    const cams = { alice: path.join(dir, 'alice.y4m'), bob: path.join(dir, 'bob.y4m') };
    await writeY4m(cams.alice, (x) => x < W / 2);   // bright left half
    await writeY4m(cams.bob, (x, y) => y < H / 2);  // bright top half
    const client = await clientBase(args.launcher);
    const open = async (name) => {
      // One Chromium per participant: the fake camera's file is a browser-wide flag.
      const b = await chromium.launch({
        executablePath: process.env.MESHFLOW_CHROMIUM || '/usr/bin/chromium',
        args: [...CHROMIUM_ARGS, `--use-file-for-fake-video-capture=${cams[name]}`],
        headless: true,
      });
      browsers.push(b);
      return openClient(b, client, { room, name });
    };
    const alice = await open('alice');
    const sa0 = await waitFor(alice, (s) => Object.keys(s.peers).length > 0, 'the launcher peer', 30000);
    const launcherId = Object.keys(sa0.peers)[0];
    log(`launcher peer: ${launcherId}`);
    const bob = await open('bob');
    if (new Set([alice.peerId, bob.peerId, launcherId]).size !== 3) fail('peer ids are not distinct');
    const pages = [[alice, bob], [bob, alice]];

    // (a) each page decodes the other page's and the launcher's video (and receives their audio).
    for (const [p, o] of pages) {
      await Promise.all([
        waitFor(p, mediaFlowing(o.peerId, { frames: 60 }), `video+audio from ${o.peerId}`, 90000),
        waitFor(p, mediaFlowing(launcherId, { frames: 60 }), `video+audio from the launcher`, 90000),
      ]);
    }
    for (const [p] of pages) log(`${p.name} sees: ${JSON.stringify(summary(await p.page.evaluate(() => window.meshflow.snapshot())).peers)}`);

    // (b) the launcher's tile is this page's own camera, blurred.
    const results = {};
    const problems = [];
    const check = (ok, msg) => { if (!ok) { log(`FAILED CHECK ${msg}`); problems.push(msg); } };
    for (const [p, o] of pages) {
      // The steady state is what counts: a sample taken while a frame is still being repaired (loss
      // before a keyframe shows grey blocks on a loaded machine) is taken again, up to 5 times.
      let r;
      for (let attempt = 1; attempt <= 5; attempt++) {
        r = await sampleVideos(p, { launcher: launcherId, other: o.peerId });
        if (r.error) break;
        const own = pearson(r.launcher.layout, r.own.layout), other = pearson(r.launcher.layout, r.other.layout);
        const blurred = r.launcher.sharp / Math.min(r.own.sharp, r.other.sharp) < 0.35;
        if (blurred && own > 0.8 && own - other > 0.5) break;
        log(`${p.name}: sample ${attempt}: layout correlation own ${own.toFixed(3)}, other ${other.toFixed(3)}; sampling again`);
        await sleep(1000);
      }
      if (r.error) {
        const st = await p.page.evaluate((id) => window.meshflow.snapshot().peers[id]?.stats, launcherId);
        const tr = await p.page.evaluate((id) => window.meshflow.transceivers(id), launcherId);
        check(false, `${p.name}: ${r.error}; the page's stats of the launcher peer: ${JSON.stringify(st)}; ` +
          `its transceivers: ${JSON.stringify(tr)}`);
        continue;
      }
      const cOwn = pearson(r.launcher.layout, r.own.layout);
      const cOther = pearson(r.launcher.layout, r.other.layout);
      const ratio = r.launcher.sharp / Math.min(r.own.sharp, r.other.sharp);
      const fig = {
        sharp: { own: +r.own.sharp.toFixed(2), launcher: +r.launcher.sharp.toFixed(2), other: +r.other.sharp.toFixed(2) },
        ratio: +ratio.toFixed(3), corrOwn: +cOwn.toFixed(3), corrOther: +cOther.toFixed(3),
        size: { own: r.own.size, launcher: r.launcher.size, other: r.other.size },
        mean: { own: +r.own.mean.toFixed(1), launcher: +r.launcher.mean.toFixed(1), other: +r.other.mean.toFixed(1) },
      };
      log(`${p.name}: ${JSON.stringify(fig)}`);
      results[p.name] = fig;
      check(r.own.sharp > 10 && r.other.sharp > 10, `${p.name}: the camera pictures are not sharp: ${JSON.stringify(fig)}`);
      check(ratio < 0.35, `${p.name}: the launcher's tile is not blurred (sharpness ratio ${ratio}): ${JSON.stringify(fig)}`);
      check(cOwn > 0.8 && cOwn - cOther > 0.5,
        `${p.name}: the launcher's tile is not its own camera (layout correlation own ${cOwn}, other ${cOther}): ${JSON.stringify(fig)}`);
    }

    // (c) audio from the launcher (the mix-minus: the other page's beep) has energy.
    for (const [p] of pages) {
      const a = await audioLevel(p, launcherId, 0.005, 400);
      log(`${p.name}: launcher audio ${JSON.stringify(a)}`);
      check(!a.error, `${p.name}: ${a.error}`);
      check(a.maxRms > 0.005, `${p.name}: the launcher's audio is silent (max RMS ${a.maxRms} over ${a.windows} x 50 ms)`);
      results[p.name] = { ...results[p.name], audioMaxRms: +(a.maxRms ?? 0).toFixed(4) };
    }

    // (d) the launcher's /metrics show both peers, decoding their video and receiving their audio.
    let last = [];
    const want = (id) => {
      const mine = last.filter((m) => Object.values(m.labels).includes(id));
      return mine.some((m) => /frames_decoded/.test(m.name) && m.value > 30) &&
        mine.some((m) => /(bytes|packets)_received/.test(m.name) &&
                         (/audio/.test(m.name) || Object.values(m.labels).includes('audio')) && m.value > 0);
    };
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${args.launcher}/metrics`);
      if (res.status !== 200) fail(`GET /metrics -> ${res.status}`);
      last = parseMetrics(await res.text());
      if (want(alice.peerId) && want(bob.peerId)) break;
      await sleep(500);
    }
    for (const p of [alice, bob]) {
      if (!want(p.peerId)) {
        check(false, `the launcher's /metrics do not show it decoding ${p.name} (${p.peerId}); lines about it:\n` +
             (last.filter((m) => Object.values(m.labels).includes(p.peerId)).map((m) => m.line).join('\n') || '(none)'));
      }
    }
    process.stdout.write(`RESULT ${JSON.stringify(results)}\n`);
    if (problems.length) fail(problems.join('\n'));
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});
