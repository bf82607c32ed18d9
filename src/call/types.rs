//! What goes into the call state machine and what comes out of it.

use super::limits::Refused;
use crate::signaling::room::{CandidateMessage, Room, RoomCommand, RoomEvent, SignalMessage};
use std::time::Duration;

/// Numbers the calls of one run, from 1; inputs about an older call are ignored.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct CallId(pub u32);

/// Which side of the negotiation roompeer is on in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Was in the room first, got `otherjoin`, sends the offer.
    Offerer,
    /// Joined second, answers the offer.
    Answerer,
}

/// How the session is run in the room.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// The room to join (`null` as the seed's page does when none is given).
    pub room: Room,
    /// How long to wait for a peer, at the start and after each call.
    pub wait: Duration,
    /// Hold each call this long after it connects, then leave.
    pub hold: Option<Duration>,
    /// Leave after this many calls that connected have ended (attempts that never connected,
    /// such as one a peer's bad offer ended, do not count).
    pub max_calls: Option<u32>,
    /// How long to wait for `leaved` after sending `leave`.
    pub leave_timeout: Duration,
    /// How long a connected call may stay disconnected before it counts as failed (a peer that
    /// crashed or lost its network sends no `bye`). An answered ICE restart starts it afresh.
    pub disconnect_grace: Duration,
    /// How long after a disconnection the offerer restarts ICE (the answerer waits three times
    /// as long, so two roompeers do not both offer; the seed's page never restarts, so against
    /// it the answerer must).
    pub restart_after: Duration,
}

/// The state of the peer connection of a call, as the adapter reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// ICE and DTLS are up (again).
    Connected,
    /// The peer stopped answering; it may come back.
    Disconnected,
    /// ICE or DTLS failed, or the peer stopped answering.
    Failed,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The signaling connection is open.
    SignalingUp,
    /// The signaling connection is gone.
    SignalingDown(String),
    /// An attempt to connect again (after [`Action::Reconnect`]) failed.
    ReconnectFailed,
    /// An event from the room server.
    Room(RoomEvent),
    /// A server event that could not be understood (already logged).
    Malformed(String),
    /// The adapter set a local description; it must be sent to the peer.
    LocalDescription(CallId, SignalMessage),
    /// The adapter applied the remote description: queued candidates may follow.
    RemoteApplied(CallId),
    /// A local ICE candidate to trickle.
    LocalCandidate(CallId, CandidateMessage),
    /// The peer connection changed state.
    Peer(CallId, PeerState),
    /// A peer-connection operation failed (e.g. broken SDP); the call cannot go on.
    PeerError(CallId, String),
    /// Packets the call received since [`Action::MarkMedia`] (the answer to
    /// [`Action::CountMedia`]).
    MediaSinceMark(CallId, u64),
    /// The user asked to stop (Ctrl-C, Leave button).
    Stop,
    /// The deadline from [`Session::deadline`] has passed.
    Timeout,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEnd {
    /// The other peer sent `bye`.
    PeerLeft,
    /// ICE/DTLS failed or the peer vanished.
    ConnectionFailed,
    /// A negotiation step failed.
    NegotiationFailed(String),
    /// A new peer arrived and replaced the old one.
    Replaced,
    /// We left (hold time over, stop requested).
    WeLeft,
    /// The signaling connection was lost before the call connected.
    SignalingLost,
}

impl CallEnd {
    /// The reason's name as the report spells it (`negotiation_failed`); the failure's text is
    /// in the `peer_error` event beside it.
    pub fn name(&self) -> &'static str {
        match self {
            CallEnd::PeerLeft => "peer_left",
            CallEnd::ConnectionFailed => "connection_failed",
            CallEnd::NegotiationFailed(_) => "negotiation_failed",
            CallEnd::Replaced => "replaced",
            CallEnd::WeLeft => "we_left",
            CallEnd::SignalingLost => "signaling_lost",
        }
    }
}

/// Why the session finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// We left the room as planned (or the wait after a call ran out).
    Done,
    /// The room already had two peers.
    RoomFull,
    /// No peer came within the wait.
    NoPeer,
    /// The signaling connection was lost.
    SignalingLost(String),
    /// The user stopped the session.
    Stopped,
}

/// What the adapters must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a command to the room server.
    Send(RoomCommand),
    /// Try the signaling connection again; report `SignalingUp` or `ReconnectFailed`.
    Reconnect,
    /// Create a peer connection with local tracks for a new call.
    StartPeer(CallId, Role),
    /// Create an offer, set it as local description, report it with `LocalDescription`.
    CreateOffer(CallId),
    /// Apply a remote offer, create and set the answer, report it with `LocalDescription`.
    AcceptOffer(CallId, String),
    /// Apply a remote answer.
    AcceptAnswer(CallId, String),
    /// Restart ICE: create an offer with fresh ICE credentials, set it, report it with
    /// `LocalDescription`.
    RestartIce(CallId),
    /// Add a remote candidate (only after the remote description is applied).
    AddCandidate(CallId, CandidateMessage),
    /// The call is connected (for timings and reports).
    CallConnected(CallId),
    /// Close the call's peer connection.
    ClosePeer(CallId, CallEnd),
    /// Close the signaling connection.
    Disconnect,
    /// Something the peer sent was refused (for the event log).
    Refused(Refused),
    /// Note how many RTP packets the call has received so far.
    MarkMedia(CallId),
    /// Report the packets received since the mark with [`Input::MediaSinceMark`].
    CountMedia(CallId),
    /// Stop: nothing more will happen.
    Finish(Finish),
}
