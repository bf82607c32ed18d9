//! Signaling loss, server restarts, silent peers and ICE restarts.

use super::super::*;
use super::{drain, joined, settings};
use crate::signaling::room::{Room, RoomEvent, SignalMessage};
use std::time::Duration;

#[test]
fn signaling_comes_back_with_growing_pauses_between_attempts() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::SignalingDown("gone".into()));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.deadline(), Some(t + Duration::from_millis(250)));
    s.handle(t + Duration::from_millis(250), Input::Timeout);
    assert_eq!(drain(&mut s), vec![Action::Reconnect]);
    let t1 = t + Duration::from_millis(300);
    s.handle(t1, Input::ReconnectFailed);
    assert_eq!(s.deadline(), Some(t1 + Duration::from_millis(500)));
    s.handle(t1 + Duration::from_millis(499), Input::Timeout);
    assert!(drain(&mut s).is_empty(), "not before its time");
    s.handle(t1 + Duration::from_millis(500), Input::Timeout);
    assert_eq!(drain(&mut s), vec![Action::Reconnect]);
    s.handle(t1 + Duration::from_secs(1), Input::SignalingUp);
    assert_eq!(drain(&mut s), vec![Action::Send(RoomCommand::Join)]);
    assert_eq!(s.status(), Status::Joining);
}

#[test]
fn signaling_loss_keeps_a_connected_call_but_ends_a_pending_one() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    s.handle(t, Input::SignalingDown("gone".into()));
    assert!(drain(&mut s).is_empty());
    s.handle(t + Duration::from_secs(10), Input::Timeout);
    assert_eq!(
        drain(&mut s),
        vec![
            Action::ClosePeer(CallId(1), CallEnd::WeLeft),
            Action::Finish(Finish::Done)
        ]
    );

    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    drain(&mut s);
    s.handle(t, Input::SignalingDown("gone".into()));
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::SignalingLost)]
    );
    // Nobody brings signaling back within the wait.
    s.handle(t + Duration::from_secs(60), Input::Timeout);
    assert_eq!(
        drain(&mut s),
        vec![Action::Finish(Finish::SignalingLost(
            "the signaling server did not come back".into()
        ))]
    );
}

#[test]
fn after_a_server_restart_roompeer_rejoins_and_waits_again() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::SignalingDown("restart".into()));
    assert!(drain(&mut s).is_empty());
    s.handle(t + Duration::from_secs(3), Input::SignalingUp);
    assert_eq!(drain(&mut s), vec![Action::Send(RoomCommand::Join)]);
    s.handle(
        t + Duration::from_secs(3),
        Input::Room(RoomEvent::Joined {
            id: "new-id".into(),
        }),
    );
    s.handle(
        t + Duration::from_secs(4),
        Input::Room(RoomEvent::OtherJoin { id: "p".into() }),
    );
    assert_eq!(
        drain(&mut s),
        vec![
            Action::StartPeer(CallId(1), Role::Offerer),
            Action::CreateOffer(CallId(1))
        ]
    );
}

#[test]
fn a_call_survives_a_server_restart_and_both_peers_rejoin() {
    let t = Instant::now();
    let mut st = settings();
    st.hold = None;
    let mut s = joined(t, st);
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    s.handle(t, Input::SignalingDown("restart".into()));
    s.handle(t, Input::SignalingUp);
    assert_eq!(drain(&mut s), vec![Action::Send(RoomCommand::Join)]);
    s.handle(t, Input::Room(RoomEvent::Joined { id: "me2".into() }));
    // Our own peer comes back into the room: not a new call.
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p2".into() }));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.current_call(), Some((CallId(1), Role::Offerer)));
    // Its later `bye` still ends the call.
    s.handle(t, Input::Room(RoomEvent::Bye { id: "p2".into() }));
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::PeerLeft)]
    );
    // And a newcomer after that is a new call.
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p3".into() }));
    assert_eq!(
        drain(&mut s),
        vec![
            Action::StartPeer(CallId(2), Role::Offerer),
            Action::CreateOffer(CallId(2))
        ]
    );
}

#[test]
fn a_call_that_ends_while_signaling_is_down_waits_for_signaling() {
    let t = Instant::now();
    let mut st = settings();
    st.hold = None;
    let mut s = joined(t, st);
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    s.handle(t, Input::SignalingDown("restart".into()));
    drain(&mut s);
    s.handle(t, Input::Peer(CallId(1), PeerState::Failed));
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::ConnectionFailed)]
    );
    s.handle(t, Input::SignalingUp);
    assert_eq!(drain(&mut s), vec![Action::Send(RoomCommand::Join)]);
}

#[test]
fn rooms_with_names_are_sent_as_strings() {
    let t = Instant::now();
    let mut st = settings();
    st.room = Room(Some("__proto__".into()));
    let mut s = Session::new(st);
    s.handle(t, Input::SignalingUp);
    assert_eq!(drain(&mut s), vec![Action::Send(RoomCommand::Join)]);
}

