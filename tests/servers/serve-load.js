'use strict';
// Load on `roompeer serve` (process PID), with socket.io 4.x clients over websocket:
//   relay N R M: N sockets in R rooms, each sends M numbered messages into its room; every
//                message must reach the room's other members, in order (no loss).
//   idle N SECS: N sockets stay connected SECS seconds (past the heartbeat's interval and
//                timeout); none may be dropped.
// Usage: node serve-load.js URL PID relay|idle ARGS...
// Prints one JSON line with the figures and the server's RSS at each phase.
const fs = require('fs');
const io = require('socket.io-client-v4');

const [url, pid, mode, ...rest] = process.argv.slice(2);
const rssKib = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function connect() {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => reject(new Error('connect: ' + e.message)));
  });
}

async function connectMany(n) {
  const sockets = [];
  // In batches, so the server's accept queue is not the thing measured.
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 100); j++) batch.push(connect());
    sockets.push(...await Promise.all(batch));
  }
  return sockets;
}

const once = (s, event) => new Promise((resolve) => s.once(event, (...a) => resolve(a)));

async function relay(n, rooms, m) {
  const before = rssKib();
  const t0 = Date.now();
  const sockets = await connectMany(n);
  const connected = rssKib();
  await Promise.all(sockets.map((s, i) => { const j = once(s, 'joined'); s.emit('join', `room-${i % rooms}`); return j; }));
  const got = sockets.map(() => new Map());
  let lost = 0; let disorder = 0; let received = 0;
  sockets.forEach((s, i) => s.on('message', (room, msg) => {
    const last = got[i].get(msg.from) ?? -1;
    if (msg.n !== last + 1) { if (msg.n > last + 1) lost += msg.n - last - 1; else disorder++; }
    got[i].set(msg.from, msg.n);
    received++;
  }));
  const expected = sockets.length * m * (Math.ceil(n / rooms) - 1);
  const done = new Promise((resolve) => {
    const check = setInterval(() => { if (received >= expected) { clearInterval(check); resolve(); } }, 20);
    setTimeout(() => { clearInterval(check); resolve(); }, 60000);
  });
  const t1 = Date.now();
  sockets.forEach((s, i) => { for (let k = 0; k < m; k++) s.emit('message', `room-${i % rooms}`, { from: i, n: k, pad: 'x'.repeat(200) }); });
  await done;
  const secs = (Date.now() - t1) / 1000;
  const loaded = rssKib();
  for (const s of sockets) s.disconnect();
  return { mode: 'relay', sockets: n, rooms, sent: n * m, expected, received, lost, disorder,
    seconds: secs, per_second: Math.round(received / secs), connect_seconds: (t1 - t0) / 1000,
    rss_kib: { before, connected, loaded } };
}

async function idle(n, secs) {
  const before = rssKib();
  const sockets = await connectMany(n);
  const connected = rssKib();
  let dropped = 0;
  let ending = false;
  const reasons = {};
  const t0 = Date.now();
  for (const s of sockets) {
    s.on('disconnect', (why) => {
      if (ending) return;
      dropped++;
      reasons[why] = reasons[why] || { count: 0, first_after_s: (Date.now() - t0) / 1000 };
      reasons[why].count++;
    });
  }
  await new Promise((resolve) => setTimeout(resolve, secs * 1000));
  const after = rssKib();
  ending = true;
  for (const s of sockets) s.disconnect();
  return { mode: 'idle', sockets: n, seconds: secs, dropped, reasons,
    rss_kib: { before, connected, after }, kib_per_connection: +((after - before) / n).toFixed(1) };
}

(async () => {
  const r = mode === 'relay' ? await relay(...rest.map(Number)) : await idle(...rest.map(Number));
  console.log(JSON.stringify(r));
  process.exit(0);
})().catch((e) => { console.error(String(e)); process.exit(1); });
