//! The seed's room protocol: typed events from socket.io events, and the messages peers relay.
//!
//! Message shapes are exactly those of the seed's `main.js`:
//! `{"type":"offer"|"answer","sdp":…}` and `{"type":"candidate","label":…,"id":…,"candidate":…}`.

use serde_json::{Value, json};

/// The room name as the seed's page sends it: a string, or `null` when the page never set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room(pub Option<String>);

impl Room {
    /// The JSON value sent in `join`, `message` and `leave`.
    pub fn to_json(&self) -> Value {
        self.0
            .as_ref()
            .map_or(Value::Null, |r| Value::String(r.clone()))
    }
}

impl std::fmt::Display for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(r) => write!(f, "{r:?}"),
            None => write!(f, "null"),
        }
    }
}

/// An event the room server sends.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomEvent {
    /// We are in the room; `id` is our socket id.
    Joined {
        /// Our socket id.
        id: String,
    },
    /// Another peer joined after us: we make the offer.
    OtherJoin {
        /// The newcomer's socket id.
        id: String,
    },
    /// The room already has two peers.
    Full,
    /// Our `leave` was acknowledged.
    Leaved,
    /// The other peer left.
    Bye {
        /// The socket id of the peer that left.
        id: String,
    },
    /// A message relayed from the other peer.
    Message(SignalMessage),
}

/// A message relayed between the two peers of a room.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalMessage {
    /// An SDP offer.
    Offer(String),
    /// An SDP answer.
    Answer(String),
    /// One trickled ICE candidate.
    Candidate(CandidateMessage),
}

/// A candidate as the seed's page sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateMessage {
    /// `label`: the m-line index (`sdpMLineIndex`).
    pub label: Option<u16>,
    /// `id`: the media id (`sdpMid`).
    pub mid: Option<String>,
    /// `candidate`: the `candidate:…` line.
    pub candidate: String,
}

/// Why a server event or relayed message was not understood (it is logged and ignored).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoomError {
    /// An event this protocol does not have.
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    /// An event whose arguments are not as the seed's server sends them.
    #[error("event {event:?}: {problem}")]
    BadArgs {
        /// The event.
        event: String,
        /// What is wrong.
        problem: String,
    },
    /// A relayed message that is not an offer, answer or candidate of the expected shape.
    #[error("invalid message: {0}")]
    BadMessage(String),
}

fn string_arg(event: &str, args: &[Value], index: usize) -> Result<String, RoomError> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s.clone()),
        other => Err(RoomError::BadArgs {
            event: event.to_owned(),
            problem: format!(
                "argument {} should be a socket id string, got {other:?}",
                index + 1
            ),
        }),
    }
}

impl RoomEvent {
    /// Reads a socket.io event from the room server.
    pub fn from_socketio(name: &str, args: &[Value]) -> Result<RoomEvent, RoomError> {
        Ok(match name {
            "joined" => RoomEvent::Joined {
                id: string_arg(name, args, 1)?,
            },
            "otherjoin" => RoomEvent::OtherJoin {
                id: string_arg(name, args, 1)?,
            },
            "full" => RoomEvent::Full,
            "leaved" => RoomEvent::Leaved,
            "bye" => RoomEvent::Bye {
                id: string_arg(name, args, 1)?,
            },
            "message" => {
                RoomEvent::Message(SignalMessage::parse(args.get(1).unwrap_or(&Value::Null))?)
            }
            other => return Err(RoomError::UnknownEvent(crate::text::bounded(other, 60))),
        })
    }
}

