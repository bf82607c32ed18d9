'use strict';
// A hostile member of a room: joins with the seed page's own socket.io client (2.0.3), relays a
// battery of malformed and wrong messages to the other member, then leaves. roompeer must log
// and ignore all of it, never crash, and still take the next real call.
// Usage: node hostile-peer.js URL ROOM|null
const io = require('socket.io-client-v2');

const [url, roomArg] = process.argv.slice(2);
const room = roomArg === 'null' ? null : roomArg;
const socket = io.connect(url, { transports: ['websocket'], rejectUnauthorized: false });

let deep = 'x';
for (let i = 0; i < 100; i++) deep = [deep];

const battery = [
  null, 42, 'offer', [], {}, { type: 5 }, { type: 'offer' }, { type: 'offer', sdp: 7 },
  { type: 'answer', sdp: 'v=0 but nothing else' }, { type: 'candidate' },
  { type: 'candidate', label: 'zero', candidate: 5 },
  { type: 'candidate', label: 0, id: '0', candidate: 'candidate:garbage' },
  { type: 'bogus', sdp: 'x' }, { type: 'offer', sdp: 'this is not SDP' },
  { type: 'candidate', label: 0, id: '0', candidate: 'candidate:1 1 udp 1 203.0.113.9 9 typ host' },
  deep, { type: 'answer', sdp: 'y'.repeat(500000) },
];

socket.on('connect', () => socket.emit('join', room));
socket.on('joined', () => {
  for (const m of battery) socket.emit('message', room, m);
  // The server relays in order: once `leaved` comes back, everything before it was delivered.
  socket.emit('leave', room);
});
socket.on('leaved', () => {
  console.log(JSON.stringify({ sent: battery.length }));
  socket.disconnect();
  process.exit(0);
});
socket.on('connect_error', (e) => { console.error('hostile peer: ' + e); process.exit(1); });
