//! The session's answers to what the room server tells and what the peer relays.

use super::limits::{self, Refused};
use super::{Action, CallEnd, Finish, Phase, Role, Session};
use crate::signaling::room::{RoomEvent, SignalMessage};
use std::time::Instant;

impl Session {
    pub(super) fn on_room_event(&mut self, now: Instant, event: RoomEvent) {
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
                    .is_some_and(|c| c.connected && !c.connection.in_outage());
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
                    tracing::warn!(socket = %crate::text::quote(&id), "ignored `bye` about a socket that is not our peer");
                    self.refuse(Refused::ByeFromStranger);
                    return;
                }
                // The answerer never learns its peer's socket: a connected call's media tells
                // whether the peer is still there (see `bye_check`).
                if call.peer.is_none() && call.connected && !call.connection.in_outage() {
                    if call.bye_check.is_none() {
                        tracing::info!(socket = %crate::text::quote(&id), "`bye` about a socket we cannot tell from our peer: checking the peer's media");
                        if let Some(call) = self.call.as_mut() {
                            call.bye_check = Some(super::bye_check::ByeCheck::new(now, id));
                        }
                    }
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
            tracing::debug!("ignored {} outside the room", msg.kind());
            return;
        }
        match msg {
            SignalMessage::Offer(sdp) => {
                let renegotiating = self
                    .call
                    .as_mut()
                    .filter(|c| c.role == Role::Answerer || c.answered);
                if let Some(call) = renegotiating {
                    if !call.offers.allow(now, limits::OFFERS_PER_WINDOW) {
                        self.refuse(Refused::OfferStorm);
                        return;
                    }
                    // Candidates of the new offer wait for it like those of the first.
                    call.remote_applied = false;
                    // In an outage the peer restarts ICE: we offer none as well, and give it
                    // time, beyond its own grace, to restart again if this one does not do.
                    call.connection
                        .peer_restarts(now, self.settings.restart_after * 3);
                    let id = call.id;
                    self.actions.push_back(Action::AcceptOffer(id, sdp));
                } else if self
                    .failed_attempts
                    .is_full(now, limits::FAILED_ATTEMPTS_PER_WINDOW)
                {
                    // A peer whose offers keep failing does not get a fresh peer connection
                    // for each: it waits out the window.
                    self.refuse(Refused::FailedAttempts);
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
                Some(call) if call.connection.awaiting_answer() => {
                    // The peer took the restart: a fresh grace for the new checks.
                    call.connection.answered(now);
                    let id = call.id;
                    self.actions.push_back(Action::AcceptAnswer(id, sdp));
                }
                _ => {
                    tracing::warn!("ignored an answer that answers no offer of ours");
                    self.refuse(Refused::AnswerWithoutOffer);
                }
            },
            SignalMessage::Candidate(c) => match self.call.as_mut() {
                Some(call) if call.candidates >= limits::CANDIDATES_PER_CALL => {
                    self.refuse(Refused::CandidateFlood);
                }
                Some(call) => {
                    call.candidates += 1;
                    if call.remote_applied {
                        let id = call.id;
                        self.actions.push_back(Action::AddCandidate(id, c));
                    } else {
                        call.queued.push(c);
                    }
                }
                None => self.refuse(Refused::CandidateWithoutCall),
            },
        }
    }
}