impl SignalMessage {
    /// Reads a relayed message.
    pub fn parse(data: &Value) -> Result<SignalMessage, RoomError> {
        let obj = data.as_object().ok_or_else(|| {
            RoomError::BadMessage(format!("expected an object, got {}", short(data)))
        })?;
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or_default();
        let sdp = || -> Result<String, RoomError> {
            match obj.get("sdp") {
                Some(Value::String(s)) if s.len() > MAX_SDP_BYTES => {
                    Err(RoomError::BadMessage(format!(
                        "{kind} SDP of {} bytes is over the {MAX_SDP_BYTES}-byte limit",
                        s.len()
                    )))
                }
                Some(Value::String(s)) if media_sections(s) > MAX_MEDIA_SECTIONS => {
                    Err(RoomError::BadMessage(format!(
                        "{kind} SDP has {} media sections, over the limit of {MAX_MEDIA_SECTIONS}",
                        media_sections(s)
                    )))
                }
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(RoomError::BadMessage(format!(
                    "{kind} without an sdp string"
                ))),
            }
        };
        match kind {
            "offer" => Ok(SignalMessage::Offer(sdp()?)),
            "answer" => Ok(SignalMessage::Answer(sdp()?)),
            "candidate" => {
                let candidate = match obj.get("candidate") {
                    Some(Value::String(c)) if c.len() > MAX_CANDIDATE_BYTES => {
                        return Err(RoomError::BadMessage(format!(
                            "candidate of {} bytes is over the {MAX_CANDIDATE_BYTES}-byte limit",
                            c.len()
                        )));
                    }
                    Some(Value::String(c)) => c.clone(),
                    _ => {
                        return Err(RoomError::BadMessage(
                            "candidate without a candidate string".into(),
                        ));
                    }
                };
                let label = match obj.get("label") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or_else(
                        || {
                            RoomError::BadMessage(format!(
                                "candidate label {v} is not an m-line index"
                            ))
                        },
                    )?),
                };
                let mid = match obj.get("id") {
                    Some(Value::String(s)) if s.len() > MAX_MID_BYTES => {
                        return Err(RoomError::BadMessage(format!(
                            "candidate id of {} bytes is not a media id",
                            s.len()
                        )));
                    }
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                if label.is_none() && mid.is_none() {
                    return Err(RoomError::BadMessage(
                        "candidate with neither label nor id".into(),
                    ));
                }
                Ok(SignalMessage::Candidate(CandidateMessage {
                    label,
                    mid,
                    candidate,
                }))
            }
            "" => Err(RoomError::BadMessage(format!("no type in {}", short(data)))),
            other => Err(RoomError::BadMessage(format!(
                "unknown type {}",
                crate::text::bounded(&format!("{other:?}"), 60)
            ))),
        }
    }

    /// The JSON the seed's page would send for this message.
    pub fn to_json(&self) -> Value {
        match self {
            SignalMessage::Offer(sdp) => json!({"type": "offer", "sdp": sdp}),
            SignalMessage::Answer(sdp) => json!({"type": "answer", "sdp": sdp}),
            SignalMessage::Candidate(c) => json!({
                "type": "candidate",
                "label": c.label,
                "id": c.mid,
                "candidate": c.candidate,
            }),
        }
    }
}

/// What roompeer sends to the room server: the seed page's three emits, mirroring
/// [`RoomEvent`].
#[derive(Debug, Clone, PartialEq)]
pub enum RoomCommand {
    /// `join(room)`.
    Join,
    /// `message(room, data)`: relayed to the other peer.
    Message(SignalMessage),
    /// `leave(room)`.
    Leave,
}

impl RoomCommand {
    /// The socket.io event's name.
    pub fn event_name(&self) -> &'static str {
        match self {
            RoomCommand::Join => "join",
            RoomCommand::Message(_) => "message",
            RoomCommand::Leave => "leave",
        }
    }

    /// The socket.io event as the seed's page emits it: its name and arguments, the room first.
    pub fn to_socketio(&self, room: &Room) -> (&'static str, Vec<Value>) {
        let mut args = vec![room.to_json()];
        if let RoomCommand::Message(m) = self {
            args.push(m.to_json());
        }
        (self.event_name(), args)
    }
}

impl SignalMessage {
    /// `offer`, `answer` or `candidate`, as the message's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            SignalMessage::Offer(_) => "offer",
            SignalMessage::Answer(_) => "answer",
            SignalMessage::Candidate(_) => "candidate",
        }
    }
}

/// A bounded rendering of untrusted JSON for log lines.
fn short(v: &Value) -> String {
    crate::text::bounded(&v.to_string(), 60)
}

/// The largest SDP taken. A browser's offer for a call is 3-10 kB (Chromium's with every
/// codec and a dozen candidates ~12 kB); 128 kB leaves room for many tracks and candidates
/// while a 1 MB blob is refused before it costs a parse (or a log line).
pub const MAX_SDP_BYTES: usize = 128 * 1024;
/// The most media sections (`m=` lines) taken: a call has audio, video, maybe data and a few
/// more tracks; thousands would each cost a transceiver.
pub const MAX_MEDIA_SECTIONS: usize = 32;
/// The longest candidate line: the grammar's fields with an IPv6 address and a few extension
/// attributes fit in ~250 bytes.
pub const MAX_CANDIDATE_BYTES: usize = 1024;
/// The longest media id (`sdpMid`): a token, "0" or "audio" in practice.
const MAX_MID_BYTES: usize = 64;

