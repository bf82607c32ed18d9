'use strict';
// The seed's signaling server, reproduced on socket.io 2.x with default engine options:
// same room rules (USERCOUNT 3, so two peers a room), same events, same weaknesses
// (rooms in a plain object, relays from non-members, no limits). Written for this project.
const { parseArgs, startServers, seedRoomHandlers } = require('./common');
const socketIo = require('socket.io-v2');

const opts = parseArgs(process.argv);

startServers(opts, (server) => {
  const io = socketIo.listen(server);
  // 2.x: rooms are a plain object of { sockets: {id: true} }, as the seed reads them.
  seedRoomHandlers(io, (room) => {
    const myRoom = io.sockets.adapter.rooms[room];
    return myRoom ? Object.keys(myRoom.sockets).length : 0;
  });
  return io;
}, (io, server) => io.attach(server));
