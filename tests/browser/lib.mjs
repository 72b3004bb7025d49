// Shared helpers of the browser test scripts: headless Chromium through playwright-core, opening the
// Meshflow client page, and polling its test hook (window.meshflow, see web/client.js).
//
// Scripts print progress on stderr and one `PASS <name>` line on stdout when every check holds;
// they exit 0 on success, 1 on a failed check (the reason on stderr, prefixed FAIL), 2 on bad usage.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_ROOT = process.env.MESHFLOW_SOURCE_ROOT || path.resolve(here, '../..');

// --use-fake-ui-for-media-stream and --allow-loopback-in-peer-connection are required in a
// loopback-only network namespace (no permission prompt; ICE gathers on 127.0.0.1).
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required', '--disable-renderer-backgrounding',
  '--disable-background-timer-throttling', '--disable-backgrounding-occluded-windows',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

const t0 = Date.now();
export function log(...args) {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${args.join(' ')}\n`);
}

export class CheckFailed extends Error {}

export function fail(msg) { throw new CheckFailed(msg); }

/// --key value pairs -> object (flags without a value are true).
export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

/// Run `body` and exit: 0 on success (prints `PASS name`), 1 on failure; always closes the browser.
export async function main(name, body) {
  let browser = null;
  const ctx = {
    async browser() {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: process.env.MESHFLOW_CHROMIUM || '/usr/bin/chromium',
        args: CHROMIUM_ARGS,
        headless: true,
      });
      log(`chromium ${browser.version()}`);
      return browser;
    },
  };
  const watchdog = setTimeout(() => {
    log(`FAIL ${name}: script timeout`);
    process.exit(1);
  }, Number(process.env.MESHFLOW_BROWSER_SCRIPT_TIMEOUT_S || 240) * 1000);
  let code = 0;
  try {
    await body(ctx);
    process.stdout.write(`PASS ${name}\n`);
  } catch (e) {
    code = e instanceof CheckFailed ? 1 : 1;
    log(`FAIL ${name}: ${e instanceof CheckFailed ? e.message : e.stack}`);
    process.stdout.write(`FAIL ${name}: ${e.message.split('\n')[0]}\n`);
  } finally {
    clearTimeout(watchdog);
    if (browser) await browser.close().catch(() => {});
  }
  process.exit(code);
}

// A development fallback for when the launcher does not serve /client: serve web/ ourselves and
// point the page at the launcher's /rpc with ?signal=. Never used by the registered tests.
async function startStaticServer() {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    let file = null;
    if (url.pathname === '/client') file = 'client.html';
    else if (url.pathname.startsWith('/web/')) file = path.normalize(url.pathname.slice(5));
    if (!file || file.startsWith('..')) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(path.join(SOURCE_ROOT, 'web', file));
      res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${server.address().port}`;
}

/// Where pages load the client from: the launcher's /client, or (with --static-fallback, for
/// development only) our own static server with ?signal= pointing at the launcher's /rpc.
export async function clientBase(launcherBase, { staticFallback = false } = {}) {
  let status = 0;
  try {
    const res = await fetch(`${launcherBase}/client?room=probe`);
    status = res.status;
    const text = await res.text();
    if (status === 200 && !text.includes('/web/client.js')) status = -1;
    if (status === 200) {
      const js = await fetch(`${launcherBase}/web/client.js`);
      if (js.status !== 200) fail(`${launcherBase}/web/client.js answered ${js.status}`);
      return { base: launcherBase, extra: '' };
    }
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    fail(`cannot reach the launcher at ${launcherBase}: ${e.message}`);
  }
  if (!staticFallback) {
    fail(`the launcher does not serve the client: GET ${launcherBase}/client -> ${status}`);
  }
  const base = await startStaticServer();
  const signal = `${launcherBase.replace(/^http/, 'ws')}/rpc`;
  log(`launcher has no /client (${status}); serving web/ at ${base} (development fallback)`);
  return { base, extra: `&signal=${encodeURIComponent(signal)}` };
}