/// How many media sections an SDP has.
fn media_sections(sdp: &str) -> usize {
    sdp.starts_with("m=") as usize + sdp.matches("\nm=").count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_emitted_as_the_seed_page_emits_them() {
        let null = Room(None);
        assert_eq!(
            RoomCommand::Join.to_socketio(&null),
            ("join", vec![Value::Null]),
            "joins room null like the seed's page"
        );
        let named = Room(Some("r1".into()));
        assert_eq!(
            RoomCommand::Leave.to_socketio(&named),
            ("leave", vec![json!("r1")])
        );
        let candidate = RoomCommand::Message(SignalMessage::Candidate(CandidateMessage {
            label: Some(0),
            mid: Some("0".into()),
            candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
        }));
        let (name, args) = candidate.to_socketio(&named);
        assert_eq!(name, "message");
        assert_eq!(args[0], "r1");
        assert_eq!(args[1]["type"], "candidate");
        assert_eq!(args[1]["label"], 0);
        assert_eq!(args[1]["id"], "0");
        let offer = RoomCommand::Message(SignalMessage::Offer("v=0".into()));
        assert_eq!(
            offer.to_socketio(&null).1,
            vec![Value::Null, json!({"type": "offer", "sdp": "v=0"})]
        );
    }

    #[test]
    fn reads_the_seed_servers_events() {
        assert_eq!(
            RoomEvent::from_socketio("joined", &[Value::Null, json!("me")]).unwrap(),
            RoomEvent::Joined { id: "me".into() }
        );
        assert_eq!(
            RoomEvent::from_socketio("otherjoin", &[json!("r"), json!("them")]).unwrap(),
            RoomEvent::OtherJoin { id: "them".into() }
        );
        assert_eq!(
            RoomEvent::from_socketio("full", &[json!("r"), json!("x")]).unwrap(),
            RoomEvent::Full
        );
        assert_eq!(
            RoomEvent::from_socketio("leaved", &[]).unwrap(),
            RoomEvent::Leaved
        );
        assert!(matches!(
            RoomEvent::from_socketio("bye", &[json!("r")]),
            Err(RoomError::BadArgs { .. })
        ));
        assert!(matches!(
            RoomEvent::from_socketio("nope", &[]),
            Err(RoomError::UnknownEvent(_))
        ));
    }

    #[test]
    fn messages_round_trip_in_the_pages_shapes() {
        let c = SignalMessage::Candidate(CandidateMessage {
            label: Some(1),
            mid: Some("1".into()),
            candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".into(),
        });
        let v = c.to_json();
        assert_eq!(v["type"], "candidate");
        assert_eq!(v["label"], 1);
        assert_eq!(v["id"], "1");
        assert_eq!(SignalMessage::parse(&v).unwrap(), c);
        let o = SignalMessage::Offer("v=0\r\n".into());
        assert_eq!(SignalMessage::parse(&o.to_json()).unwrap(), o);
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            Value::Null,
            json!("offer"),
            json!(42),
            json!([]),
            json!({}),
            json!({"type": 5}),
            json!({"type": "offer"}),
            json!({"type": "offer", "sdp": 3}),
            json!({"type": "answer", "sdp": ""}),
            json!({"type": "candidate"}),
            json!({"type": "candidate", "candidate": "candidate:x"}),
            json!({"type": "candidate", "label": -1, "candidate": "candidate:x"}),
            json!({"type": "candidate", "label": "zero", "candidate": "candidate:x"}),
            json!({"type": "bogus"}),
        ] {
            assert!(SignalMessage::parse(&bad).is_err(), "accepted {bad}");
        }
        // The page sends label only when it has no mid; both forms are accepted.
        assert!(
            SignalMessage::parse(&json!({"type":"candidate","label":0,"candidate":"candidate:x"}))
                .is_ok()
        );
    }

    #[test]
    fn absurd_sizes_are_refused_and_not_quoted_whole() {
        let huge = json!({"type": "offer", "sdp": "A".repeat(1 << 20)});
        let e = SignalMessage::parse(&huge).unwrap_err().to_string();
        assert!(e.contains("1048576 bytes") && e.len() < 200, "{e}");
        let many = format!("v=0\r\n{}", "m=a 9 X 0\n".repeat(10_000));
        assert!(many.len() < MAX_SDP_BYTES);
        let many = json!({"type": "offer", "sdp": many});
        let e = SignalMessage::parse(&many).unwrap_err().to_string();
        assert!(e.contains("10000 media sections"), "{e}");
        let two = json!({"type": "answer", "sdp": "v=0\r\nm=audio 9 X 0\r\nm=video 9 X 96\r\n"});
        assert!(SignalMessage::parse(&two).is_ok());
        let long = json!({"type": "candidate", "label": 0, "candidate": "c".repeat(5000)});
        assert!(SignalMessage::parse(&long).is_err());
        let kind = json!({"type": "x".repeat(100_000)});
        let e = SignalMessage::parse(&kind).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
        let e = RoomEvent::from_socketio(&"e".repeat(100_000), &[]).unwrap_err();
        assert!(e.to_string().len() < 200);
    }

    #[test]
    fn room_null_is_json_null() {
        assert_eq!(Room(None).to_json(), Value::Null);
        assert_eq!(Room(Some("房间".into())).to_json(), json!("房间"));
    }
}
