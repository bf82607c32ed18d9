'use strict';
// Shared start-up for the test servers: ports, certificate and a "listening" line the tests wait for.
const fs = require('fs');
const http = require('http');
const https = require('https');
const express = require('express');
const path = require('path');

function parseArgs(argv) {
  const opts = { httpPort: 0, httpsPort: 0, host: '127.0.0.1', key: null, cert: null, allowEIO3: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--http-port') opts.httpPort = Number(next());
    else if (a === '--https-port') opts.httpsPort = Number(next());
    else if (a === '--host') opts.host = next();
    else if (a === '--key') opts.key = next();
    else if (a === '--cert') opts.cert = next();
    else if (a === '--allow-eio3') opts.allowEIO3 = true;
    else { console.error('unknown option ' + a); process.exit(2); }
  }
  if (!opts.key || !opts.cert) { console.error('--key and --cert are required'); process.exit(2); }
  return opts;
}

// Like the seed: an express app serving the page on http and https, socket.io on https.
// Unlike the seed, the same socket.io server is also attached to http, so that plain-http
// signaling can be tested; both ports share the rooms.
// `create(server)` makes the socket.io server on https; `attach(io, server)` adds http.
function startServers(opts, create, attach) {
  const app = express();
  // The page's client libraries come from npm, not a CDN: socket.io-client 2.0.3 (the seed's)
  // and webrtc-adapter.
  const modules = path.join(__dirname, 'node_modules');
  app.get('/js/socket.io.js', (req, res) => res.sendFile(path.join(modules, 'socket.io-client-v2', 'dist', 'socket.io.js')));
  app.get('/js/adapter.js', (req, res) => res.sendFile(path.join(modules, 'webrtc-adapter', 'out', 'adapter.js')));
  app.use(express.static(path.join(__dirname, '..', '..', 'assets', 'web')));
  const httpServer = http.createServer(app);
  const httpsServer = https.createServer({ key: fs.readFileSync(opts.key), cert: fs.readFileSync(opts.cert) }, app);
  const io = create(httpsServer);
  attach(io, httpServer);
  let pending = 2;
  const ready = () => {
    if (--pending === 0) {
      // One line on stdout: the tests read the ports from it.
      console.log(JSON.stringify({ listening: true, http: httpServer.address().port, https: httpsServer.address().port }));
    }
  };
  httpServer.listen(opts.httpPort, opts.host, ready);
  httpsServer.listen(opts.httpsPort, opts.host, ready);
}

// The seed's room rules and events, as its server.js has them (weaknesses included: any socket
// can relay into any room, `leave` does not leave). `roomSize(room)` is the one place where the
// socket.io 2.x and 4.x APIs differ.
const USERCOUNT = 3;
function seedRoomHandlers(io, roomSize) {
  io.sockets.on('connection', (socket) => {
    socket.on('message', (room, data) => {
      socket.to(room).emit('message', room, data);
    });
    socket.on('join', (room) => {
      socket.join(room);
      const users = roomSize(room);
      if (users < USERCOUNT) {
        socket.emit('joined', room, socket.id);
        if (users > 1) {
          socket.to(room).emit('otherjoin', room, socket.id);
        }
      } else {
        socket.leave(room);
        socket.emit('full', room, socket.id);
      }
    });
    socket.on('leave', (room) => {
      socket.to(room).emit('bye', room, socket.id);
      socket.emit('leaved', room, socket.id);
    });
  });
}

module.exports = { parseArgs, startServers, seedRoomHandlers };
