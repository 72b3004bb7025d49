// Browser test 3: a page joins a room where the launcher itself is a peer (webrtc_sink sends a
// test pattern and a tone, webrtc_source receives). The page decodes the launcher's video and
// receives its audio; the launcher's /metrics show it decoding the page's media.
//
//   node tests/browser/launcher.mjs --launcher http://127.0.0.1:PORT [--room NAME] [--static-fallback]
import {
  audioGrowing, clientBase, fail, log, main, mediaFlowing, openClient, parseArgs, sleep, summary,
  waitFor,
} from './lib.mjs';

const args = parseArgs();
if (!args.launcher) {
  process.stderr.write('usage: launcher.mjs --launcher http://HOST:PORT [--room NAME]\n');
  process.exit(2);
}
const room = args.room || 'browser';

// Prometheus text -> [{name, labels: {..}, value}]
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

const aboutPeer = (s, id) => Object.values(s.labels).includes(id);

await main('launcher', async (ctx) => {
  const browser = await ctx.browser();
  const client = await clientBase(args.launcher, { staticFallback: !!args['static-fallback'] });
  const page = await openClient(browser, client, { room, name: 'alice' });
  // The launcher is already in the room (it announced when it started): the page offers to it.
  const s0 = await waitFor(page, (s) => Object.keys(s.peers).length > 0, 'the launcher peer', 20000);
  const launcherId = args['launcher-peer'] || Object.keys(s0.peers)[0];
  log(`launcher peer: ${launcherId}`);
  const s = await waitFor(page, mediaFlowing(launcherId), `video+audio from ${launcherId}`, 45000);
  log(`page sees: ${JSON.stringify(summary(s).peers)}`);
  await audioGrowing(page, launcherId);

  // The launcher decodes the page's media: its per-peer stats in /metrics.
  let video = null, audio = null, last = [];
  const end = Date.now() + 30000;
  while (Date.now() < end) {
    const res = await fetch(`${args.launcher}/metrics`);
    if (res.status !== 200) fail(`GET /metrics -> ${res.status}`);
    last = parseMetrics(await res.text()).filter((m) => aboutPeer(m, page.peerId));
    video = last.find((m) => /frames_decoded/.test(m.name) && m.value > 30);
    audio = last.find((m) => /(bytes|packets)_received/.test(m.name) &&
                             (/audio/.test(m.name) || Object.values(m.labels).includes('audio')) && m.value > 0);
    if (video && audio) break;
    await sleep(500);
  }
  if (!video || !audio) {
    fail(`the launcher's /metrics do not show it decoding ${page.peerId}'s media ` +
         `(want a *frames_decoded* > 30 and an audio *bytes|packets_received* > 0 labelled with the ` +
         `peer id); lines about that peer:\n${last.map((m) => m.line).join('\n') || '(none)'}`);
  }
  log(`launcher: ${video.line}`);
  log(`launcher: ${audio.line}`);
  process.stdout.write(`RESULT ${JSON.stringify({ page: summary(s).peers, launcher: [video.line, audio.line] })}\n`);
});
