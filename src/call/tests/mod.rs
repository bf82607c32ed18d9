use super::*;
use crate::signaling::room::Room;
use crate::signaling::room::RoomEvent;
use std::time::Duration;

mod outages;

pub(super) fn settings() -> RoomSettings {
    RoomSettings {
        room: Room(None),
        wait: Duration::from_secs(60),
        hold: Some(Duration::from_secs(10)),
        max_calls: None,
        leave_timeout: Duration::from_secs(2),
        disconnect_grace: Duration::from_secs(5),
        restart_after: Duration::from_secs(1),
    }
}

pub(super) fn drain(s: &mut Session) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

pub(super) fn cand(n: u16) -> CandidateMessage {
    CandidateMessage {
        label: Some(0),
        mid: Some("0".into()),
        candidate: format!("candidate:{n} 1 udp 1 127.0.0.1 {n} typ host"),
    }
}

/// A session that has joined and is waiting for a peer.
pub(super) fn joined(now: Instant, settings: RoomSettings) -> Session {
    let mut s = Session::new(settings);
    s.handle(now, Input::SignalingUp);
    assert_eq!(
        drain(&mut s),
        vec![Action::Send(RoomCommand::Join)],
        "joins the room first"
    );
    s.handle(now, Input::Room(RoomEvent::Joined { id: "me".into() }));
    assert!(drain(&mut s).is_empty());
    s
}

#[test]
fn first_in_the_room_offers_on_otherjoin() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "peer".into() }));
    assert_eq!(
        drain(&mut s),
        vec![
            Action::StartPeer(CallId(1), Role::Offerer),
            Action::CreateOffer(CallId(1))
        ]
    );
    s.handle(
        t,
        Input::LocalDescription(CallId(1), SignalMessage::Offer("o".into())),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::Send(RoomCommand::Message(SignalMessage::Offer(
            "o".into()
        )))]
    );
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Answer("a".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::AcceptAnswer(CallId(1), "a".into())]
    );
    // A second answer answers nothing.
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Answer("a2".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::Refused(Refused::AnswerWithoutOffer)]
    );
}

#[test]
fn second_in_the_room_answers() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("o".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![
            Action::StartPeer(CallId(1), Role::Answerer),
            Action::AcceptOffer(CallId(1), "o".into())
        ]
    );
    s.handle(
        t,
        Input::LocalDescription(CallId(1), SignalMessage::Answer("a".into())),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::Send(RoomCommand::Message(SignalMessage::Answer(
            "a".into()
        )))]
    );
}

#[test]
fn candidates_wait_for_the_remote_description() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("o".into()))),
    );
    drain(&mut s);
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Candidate(cand(1)))),
    );
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Candidate(cand(2)))),
    );
    assert!(
        drain(&mut s).is_empty(),
        "queued, not dropped, not applied early"
    );
    s.handle(t, Input::RemoteApplied(CallId(1)));
    assert_eq!(
        drain(&mut s),
        vec![
            Action::AddCandidate(CallId(1), cand(1)),
            Action::AddCandidate(CallId(1), cand(2))
        ]
    );
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Candidate(cand(3)))),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::AddCandidate(CallId(1), cand(3))]
    );
}

#[test]
fn candidates_with_no_call_are_ignored() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Candidate(cand(1)))),
    );
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Answer("a".into()))),
    );
    s.handle(t, Input::Malformed("garbage".into()));
    assert_eq!(
        drain(&mut s),
        vec![
            Action::Refused(Refused::CandidateWithoutCall),
            Action::Refused(Refused::AnswerWithoutOffer)
        ]
    );
}

#[test]
fn local_candidates_are_trickled_in_the_pages_shape() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    drain(&mut s);
    s.handle(t, Input::LocalCandidate(CallId(1), cand(7)));
    let actions = drain(&mut s);
    assert_eq!(
        actions,
        vec![Action::Send(RoomCommand::Message(
            SignalMessage::Candidate(cand(7))
        ))]
    );
    // Stale calls are ignored.
    s.handle(t, Input::LocalCandidate(CallId(9), cand(8)));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn bye_returns_to_waiting_and_a_new_otherjoin_starts_afresh() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p1".into() }));
    drain(&mut s);
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    assert_eq!(drain(&mut s), vec![Action::CallConnected(CallId(1))]);
    s.handle(t, Input::Room(RoomEvent::Bye { id: "p1".into() }));
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::PeerLeft)]
    );
    assert_eq!(s.current_call(), None);
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p2".into() }));
    assert_eq!(
        drain(&mut s),
        vec![
            Action::StartPeer(CallId(2), Role::Offerer),
            Action::CreateOffer(CallId(2))
        ]
    );
    // Late inputs about call 1 change nothing.
    s.handle(t, Input::Peer(CallId(1), PeerState::Failed));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn otherjoin_during_a_call_replaces_a_vanished_peer() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p1".into() }));
    drain(&mut s);
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p2".into() }));
    assert_eq!(
        drain(&mut s),
        vec![
            Action::ClosePeer(CallId(1), CallEnd::Replaced),
            Action::StartPeer(CallId(2), Role::Offerer),
            Action::CreateOffer(CallId(2))
        ]
    );
}

