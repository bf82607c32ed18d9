'use strict';
// The room page of the seed system, written for roompeer: the same socket.io events, message
// shapes and offerer/answerer rules as the seed's main.js, so roompeer can be tested against a
// browser that behaves exactly like the seed's page.
//
// Like the seed, the room is never set unless the URL says `?room=NAME`, so `join` carries
// `undefined`, which socket.io sends as null: the room called "null".
// The seed hard-codes its coturn; this page uses `?turn=URL&user=U&pass=P` (and `&relay=1`), or
// no ICE server.

var localVideo = document.querySelector('video#localvideo');
var remoteVideo = document.querySelector('video#remotevideo');
var btnConn = document.querySelector('button#connserver');
var btnLeave = document.querySelector('button#leave');
var offer = document.querySelector('textarea#offer');
var answer = document.querySelector('textarea#answer');
var stateLabel = document.querySelector('span#state');

var params = new URLSearchParams(window.location.search);
var pcConfig = { iceServers: [] };
if (params.get('turn')) {
  pcConfig.iceServers.push({
    urls: params.get('turn'),
    username: params.get('user') || '',
    credential: params.get('pass') || '',
  });
}
// `?relay=1`: relayed candidates only, as roompeer's --relay-only.
if (params.get('relay') === '1') {
  pcConfig.iceTransportPolicy = 'relay';
}

var localStream = null;
var remoteStream = null;
var pc = null;
var roomid = params.has('room') ? params.get('room') : undefined;
var socket = null;
var offerdesc = null;
var state = 'init';

function setState(s) {
  state = s;
  stateLabel.textContent = s;
}

function sendMessage(roomid, data) {
  console.log('send message to other end', roomid, data);
  if (!socket) {
    console.log('socket is null');
  }
  socket.emit('message', roomid, data);
}

function conn() {
  socket = io.connect();

  socket.on('joined', (roomid, id) => {
    console.log('receive joined message!', roomid, id);
    setState('joined');
    // As the seed: the peer connection is made when we are in the room.
    createPeerConnection();
    bindTracks();
    btnConn.disabled = true;
    btnLeave.disabled = false;
  });

  socket.on('otherjoin', (roomid) => {
    console.log('receive otherjoin message:', roomid, state);
    if (state === 'joined_unbind') {
      createPeerConnection();
      bindTracks();
    }
    setState('joined_conn');
    call();
  });

  socket.on('full', (roomid, id) => {
    console.log('receive full message', roomid, id);
    hangup();
    closeLocalMedia();
    setState('leaved');
    // The seed calls alert(); a blocking dialog would stop a scripted browser, so say it here.
    stateLabel.textContent = 'the room is full!';
  });

  socket.on('leaved', (roomid, id) => {
    console.log('receive leaved message', roomid, id);
    setState('leaved');
    socket.disconnect();
    btnConn.disabled = false;
    btnLeave.disabled = true;
  });

  socket.on('bye', (roomid, id) => {
    console.log('receive bye message', roomid, id);
    setState('joined_unbind');
    hangup();
    offer.value = '';
    answer.value = '';
  });

  socket.on('disconnect', () => {
    console.log('receive disconnect message!', roomid);
    if (!(state === 'leaved')) {
      hangup();
      closeLocalMedia();
    }
    setState('leaved');
  });

  socket.on('message', (roomid, data) => {
    console.log('receive message!', roomid, data);
    if (data === null || data === undefined) {
      console.error('the message is invalid!');
      return;
    }
    if (data.hasOwnProperty('type') && data.type === 'offer') {
      offer.value = data.sdp;
      pc.setRemoteDescription(new RTCSessionDescription(data));
      pc.createAnswer().then(getAnswer).catch(handleAnswerError);
    } else if (data.hasOwnProperty('type') && data.type == 'answer') {
      answer.value = data.sdp;
      pc.setRemoteDescription(new RTCSessionDescription(data));
    } else if (data.hasOwnProperty('type') && data.type === 'candidate') {
      var candidate = new RTCIceCandidate({
        sdpMLineIndex: data.label,
        candidate: data.candidate,
      });
      pc.addIceCandidate(candidate);
    } else {
      console.log('the message is invalid!', data);
    }
  });

  socket.emit('join', roomid);
  return true;
}

function connSignalServer() {
  start();
  return true;
}

function getMediaStream(stream) {
  if (localStream) {
    stream.getAudioTracks().forEach((track) => {
      localStream.addTrack(track);
      stream.removeTrack(track);
    });
  } else {
    localStream = stream;
  }
  localVideo.srcObject = localStream;
  // Only once the media is there: tracks must be bound when the peer connection is made.
  conn();
}

function handleError(err) {
  console.error('Failed to get Media Stream!', err);
}

function start() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    console.error('the getUserMedia is not supported!');
    return;
  }
  var constraints = {
    video: true,
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  };
  navigator.mediaDevices.getUserMedia(constraints).then(getMediaStream).catch(handleError);
}

function getRemoteStream(e) {
  remoteStream = e.streams[0];
  remoteVideo.srcObject = e.streams[0];
}

function handleOfferError(err) {
  console.error('Failed to create offer:', err);
}

function handleAnswerError(err) {
  console.error('Failed to create answer:', err);
}

function getAnswer(desc) {
  pc.setLocalDescription(desc);
  answer.value = desc.sdp;
  sendMessage(roomid, desc);
}

function getOffer(desc) {
  pc.setLocalDescription(desc);
  offer.value = desc.sdp;
  offerdesc = desc;
  sendMessage(roomid, offerdesc);
}

function createPeerConnection() {
  console.log('create RTCPeerConnection!');
  if (!pc) {
    pc = new RTCPeerConnection(pcConfig);
    pc.onicecandidate = (e) => {
      if (e.candidate) {
        sendMessage(roomid, {
          type: 'candidate',
          label: e.candidate.sdpMLineIndex,
          id: e.candidate.sdpMid,
          candidate: e.candidate.candidate,
        });
      } else {
        console.log('this is the end candidate');
      }
    };
    pc.ontrack = getRemoteStream;
  } else {
    console.warn('the pc have be created!');
  }
}

function bindTracks() {
  console.log('bind tracks into RTCPeerConnection!');
  if (pc === null || pc === undefined) {
    console.error('pc is null or undefined!');
    return;
  }
  if (localStream === null || localStream === undefined) {
    console.error('localstream is null or undefined!');
    return;
  }
  localStream.getTracks().forEach((track) => {
    pc.addTrack(track, localStream);
  });
}

function call() {
  if (state === 'joined_conn') {
    var offerOptions = { offerToRecieveAudio: 1, offerToRecieveVideo: 1 };
    pc.createOffer(offerOptions).then(getOffer).catch(handleOfferError);
  }
}

function hangup() {
  if (pc) {
    offerdesc = null;
    pc.close();
    pc = null;
  }
}

function closeLocalMedia() {
  if (localStream && localStream.getTracks()) {
    localStream.getTracks().forEach((track) => {
      track.stop();
    });
  }
  localStream = null;
}

function leave() {
  if (socket) {
    socket.emit('leave', roomid);
  }
  hangup();
  closeLocalMedia();
  offer.value = '';
  answer.value = '';
  btnConn.disabled = false;
  btnLeave.disabled = true;
}

btnConn.onclick = connSignalServer;
btnLeave.onclick = leave;
