//! The room and call lifecycle as a plain state machine: inputs in, actions out, time passed in.
//!
//! It decides who offers, when a call starts and ends, which relayed message goes where, and
//! when roompeer leaves. The socket, the peer connection and the media are adapters that execute
//! its [`Action`]s and feed it [`Input`]s; none of them holds protocol logic.

use crate::signaling::room::{CandidateMessage, Room, RoomEvent, SignalMessage};
use serde_json::Value;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// ICE restarts tried in one outage before the call is given up.
const MAX_RESTARTS: u32 = 3;

/// Numbers the calls of one run, from 1; inputs about an older call are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct CallId(pub u32);

/// Which side of the negotiation roompeer is on in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Was in the room first, got `otherjoin`, sends the offer.
    Offerer,
    /// Joined second, answers the offer.
    Answerer,
}

/// How the session is run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The room to join (`null` as the seed's page does when none is given).
    pub room: Room,
    /// How long to wait for a peer, at the start and after each call.
    pub wait: Duration,
    /// Hold each call this long after it connects, then leave.
    pub hold: Option<Duration>,
    /// Leave after this many calls have ended.
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
    /// The user asked to stop (Ctrl-C, Leave button).
    Stop,
    /// The deadline from [`Session::deadline`] has passed.
    Timeout,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// Emit a socket.io event.
    Emit {
        /// The event's name.
        event: &'static str,
        /// Its arguments.
        args: Vec<Value>,
    },
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
    /// Stop: nothing more will happen.
    Finish(Finish),
}

#[derive(Debug)]
struct Call {
    id: CallId,
    role: Role,
    /// The remote description has been applied: candidates go straight through.
    remote_applied: bool,
    /// Candidates that arrived before the remote description was applied.
    queued: Vec<CandidateMessage>,
    /// The offerer has its answer (so a later offer is a renegotiation).
    answered: bool,
    connected: bool,
    /// Since when the connection has been disconnected, if it is (or since the last answered
    /// ICE restart).
    disconnected_at: Option<Instant>,
    /// An ICE restart was offered during this disconnection.
    restart_sent: bool,
    /// Our restart offer waits for its answer.
    awaiting_restart_answer: bool,
    /// The restart of this outage is ours (not the peer's); only its sender tries again.
    restart_ours: bool,
    /// ICE restarts offered in this call.
    restarts: u32,
    /// ICE restarts offered since the connection was last up.
    restarts_this_outage: u32,
    /// The peer's socket id, when the server told us (`otherjoin`); the answerer never learns it.
    peer: Option<String>,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Phase {
    Connecting,
    Joining,
    /// In the room, no call.
    Waiting,
    /// In the room with a call.
    InCall,
    /// Signaling is down with no call; the adapter reconnects, and we rejoin when it is back.
    Offline,
    /// `leave` sent, waiting for `leaved`.
    Leaving,
    Finished,
}

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

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
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
        })
    }
}

/// The room membership and call lifecycle of one roompeer.
#[derive(Debug)]
pub struct Session {
    settings: Settings,
    phase: Phase,
    call: Option<Call>,
    next_call: u32,
    calls_ended: u32,
    /// Whether any call ever connected (decides `no_peer` vs `done` when the wait runs out).
    any_connected: bool,
    signaling_up: bool,
    /// Our signaling came back during a connected call and we rejoined: the next `otherjoin`
    /// is our own peer rejoining after the same server restart, not a new peer.
    rejoined_during_call: bool,
    deadline: Option<Instant>,
    /// What to finish with once `leaved` arrives (or the leave times out).
    finish_after_leave: Finish,
    actions: VecDeque<Action>,
}

