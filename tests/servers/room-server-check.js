'use strict';
// Checks a room server against the seed's protocol with real socket.io clients, and (mode
// `hostile`) against the input that kills the seed's server.
// Usage: node room-server-check.js URL protocol|hostile|limits
//   protocol: the seed's room rules with the seed page's socket.io-client 2.0.3, with a 4.x
//             client, and with one of each in the same room;
//   hostile:  rooms named like Object.prototype members, relaying and leaving by strangers,
//             deep and huge messages, malformed frames; then a fresh pair must still meet.
// Prints one JSON line: {"ok":true,"checks":[...]} or {"ok":false,"failed":"...","checks":[...]}.
const path = require('path');
const ioV2 = require('socket.io-client-v2');
const ioV4 = require('socket.io-client-v4');
const WebSocket = require(path.join(__dirname, 'node_modules', 'ws'));

const [url, mode] = process.argv.slice(2);
const checks = [];
const TIMEOUT = 10000;

function client(kind) {
  const opts = { transports: ['websocket'], forceNew: true, reconnection: false, rejectUnauthorized: false };
  const s = kind === 'v2' ? ioV2.connect(url, opts) : ioV4(url, opts);
  s.kind = kind;
  s.seen = [];
  s.waiters = [];
  const record = (event) => (...args) => {
    s.seen.push({ event, args });
    s.waiters = s.waiters.filter((w) => !w(event, args));
  };
  for (const e of ['joined', 'otherjoin', 'full', 'leaved', 'bye', 'message']) s.on(e, record(e));
  s.on('disconnect', record('disconnect'));
  return s;
}

