'use strict';
// A hostile member of a room: joins with the seed page's own socket.io client (2.0.3), relays
// malformed, absurd and wrong messages to the other member, then leaves. roompeer must log and
// ignore all of it (or end only that attempt), never crash, and still take the next real call.
// Usage: node hostile-peer.js URL ROOM|null [battery|answerer]
//   battery:  sends everything at once, offers included (roompeer answers);
//   answerer: waits for roompeer's offer and answers it with absurd answers (roompeer offers).
const io = require('socket.io-client-v2');

const [url, roomArg, mode = 'battery'] = process.argv.slice(2);
const room = roomArg === 'null' ? null : roomArg;
const socket = io.connect(url, { transports: ['websocket'], rejectUnauthorized: false, reconnection: false });

let deep = 'x';
for (let i = 0; i < 100; i++) deep = [deep];

const head = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
// About 1 MB: the servers' engine.io refuses a packet of 1e6 bytes or more (maxHttpBufferSize).
const megabyte = 'A'.repeat(999000);
const manySections = head + 'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n'.repeat(10000);
const noMedia = head;
const flood = [];
for (let i = 0; i < 10000; i++) {
  flood.push({ type: 'candidate', label: 0, id: '0',
    candidate: `candidate:${i} 1 udp 2122260223 127.0.0.1 ${1024 + (i % 60000)} typ host` });
}

const malformed = [
  null, 42, 'offer', [], {}, { type: 5 }, { type: 'offer' }, { type: 'offer', sdp: 7 },
  { type: 'answer', sdp: 'v=0 but nothing else' }, { type: 'candidate' },
  { type: 'candidate', label: 'zero', candidate: 5 },
  { type: 'candidate', label: 0, id: '0', candidate: 'candidate:garbage' },
  { type: 'bogus', sdp: 'x' }, { type: 'offer', sdp: 'this is not SDP' },
  { type: 'candidate', label: 0, id: '0', candidate: 'candidate:1 1 udp 1 203.0.113.9 9 typ host' },
  deep, { type: 'answer', sdp: 'y'.repeat(500000) }, { type: megabyte },
];

let sent = 0;
const send = (m) => { socket.emit('message', room, m); sent++; };

socket.on('connect', () => socket.emit('join', room));
socket.on('joined', () => {
  if (mode !== 'battery') return;
  for (const m of malformed) send(m);
  for (const sdp of [megabyte, manySections, noMedia]) send({ type: 'offer', sdp });
  for (const c of flood) send(c);
  // The server relays in order: once `leaved` comes back, everything before it was delivered.
  socket.emit('leave', room);
});
// The seed's server relays `message` with the room first: (room, message).
socket.on('message', (...args) => {
  const m = args[args.length - 1];
  if (mode !== 'answerer' || !m || m.type !== 'offer' || sent > 0) return;
  for (const sdp of [megabyte, manySections, 'not SDP at all']) send({ type: 'answer', sdp });
  for (const c of flood) send(c);
  for (const m of malformed) send(m);
  socket.emit('leave', room);
});
socket.on('leaved', () => {
  done = true;
  console.log(JSON.stringify({ sent }));
  socket.disconnect();
  process.exit(0);
});
let done = false;
socket.on('disconnect', (r) => { if (!done) { console.error('hostile peer: disconnected: ' + r); process.exit(1); } });
socket.on('connect_error', (e) => { console.error('hostile peer: ' + e); process.exit(1); });
