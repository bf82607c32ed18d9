//! The room rules of the seed's signaling server, as a plain type fed with what clients send and
//! returning what to emit to whom. No sockets here: `server::serve` is the adapter.
//!
//! Same protocol as the seed (`join`, `message`, `leave`; `joined`, `otherjoin`, `full`,
//! `leaved`, `bye`, `message`; two peers a room), without its weaknesses: only members of a room
//! relay into it or make its members hang up, messages are bounded in nesting, and room names are
//! opaque keys (`__proto__` is just a name).

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// A socket's id, as the server hands it to clients.
pub type SocketId = String;

/// Peers a room holds, as the seed's `USERCOUNT = 3` check allows.
pub const ROOM_CAPACITY: usize = 2;
/// Longest room name accepted, in bytes.
pub const MAX_ROOM_NAME: usize = 256;
/// Rooms one socket may be in at once.
pub const MAX_ROOMS_PER_SOCKET: usize = 16;
/// Deepest nesting of a relayed message (an SDP or candidate message needs 2).
pub const MAX_MESSAGE_DEPTH: usize = 32;

/// One event to emit to one socket: always two arguments, the room as the client sent it and
/// a socket id or the relayed data.
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    /// The socket to emit to.
    pub to: SocketId,
    /// `joined`, `otherjoin`, `full`, `leaved`, `bye` or `message`.
    pub event: &'static str,
    /// The room, as the client named it (the page sends `null`).
    pub room: Value,
    /// The socket id the event is about, or the message's data.
    pub arg: Value,
}

/// Why a client's request was not carried out (logged; the client gets nothing, as from the
/// seed's server when it ignores something).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The room is not a string, number, boolean or null.
    #[error("a room name must be a string, number, boolean or null, not {0}")]
    BadRoomName(&'static str),
    /// The room name is too long.
    #[error("room name longer than {MAX_ROOM_NAME} bytes")]
    RoomNameTooLong,
    /// The socket is in too many rooms.
    #[error("already in {MAX_ROOMS_PER_SOCKET} rooms")]
    TooManyRooms,
    /// A message into a room the sender is not in.
    #[error("not a member of room {0:?}")]
    NotAMember(String),
    /// A message nested too deeply.
    #[error("message nested deeper than {MAX_MESSAGE_DEPTH} levels")]
    TooDeep,
}

/// The key a room is filed under: what socket.io 2.x makes of the name (`String(room)`), so
/// the page's `null` meets a native peer's room `null`.
pub fn room_key(room: &Value) -> Result<String, Refused> {
    let key = match room {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(_) => return Err(Refused::BadRoomName("an array")),
        Value::Object(_) => return Err(Refused::BadRoomName("an object")),
    };
    if key.len() > MAX_ROOM_NAME {
        return Err(Refused::RoomNameTooLong);
    }
    Ok(key)
}

/// Nesting depth of a JSON value, without recursion (a hostile value may be deep).
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Every room and who is in it.
#[derive(Debug, Default)]
pub struct Rooms {
    /// Members in the order they joined.
    rooms: HashMap<String, Vec<SocketId>>,
    /// The rooms each socket is in.
    member_of: HashMap<SocketId, BTreeSet<String>>,
}

impl Rooms {
    /// An empty server.
    pub fn new() -> Self {
        Self::default()
    }

    /// The members of a room, in the order they joined.
    pub fn members(&self, key: &str) -> &[SocketId] {
        self.rooms.get(key).map_or(&[], Vec::as_slice)
    }