#[test]
fn a_peer_that_stays_silent_is_dropped_after_the_grace_but_may_come_back_before() {
    let t = Instant::now();
    let mut st = settings();
    st.hold = None;
    let mut s = joined(t, st);
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    assert_eq!(s.deadline(), None, "a held call has no deadline");
    // A short outage: back within the grace, nothing happens.
    s.handle(t, Input::Peer(CallId(1), PeerState::Disconnected));
    assert_eq!(
        s.deadline(),
        Some(t + Duration::from_secs(1)),
        "the offerer restarts ICE after a second"
    );
    let t1 = t + Duration::from_secs(3);
    s.handle(t1, Input::Peer(CallId(1), PeerState::Connected));
    assert!(drain(&mut s).is_empty(), "no second CallConnected");
    assert_eq!(s.deadline(), None);
    s.handle(t1 + Duration::from_secs(5), Input::Timeout);
    assert!(drain(&mut s).is_empty());
    // A long one, and the restart goes unanswered (the peer is gone): the call ends as after
    // `bye`.
    let t2 = t + Duration::from_secs(10);
    s.handle(t2, Input::Peer(CallId(1), PeerState::Disconnected));
    s.handle(t2 + Duration::from_secs(1), Input::Timeout);
    assert_eq!(drain(&mut s), vec![Action::RestartIce(CallId(1))]);
    s.handle(t2 + Duration::from_secs(4), Input::Timeout);
    assert!(drain(&mut s).is_empty(), "one restart per disconnection");
    s.handle(t2 + Duration::from_secs(5), Input::Timeout);
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::ConnectionFailed)]
    );
    assert_eq!(s.current_call(), None);
}

#[test]
fn a_bye_about_another_socket_does_not_hang_up_the_offerer() {
    let t = Instant::now();
    let mut s = joined(t, settings());
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "peer".into() }));
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    s.handle(
        t,
        Input::Room(RoomEvent::Bye {
            id: "intruder".into(),
        }),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::Refused(Refused::ByeFromStranger)]
    );
    assert_eq!(s.current_call(), Some((CallId(1), Role::Offerer)));
    s.handle(t, Input::Room(RoomEvent::Bye { id: "peer".into() }));
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::PeerLeft)]
    );
}

/// The answerer never learns who offered: a `bye` naming any socket is checked against the
/// peer's media before it hangs up a connected call.
#[test]
fn the_answerer_believes_a_bye_only_when_the_peer_media_stops() {
    let t = Instant::now();
    let mut st = settings();
    st.hold = None;
    let mut s = joined(t, st);
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("o".into()))),
    );
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    let bye = |s: &mut Session, at| {
        s.handle(at, Input::Room(RoomEvent::Bye { id: "x".into() }));
    };
    // Counts the peer's media after a bye at `from`, with `packets_at(elapsed)` since the mark,
    // until the session acts; returns what it did and when.
    let check = |s: &mut Session, from: Instant, packets_at: &dyn Fn(Duration) -> u64| {
        loop {
            let due = s.deadline().expect("a check is due");
            assert!(due - from <= Duration::from_millis(1400), "decided in time");
            s.handle(due, Input::Timeout);
            let mut acted = Vec::new();
            for a in drain(s) {
                match a {
                    Action::MarkMedia(CallId(1)) => {}
                    Action::CountMedia(CallId(1)) => {
                        s.handle(
                            due,
                            Input::MediaSinceMark(CallId(1), packets_at(due - from)),
                        );
                        acted.extend(drain(s));
                    }
                    other => acted.push(other),
                }
            }
            if !acted.is_empty() {
                return (acted, due - from);
            }
        }
    };
    bye(&mut s, t);
    assert!(drain(&mut s).is_empty(), "nothing at once");
    // A stranger's: the peer's media went on (100 packets a second). A repeated bye during
    // the check starts no second one.
    bye(&mut s, t);
    let (acted, _) = check(&mut s, t, &|e| e.as_millis() as u64 / 10);
    assert_eq!(acted, vec![Action::Refused(Refused::ByeFromStranger)]);
    assert_eq!(s.current_call(), Some((CallId(1), Role::Answerer)));

    // The peer's own: its media stopped (a few packets were still in flight), and the call
    // ends a quarter second later, not after a fixed watch.
    let t2 = t + Duration::from_secs(5);
    bye(&mut s, t2);
    let (acted, after) = check(&mut s, t2, &|e| if e.as_millis() < 40 { 2 } else { 6 });
    assert_eq!(acted, vec![Action::ClosePeer(CallId(1), CallEnd::PeerLeft)]);
    assert!(after <= Duration::from_millis(400), "{after:?}");
    assert_eq!(s.status(), Status::Waiting);
}

