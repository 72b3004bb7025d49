// A foreign client written with Node's `ws` package, speaking docs/protocols.md and nothing else.
//   node foreign_client.mjs ws://127.0.0.1:PORT/rpc
// Announces two peers, exchanges an offer, an answer and candidates, checks notifications and
// error codes. Exit status 0 = every check passed.
import WebSocket from 'ws';

const url = process.argv[2];
if (!url) { console.error('usage: foreign_client.mjs URL'); process.exit(2); }

const SDP = [
  'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
  'a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99',
  'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=setup:actpass',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=mid:0', 'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2', ''].join('\r\n');

let failures = 0;
function check(cond, what) {
  if (cond) { console.log('ok   ' + what); } else { failures++; console.log('FAIL ' + what); }
}

class Peer {
  constructor(name) {
    this.name = name; this.nextId = 1; this.pending = new Map(); this.notes = []; this.waiters = [];
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(url);
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
      this.ws.on('message', (data) => this.onMessage(JSON.parse(data.toString())));
    });
  }
  onMessage(m) {
    if (Array.isArray(m)) { m.forEach((x) => this.onMessage(x)); return; }
    if (m.method) {
      this.notes.push(m);
      this.waiters = this.waiters.filter((w) => !w(m));
    } else if (this.pending.has(m.id)) {
      this.pending.get(m.id)(m); this.pending.delete(m.id);
    } else {
      this.notes.push(m);  // e.g. an error with id null
      this.waiters = this.waiters.filter((w) => !w(m));
    }
  }
  request(method, params) {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    return new Promise((resolve) => this.pending.set(id, resolve));
  }
  raw(text) { this.ws.send(text); }
  next(pred) {
    const i = this.notes.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.notes.splice(i, 1)[0]);
    return new Promise((resolve) => this.waiters.push((m) => {
      if (!pred(m)) return false;
      this.notes.splice(this.notes.indexOf(m), 1); resolve(m); return true;
    }));
  }
}

const timer = setTimeout(() => { console.log('FAIL timeout'); process.exit(3); }, 20000);

const a = new Peer('a'), b = new Peer('b');
await a.open(); await b.open();

const ra = await a.request('peer.announce', { room: 'node', peer_id: 'node-a', display_name: 'A',
  media: { audio: true, video: false, data: true } });
check(ra.result && ra.result.peer_id === 'node-a', 'announce a');
check(Array.isArray(ra.result.peers) && ra.result.peers.length === 0, 'a sees an empty room');
check(typeof ra.result.heartbeat_ms === 'number', 'heartbeat_ms in the result');
const rb = await b.request('peer.announce', { room: 'node' });
check(rb.result && rb.result.peer_id.startsWith('p-'), 'b gets a server-assigned id');
check(rb.result.peers.length === 1 && rb.result.peers[0].peer_id === 'node-a', 'b sees a');
const bid = rb.result.peer_id;
const joined = await a.next((m) => m.method === 'peer.joined');
check(joined.params.peer_id === bid, 'a told peer.joined');

// newcomer offers; existing peer answers
const ro = await b.request('peer.offer', { to: 'node-a', sdp: SDP, from: 'spoofed' });
check(ro.result !== undefined, 'offer accepted');
const offer = await a.next((m) => m.method === 'peer.offer');
check(offer.params.from === bid && offer.params.sdp === SDP, 'offer forwarded, sender from the connection');
await a.request('peer.answer', { to: bid, sdp: SDP });
const answer = await b.next((m) => m.method === 'peer.answer');
check(answer.params.from === 'node-a', 'answer forwarded');
await a.request('peer.ice_candidate', { to: bid, candidate: 'candidate:1 1 udp 2122252543 127.0.0.1 5000 typ host', sdp_mid: '0', sdp_mline_index: 0 });
const cand = await b.next((m) => m.method === 'peer.ice_candidate');
check(cand.params.candidate.startsWith('candidate:1') && cand.params.sdp_mid === '0', 'candidate forwarded');
await a.request('peer.ice_candidate', { to: bid, candidate: '', sdp_mid: '0' });
const eoc = await b.next((m) => m.method === 'peer.ice_candidate');
check(eoc.params.candidate === '', 'end-of-candidates forwarded');

// errors
check((await a.request('peer.nope', {})).error.code === -32601, 'unknown method -32601');
check((await a.request('peer.offer', { to: 'ghost', sdp: SDP })).error.code === -32003, 'unknown peer -32003');
check((await a.request('peer.offer', { to: bid, sdp: 'v=0\r\n' })).error.code === -32009, 'invalid SDP -32009');
check((await a.request('peer.announce', { room: 'node' })).error.code === -32011, 'announce twice -32011');
a.raw('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
const pe = await a.next((m) => m.error && m.id === null);
check(pe.error.code === -32700, 'parse error -32700');
a.raw('[]');
const ie = await a.next((m) => m.error && m.id === null);
check(ie.error.code === -32600, 'empty batch -32600');
a.raw(JSON.stringify([{ jsonrpc: '2.0', method: 'peer.ping', id: 'x1' }, { jsonrpc: '2.0', method: 'peer.ping' }]));
const batch = await new Promise((resolve) => { a.pending.set('x1', resolve); });
check(batch.result && batch.result.pong === true, 'batch: request answered, notification not');
const c = new Peer('c'); await c.open();
check((await c.request('peer.ping', {})).result.pong === true, 'ping before announce');
check((await c.request('peer.offer', { to: 'node-a', sdp: SDP })).error.code === -32006, 'not announced -32006');
check((await c.request('peer.announce', { room: 'node', peer_id: 'node-a' })).error.code === -32007, 'duplicate id -32007');

// leave
await b.request('peer.disconnect', {});
const left = await a.next((m) => m.method === 'peer.left');
check(left.params.peer_id === bid && left.params.reason === 'disconnect', 'peer.left with reason');

clearTimeout(timer);
for (const p of [a, b, c]) p.ws.close(1000);
console.log(failures === 0 ? 'all checks passed' : failures + ' checks failed');
process.exit(failures === 0 ? 0 : 1);