    /// Number of rooms with anyone in them.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// `join(room)`: `joined` to the joiner and `otherjoin` to the one already there, or
    /// `full` when the room has two peers. Joining a room one is already in says `joined`
    /// again and nothing to the other peer.
    pub fn join(&mut self, who: &str, room: &Value) -> Result<Vec<Emit>, Refused> {
        let key = room_key(room)?;
        let emit = |to: &str, event, about: &str| Emit {
            to: to.to_owned(),
            event,
            room: room.clone(),
            arg: Value::String(about.to_owned()),
        };
        let members = self.rooms.entry(key.clone()).or_default();
        if members.iter().any(|m| m == who) {
            return Ok(vec![emit(who, "joined", who)]);
        }
        if members.len() >= ROOM_CAPACITY {
            return Ok(vec![emit(who, "full", who)]);
        }
        let rooms_of = self.member_of.entry(who.to_owned()).or_default();
        if rooms_of.len() >= MAX_ROOMS_PER_SOCKET {
            if members.is_empty() {
                self.rooms.remove(&key);
            }
            return Err(Refused::TooManyRooms);
        }
        rooms_of.insert(key.clone());
        members.push(who.to_owned());
        let mut out = vec![emit(who, "joined", who)];
        out.extend(
            members
                .iter()
                .filter(|m| *m != who)
                .map(|m| emit(m, "otherjoin", who)),
        );
        Ok(out)
    }

    /// `message(room, data)`: relayed unchanged to the other members, if the sender is one.
    pub fn message(&mut self, who: &str, room: &Value, data: Value) -> Result<Vec<Emit>, Refused> {
        let key = room_key(room)?;
        if !self.members(&key).iter().any(|m| m == who) {
            return Err(Refused::NotAMember(key));
        }
        if depth(&data) > MAX_MESSAGE_DEPTH {
            return Err(Refused::TooDeep);
        }
        Ok(self
            .members(&key)
            .iter()
            .filter(|m| *m != who)
            .map(|m| Emit {
                to: m.clone(),
                event: "message",
                room: room.clone(),
                arg: data.clone(),
            })
            .collect())
    }

    /// `leave(room)`: `bye` to the other member and `leaved` to the sender, who is out of
    /// the room from then on (the seed leaves that to the page's disconnect). A socket not in
    /// the room only gets its `leaved`: it cannot make others hang up.
    pub fn leave(&mut self, who: &str, room: &Value) -> Result<Vec<Emit>, Refused> {
        let key = room_key(room)?;
        let about = Value::String(who.to_owned());
        let mut out = Vec::new();
        if self.remove(who, &key) {
            out.extend(self.members(&key).iter().map(|m| Emit {
                to: m.clone(),
                event: "bye",
                room: room.clone(),
                arg: about.clone(),
            }));
        }
        out.push(Emit {
            to: who.to_owned(),
            event: "leaved",
            room: room.clone(),
            arg: about,
        });
        Ok(out)
    }

    /// The socket is gone: it leaves every room, silently as in the seed (its peer notices
    /// through ICE; a `bye` would end a call whose media still flows while signaling is down).
    pub fn disconnect(&mut self, who: &str) {
        for key in self.member_of.remove(who).unwrap_or_default() {
            self.remove_member(who, &key);
        }
    }

    /// Takes `who` out of room `key`; whether it was in.
    fn remove(&mut self, who: &str, key: &str) -> bool {
        let was_in = self
            .member_of
            .get_mut(who)
            .is_some_and(|rooms| rooms.remove(key));
        if self.member_of.get(who).is_some_and(BTreeSet::is_empty) {
            self.member_of.remove(who);
        }
        if was_in {
            self.remove_member(who, key);
        }
        was_in
    }