#[test]
fn a_second_offer_in_a_call_renegotiates() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("o1".into()))),
    );
    drain(&mut s);
    s.handle(t, Input::RemoteApplied(CallId(1)));
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("o2".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::AcceptOffer(CallId(1), "o2".into())]
    );
    // Candidates of the new offer wait for it.
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Candidate(cand(1)))),
    );
    assert!(drain(&mut s).is_empty());
    s.handle(t, Input::RemoteApplied(CallId(1)));
    assert_eq!(
        drain(&mut s),
        vec![Action::AddCandidate(CallId(1), cand(1))]
    );
}

#[test]
fn an_offer_crossing_ours_wins() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    drain(&mut s);
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("theirs".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![
            Action::ClosePeer(CallId(1), CallEnd::Replaced),
            Action::StartPeer(CallId(2), Role::Answerer),
            Action::AcceptOffer(CallId(2), "theirs".into())
        ]
    );
}

#[test]
fn an_offer_after_the_answer_is_a_renegotiation_for_the_offerer() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Answer("a".into()))),
    );
    drain(&mut s);
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("re".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::AcceptOffer(CallId(1), "re".into())]
    );
}

#[test]
fn full_finishes_with_room_full() {
    let t = Instant::now();
    let mut s = Session::new(settings());
    s.handle(t, Input::SignalingUp);
    drain(&mut s);
    s.handle(t, Input::Room(RoomEvent::Full));
    assert_eq!(
        drain(&mut s),
        vec![Action::Disconnect, Action::Finish(Finish::RoomFull)]
    );
    assert!(s.is_finished());
}

#[test]
fn hold_time_then_leave_then_leaved() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    assert_eq!(s.deadline(), Some(t + Duration::from_secs(10)));
    s.handle(t + Duration::from_secs(5), Input::Timeout);
    assert!(drain(&mut s).is_empty(), "early timeouts do nothing");
    let t2 = t + Duration::from_secs(10);
    s.handle(t2, Input::Timeout);
    assert_eq!(
        drain(&mut s),
        vec![
            Action::ClosePeer(CallId(1), CallEnd::WeLeft),
            Action::Send(RoomCommand::Leave)
        ]
    );
    s.handle(t2, Input::Room(RoomEvent::Leaved));
    assert_eq!(
        drain(&mut s),
        vec![Action::Disconnect, Action::Finish(Finish::Done)]
    );
}

#[test]
fn leave_without_leaved_times_out() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Stop);
    assert_eq!(drain(&mut s), vec![Action::Send(RoomCommand::Leave)]);
    s.handle(t + Duration::from_secs(3), Input::Timeout);
    assert_eq!(
        drain(&mut s),
        vec![Action::Disconnect, Action::Finish(Finish::Stopped)]
    );
}

#[test]
fn no_peer_within_the_wait() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t + Duration::from_secs(60), Input::Timeout);
    assert_eq!(drain(&mut s), vec![Action::Send(RoomCommand::Leave)]);
    s.handle(t + Duration::from_secs(60), Input::Room(RoomEvent::Leaved));
    assert_eq!(
        drain(&mut s),
        vec![Action::Disconnect, Action::Finish(Finish::NoPeer)]
    );
}

#[test]
fn a_call_that_never_connects_ends_and_waiting_resumes() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    drain(&mut s);
    s.handle(t + Duration::from_secs(60), Input::Timeout);
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::ConnectionFailed)]
    );
    assert_eq!(s.deadline(), Some(t + Duration::from_secs(120)));
}

#[test]
fn ice_failure_ends_the_call_like_bye() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    s.handle(t, Input::Peer(CallId(1), PeerState::Failed));
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::ConnectionFailed)]
    );
    assert_eq!(s.current_call(), None);
}

