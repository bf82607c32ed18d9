//! The room and call lifecycle as a plain state machine: inputs in, actions out, time passed in.
//!
//! It decides who offers, when a call starts and ends, which relayed message goes where, and
//! when roompeer leaves. The socket, the peer connection and the media are adapters that execute
//! its [`Action`]s and feed it [`Input`]s; none of them holds protocol logic.

mod bye_check;
pub mod limits;
mod outage;
mod reconnect;
mod room;
mod status;
mod types;

pub use limits::Refused;
pub use reconnect::Reconnect;
pub use status::Status;
pub use types::{Action, CallEnd, CallId, Finish, Input, PeerState, Role, RoomSettings};

use crate::signaling::room::{CandidateMessage, RoomCommand, SignalMessage};
use limits::RateWindow;
use std::collections::VecDeque;
use std::time::Instant;

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
    /// Outages of the connection and the ICE restarts tried in them.
    connection: outage::Connection,
    /// The peer's socket id, when the server told us (`otherjoin`); the answerer never learns it.
    peer: Option<String>,
    /// Offers this call took, for the storm limit.
    offers: RateWindow,
    /// Remote candidates this call took (applied or queued).
    candidates: usize,
    /// A `bye` about a socket we cannot tell from our peer, checked against the media.
    bye_check: Option<bye_check::ByeCheck>,
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

/// The room membership and call lifecycle of one roompeer.
#[derive(Debug)]
pub struct Session {
    settings: RoomSettings,
    phase: Phase,
    call: Option<Call>,
    next_call: u32,
    /// Calls that connected and have ended: what `max_calls` counts (an attempt a peer's bad
    /// input ended never connected, so it does not use up the session).
    connected_calls_ended: u32,
    /// Whether any call ever connected (decides `no_peer` vs `done` when the wait runs out).
    any_connected: bool,
    signaling_up: bool,
    /// Our signaling came back during a connected call and we rejoined: the next `otherjoin`
    /// is our own peer rejoining after the same server restart, not a new peer.
    rejoined_during_call: bool,
    deadline: Option<Instant>,
    /// What to finish with once `leaved` arrives (or the leave times out).
    finish_after_leave: Finish,
    /// When signaling is tried again while it is down.
    reconnect: Reconnect,
    /// Call attempts that ended without connecting, for the failed-attempts limit.
    failed_attempts: RateWindow,
    actions: VecDeque<Action>,
}