// Resolves with the args of the next `event` on socket `s` (or one already seen after `from`).
function next(s, event, what, from = 0) {
  const old = s.seen.slice(from).find((x) => x.event === event);
  if (old) { s.seen.splice(s.seen.indexOf(old), 1); return Promise.resolve(old.args); }
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${s.kind} client: no ${event} (${what})`)), TIMEOUT);
    s.waiters.push((e, args) => {
      if (e !== event) return false;
      clearTimeout(t);
      s.seen.splice(s.seen.findIndex((x) => x.args === args), 1);
      resolve(args);
      return true;
    });
  });
}

function connected(s) {
  return new Promise((resolve, reject) => {
    if (s.connected) return resolve(s);
    s.on('connect', () => resolve(s));
    s.on('connect_error', (e) => reject(new Error(`${s.kind} client cannot connect: ${e}`)));
  });
}

function check(cond, what) {
  if (!cond) throw new Error(what);
  checks.push(what);
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// Two clients meet in `room`; the third is told it is full; messages and leave go as the seed's.
async function meet(kindA, kindB, room) {
  const a = await connected(client(kindA));
  const b = await connected(client(kindB));
  const c = await connected(client(kindA));
  a.emit('join', room);
  check(same(await next(a, 'joined', 'a joins'), [room, a.id]), `${kindA}: joined(room, own id)`);
  b.emit('join', room);
  check(same(await next(b, 'joined', 'b joins'), [room, b.id]), `${kindB}: joined second`);
  check(same(await next(a, 'otherjoin', 'b joined'), [room, b.id]), `${kindA}: otherjoin with the newcomer's id`);
  c.emit('join', room);
  check(same(await next(c, 'full', 'c joins'), [room, c.id]), `${kindA}: third is told full`);
  const offer = { type: 'offer', sdp: 'v=0\r\n' };
  a.emit('message', room, offer);
  const gotOffer = await next(b, 'message', 'offer');
  check(same(gotOffer, [room, offer]), `${kindA}->${kindB}: message relayed unchanged (got ${JSON.stringify(gotOffer)})`);
  const cand = { type: 'candidate', label: 0, id: '0', candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' };
  b.emit('message', room, cand);
  check(same(await next(a, 'message', 'candidate'), [room, cand]), `${kindB}->${kindA}: candidate relayed`);
  b.emit('leave', room);
  check(same(await next(b, 'leaved', 'b leaves'), [room, b.id]), `${kindB}: leaved to the leaver`);
  check(same(await next(a, 'bye', 'b left'), [room, b.id]), `${kindA}: bye with the leaver's id`);
  check(!c.seen.some((x) => x.event === 'message' || x.event === 'bye'), 'the refused third saw nothing of the room');
  for (const s of [a, b, c]) s.disconnect();
}

// A client that sends `join` and a `message` in the same instant it is connected, as a fast
// client may: the server must have its handlers in place before it acknowledges the connection,
// and must handle one socket's events in the order they came (a message handled before the
// join in front of it is refused as from a stranger).
async function eagerPairs(rounds) {
  for (let i = 0; i < rounds; i++) {
    const room = `eager-${i}`;
    const a = await connected(client('v4'));
    a.emit('join', room);
    await next(a, 'joined', `${room}: a`);
    const wsUrl = url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
    const ws = new WebSocket(wsUrl, { rejectUnauthorized: false });
    ws.on('message', (m) => {
      m = String(m);
      if (m.startsWith('0')) ws.send('40');
      else if (m.startsWith('40')) {
        ws.send(`42["join","${room}"]`);
        ws.send(`42["message","${room}",{"type":"eager","n":${i}}]`);
      }
    });
    ws.on('error', () => {});
    await next(a, 'otherjoin', `${room}: the eager client's join`);
    const got = await next(a, 'message', `${room}: the eager client's message`);
    check(same(got, [room, { type: 'eager', n: i }]), `${room}: join and message sent at once both arrive`);
    ws.close();
    a.disconnect();
  }
}

async function protocol() {
  await eagerPairs(20);
  await meet('v2', 'v2', 'room-v2');
  await meet('v4', 'v4', 'room-v4');
  await meet('v2', 'v4', 'room-mixed');
  // The page's room: undefined, sent as null.
  const p = await connected(client('v2'));
  p.emit('join', undefined);
  check(same(await next(p, 'joined', 'null room'), [null, p.id]), 'the page\'s null room');
  p.disconnect();
}

// Sends `frames` raw over a websocket, after a proper Engine.IO v4 handshake, and closes it.
// With `joinFirst`, the first frame is a join whose `joined` is awaited before the rest go (so
// a refused join cannot be mistaken for a dropped message), and the socket stays open: the
// promise gives it, for the caller to close once the messages have arrived.
function rawFrames(frames, joinFirst = false) {
  return new Promise((resolve) => {
    const wsUrl = url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
    const ws = new WebSocket(wsUrl, { rejectUnauthorized: false });
    const rest = joinFirst ? frames.slice(1) : frames;
    const sendRest = () => {
      for (const f of rest) ws.send(f);
      if (joinFirst) resolve(ws);
      else ws.close();
    };
    ws.on('message', (m) => {
      m = String(m);
      if (m.startsWith('0')) { ws.send('40'); return; }
      if (m.startsWith('40')) {
        if (joinFirst) ws.send(frames[0]);
        else sendRest();
        return;
      }
      if (joinFirst && m.startsWith('42["joined"')) sendRest();
    });
    ws.on('close', resolve);
    ws.on('error', resolve);
  });
}

async function hostile() {
  const h = await connected(client('v2'));
  for (const room of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    h.emit('join', room);
    check(same(await next(h, 'joined', room), [room, h.id]), `room ${room} is just a name`);
    h.emit('leave', room);
    check(same(await next(h, 'leaved', room), [room, h.id]), `leave ${room}`);
  }
  // Two members and a stranger.
  const x = await connected(client('v2'));
  const y = await connected(client('v4'));
  x.emit('join', 'private');
  await next(x, 'joined', 'x');
  y.emit('join', 'private');
  await next(y, 'joined', 'y');
  await next(x, 'otherjoin', 'y');
  h.emit('message', 'private', { type: 'offer', sdp: 'v=0 injected' });
  h.emit('leave', 'private');
  await next(h, 'leaved', 'stranger leave');
  h.emit('join', 'private');
  await next(h, 'full', 'stranger sees full');
  // Barrier: anything the server relayed to x before this comes before y's message.
  y.emit('message', 'private', { type: 'answer', sdp: 'v=0 real' });
  const got = await next(x, 'message', 'barrier');
  check(got[1].sdp === 'v=0 real', 'a stranger cannot relay into a room');
  check(!x.seen.some((e) => e.event === 'bye') && !y.seen.some((e) => e.event === 'bye'), 'a stranger\'s leave hangs nobody up');
  // Deep nesting (12,000 levels kill the seed's server; 40 pass JSON parsers but not the
  // server's bound), sent raw by a member, then an ordinary message: the member's peer must
  // get only the ordinary one.
  const w = await connected(client('v4'));
  w.emit('join', 'deep');
  await next(w, 'joined', 'w');
  const nest = (n) => '['.repeat(n) + '"x"' + ']'.repeat(n);
  const raw = await rawFrames([
    '42["join","deep"]',
    '42["message","deep",' + nest(12000) + ']',
    '42["message","deep",' + nest(40) + ']',
    '42["message","deep",{"type":"after"}]',
  ], true);
  const after = await next(w, 'message', 'after the deep ones');
  raw.close();
  check(same(after, ['deep', { type: 'after' }]), `deep messages are dropped, not relayed (got ${JSON.stringify(after).slice(0, 80)})`);
  const d = await connected(client('v4'));
  d.emit('join', { an: 'object' });
  d.emit('join', 'x'.repeat(1000));
  d.emit('join', 'fine');
  check(same(await next(d, 'joined', 'after bad names'), ['fine', d.id]), 'bad room names are refused, the socket goes on');
  // A frame over the size bound: the sender is cut off, nobody else.
  const big = await connected(client('v2'));
  big.emit('join', 'private');
  big.emit('message', 'private', { type: 'offer', sdp: 'y'.repeat(2000000) });
  await next(big, 'disconnect', 'huge frame closes its sender');
  check(true, 'a 2 MB frame closes only its sender');
  await rawFrames(['42[', '42["join"', '4' + 'z'.repeat(1000), '42[{"a":1}]', '42["message",null]', '99', '2probe', '40/nope,', '']);
  check(true, 'malformed frames sent');
  // The room still works for its members, and a new pair can meet elsewhere.
  x.emit('message', 'private', { type: 'candidate', label: 0, id: '0', candidate: 'candidate:x' });
  await next(y, 'message', 'members still relay');
  check(true, 'members still relay after the battery');
  for (const s of [h, x, y, d, w]) s.disconnect();
  await meet('v2', 'v4', 'after-the-battery');
}

// Resolves with what a raw websocket handshake to the socket.io endpoint got: 'open' or the
// HTTP status that refused it.
function wsHandshake(origin) {
  const target = url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
  return new Promise((resolve) => {
    const ws = new WebSocket(target, { origin, rejectUnauthorized: false });
    ws.on('open', () => { ws.close(); resolve('open'); });
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.on('error', (e) => resolve(String(e)));
  });
}

// The server's limits, as `roompeer serve --max-connections-per-address 6 --message-burst 20
// --max-messages-per-second 10 --allow-origin https://good.example` sets them.
async function limits() {
  // Connections per address: six are in, the seventh is refused with a reason, and one that
  // leaves makes room. (Six, so the three that `meet` opens at the end fit beside the two of
  // the flood test whose disconnects may still be on their way.)
  const four = [];
  for (let i = 0; i < 6; i++) four.push(await connected(client('v4')));
  const fifth = client('v4');
  const refusal = await new Promise((resolve) => {
    fifth.on('connect', () => resolve('connected'));
    fifth.on('connect_error', (e) => resolve(String(e && e.message)));
  });
  fifth.close();
  check(/already holds 6 connections/.test(refusal), `the seventh connection from one address is refused (${refusal})`);
  four.pop().disconnect();
  const again = await waitFor(async () => {
    const s = client('v4');
    const r = await new Promise((resolve) => {
      s.on('connect', () => resolve(true));
      s.on('connect_error', () => { s.close(); resolve(false); });
    });
    return r ? s : null;
  });
  check(again, 'a connection that left makes room for the next');
  for (const s of four) s.disconnect();
  // Messages a second: a member floods its peer with 200 messages at once; the peer gets the
  // burst (20, less the join) in order, and the flooder is disconnected.
  const a = again;
  const b = await connected(client('v2'));
  a.emit('join', 'flooded');
  await next(a, 'joined', 'a');
  b.emit('join', 'flooded');
  await next(b, 'joined', 'b');
  for (let i = 0; i < 200; i++) a.emit('message', 'flooded', { type: 'candidate', n: i });
  await next(a, 'disconnect', 'the flooder is cut off');
  // Barrier: the server handles b's own messages in order; once its leave is answered, all
  // that a's flood put through has been relayed.
  b.emit('leave', 'flooded');
  await next(b, 'leaved', 'b leaves');
  const got = b.seen.filter((e) => e.event === 'message').map((e) => e.args[1].n);
  check(got.length >= 19 && got.length <= 22 && got.every((n, i) => n === i),
    `the flooded peer got the burst in order and no more (${got.length})`);
  check(true, 'a flooding client is disconnected');
  b.disconnect();
  // Origins: a page from elsewhere is refused before any session exists; the allowed origin
  // and a client with no Origin (not a browser) get in.
  check(await wsHandshake('https://evil.example') === 403, 'a page from another origin is refused (403)');
  check(await wsHandshake('https://good.example') === 'open', 'the allowed origin connects');
  check(await wsHandshake(undefined) === 'open', 'a client without Origin connects');
  // And the server still holds a room for a well-behaved pair.
  await meet('v4', 'v2', 'after-the-limits');
}

// Retries `f` until it returns something, for up to TIMEOUT (a disconnect reaches the server
// a moment after the client says it).
async function waitFor(f) {
  const until = Date.now() + TIMEOUT;
  while (Date.now() < until) {
    const r = await f();
    if (r) return r;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}

(async () => {
  try {
    if (mode === 'hostile') await hostile();
    else if (mode === 'limits') await limits();
    else await protocol();
    console.log(JSON.stringify({ ok: true, checks }));
    process.exit(0);
  } catch (e) {
    console.log(JSON.stringify({ ok: false, failed: String(e && e.message || e), checks }));
    process.exit(1);
  }
})();