    fn remove_member(&mut self, who: &str, key: &str) {
        if let Some(members) = self.rooms.get_mut(key) {
            members.retain(|m| m != who);
            if members.is_empty() {
                self.rooms.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(out: &[Emit]) -> Vec<(String, &'static str, Value)> {
        out.iter()
            .map(|e| (e.to.clone(), e.event, e.arg.clone()))
            .collect()
    }

    #[test]
    fn two_peers_meet_and_a_third_is_told_full() {
        let mut r = Rooms::new();
        let room = json!("r1");
        assert_eq!(
            events(&r.join("a", &room).unwrap()),
            [("a".into(), "joined", json!("a"))]
        );
        assert_eq!(
            events(&r.join("b", &room).unwrap()),
            [
                ("b".into(), "joined", json!("b")),
                ("a".into(), "otherjoin", json!("b"))
            ]
        );
        assert_eq!(
            events(&r.join("c", &room).unwrap()),
            [("c".into(), "full", json!("c"))]
        );
        assert_eq!(r.members("r1"), ["a", "b"]);
        // The emitted room is what the client sent.
        assert_eq!(r.join("a", &room).unwrap()[0].room, room);
    }

    #[test]
    fn messages_are_relayed_only_between_members() {
        let mut r = Rooms::new();
        let room = json!("r1");
        r.join("a", &room).unwrap();
        r.join("b", &room).unwrap();
        let offer = json!({"type": "offer", "sdp": "v=0"});
        assert_eq!(
            events(&r.message("a", &room, offer.clone()).unwrap()),
            [("b".into(), "message", offer.clone())]
        );
        assert_eq!(
            r.message("stranger", &room, offer.clone()),
            Err(Refused::NotAMember("r1".into()))
        );
        // A stranger's leave hangs nobody up.
        assert_eq!(
            events(&r.leave("stranger", &room).unwrap()),
            [("stranger".into(), "leaved", json!("stranger"))]
        );
        assert_eq!(r.members("r1"), ["a", "b"]);
    }

    #[test]
    fn leave_says_bye_to_the_other_and_frees_the_place() {
        let mut r = Rooms::new();
        let room = json!("r1");
        r.join("a", &room).unwrap();
        r.join("b", &room).unwrap();
        assert_eq!(
            events(&r.leave("a", &room).unwrap()),
            [
                ("b".into(), "bye", json!("a")),
                ("a".into(), "leaved", json!("a"))
            ]
        );
        assert_eq!(r.members("r1"), ["b"]);
        assert_eq!(
            events(&r.join("c", &room).unwrap()),
            [
                ("c".into(), "joined", json!("c")),
                ("b".into(), "otherjoin", json!("c"))
            ]
        );
        // A disconnect empties the socket's rooms silently; empty rooms are forgotten.
        r.disconnect("b");
        r.disconnect("c");
        assert_eq!(r.room_count(), 0);
    }

    #[test]
    fn room_names_are_opaque_and_null_is_the_pages_room() {
        let mut r = Rooms::new();
        for name in [
            "__proto__",
            "constructor",
            "toString",
            "hasOwnProperty",
            "房间",
        ] {
            r.join("a", &json!(name)).unwrap();
            assert_eq!(r.members(name), ["a"]);
        }
        r.join("p", &Value::Null).unwrap();
        assert_eq!(
            r.members("null"),
            ["p"],
            "socket.io 2.x files null as \"null\""
        );
        let out = r.join("q", &json!("null")).unwrap();
        assert_eq!(out[1].to, "p", "the string \"null\" is the same room");
        assert_eq!(r.join("x", &json!(5)).unwrap()[0].event, "joined");
        assert_eq!(r.members("5"), ["x"]);
        assert_eq!(
            r.join("a", &json!({"a": 1})),
            Err(Refused::BadRoomName("an object"))
        );
        assert_eq!(
            r.join("a", &json!("x".repeat(MAX_ROOM_NAME + 1))),
            Err(Refused::RoomNameTooLong)
        );
    }

    #[test]
    fn deep_messages_and_room_hoarding_are_refused() {
        let mut r = Rooms::new();
        r.join("a", &json!("r")).unwrap();
        r.join("b", &json!("r")).unwrap();
        let mut deep = json!(1);
        for _ in 0..MAX_MESSAGE_DEPTH {
            deep = json!([deep]);
        }
        assert_eq!(depth(&deep), MAX_MESSAGE_DEPTH + 1);
        assert_eq!(r.message("a", &json!("r"), deep), Err(Refused::TooDeep));
        for i in 1..MAX_ROOMS_PER_SOCKET {
            r.join("a", &json!(format!("room{i}"))).unwrap();
        }
        assert_eq!(r.join("a", &json!("one more")), Err(Refused::TooManyRooms));
        assert_eq!(r.members("one more"), [] as [SocketId; 0]);
    }
}