/// A new browser context (its own profile: a separate participant) with the client page open.
export async function openClient(browser, client, { room, name, query = '' }) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (process.env.MESHFLOW_BROWSER_VERBOSE || m.type() === 'error') log(`[${name} ${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => log(`[${name} pageerror] ${e.message}`));
  const url = `${client.base}/client?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}` +
              `${query}${client.extra}`;
  log(`${name}: open ${url}`);
  const res = await page.goto(url);
  if (!res || res.status() !== 200) fail(`${name}: GET ${url} -> ${res ? res.status() : 'no response'}`);
  const participant = { name, context, page, url };
  await waitFor(participant, (s) => s.signalling.state === 'announced' && s.peerId, 'announced', 20000);
  participant.peerId = (await snapshot(participant)).peerId;
  log(`${name}: announced as ${participant.peerId}`);
  return participant;
}

export async function snapshot(p) {
  return p.page.evaluate(() => window.meshflow ? window.meshflow.snapshot() : null);
}

/// Poll the page's snapshot until `pred(snapshot)` is truthy; on timeout fail with the last state.
export async function waitFor(p, pred, what, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  let last = null;
  for (;;) {
    try {
      last = await snapshot(p);
      if (last && pred(last)) return last;
    } catch (e) {
      last = { error: e.message };
    }
    if (Date.now() > end) {
      fail(`${p.name}: timed out after ${timeoutMs} ms waiting for ${what}; last state:\n` +
           JSON.stringify(summary(last), null, 1));
    }
    await sleep(250);
  }
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

/// The parts of a snapshot worth printing.
export function summary(s) {
  if (!s || s.error) return s;
  const peers = {};
  for (const [id, p] of Object.entries(s.peers || {})) {
    peers[id] = {
      conn: p.connectionState, ice: p.iceConnectionState, sig: p.signalingState, dtls: p.dtlsState,
      dc: p.dataChannelState, setupMs: p.setupMs, tracks: p.remoteTracks, polite: p.polite,
      offersSent: p.offersSent, offersReceived: p.offersReceived, collisions: p.collisions,
      framesDecoded: p.stats.framesDecoded, audioBytesReceived: p.stats.audioBytesReceived,
      rttMs: p.stats.rttMs, lossPct: p.stats.lossPct, bitrateInKbps: p.stats.bitrateInKbps,
    };
  }
  return {
    peerId: s.peerId, signalling: s.signalling, localMedia: s.localMedia, peers, tiles: s.tiles,
    departed: s.departed, errors: s.errors,
  };
}

/// The peer `remoteId` as seen by page `p` is fully up: connected, DTLS up, data channel open,
/// more than `frames` video frames decoded and audio arriving.
export function mediaFlowing(remoteId, { frames = 30, video = true, audio = true } = {}) {
  return (s) => {
    const p = s.peers[remoteId];
    return p && p.connectionState === 'connected' &&
      ['connected', 'completed'].includes(p.iceConnectionState) &&
      p.dtlsState === 'connected' && p.dataChannelState === 'open' &&
      (!video || p.stats.framesDecoded > frames) && (!audio || p.stats.audioBytesReceived > 0) &&
      s.tiles.includes(remoteId);
  };
}

/// Audio from `remoteId` keeps arriving: bytesReceived grows over `ms`.
export async function audioGrowing(p, remoteId, ms = 2000) {
  const a = (await snapshot(p)).peers[remoteId]?.stats.audioBytesReceived ?? 0;
  await sleep(ms);
  const b = (await snapshot(p)).peers[remoteId]?.stats.audioBytesReceived ?? 0;
  if (!(b > a)) fail(`${p.name}: audio from ${remoteId} is not arriving (bytesReceived ${a} -> ${b})`);
  log(`${p.name}: audio from ${remoteId}: ${a} -> ${b} bytes in ${ms} ms`);
}
