//! socket.io packets (protocol v4 for socket.io 2.x, v5 for 3.x/4.x) carried in Engine.IO messages.
//!
//! Only what a room client needs: connect, disconnect, events and their errors. Binary
//! attachments are refused with an error rather than misread.

use serde_json::Value;

/// One socket.io packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// `0[/nsp,][json]`: connect to a namespace (v5 answers with `{"sid":…}`).
    Connect {
        /// Namespace, `/` by default.
        nsp: String,
        /// The payload: the v5 server's `{"sid":…}`, or nothing.
        payload: Option<Value>,
    },
    /// `1[/nsp,]`: disconnect from a namespace.
    Disconnect {
        /// Namespace.
        nsp: String,
    },
    /// `2[/nsp,][id]["event", args…]`.
    Event {
        /// Namespace.
        nsp: String,
        /// The event's name.
        name: String,
        /// Its arguments, in order.
        args: Vec<Value>,
    },
    /// `3…`: an acknowledgement (not used by the room protocol; read and ignored).
    Ack,
    /// `4[/nsp,]json`: the server refused the namespace.
    ConnectError {
        /// Namespace.
        nsp: String,
        /// What the server said.
        message: String,
    },
}

/// Why a socket.io packet could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PacketError {
    /// Nothing after the Engine.IO type.
    #[error("empty socket.io packet")]
    Empty,
    /// Unknown type digit.
    #[error("unknown socket.io packet type {0:?}")]
    UnknownType(char),
    /// Binary events carry attachments in separate frames; the room protocol never sends them.
    #[error("binary socket.io packets are not supported")]
    Binary,
    /// The JSON payload did not parse.
    #[error("malformed socket.io payload: {0}")]
    BadJson(String),
    /// An event whose payload is not an array starting with a string name.
    #[error("socket.io event without a name")]
    NoEventName,
}

impl Packet {
    /// Parses the text after Engine.IO's `4`.
    pub fn parse(text: &str) -> Result<Packet, PacketError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(PacketError::Empty)?;
        let rest = chars.as_str();
        if matches!(kind, '5' | '6') {
            return Err(PacketError::Binary);
        }
        if !matches!(kind, '0'..='4') {
            return Err(PacketError::UnknownType(kind));
        }
        let (nsp, rest) = split_namespace(rest);
        // An optional ack id (digits) precedes the JSON of events and acks.
        let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        let parse_json = |s: &str| -> Result<Option<Value>, PacketError> {
            if s.is_empty() {
                Ok(None)
            } else {
                serde_json::from_str(s)
                    .map(Some)
                    .map_err(|e| PacketError::BadJson(e.to_string()))
            }
        };
        Ok(match kind {
            '0' => Packet::Connect {
                nsp,
                payload: parse_json(rest)?,
            },
            '1' => Packet::Disconnect { nsp },
            '2' => {
                let Some(Value::Array(mut items)) = parse_json(json)? else {
                    return Err(PacketError::NoEventName);
                };
                if items.is_empty() {
                    return Err(PacketError::NoEventName);
                }
                let Value::String(name) = items.remove(0) else {
                    return Err(PacketError::NoEventName);
                };
                Packet::Event {
                    nsp,
                    name,
                    args: items,
                }
            }
            '3' => Packet::Ack,
            _ => {
                // v4 sends a bare string, v5 an object with `message`.
                let message = match parse_json(rest)? {
                    Some(Value::String(s)) => s,
                    Some(Value::Object(o)) => o
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("refused")
                        .to_owned(),
                    _ => "refused".to_owned(),
                };
                Packet::ConnectError { nsp, message }
            }
        })
    }

    /// Encodes the packet as the text that follows Engine.IO's `4`.
    pub fn encode(&self) -> String {
        fn prefix(nsp: &str) -> String {
            if nsp == "/" {
                String::new()
            } else {
                format!("{nsp},")
            }
        }
        match self {
            Packet::Connect { nsp, payload } => match payload {
                Some(p) => format!("0{}{}", prefix(nsp), p),
                None => format!("0{}", prefix(nsp)),
            },
            Packet::Disconnect { nsp } => format!("1{}", prefix(nsp)),
            Packet::Event { nsp, name, args } => {
                let mut items = Vec::with_capacity(args.len() + 1);
                items.push(Value::String(name.clone()));
                items.extend(args.iter().cloned());
                format!("2{}{}", prefix(nsp), Value::Array(items))
            }
            Packet::Ack => "3".to_owned(),
            Packet::ConnectError { nsp, message } => {
                format!("4{}{}", prefix(nsp), Value::String(message.clone()))
            }
        }
    }
}