impl Session {
    /// A session that has not connected yet.
    pub fn new(settings: RoomSettings) -> Self {
        Self {
            settings,
            phase: Phase::Connecting,
            call: None,
            next_call: 1,
            connected_calls_ended: 0,
            any_connected: false,
            signaling_up: false,
            rejoined_during_call: false,
            deadline: None,
            finish_after_leave: Finish::Done,
            reconnect: Reconnect::default(),
            failed_attempts: RateWindow::default(),
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
            let give_up = c.connection.grace_ends(self.settings.disconnect_grace)?;
            Some(match self.restart_due(c) {
                Some(restart) => restart.min(give_up),
                None => give_up,
            })
        });
        let bye = self.call.as_ref().and_then(|c| c.bye_check.as_ref()?.due());
        [self.deadline, silent, bye, self.reconnect.due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When this disconnected call should restart ICE, if it should.
    fn restart_due(&self, c: &Call) -> Option<Instant> {
        if !self.signaling_up {
            return None;
        }
        c.connection
            .restart_due(c.role, self.settings.restart_after)
    }

    /// ICE restarts offered in the current call.
    pub fn restarts(&self) -> u32 {
        self.call.as_ref().map_or(0, |c| c.connection.restarts())
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

    fn send(&mut self, command: RoomCommand) {
        self.actions.push_back(Action::Send(command));
    }

    fn send_message(&mut self, msg: SignalMessage) {
        if self.signaling_up {
            self.send(RoomCommand::Message(msg));
        } else {
            tracing::warn!("signaling is down: cannot send {}", msg.kind());
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
            connection: outage::Connection::default(),
            peer,
            offers: RateWindow::default(),
            candidates: 0,
            bye_check: None,
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
            if call.connected {
                self.connected_calls_ended += 1;
            }
        }
    }

    /// Ends the current call and decides what comes next: wait for the next peer, or leave.
    fn end_call(&mut self, now: Instant, why: CallEnd) {
        let Some(call) = self.call.as_ref() else {
            return;
        };
        if !call.connected {
            self.failed_attempts.count(now);
        }
        self.close_call(why);
        let enough = self
            .settings
            .max_calls
            .is_some_and(|n| self.connected_calls_ended >= n);
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
            self.send(RoomCommand::Leave);
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

    fn refuse(&mut self, what: Refused) {
        self.actions.push_back(Action::Refused(what));
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
                self.reconnect.succeeded();
                match self.phase {
                    Phase::Connecting | Phase::Offline => {
                        if self.phase == Phase::Offline {
                            tracing::info!("signaling is back: rejoining the room");
                        }
                        self.send(RoomCommand::Join);
                        self.phase = Phase::Joining;
                        self.deadline = Some(now + self.settings.wait);
                    }
                    Phase::InCall => {
                        // The call went on without signaling; be in the room again for `bye`.
                        tracing::info!("signaling is back: rejoining the room, the call goes on");
                        self.send(RoomCommand::Join);
                        self.rejoined_during_call = true;
                    }
                    _ => {}
                }
            }
            Input::SignalingDown(reason) => {
                self.signaling_up = false;
                if self.phase != Phase::Leaving {
                    self.reconnect.lost(now);
                }
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
            Input::ReconnectFailed => self.reconnect.failed(now),
            Input::Room(event) => self.on_room_event(now, event),
            Input::Malformed(what) => tracing::warn!("ignored: {what}"),
            Input::LocalDescription(id, desc) => {
                if self.is_current(id) {
                    self.send_message(desc);
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
                    self.send_message(SignalMessage::Candidate(candidate));
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
                        if call.connection.reconnected() {
                            tracing::info!("call {} reconnected", id.0);
                        } else if !call.connected {
                            call.connected = true;
                            self.any_connected = true;
                            self.actions.push_back(Action::CallConnected(id));
                            self.deadline = self.settings.hold.map(|h| now + h);
                        }
                    }
                    PeerState::Disconnected => {
                        if self.call.as_ref().is_some_and(|c| c.bye_check.is_some()) {
                            // The `bye` under check was our peer's after all.
                            tracing::info!("the peer left");
                            self.end_call(now, CallEnd::PeerLeft);
                        } else if let Some(call) = self.call.as_mut().filter(|c| c.connected) {
                            call.connection.disconnected(now);
                        }
                    }
                    PeerState::Failed => self.end_call(now, CallEnd::ConnectionFailed),
                }
            }
            Input::MediaSinceMark(id, packets) => {
                let Some(call) = self.call.as_mut().filter(|c| c.id == id) else {
                    return;
                };
                let Some(check) = call.bye_check.as_mut() else {
                    return;
                };
                match check.counted(now, packets) {
                    None => {}
                    Some(bye_check::ByeVerdict::PeerStays { packets }) => {
                        tracing::warn!(
                            socket = %crate::text::quote(&check.socket),
                            packets,
                            "ignored `bye` about a socket we cannot tell from our peer: the peer's media still flows"
                        );
                        call.bye_check = None;
                        self.refuse(Refused::ByeFromStranger);
                    }
                    Some(bye_check::ByeVerdict::PeerLeft) => {
                        tracing::info!(peer = %check.socket, "the peer left: its media stopped");
                        self.end_call(now, CallEnd::PeerLeft);
                    }
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
                self.on_timeout(now);
                if self.phase != Phase::Finished && self.reconnect.take_due(now) {
                    self.actions.push_back(Action::Reconnect);
                }
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if let Some(call) = self.call.as_mut()
            && let Some(step) = call.bye_check.as_mut().and_then(|b| b.step(now))
        {
            let id = call.id;
            self.actions.push_back(match step {
                bye_check::ByeStep::Mark => Action::MarkMedia(id),
                bye_check::ByeStep::Count => Action::CountMedia(id),
            });
        }
        let restart_due = self
            .call
            .as_ref()
            .and_then(|c| self.restart_due(c))
            .is_some_and(|t| now >= t);
        if restart_due && let Some(call) = self.call.as_mut() {
            call.connection.restart();
            let id = call.id;
            tracing::info!("call {} is disconnected: restarting ICE", id.0);
            self.actions.push_back(Action::RestartIce(id));
            return;
        }
        let silent_too_long = self
            .call
            .as_ref()
            .and_then(|c| c.connection.grace_ends(self.settings.disconnect_grace))
            .is_some_and(|t| now >= t);
        if silent_too_long {
            // The peer answered our last restart (so it is there), but the path has not
            // come back yet: try again, up to three times in one outage.
            let again = self.signaling_up
                && self
                    .call
                    .as_ref()
                    .is_some_and(|c| c.connection.may_restart_again());
            if again && let Some(call) = self.call.as_mut() {
                call.connection.restart_again(now);
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

#[cfg(test)]
mod tests;
