'use strict';
// The seed's signaling server ported to the socket.io 4.x API (rooms are a Map of Sets).
// Engine.IO v3 clients are refused unless --allow-eio3 is given, so v4 is really spoken.
const { parseArgs, startServers, seedRoomHandlers } = require('./common');
const { Server } = require('socket.io-v4');

const opts = parseArgs(process.argv);

startServers(opts, (server) => {
  const io = new Server(server, { allowEIO3: opts.allowEIO3 });
  seedRoomHandlers(io, (room) => {
    const myRoom = io.sockets.adapter.rooms.get(room);
    return myRoom ? myRoom.size : 0;
  });
  return io;
}, (io, server) => io.attach(server));
