'use strict';
// A hostile member of a room: joins with the seed page's own socket.io client (2.0.3), relays
// malformed, absurd and wrong messages to the other member, then leaves. roompeer must log and
// ignore all of it (or end only that attempt), never crash, and still take the next real call.
// Usage: node hostile-peer.js URL ROOM|null [battery|answerer] [STEP]
//   STEP: only that step (by name), e.g. so a good call can be checked after each.
//   battery:  sends everything at once, offers included (roompeer answers);
//   answerer: waits for roompeer's offer and answers it with absurd answers (roompeer offers).
//   stranger: only the stranger's `leave` and bye-like message, never joining the room.
const io = require('socket.io-client-v2');

const [url, roomArg, mode = 'battery', only] = process.argv.slice(2);
const room = roomArg === 'null' ? null : roomArg;

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

// Binary socket.io frames: a BINARY_EVENT header and its attachment in a frame of its own.
const binary = [
  Buffer.from('binary payload'), { type: 'offer', sdp: Buffer.from('v=0\r\n') },
  { type: 'candidate', label: 0, id: '0', candidate: Buffer.alloc(64, 7) },
];
// Over any server's frame bound (1e6 bytes on the seed's; 256 KiB on roompeer serve): the
// server cuts its sender off.
const oversize = [{ type: 'offer', sdp: 'z'.repeat(1500000) }];

// Each step's messages are sent together; a step the server cut off (its frame was too big, or
// the sender over its rate) goes on to the next on a fresh connection, as a client would.
const steps = mode === 'battery'
  ? [['malformed', malformed], ['binary frames', binary],
     ['1 MB SDP', [{ type: 'offer', sdp: megabyte }]],
     ['10,000 m-lines', [{ type: 'offer', sdp: manySections }]],
     ['no media', [{ type: 'offer', sdp: noMedia }]],
     ['10,000 candidates', flood], ['stranger', []], ['oversize frame', oversize]]
  : [['absurd answers', [megabyte, manySections, 'not SDP at all'].map((sdp) => ({ type: 'answer', sdp }))],
     ['10,000 candidates', flood], ['malformed', malformed], ['binary frames', binary],
     ['stranger', []], ['oversize frame', oversize]];

let sent = 0;
const outcome = {};
let socket = null;
let barrier = 0;

// A connection that has joined the room; in `answerer` mode, once roompeer's offer came.
function member() {
  return new Promise((resolve, reject) => {
    const s = io.connect(url, { transports: ['websocket'], rejectUnauthorized: false, reconnection: false, forceNew: true });
    s.on('connect_error', (e) => reject(new Error('hostile peer: ' + e)));
    s.on('connect', () => s.emit('join', room));
    s.on('joined', (r) => { if (mode === 'battery' && r === room) resolve(s); });
    // The seed's server relays `message` with the room first: (room, message).
    s.on('message', (...args) => {
      const m = args[args.length - 1];
      if (mode === 'answerer' && m && m.type === 'offer') resolve(s);
    });
  });
}

// Sends one step; resolves with 'delivered' once the server answered a join of a room of its
// own sent after it (it handles a socket's events in order), or 'cut off'.
function step(messages) {
  return new Promise((resolve) => {
    const mark = 'hostile-barrier-' + barrier++;
    const cut = () => resolve('cut off');
    socket.once('disconnect', cut);
    socket.on('joined', (r) => { if (r === mark) { socket.off('disconnect', cut); resolve('delivered'); } });
    for (const m of messages) { socket.emit('message', room, m); sent++; }
    socket.emit('join', mark);
  });
}

// A socket that never joined sends `leave` and a `bye`-like message into the room (the seed's
// server relays both; roompeer serve relays neither), then goes.
function stranger() {
  return new Promise((resolve, reject) => {
    const s = io.connect(url, { transports: ['websocket'], rejectUnauthorized: false, reconnection: false, forceNew: true });
    s.on('connect_error', (e) => reject(new Error('stranger: ' + e)));
    s.on('connect', () => {
      s.emit('message', room, { type: 'bye' });
      s.emit('leave', room);
      sent += 2;
      // The server handles a socket's events in order: once a join of a room of its own is
      // answered, the leave was handled (answered or ignored).
      s.on('joined', (r) => { if (r === 'stranger-barrier') { s.disconnect(); resolve(); } });
      s.emit('join', 'stranger-barrier');
    });
  });
}

(async () => {
  if (mode === 'stranger') {
    await stranger();
    console.log(JSON.stringify({ sent }));
    process.exit(0);
  }
  for (const [name, messages] of steps.filter(([n]) => !only || n === only)) {
    if (!socket || !socket.connected) socket = await member();
    if (name === 'stranger') await stranger();
    outcome[name] = await step(messages);
  }
  if (!socket.connected) socket = await member();
  socket.emit('leave', room);
  socket.on('leaved', () => {
    console.log(JSON.stringify({ sent, steps: outcome }));
    socket.disconnect();
    process.exit(0);
  });
})().catch((e) => { console.error(String(e)); process.exit(1); });
