// Browser test 2: the signalling server goes away under two connected participants and comes back
// on the same port. The test binary kills and restarts the launcher when this script prints READY.
// Each page must notice the loss, reconnect with backoff and re-announce with the same peer id;
// their peer-to-peer media keeps flowing; a participant joining afterwards finds both in the room.
//
//   node tests/browser/reconnect.mjs --launcher http://127.0.0.1:PORT [--room NAME] [--static-fallback]
import {
  clientBase, fail, log, main, mediaFlowing, openClient, parseArgs, snapshot, summary, waitFor,
} from './lib.mjs';

const args = parseArgs();
if (!args.launcher) {
  process.stderr.write('usage: reconnect.mjs --launcher http://HOST:PORT [--room NAME]\n');
  process.exit(2);
}
const room = args.room || 'browser';

await main('reconnect', async (ctx) => {
  const browser = await ctx.browser();
  const client = await clientBase(args.launcher, { staticFallback: !!args['static-fallback'] });
  const alice = await openClient(browser, client, { room, name: 'alice' });
  const bob = await openClient(browser, client, { room, name: 'bob' });
  await Promise.all([
    waitFor(alice, mediaFlowing(bob.peerId, { frames: 10 }), `media from ${bob.peerId}`, 45000),
    waitFor(bob, mediaFlowing(alice.peerId, { frames: 10 }), `media from ${alice.peerId}`, 45000),
  ]);
  const before = {
    alice: (await snapshot(alice)).peers[bob.peerId].stats.framesDecoded,
    bob: (await snapshot(bob)).peers[alice.peerId].stats.framesDecoded,
  };
  // The test binary now kills the launcher and starts it again on the same port.
  process.stdout.write(`READY alice=${alice.peerId} bob=${bob.peerId}\n`);

  for (const p of [alice, bob]) {
    await waitFor(p, (s) => s.signalling.lastClose !== null, 'the signalling connection to drop', 30000);
    log(`${p.name}: signalling lost (${JSON.stringify((await snapshot(p)).signalling.lastClose)})`);
  }
  for (const p of [alice, bob]) {
    const s = await waitFor(p, (x) => x.signalling.state === 'announced' && x.signalling.announces >= 2 &&
      x.signalling.reconnects >= 1, 're-announce after the restart', 60000);
    if (s.peerId !== p.peerId) fail(`${p.name}: re-announced as ${s.peerId}, not ${p.peerId}`);
    log(`${p.name}: re-announced as ${s.peerId}: ${JSON.stringify(s.signalling)}`);
  }
  // Peer-to-peer media did not depend on the signalling connection: it still flows.
  const [sa, sb] = await Promise.all([
    waitFor(alice, (s) => mediaFlowing(bob.peerId)(s) && s.peers[bob.peerId].stats.framesDecoded > before.alice + 30,
            `media from ${bob.peerId} after the restart`, 30000),
    waitFor(bob, (s) => mediaFlowing(alice.peerId)(s) && s.peers[alice.peerId].stats.framesDecoded > before.bob + 30,
            `media from ${alice.peerId} after the restart`, 30000),
  ]);

  // The restarted server knows both again: a newcomer is offered to both and connects to both.
  const carol = await openClient(browser, client, { room, name: 'carol' });
  const sc = await waitFor(carol, (s) => mediaFlowing(alice.peerId)(s) && mediaFlowing(bob.peerId)(s),
                           'media from alice and bob', 45000);
  await Promise.all([
    waitFor(alice, mediaFlowing(carol.peerId), `media from ${carol.peerId}`, 30000),
    waitFor(bob, mediaFlowing(carol.peerId), `media from ${carol.peerId}`, 30000),
  ]);
  process.stdout.write(`RESULT ${JSON.stringify({
    alice: summary(sa).signalling, bob: summary(sb).signalling, carol: Object.keys(summary(sc).peers),
  })}\n`);
});
