'use strict';
// Peers that come and go: N times, a member joins the room with the seed page's socket.io
// client, waits for the other member's offer, leaves and disconnects. The soak test counts
// what the member that stays holds after it.
// Usage: node join-leave.js URL ROOM|null N
// Prints {"cycles":N,"ms":...}.
const io = require('socket.io-client-v2');

const [url, roomArg, count] = process.argv.slice(2);
const room = roomArg === 'null' ? null : roomArg;
const TIMEOUT = 10000;

function cycle(n) {
  return new Promise((resolve, reject) => {
    const s = io.connect(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    const timer = setTimeout(() => reject(new Error(`cycle ${n}: timed out`)), TIMEOUT);
    s.on('connect', () => s.emit('join', room));
    // The previous member's disconnect may not have reached the server yet: try again.
    s.on('full', () => setTimeout(() => s.emit('join', room), 20));
    s.on('message', (...args) => {
      const m = args[args.length - 1];
      if (m && m.type === 'offer') s.emit('leave', room);
    });
    s.on('leaved', () => s.disconnect());
    s.on('disconnect', () => { clearTimeout(timer); resolve(); });
    s.on('connect_error', (e) => reject(new Error(`cycle ${n}: ${e}`)));
  });
}

(async () => {
  const start = Date.now();
  for (let n = 0; n < Number(count); n++) await cycle(n);
  console.log(JSON.stringify({ cycles: Number(count), ms: Date.now() - start }));
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
