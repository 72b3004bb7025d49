// Browser test 1: two Chromium participants join one room through a meshflow-launch process and
// see and hear each other; when one leaves, the other removes its tile.
//
//   node tests/browser/mesh.mjs --launcher http://127.0.0.1:PORT [--room NAME] [--static-fallback]
import {
  audioGrowing, clientBase, fail, log, main, mediaFlowing, openClient, parseArgs, snapshot, summary,
  waitFor,
} from './lib.mjs';

const args = parseArgs();
if (!args.launcher) {
  process.stderr.write('usage: mesh.mjs --launcher http://HOST:PORT [--room NAME]\n');
  process.exit(2);
}
const room = args.room || 'browser';

await main('mesh', async (ctx) => {
  const browser = await ctx.browser();
  const client = await clientBase(args.launcher, { staticFallback: !!args['static-fallback'] });
  const alice = await openClient(browser, client, { room, name: 'alice' });
  const bob = await openClient(browser, client, { room, name: 'bob' });
  if (alice.peerId === bob.peerId) fail(`both pages got peer id ${alice.peerId}`);

  // Each decodes the other's video and receives its audio; every state reaches connected.
  const [sa, sb] = await Promise.all([
    waitFor(alice, mediaFlowing(bob.peerId), `video+audio from ${bob.peerId}`, 45000),
    waitFor(bob, mediaFlowing(alice.peerId), `video+audio from ${alice.peerId}`, 45000),
  ]);
  log(`alice sees: ${JSON.stringify(summary(sa).peers)}`);
  log(`bob sees: ${JSON.stringify(summary(sb).peers)}`);
  if (!sa.localMedia.audio || !sa.localMedia.video) fail('alice has no fake camera/microphone');
  await Promise.all([audioGrowing(alice, bob.peerId), audioGrowing(bob, alice.peerId)]);

  // Stats are live: RTT measured and bitrate computed.
  const s = (await snapshot(alice)).peers[bob.peerId].stats;
  if (s.rttMs == null || s.bitrateInKbps == null || !(s.bitrateInKbps > 0)) {
    fail(`alice's stats for bob are not live: ${JSON.stringify(s)}`);
  }

  // Renegotiation from both sides at once (an ICE restart each): perfect negotiation settles the
  // collision (the polite peer rolls back) and media keeps flowing.
  const before = {
    alice: (await snapshot(alice)).peers[bob.peerId],
    bob: (await snapshot(bob)).peers[alice.peerId],
  };
  await Promise.all([
    alice.page.evaluate((id) => window.meshflow.restartIce(id), bob.peerId),
    bob.page.evaluate((id) => window.meshflow.restartIce(id), alice.peerId),
  ]);
  // Settled: a new offer/answer exchange happened, stable again, connected, video still decoding.
  const settled = (b, other) => (x) => {
    const p = x.peers[other];
    return p && p.offersSent + p.offersReceived > b.offersSent + b.offersReceived &&
      p.signalingState === 'stable' && p.stats.framesDecoded > b.stats.framesDecoded + 30 &&
      mediaFlowing(other)(x);
  };
  const [ra, rb] = await Promise.all([
    waitFor(alice, settled(before.alice, bob.peerId), 'the ICE restart to settle', 20000),
    waitFor(bob, settled(before.bob, alice.peerId), 'the ICE restart to settle', 20000),
  ]);
  const n = (x, id) => `offers sent ${x.peers[id].offersSent} received ${x.peers[id].offersReceived} ` +
    `collisions ${x.peers[id].collisions} (${x.peers[id].polite ? 'polite' : 'impolite'})`;
  log(`ICE restart settled: alice ${n(ra, bob.peerId)}; bob ${n(rb, alice.peerId)}`);

  // The data channel carries JSON events; a transcript event is shown.
  const sent = await alice.page.evaluate((to) => window.meshflow.send(to, {
    type: 'transcript', text: 'hello from alice', speaker: 'alice', is_final: true,
  }), bob.peerId);
  if (!sent) fail('alice could not send on the data channel');
  await waitFor(bob, (x) => x.transcripts.some((t) => t.text === 'hello from alice'), 'the transcript event', 5000);
  const shown = await bob.page.locator('#transcript').textContent();
  if (!shown.includes('hello from alice')) fail(`bob's transcript panel shows '${shown}'`);

  // The tile is labelled with the peer id.
  const label = await alice.page.locator(`.tile[data-peer-id="${bob.peerId}"] .label`).textContent();
  if (!label.includes(bob.peerId)) fail(`bob's tile is labelled '${label}'`);

  // Bob leaves: alice gets peer.left, closes that connection and removes the tile.
  await bob.context.close();
  const after = await waitFor(alice, (x) => !x.peers[bob.peerId] && !x.tiles.includes(bob.peerId) &&
    x.departed.some((d) => d.peerId === bob.peerId), `peer.left for ${bob.peerId}`, 20000);
  const tiles = await alice.page.locator('#grid .tile.remote').count();
  if (tiles !== 0) fail(`alice still shows ${tiles} remote tile(s)`);
  log(`alice saw bob leave: ${JSON.stringify(after.departed)}`);
  process.stdout.write(`RESULT ${JSON.stringify({ alice: summary(sa).peers, bob: summary(sb).peers, departed: after.departed })}\n`);
});