#[test]
fn an_answerer_believes_a_bye_at_once_when_the_connection_drops_or_never_came() {
    let t = Instant::now();
    let offer = Input::Room(RoomEvent::Message(SignalMessage::Offer("o".into())));
    let bye = || Input::Room(RoomEvent::Bye { id: "x".into() });
    // During the check the connection drops: it was the peer.
    let mut s = joined(t, settings());
    s.handle(t, offer.clone());
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    s.handle(t, bye());
    s.handle(t, Input::Peer(CallId(1), PeerState::Disconnected));
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::PeerLeft)]
    );
    // Not connected yet: there is no media to tell by.
    let mut s = joined(t, settings());
    s.handle(t, offer);
    drain(&mut s);
    s.handle(t, bye());
    assert_eq!(
        drain(&mut s),
        vec![Action::ClosePeer(CallId(1), CallEnd::PeerLeft)]
    );
}

#[test]
fn a_disconnected_call_restarts_ice_and_an_answered_restart_gets_a_fresh_grace() {
    let t = Instant::now();
    let mut st = settings();
    st.hold = None;
    let mut s = joined(t, st);
    s.handle(t, Input::Room(RoomEvent::OtherJoin { id: "p".into() }));
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Answer("a".into()))),
    );
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    s.handle(t, Input::Peer(CallId(1), PeerState::Disconnected));
    let t1 = t + Duration::from_secs(1);
    s.handle(t1, Input::Timeout);
    assert_eq!(drain(&mut s), vec![Action::RestartIce(CallId(1))]);
    assert_eq!(s.restarts(), 1);
    s.handle(
        t1,
        Input::LocalDescription(CallId(1), SignalMessage::Offer("o2".into())),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::Send(RoomCommand::Message(SignalMessage::Offer(
            "o2".into()
        )))],
        "the restart offer goes to the peer as any offer"
    );
    // Answered: the new checks get a full grace from the answer.
    let t2 = t + Duration::from_secs(2);
    s.handle(
        t2,
        Input::Room(RoomEvent::Message(SignalMessage::Answer("a2".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::AcceptAnswer(CallId(1), "a2".into())]
    );
    s.handle(t + Duration::from_secs(6), Input::Timeout);
    assert!(drain(&mut s).is_empty(), "still within the renewed grace");
    // The grace runs out with the path still down: the peer is there, so try again.
    s.handle(t + Duration::from_secs(7), Input::Timeout);
    assert_eq!(drain(&mut s), vec![Action::RestartIce(CallId(1))]);
    s.handle(
        t + Duration::from_secs(7),
        Input::Room(RoomEvent::Message(SignalMessage::Answer("a3".into()))),
    );
    drain(&mut s);
    // The path comes back: the same call goes on, and the next outage restarts again.
    s.handle(
        t + Duration::from_secs(6),
        Input::Peer(CallId(1), PeerState::Connected),
    );
    assert!(drain(&mut s).is_empty(), "no second CallConnected");
    assert_eq!(s.current_call(), Some((CallId(1), Role::Offerer)));
    let t3 = t + Duration::from_secs(20);
    s.handle(t3, Input::Peer(CallId(1), PeerState::Disconnected));
    s.handle(t3 + Duration::from_secs(1), Input::Timeout);
    assert_eq!(drain(&mut s), vec![Action::RestartIce(CallId(1))]);
}

#[test]
fn the_answerer_takes_the_peers_restart_and_offers_none_of_its_own() {
    let t = Instant::now();
    let mut st = settings();
    st.hold = None;
    let mut s = joined(t, st);
    s.handle(
        t,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("o".into()))),
    );
    s.handle(t, Input::Peer(CallId(1), PeerState::Connected));
    drain(&mut s);
    s.handle(t, Input::Peer(CallId(1), PeerState::Disconnected));
    assert_eq!(
        s.deadline(),
        Some(t + Duration::from_secs(3)),
        "the answerer gives the offerer time to restart first"
    );
    let t1 = t + Duration::from_secs(1);
    s.handle(
        t1,
        Input::Room(RoomEvent::Message(SignalMessage::Offer("restart".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::AcceptOffer(CallId(1), "restart".into())]
    );
    s.handle(t + Duration::from_secs(3), Input::Timeout);
    assert!(
        drain(&mut s).is_empty(),
        "no restart of its own, no hang-up"
    );
    // Beyond the peer's own grace (its next restart may be on its way): still waiting.
    s.handle(t1 + Duration::from_secs(7), Input::Timeout);
    assert!(
        drain(&mut s).is_empty(),
        "the taker of a restart never restarts again itself"
    );
    assert!(s.current_call().is_some());
    // A page that never restarts: the answerer restarts itself.
    s.handle(
        t + Duration::from_secs(4),
        Input::Peer(CallId(1), PeerState::Connected),
    );
    let t2 = t + Duration::from_secs(10);
    s.handle(t2, Input::Peer(CallId(1), PeerState::Disconnected));
    s.handle(t2 + Duration::from_secs(3), Input::Timeout);
    assert_eq!(drain(&mut s), vec![Action::RestartIce(CallId(1))]);
    // Its answer is taken although the answerer never offered before.
    s.handle(
        t2 + Duration::from_secs(3),
        Input::Room(RoomEvent::Message(SignalMessage::Answer("a".into()))),
    );
    assert_eq!(
        drain(&mut s),
        vec![Action::AcceptAnswer(CallId(1), "a".into())]
    );
}
