//! Engine.IO packets (protocol v3 and v4) as they travel in websocket text frames.
//!
//! Pure parsing and encoding, no I/O: the connection task in `transport.rs` owns the socket.

use serde::Deserialize;
use std::time::Duration;

/// Which Engine.IO protocol a server speaks: v3 (socket.io 2.x) or v4 (socket.io 3.x/4.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum EioVersion {
    /// Engine.IO v3: the client pings, the server joins it to `/` on its own.
    V3,
    /// Engine.IO v4: the server pings, the client asks to join `/`.
    V4,
}

impl EioVersion {
    /// The value of the `EIO` query parameter.
    pub fn query_value(self) -> &'static str {
        match self {
            EioVersion::V3 => "3",
            EioVersion::V4 => "4",
        }
    }
}

/// The `open` packet's JSON.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// Engine.IO session id.
    pub sid: String,
    /// Milliseconds between pings.
    pub ping_interval: u64,
    /// Milliseconds a ping may go unanswered.
    pub ping_timeout: u64,
    /// Only v4 servers send this, which is how the version is told apart.
    #[serde(default)]
    pub max_payload: Option<u64>,
}

impl Handshake {
    /// The protocol the server speaks, read from the shape of its handshake: a v4 server always
    /// sends `maxPayload`, a v3 server never does (and ignores the `EIO` query parameter).
    pub fn version(&self) -> EioVersion {
        if self.max_payload.is_some() {
            EioVersion::V4
        } else {
            EioVersion::V3
        }
    }

    /// How long the connection may stay silent before it counts as dead.
    pub fn liveness_window(&self) -> Duration {
        Duration::from_millis(self.ping_interval.saturating_add(self.ping_timeout))
    }
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// `0{json}`: the server's handshake.
    Open(Handshake),
    /// `1`: the other side closes.
    Close,
    /// `2[data]`: a ping (from the client in v3, from the server in v4).
    Ping(String),
    /// `3[data]`: the answer to a ping.
    Pong(String),
    /// `4data`: a message for the layer above (socket.io).
    Message(String),
    /// `5`: transport upgrade (not used on a websocket-only connection).
    Upgrade,
    /// `6`: no-op.
    Noop,
}

/// Why an Engine.IO frame could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    /// The frame was empty.
    #[error("empty Engine.IO frame")]
    Empty,
    /// The first character is not a packet type.
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownType(char),
    /// The handshake JSON did not have the expected fields.
    #[error("malformed Engine.IO handshake: {0}")]
    BadHandshake(String),
}

impl Packet {
    /// Parses one websocket text frame.
    pub fn parse(frame: &str) -> Result<Packet, FrameError> {
        let mut chars = frame.chars();
        let kind = chars.next().ok_or(FrameError::Empty)?;
        let rest = chars.as_str();
        Ok(match kind {
            '0' => Packet::Open(
                serde_json::from_str(rest).map_err(|e| FrameError::BadHandshake(e.to_string()))?,
            ),
            '1' => Packet::Close,
            '2' => Packet::Ping(rest.to_owned()),
            '3' => Packet::Pong(rest.to_owned()),
            '4' => Packet::Message(rest.to_owned()),
            '5' => Packet::Upgrade,
            '6' => Packet::Noop,
            other => return Err(FrameError::UnknownType(other)),
        })
    }

    /// Encodes the packet as a websocket text frame (only client-sent kinds are needed).
    pub fn encode(&self) -> String {
        match self {
            Packet::Open(_) => "0".to_owned(),
            Packet::Close => "1".to_owned(),
            Packet::Ping(d) => format!("2{d}"),
            Packet::Pong(d) => format!("3{d}"),
            Packet::Message(d) => format!("4{d}"),
            Packet::Upgrade => "5".to_owned(),
            Packet::Noop => "6".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_handshake_is_detected_by_missing_max_payload() {
        let p = Packet::parse(
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}"#,
        )
        .unwrap();
        let Packet::Open(h) = p else {
            panic!("not open")
        };
        assert_eq!(h.version(), EioVersion::V3);
        assert_eq!(h.liveness_window(), Duration::from_secs(45));
    }

    #[test]
    fn v4_handshake_is_detected() {
        let p = Packet::parse(r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#).unwrap();
        let Packet::Open(h) = p else {
            panic!("not open")
        };
        assert_eq!(h.version(), EioVersion::V4);
        assert_eq!(h.sid, "x");
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert_eq!(Packet::parse(""), Err(FrameError::Empty));
        assert_eq!(Packet::parse("9"), Err(FrameError::UnknownType('9')));
        assert!(matches!(
            Packet::parse("0{"),
            Err(FrameError::BadHandshake(_))
        ));
        assert!(matches!(
            Packet::parse("0{\"sid\":1}"),
            Err(FrameError::BadHandshake(_))
        ));
        assert_eq!(Packet::parse("é"), Err(FrameError::UnknownType('é')));
    }

    #[test]
    fn ping_pong_round_trip() {
        assert_eq!(Packet::parse("2").unwrap(), Packet::Ping(String::new()));
        assert_eq!(
            Packet::parse("3probe").unwrap(),
            Packet::Pong("probe".into())
        );
        assert_eq!(Packet::Pong(String::new()).encode(), "3");
        assert_eq!(Packet::Message("2[\"a\"]".into()).encode(), "42[\"a\"]");
    }
}
