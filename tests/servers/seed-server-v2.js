'use strict';
// The seed's signaling server, reproduced on socket.io 2.x with default engine options:
// same room rules (USERCOUNT 3, so two peers a room), same events, same weaknesses
// (rooms in a plain object, relays from non-members, no limits). Written for this project.
const { parseArgs, startServers } = require('./common');
const socketIo = require('socket.io-v2');

const USERCOUNT = 3;
const opts = parseArgs(process.argv);

startServers(opts, (server) => {
  const io = socketIo.listen(server);
  io.sockets.on('connection', (socket) => {
    socket.on('message', (room, data) => {
      socket.to(room).emit('message', room, data);
    });
    socket.on('join', (room) => {
      socket.join(room);
      const myRoom = io.sockets.adapter.rooms[room];
      const users = myRoom ? Object.keys(myRoom.sockets).length : 0;
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