/// Splits off a leading `/nsp,` (a namespace other than `/`).
fn split_namespace(rest: &str) -> (String, &str) {
    if rest.starts_with('/') {
        match rest.find(',') {
            Some(i) => (rest[..i].to_owned(), &rest[i + 1..]),
            None => (rest.to_owned(), ""),
        }
    } else {
        ("/".to_owned(), rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_events_with_null_room() {
        let p = Packet::parse(r#"2["joined",null,"abc"]"#).unwrap();
        assert_eq!(
            p,
            Packet::Event {
                nsp: "/".into(),
                name: "joined".into(),
                args: vec![Value::Null, json!("abc")]
            }
        );
    }

    #[test]
    fn parses_connect_forms() {
        assert_eq!(
            Packet::parse("0").unwrap(),
            Packet::Connect {
                nsp: "/".into(),
                payload: None
            }
        );
        assert_eq!(
            Packet::parse(r#"0{"sid":"s1"}"#).unwrap(),
            Packet::Connect {
                nsp: "/".into(),
                payload: Some(json!({"sid":"s1"}))
            }
        );
        assert_eq!(
            Packet::parse("0/admin,").unwrap(),
            Packet::Connect {
                nsp: "/admin".into(),
                payload: None
            }
        );
    }

    #[test]
    fn ack_ids_are_skipped() {
        let p = Packet::parse(r#"212["message","r",{"type":"offer"}]"#).unwrap();
        assert!(matches!(p, Packet::Event { ref name, .. } if name == "message"));
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(Packet::parse(""), Err(PacketError::Empty));
        assert_eq!(Packet::parse("9"), Err(PacketError::UnknownType('9')));
        assert_eq!(Packet::parse("51-[\"x\"]"), Err(PacketError::Binary));
        assert!(matches!(
            Packet::parse("2[\"x\""),
            Err(PacketError::BadJson(_))
        ));
        assert_eq!(Packet::parse("2[]"), Err(PacketError::NoEventName));
        assert_eq!(Packet::parse("2[1,2]"), Err(PacketError::NoEventName));
        assert_eq!(Packet::parse("2{}"), Err(PacketError::NoEventName));
        // Deep nesting is refused by serde_json's recursion limit, not by a stack overflow.
        let deep = format!(
            "2[\"message\",{}{}]",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(Packet::parse(&deep), Err(PacketError::BadJson(_))));
    }

    #[test]
    fn connect_errors_in_both_protocols() {
        assert_eq!(
            Packet::parse(r#"4"Invalid namespace""#).unwrap(),
            Packet::ConnectError {
                nsp: "/".into(),
                message: "Invalid namespace".into()
            }
        );
        assert_eq!(
            Packet::parse(r#"4{"message":"no"}"#).unwrap(),
            Packet::ConnectError {
                nsp: "/".into(),
                message: "no".into()
            }
        );
    }

    #[test]
    fn encodes_events() {
        let p = Packet::Event {
            nsp: "/".into(),
            name: "join".into(),
            args: vec![Value::Null],
        };
        assert_eq!(p.encode(), r#"2["join",null]"#);
        assert_eq!(
            Packet::Connect {
                nsp: "/".into(),
                payload: None
            }
            .encode(),
            "0"
        );
    }
}
