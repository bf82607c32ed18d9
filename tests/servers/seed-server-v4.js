'use strict';
// The seed's signaling server ported to the socket.io 4.x API (rooms are a Map of Sets).
// Engine.IO v3 clients are refused unless --allow-eio3 is given, so v4 is really spoken.
const { parseArgs, startServers } = require('./common');
const { Server } = require('socket.io-v4');

const USERCOUNT = 3;
const opts = parseArgs(process.argv);

startServers(opts, (server) => {
  const io = new Server(server, { allowEIO3: opts.allowEIO3 });
  io.on('connection', (socket) => {
    socket.on('message', (room, data) => {
      socket.to(room).emit('message', room, data);
    });
    socket.on('join', (room) => {
      socket.join(room);
      const myRoom = io.sockets.adapter.rooms.get(room);
      const users = myRoom ? myRoom.size : 0;
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
  return io;
}, (io, server) => io.attach(server));
