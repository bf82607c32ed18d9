//! Where a session stands, for people: the window translates it.

use super::Role;

/// Where a session stands, for people (the window's state line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Connecting to the signaling server.
    Connecting,
    /// Connected, `join` sent.
    Joining,
    /// In the room, no call.
    Waiting,
    /// In a call; `connected` once ICE/DTLS is up.
    InCall {
        /// Offerer or answerer.
        role: Role,
        /// ICE and DTLS are connected.
        connected: bool,
    },
    /// Signaling is down; reconnecting.
    Offline,
    /// `leave` sent.
    Leaving,
    /// The session is over.
    Finished,
}

impl Status {
    /// In English, for logs and as the key of the window's translations.
    pub fn english(self) -> &'static str {
        match self {
            Status::Connecting => "connecting to the signaling server",
            Status::Joining => "joining the room",
            Status::Waiting => "in the room, waiting for a peer",
            Status::InCall {
                connected: false, ..
            } => "a peer is here: negotiating the call",
            Status::InCall {
                connected: true, ..
            } => "in a call",
            Status::Offline => "signaling lost: reconnecting",
            Status::Leaving => "leaving the room",
            Status::Finished => "left the room",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.english())
    }
}
