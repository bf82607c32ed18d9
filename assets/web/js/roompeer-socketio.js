// A small socket.io client, written for roompeer, that `roompeer serve` hands to the room page
// as /js/socket.io.js, so the page works with nothing but roompeer installed. It speaks
// socket.io 3/4 (Engine.IO v4) over a websocket and offers what the page uses of the real
// client: io.connect(), socket.on(), socket.emit() and socket.disconnect(). It does not
// reconnect on its own; the page's Connect button starts again.
(function () {
  'use strict';

  function Socket(url) {
    this.handlers = {};
    this.queue = [];
    this.connected = false;
    this.id = undefined;
    this.closed = false;
    var base = url ? new URL(url, location.href) : new URL(location.href);
    var scheme = base.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ws = new WebSocket(scheme + '//' + base.host + '/socket.io/?EIO=4&transport=websocket');
    var self = this;
    this.ws.onmessage = function (e) { self.onPacket(String(e.data)); };
    this.ws.onclose = function () { self.gone('transport close'); };
    this.ws.onerror = function () { self.fire('connect_error', new Error('websocket error')); };
  }

  Socket.prototype.on = function (event, fn) {
    (this.handlers[event] = this.handlers[event] || []).push(fn);
    return this;
  };

  Socket.prototype.fire = function (event, args) {
    (this.handlers[event] || []).slice().forEach(function (fn) { fn.apply(null, args); });
  };

  // Engine.IO packet: type digit, then the payload.
  Socket.prototype.onPacket = function (p) {
    var type = p.charAt(0);
    if (type === '0') {
      this.ws.send('40'); // join namespace "/"
    } else if (type === '2') {
      this.ws.send('3'); // the server pings, the client answers
    } else if (type === '4') {
      this.onSocketIo(p.slice(1));
    } else if (type === '1') {
      this.ws.close();
    }
  };

  // socket.io packet: type digit, an optional ack id, then JSON.
  Socket.prototype.onSocketIo = function (p) {
    var type = p.charAt(0);
    var body = p.slice(1).replace(/^\d+/, '');
    var data;
    try { data = body ? JSON.parse(body) : undefined; } catch (e) { return; }
    if (type === '0') {
      this.connected = true;
      this.id = data && data.sid;
      var ws = this.ws;
      this.queue.splice(0).forEach(function (m) { ws.send(m); });
      this.fire('connect', []);
    } else if (type === '2' && Array.isArray(data) && typeof data[0] === 'string') {
      this.fire(data[0], data.slice(1));
    } else if (type === '1') {
      this.gone('io server disconnect');
    } else if (type === '4') {
      this.fire('connect_error', [data]);
    }
  };

  Socket.prototype.emit = function (event) {
    var packet = '42' + JSON.stringify(Array.prototype.slice.call(arguments));
    if (this.connected) this.ws.send(packet);
    else this.queue.push(packet);
    return this;
  };

  Socket.prototype.disconnect = function () {
    if (this.connected) this.ws.send('41');
    this.ws.close();
    this.gone('io client disconnect');
    return this;
  };
  Socket.prototype.close = Socket.prototype.disconnect;

  Socket.prototype.gone = function (reason) {
    if (this.closed) return;
    this.closed = true;
    var was = this.connected;
    this.connected = false;
    if (was) this.fire('disconnect', [reason]);
  };

  function io(url) { return new Socket(url); }
  io.connect = io;
  window.io = io;
})();