impl Session {
    /// A session that has not connected yet.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            phase: Phase::Connecting,
            call: None,
            next_call: 1,
            calls_ended: 0,
            any_connected: false,
            signaling_up: false,
            rejoined_during_call: false,
            deadline: None,
            finish_after_leave: Finish::Done,
            actions: VecDeque::new(),
        }
    }

    /// The next action to execute, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to feed [`Input::Timeout`] next.
    pub fn deadline(&self) -> Option<Instant> {
        let silent = self.call.as_ref().and_then(|c| {
            let since = c.disconnected_at?;
            let give_up = since + self.settings.disconnect_grace;
            Some(match self.restart_due(c) {
                Some(restart) => restart.min(give_up),
                None => give_up,
            })
        });
        match (self.deadline, silent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When this disconnected call should restart ICE, if it should.
    fn restart_due(&self, c: &Call) -> Option<Instant> {
        if c.restart_sent || !self.signaling_up {
            return None;
        }
        let wait = match c.role {
            Role::Offerer => self.settings.restart_after,
            Role::Answerer => self.settings.restart_after * 3,
        };
        c.disconnected_at.map(|t| t + wait)
    }

    /// ICE restarts offered in the current call.
    pub fn restarts(&self) -> u32 {
        self.call.as_ref().map_or(0, |c| c.restarts)
    }

    /// The current call and its role.
    pub fn current_call(&self) -> Option<(CallId, Role)> {
        self.call.as_ref().map(|c| (c.id, c.role))
    }

    /// Where the session stands.
    pub fn status(&self) -> Status {
        match self.phase {
            Phase::Connecting => Status::Connecting,
            Phase::Joining => Status::Joining,
            Phase::Waiting => Status::Waiting,
            Phase::InCall => match &self.call {
                Some(c) => Status::InCall {
                    role: c.role,
                    connected: c.connected,
                },
                None => Status::Waiting,
            },
            Phase::Offline => Status::Offline,
            Phase::Leaving => Status::Leaving,
            Phase::Finished => Status::Finished,
        }
    }

    /// Whether the session has finished.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    fn emit(&mut self, event: &'static str, mut args: Vec<Value>) {
        args.insert(0, self.settings.room.to_json());
        self.actions.push_back(Action::Emit { event, args });
    }

    fn send_message(&mut self, msg: &SignalMessage) {
        if self.signaling_up {
            self.emit("message", vec![msg.to_json()]);
        } else {
            tracing::warn!("signaling is down: cannot send {}", kind_of(msg));
        }
    }

    fn start_call(&mut self, now: Instant, role: Role, peer: Option<String>) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        self.call = Some(Call {
            id,
            role,
            remote_applied: false,
            queued: Vec::new(),
            answered: false,
            connected: false,
            disconnected_at: None,
            restart_sent: false,
            awaiting_restart_answer: false,
            restart_ours: false,
            restarts: 0,
            restarts_this_outage: 0,
            peer,
        });
        self.phase = Phase::InCall;
        // A call that never connects must not hold the session forever.
        self.deadline = Some(now + self.settings.wait);
        self.actions.push_back(Action::StartPeer(id, role));
        id
    }

    /// Closes the current call's peer connection, if there is one.
    fn close_call(&mut self, why: CallEnd) {
        if let Some(call) = self.call.take() {
            self.actions.push_back(Action::ClosePeer(call.id, why));
            self.calls_ended += 1;
        }
    }

    /// Ends the current call and decides what comes next: wait for the next peer, or leave.
    fn end_call(&mut self, now: Instant, why: CallEnd) {
        if self.call.is_none() {
            return;
        }
        self.close_call(why);
        let enough = self
            .settings
            .max_calls
            .is_some_and(|n| self.calls_ended >= n);
        if enough {
            self.leave(now, Finish::Done);
        } else if !self.signaling_up {
            self.go_offline(now);
        } else {
            // As the seed's page after `bye`: stay in the room and wait for the next peer.
            self.phase = Phase::Waiting;
            self.deadline = Some(now + self.settings.wait);
        }
    }

    /// No call and no signaling: wait (up to `wait`) for the adapter to reconnect.
    fn go_offline(&mut self, now: Instant) {
        self.phase = Phase::Offline;
        self.rejoined_during_call = false;
        self.deadline = Some(now + self.settings.wait);
    }

    fn leave(&mut self, now: Instant, then: Finish) {
        self.close_call(CallEnd::WeLeft);
        if self.signaling_up {
            self.emit("leave", vec![]);
            self.phase = Phase::Leaving;
            self.finish_after_leave = then;
            self.deadline = Some(now + self.settings.leave_timeout);
        } else {
            self.finish(then);
        }
    }

    fn finish(&mut self, why: Finish) {
        if let Some(call) = self.call.take() {
            self.actions
                .push_back(Action::ClosePeer(call.id, CallEnd::WeLeft));
        }
        if self.signaling_up {
            self.actions.push_back(Action::Disconnect);
        }
        self.phase = Phase::Finished;
        self.deadline = None;
        self.actions.push_back(Action::Finish(why));
    }

    fn is_current(&self, id: CallId) -> bool {
        self.call.as_ref().is_some_and(|c| c.id == id)
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        if self.phase == Phase::Finished {
            return;
        }
        match input {
            Input::SignalingUp => {
                self.signaling_up = true;
                match self.phase {
                    Phase::Connecting | Phase::Offline => {
                        if self.phase == Phase::Offline {
                            tracing::info!("signaling is back: rejoining the room");
                        }
                        self.emit("join", vec![]);
                        self.phase = Phase::Joining;
                        self.deadline = Some(now + self.settings.wait);
                    }
                    Phase::InCall => {
                        // The call went on without signaling; be in the room again for `bye`.
                        tracing::info!("signaling is back: rejoining the room, the call goes on");
                        self.emit("join", vec![]);
                        self.rejoined_during_call = true;
                    }
                    _ => {}
                }
            }
            Input::SignalingDown(reason) => {
                self.signaling_up = false;
                match self.phase {
                    Phase::Leaving => {
                        let then = self.finish_after_leave.clone();
                        self.finish(then);
                    }
                    // A connected call keeps flowing without signaling; it ends on its own.
                    Phase::InCall if self.call.as_ref().is_some_and(|c| c.connected) => {
                        tracing::warn!("signaling lost during a call ({reason}); the call goes on");
                    }
                    Phase::Offline => {}
                    _ => {
                        tracing::warn!("signaling lost ({reason}); reconnecting");
                        self.close_call(CallEnd::SignalingLost);
                        self.go_offline(now);
                    }
                }
            }
            Input::Room(event) => self.on_room_event(now, event),
            Input::Malformed(what) => tracing::warn!("ignored: {what}"),
            Input::LocalDescription(id, desc) => {
                if self.is_current(id) {
                    self.send_message(&desc);
                }
            }
            Input::RemoteApplied(id) => {
                if let Some(call) = self.call.as_mut().filter(|c| c.id == id) {
                    call.remote_applied = true;
                    let queued = std::mem::take(&mut call.queued);
                    for c in queued {
                        self.actions.push_back(Action::AddCandidate(id, c));
                    }
                }
            }
            Input::LocalCandidate(id, candidate) => {
                if self.is_current(id) {
                    self.send_message(&SignalMessage::Candidate(candidate));
                }
            }
            Input::Peer(id, state) => {
                if !self.is_current(id) {
                    return;
                }
                match state {
                    PeerState::Connected => {
                        let Some(call) = self.call.as_mut().filter(|c| c.id == id) else {
                            return;
                        };
                        call.restart_sent = false;
                        call.awaiting_restart_answer = false;
                        call.restarts_this_outage = 0;
                        if std::mem::take(&mut call.disconnected_at).is_some() {
                            tracing::info!("call {} reconnected", id.0);
                        } else if !call.connected {
                            call.connected = true;
                            self.any_connected = true;
                            self.actions.push_back(Action::CallConnected(id));
                            self.deadline = self.settings.hold.map(|h| now + h);
                        }
                    }
                    PeerState::Disconnected => {
                        if let Some(call) = self.call.as_mut().filter(|c| c.connected) {
                            call.disconnected_at.get_or_insert(now);
                        }
                    }
                    PeerState::Failed => self.end_call(now, CallEnd::ConnectionFailed),
                }
            }
            Input::PeerError(id, why) => {
                if self.is_current(id) {
                    tracing::warn!("call {} cannot go on: {why}", id.0);
                    self.end_call(now, CallEnd::NegotiationFailed(why));
                }
            }
            Input::Stop => match self.phase {
                Phase::Leaving => {}
                Phase::Connecting => self.finish(Finish::Stopped),
                _ => self.leave(now, Finish::Stopped),
            },
            Input::Timeout => {
                if let Some(c) = self.call.as_ref()
                    && self.restart_due(c).is_some_and(|t| now >= t)
                {
                    let call = self.call.as_mut().expect("checked above");
                    call.restart_sent = true;
                    call.restart_ours = true;
                    call.awaiting_restart_answer = true;
                    call.restarts += 1;
                    call.restarts_this_outage = 1;
                    let id = call.id;
                    tracing::info!("call {} is disconnected: restarting ICE", id.0);
                    self.actions.push_back(Action::RestartIce(id));
                    return;
                }
                let silent_too_long = self
                    .call
                    .as_ref()
                    .and_then(|c| c.disconnected_at)
                    .is_some_and(|t| now >= t + self.settings.disconnect_grace);
                if silent_too_long {
                    // The peer answered our last restart (so it is there), but the path has not
                    // come back yet: try again, up to three times in one outage.
                    let again = self.call.as_ref().is_some_and(|c| {
                        c.restart_sent
                            && c.restart_ours
                            && !c.awaiting_restart_answer
                            && c.restarts_this_outage < MAX_RESTARTS
                            && self.signaling_up
                    });
                    if again {
                        let call = self.call.as_mut().expect("checked above");
                        call.awaiting_restart_answer = true;
                        call.restarts += 1;
                        call.restarts_this_outage += 1;
                        call.disconnected_at = Some(now);
                        let id = call.id;
                        tracing::info!("call {} is still disconnected: restarting ICE again", id.0);
                        self.actions.push_back(Action::RestartIce(id));
                        return;
                    }
                    tracing::info!("the peer stopped answering: ending the call");
                    self.end_call(now, CallEnd::ConnectionFailed);
                    return;
                }
                if self.deadline.is_none_or(|d| now < d) {
                    return;
                }
                self.deadline = None;
                match self.phase {
                    Phase::Connecting | Phase::Joining => self.finish(Finish::SignalingLost(
                        "the server did not answer `join`".into(),
                    )),
                    Phase::Offline => self.finish(Finish::SignalingLost(
                        "the signaling server did not come back".into(),
                    )),
                    Phase::Waiting => {
                        let why = if self.any_connected {
                            Finish::Done
                        } else {
                            Finish::NoPeer
                        };
                        self.leave(now, why);
                    }
                    Phase::InCall => {
                        let connected = self.call.as_ref().is_some_and(|c| c.connected);
                        if connected {
                            // The hold time is over.
                            self.leave(now, Finish::Done);
                        } else {
                            self.end_call(now, CallEnd::ConnectionFailed);
                        }
                    }
                    Phase::Leaving => {
                        let then = self.finish_after_leave.clone();
                        self.finish(then);
                    }
                    Phase::Finished => {}
                }
            }
        }
    }

    fn on_room_event(&mut self, now: Instant, event: RoomEvent) {
        match event {
            RoomEvent::Joined { id } => {
                if self.phase == Phase::Joining {
                    tracing::info!(room = %self.settings.room, %id, "joined the room");
                    self.phase = Phase::Waiting;
                    self.deadline = Some(now + self.settings.wait);
                } else if self.phase == Phase::InCall {
                    tracing::info!(room = %self.settings.room, %id, "rejoined the room");
                }
            }
            RoomEvent::Full => match self.phase {
                Phase::Joining | Phase::Waiting => self.finish(Finish::RoomFull),
                Phase::InCall => {
                    tracing::warn!("the room filled while signaling was down; the call goes on")
                }
                _ => {}
            },
            RoomEvent::OtherJoin { id } => {
                if !matches!(self.phase, Phase::Waiting | Phase::InCall) {
                    return;
                }
                let healthy = self
                    .call
                    .as_ref()
                    .is_some_and(|c| c.connected && c.disconnected_at.is_none());
                if std::mem::take(&mut self.rejoined_during_call) && healthy {
                    tracing::info!(peer = %id, "the peer rejoined the room after the server came back; the call goes on");
                    if let Some(call) = self.call.as_mut() {
                        call.peer = Some(id);
                    }
                    return;
                }
                // An old peer that vanished without `bye` is replaced by the newcomer.
                self.close_call(CallEnd::Replaced);
                tracing::info!(peer = %id, "a peer joined: offering");
                let call = self.start_call(now, Role::Offerer, Some(id));
                self.actions.push_back(Action::CreateOffer(call));
            }
            RoomEvent::Bye { id } => {
                let Some(call) = self.call.as_ref() else {
                    return;
                };
                // The seed's server relays `leave` from any socket, member or not: a `bye` about
                // someone else must not hang up our call.
                if call.peer.as_ref().is_some_and(|p| *p != id) {
                    tracing::warn!(socket = %id, "ignored `bye` about a socket that is not our peer");
                    return;
                }
                tracing::info!(peer = %id, "the peer left");
                self.end_call(now, CallEnd::PeerLeft);
            }
            RoomEvent::Leaved => {
                if self.phase == Phase::Leaving {
                    let then = self.finish_after_leave.clone();
                    self.finish(then);
                }
            }
            RoomEvent::Message(msg) => self.on_message(now, msg),
        }
    }

    fn on_message(&mut self, now: Instant, msg: SignalMessage) {
        if !matches!(self.phase, Phase::Waiting | Phase::InCall) {
            tracing::debug!("ignored {} outside the room", kind_of(&msg));
            return;
        }
        match msg {
            SignalMessage::Offer(sdp) => {
                let renegotiation = self
                    .call
                    .as_ref()
                    .is_some_and(|c| c.role == Role::Answerer || c.answered);
                if renegotiation {
                    let call = self.call.as_mut().expect("checked above");
                    // Candidates of the new offer wait for it like those of the first.
                    call.remote_applied = false;
                    if call.disconnected_at.is_some() {
                        // The peer restarts ICE: do not offer one as well, and give it time,
                        // beyond its own grace, to restart again if this one does not do.
                        call.disconnected_at = Some(now + self.settings.restart_after * 3);
                        call.restart_sent = true;
                        call.restart_ours = false;
                    }
                    let id = call.id;
                    self.actions.push_back(Action::AcceptOffer(id, sdp));
                } else {
                    // An offer that crosses ours: theirs wins, as the peer that joined later
                    // would otherwise never get an answer.
                    self.close_call(CallEnd::Replaced);
                    let id = self.start_call(now, Role::Answerer, None);
                    self.actions.push_back(Action::AcceptOffer(id, sdp));
                }
            }
            SignalMessage::Answer(sdp) => match self.call.as_mut() {
                Some(call) if call.role == Role::Offerer && !call.answered => {
                    call.answered = true;
                    let id = call.id;
                    self.actions.push_back(Action::AcceptAnswer(id, sdp));
                }
                Some(call) if call.awaiting_restart_answer => {
                    call.awaiting_restart_answer = false;
                    // The peer took the restart: a fresh grace for the new checks.
                    if call.disconnected_at.is_some() {
                        call.disconnected_at = Some(now);
                    }
                    let id = call.id;
                    self.actions.push_back(Action::AcceptAnswer(id, sdp));
                }
                _ => tracing::warn!("ignored an answer that answers no offer of ours"),
            },
            SignalMessage::Candidate(c) => match self.call.as_mut() {
                Some(call) if call.remote_applied => {
                    let id = call.id;
                    self.actions.push_back(Action::AddCandidate(id, c));
                }
                Some(call) => call.queued.push(c),
                None => tracing::debug!("ignored a candidate with no call"),
            },
        }
    }
}

fn kind_of(msg: &SignalMessage) -> &'static str {
    match msg {
        SignalMessage::Offer(_) => "offer",
        SignalMessage::Answer(_) => "answer",
        SignalMessage::Candidate(_) => "candidate",
    }
}

#[cfg(test)]
mod tests;