#[test]
fn broken_sdp_ends_the_call() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("junk".into()))),
    );
    drain(&mut s);
    s.handle(t, Input::PeerError(CallId(1), "bad sdp".into()));
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(
            CallId(1),
            CallEnd::NegotiationFailed("bad sdp".into())
        )]
    );
}

#[test]
fn max_calls_leaves_after_the_last_one() {
    let t = Instant::now();
    let mut st = settings();
    st.hold = None;
    st.max_calls = Some(2);
    let mut s = joined(t, st);
    for n in 1..=2 {
        s.handle(
            t,
            Input::Room(RoomEvent::OtherJoin {
                id: format!("p{n}"),
            }),
        );
        s.handle(t, Input::Peer(CallId(n), PeerState::Connected));
        s.handle(
            t,
            Input::Room(RoomEvent::Bye {
                id: format!("p{n}"),
            }),
        );
    }
    let actions = drain(&mut s);
    assert_eq!(actions.last(), Some(&Action::Send(RoomCommand::Leave)));
    s.handle(t, Input::Room(RoomEvent::Leaved));
    assert_eq!(
        drain(&mut s),
        vec![Action::Disconnect, Action::Finish(Finish::Done)]
    );
}

fn offer(sdp: &str) -> Input {
    Input::Room(RoomEvent::Message(SignalMessage::Offer(sdp.into())))
}

#[test]
fn bad_offers_end_only_their_attempt_and_do_not_count_as_calls() {
    let t = Instant::now();
    let mut st = settings();
    st.hold = None;
    st.max_calls = Some(1);
    let mut s = joined(t, st);
    // Two bad offers: each is an attempt that ends, and the session stays in the room.
    for n in 1..=2 {
        s.handle(t, offer("junk"));
        drain(&mut s);
        s.handle(t, Input::PeerError(CallId(n), "bad sdp".into()));
        let actions = drain(&mut s);
        assert_eq!(
            actions,
            vec![Action::ClosePeer(
                CallId(n),
                CallEnd::NegotiationFailed("bad sdp".into())
            )],
            "no leave: the attempt did not connect"
        );
        assert_eq!(s.status(), Status::Waiting);
    }
    // A good peer joins: the call connects and ends, which is the one call asked for.
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "good".into() }));
    s.handle(t, Input::Peer(CallId(3), PeerState::Connected));
    drain(&mut s);
    s.handle(t, Input::Room(RoomEvent::Bye { id: "good".into() }));
    assert_eq!(
        drain(&mut s).last(),
        Some(&Action::Send(RoomCommand::Leave))
    );
}

#[test]
fn a_peer_whose_offers_keep_failing_waits_out_the_window() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    for n in 1..=limits::FAILED_ATTEMPTS_PER_WINDOW {
        s.handle(t, offer("junk"));
        drain(&mut s);
        s.handle(t, Input::PeerError(CallId(n), "bad sdp".into()));
        drain(&mut s);
    }
    s.handle(t, offer("junk"));
    assert_eq!(
        drain(&mut s),
        vec![Action::Refused(Refused::FailedAttempts)],
        "no new peer connection"
    );
    // A peer that joins is still called, and after the window offers are taken again.
    s.handle(t + limits::WINDOW, offer("v=0"));
    assert!(matches!(
        drain(&mut s).as_slice(),
        [
            Action::StartPeer(_, Role::Answerer),
            Action::AcceptOffer(..)
        ]
    ));
}

#[test]
fn a_storm_of_offers_and_a_flood_of_candidates_are_cut_off() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, offer("v=0"));
    s.handle(t, Input::RemoteApplied(CallId(1)));
    drain(&mut s);
    let mut accepted = 1;
    for _ in 0..100 {
        s.handle(t, offer("v=0"));
        for a in drain(&mut s) {
            match a {
                Action::AcceptOffer(..) => accepted += 1,
                Action::Refused(Refused::OfferStorm) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(accepted, 1 + limits::OFFERS_PER_WINDOW);
    s.handle(t, Input::RemoteApplied(CallId(1)));
    drain(&mut s);
    let mut added = 0;
    for n in 0..10_000 {
        s.handle(
            t,
            Input::Room(RoomEvent::Message(SignalMessage::Candidate(cand(n)))),
        );
        added += drain(&mut s)
            .iter()
            .filter(|a| matches!(a, Action::AddCandidate(..)))
            .count();
    }
    assert_eq!(added, limits::CANDIDATES_PER_CALL);
    assert_eq!(s.current_call(), Some((CallId(1), Role::Answerer)));
}
