//! Entry points for fuzzing everything that parses input from the network: each takes
//! arbitrary bytes and must return without panicking, whatever they hold. The coverage-guided
//! runs (`scripts/fuzz.sh`, cargo-afl) and the test suite's short pass (`tests/fuzz.rs`) call
//! the same functions, so a crash found by one is replayed by the other.

use crate::media::frame::I420Frame;
use crate::media::video::VideoCodec;
use crate::peer::rtcp::ReceptionReports;
use crate::peer::turn_stream::StreamFramer;
use crate::signaling::eio_session::EioSession;
use crate::signaling::room::{RoomEvent, SignalMessage};
use crate::signaling::{engineio, socketio};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A fuzz target: bytes in, nothing out, never a panic.
pub type Target = fn(&[u8]);

/// Every target, by the name `scripts/fuzz.sh` and the tests use.
pub const TARGETS: &[(&str, Target)] = &[
    ("engineio", engineio_session),
    ("socketio", socketio_packet),
    ("room", room_event),
    ("sdp", sdp),
    ("turn_framer", turn_framer),
    ("stamp", stamp),
    ("rtcp", rtcp),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Text frames as a websocket would deliver them: the input split at newlines.
fn frames(data: &[u8]) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    data.split(|&b| b == b'\n').map(String::from_utf8_lossy)
}

/// The Engine.IO session (handshake, pings, upgrade, socket.io on top), fed frame by frame
/// in both protocol versions, with time moving on.
pub fn engineio_session(data: &[u8]) {
    for forced in [None, Some(engineio::EioVersion::V3)] {
        let start = Instant::now();
        let mut session = EioSession::new(start, forced, Duration::from_secs(5));
        for (i, frame) in frames(data).enumerate() {
            let _ = engineio::Packet::parse(&frame);
            let now = start + Duration::from_millis(i as u64 * 10);
            session.handle_frame(now, &frame);
            session.handle_timeout(now);
            while session.poll_output().is_some() {}
        }
    }
}

/// A socket.io packet, and the event a room client would make of it.
pub fn socketio_packet(data: &[u8]) {
    for frame in frames(data) {
        if let Ok(socketio::Packet::Event { name, args, .. }) = socketio::Packet::parse(&frame)
            && let Ok(RoomEvent::Message(m)) = RoomEvent::from_socketio(&name, &args)
        {
            let _ = m.kind();
        }
    }
}

/// A room event as JSON (`["message", room, data]`), through the room rules' parser.
pub fn room_event(data: &[u8]) {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(data) else {
        if let Ok(v) = serde_json::from_slice::<Value>(data) {
            let _ = SignalMessage::parse(&v);
        }
        return;
    };
    let name = items.first().and_then(Value::as_str).unwrap_or("message");
    let args = items.get(1..).unwrap_or_default();
    let _ = RoomEvent::from_socketio(name, args);
    if let Some(last) = items.last() {
        let _ = SignalMessage::parse(last);
    }
}

/// An SDP as a peer sends it: through our bounds and codec check, then webrtc's parser.
pub fn sdp(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    for kind in ["offer", "answer"] {
        let msg = serde_json::json!({ "type": kind, "sdp": text });
        if SignalMessage::parse(&msg).is_err() {
            continue;
        }
        let _ = crate::peer::check_common_video_codec(&text, &[VideoCodec::H264, VideoCodec::Vp8]);
        let _ = webrtc::peer_connection::RTCSessionDescription::offer(text.clone());
        let _ = webrtc::peer_connection::RTCSessionDescription::answer(text.clone());
    }
    let candidate = serde_json::json!({
        "type": "candidate", "label": 0, "id": "0", "candidate": text
    });
    let _ = SignalMessage::parse(&candidate);
}

/// A byte stream from a TURN server over TCP/TLS, in pieces as reads return them.
pub fn turn_framer(data: &[u8]) {
    let mut framer = StreamFramer::default();
    // The first byte says how big the reads are.
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for piece in data.chunks(chunk) {
        framer.push(piece);
        while let Ok(Some(_)) = framer.next_message() {}
    }
}

/// A decoded picture whose luma is the input, read for a stamp.
pub fn stamp(data: &[u8]) {
    let [w, h, rest @ ..] = data else {
        return;
    };
    // Sizes from 2x2 up to 512x512, even, as decoders hand them over.
    let (width, height) = (usize::from(*w) * 2 + 2, usize::from(*h) * 2 + 2);
    let mut frame = I420Frame::black(width, height);
    if !rest.is_empty() {
        for (i, px) in frame.y.iter_mut().enumerate() {
            *px = rest[i % rest.len()];
        }
    }
    let _ = crate::media::testsrc::read_stamp(&frame);
    let _ = crate::media::marker::shows_flash(&frame);
}

/// A compound RTCP packet from the peer, through webrtc's parser and then our reading of its
/// reports.
pub fn rtcp(data: &[u8]) {
    let mut buf = data;
    if let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut buf) {
        ReceptionReports::default().observe(&packets);
    }
}
