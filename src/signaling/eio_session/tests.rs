use super::*;

const STEP: Duration = Duration::from_secs(10);
const V3_OPEN: &str = r#"0{"sid":"eio3sid","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#;
const V4_OPEN: &str = r#"0{"sid":"eio4sid","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

fn drain(s: &mut EioSession) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn send(frame: &str) -> Output {
    Output::Send(frame.into())
}

/// A v3 session joined at `t` (the server joins it to `/` on its own).
fn open_v3(t: Instant) -> EioSession {
    let mut s = EioSession::new(t, None, STEP);
    s.handle_frame(t, V3_OPEN);
    assert_eq!(drain(&mut s), vec![], "v3: nothing to ask for");
    s.handle_frame(t, "40");
    assert_eq!(
        drain(&mut s),
        vec![Output::Connected {
            socket_id: "eio3sid".into(),
            eio: EioVersion::V3
        }]
    );
    s
}

/// A v4 session joined at `t`.
fn open_v4(t: Instant) -> EioSession {
    let mut s = EioSession::new(t, None, STEP);
    s.handle_frame(t, V4_OPEN);
    assert_eq!(drain(&mut s), vec![send("40")], "v4 asks to join `/`");
    s.handle_frame(t, r#"40{"sid":"sock4"}"#);
    assert_eq!(
        drain(&mut s),
        vec![Output::Connected {
            socket_id: "sock4".into(),
            eio: EioVersion::V4
        }]
    );
    s
}

#[test]
fn v3_the_client_pings_and_a_missing_pong_ends_the_session() {
    let t = Instant::now();
    let mut s = open_v3(t);
    assert_eq!(s.poll_timeout(), Some(t + Duration::from_secs(25)));
    s.handle_timeout(t + Duration::from_secs(25));
    assert_eq!(drain(&mut s), vec![send("2")]);
    let pong_by = t + Duration::from_secs(30);
    assert_eq!(s.poll_timeout(), Some(pong_by));
    s.handle_frame(t + Duration::from_secs(26), "3");
    s.handle_timeout(pong_by);
    assert!(drain(&mut s).is_empty(), "answered in time");
    s.handle_timeout(t + Duration::from_secs(50));
    assert_eq!(drain(&mut s), vec![send("2")]);
    s.handle_timeout(t + Duration::from_secs(55));
    assert_eq!(drain(&mut s), vec![Output::Closed(SessionEnd::PongMissing)]);
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn v4_the_server_pings_and_its_silence_ends_the_session() {
    let t = Instant::now();
    let mut s = open_v4(t);
    let window = Duration::from_secs(45);
    assert_eq!(s.poll_timeout(), Some(t + window));
    let t1 = t + Duration::from_secs(25);
    s.handle_frame(t1, "2");
    assert_eq!(drain(&mut s), vec![send("3")], "pong");
    assert_eq!(
        s.poll_timeout(),
        Some(t1 + window),
        "any frame shows it alive"
    );
    s.handle_timeout(t1 + window - Duration::from_millis(1));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(t1 + window);
    assert_eq!(
        drain(&mut s),
        vec![Output::Closed(SessionEnd::PingsStopped)]
    );
}

#[test]
fn events_flow_both_ways_and_events_before_the_join_keep_their_order() {
    let t = Instant::now();
    let mut s = EioSession::new(t, None, STEP);
    s.handle_frame(t, V3_OPEN);
    s.handle_frame(t, r#"42["joined",null,"abc"]"#);
    s.handle_frame(t, "40");
    assert_eq!(
        drain(&mut s),
        vec![
            Output::Event {
                name: "joined".into(),
                args: vec![Value::Null, "abc".into()]
            },
            Output::Connected {
                socket_id: "eio3sid".into(),
                eio: EioVersion::V3
            }
        ]
    );
    s.emit("join".into(), vec![Value::Null]);
    assert_eq!(drain(&mut s), vec![send(r#"42["join",null]"#)]);
    s.handle_frame(t, r#"42["message",null,{"type":"offer","sdp":"v=0"}]"#);
    assert!(matches!(&drain(&mut s)[..], [Output::Event { name, .. }] if name == "message"));
}

#[test]
fn malformed_frames_are_ignored_once_open() {
    let t = Instant::now();
    let mut s = open_v4(t);
    for junk in ["", "x", "4{", "42[", r#"42{"a":1}"#, "9"] {
        s.handle_frame(t, junk);
    }
    assert!(drain(&mut s).is_empty());
    assert!(!s.is_closed());
}

#[test]
fn opening_fails_in_words() {
    let t = Instant::now();
    let mut s = EioSession::new(t, None, STEP);
    s.handle_frame(t, "42[\"hello\"]");
    assert!(matches!(
        &drain(&mut s)[..],
        [Output::Closed(SessionEnd::NoHandshake(_))]
    ));

    let mut s = EioSession::new(t, Some(EioVersion::V4), STEP);
    s.handle_frame(t, V3_OPEN);
    let out = drain(&mut s);
    assert_eq!(
        out,
        vec![Output::Closed(SessionEnd::WrongVersion {
            forced: EioVersion::V4,
            spoken: EioVersion::V3
        })]
    );
    let Output::Closed(why) = &out[0] else {
        unreachable!()
    };
    assert!(why.to_string().contains("socket.io 2.x"), "{why}");

    let mut s = EioSession::new(t, None, STEP);
    s.handle_timeout(t + STEP);
    assert_eq!(
        drain(&mut s),
        vec![Output::Closed(SessionEnd::HandshakeTimeout)]
    );

    let mut s = EioSession::new(t, None, STEP);
    s.handle_frame(t, V4_OPEN);
    drain(&mut s);
    s.handle_frame(t, r#"44{"message":"Not authorized"}"#);
    assert_eq!(
        drain(&mut s),
        vec![Output::Closed(SessionEnd::Refused("Not authorized".into()))]
    );

    let mut s = EioSession::new(t, None, STEP);
    s.handle_frame(t, V4_OPEN);
    drain(&mut s);
    s.handle_timeout(t + STEP);
    assert_eq!(drain(&mut s), vec![Output::Closed(SessionEnd::JoinTimeout)]);
}

#[test]
fn closing_leaves_the_namespace_then_the_session() {
    let t = Instant::now();
    let mut s = open_v4(t);
    s.close();
    assert_eq!(
        drain(&mut s),
        vec![
            send("41"),
            send("1"),
            Output::Closed(SessionEnd::ClosedByUs)
        ]
    );
    s.emit("join".into(), vec![]);
    s.handle_frame(t, "2");
    assert!(drain(&mut s).is_empty(), "nothing after the end");

    let mut s = open_v3(t);
    s.handle_frame(t, "41");
    assert_eq!(
        drain(&mut s),
        vec![Output::Closed(SessionEnd::ServerDisconnected)]
    );
    let mut s = open_v3(t);
    s.handle_frame(t, "1");
    assert_eq!(
        drain(&mut s),
        vec![Output::Closed(SessionEnd::ServerClosed)]
    );
}
