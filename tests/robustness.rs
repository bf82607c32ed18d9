//! roompeer against hostile input, vanishing peers and a long stay in a room.

mod support;

use std::time::Duration;
use support::*;

/// A hostile member of the room (the seed page's own socket.io client) sends malformed
/// messages, binary frames, a 1 MB SDP, a 10,000-section SDP, an SDP with no media, 10,000
/// candidates and an oversize frame, in the role `mode` gives it (`battery`: it offers, roompeer
/// answers; `answerer`: it answers roompeer's offer), then leaves; where the server cuts it off,
/// it comes back for the next step. roompeer (`--calls 1`) ends at most each attempt, takes the
/// next good peer's call with media both ways, and only then leaves: the attempts did not
/// count as the call it was asked for. What it tells stays small, and so does its memory.
fn a_hostile_member_costs_at_most_an_attempt(kind: ServerKind, mode: &str) {
    let dir = scratch(&format!("hostile-{kind:?}-{mode}"));
    let ns = Netns::new();
    let server = match kind {
        ServerKind::Serve => NodeServer::start(&ns, kind, serve_cert()),
        _ => NodeServer::start(&ns, kind, seed_cert()),
    };
    let url = server.http();
    let video = ["--video-size", "320x240"];
    let stayer = Peer::start(
        &ns,
        &dir,
        "stayer",
        &[
            &[
                "--server", &url, "--id", "7", "--wait", "60", "--calls", "1",
            ][..],
            &video,
        ]
        .concat(),
    )
    .joined();
    let rss_before = stayer.rss_kib().expect("RSS readable");
    let said = run_node_script(&ns, "hostile-peer.js", &[&url, "null", mode]);
    let said: serde_json::Value =
        serde_json::from_str(said.trim()).unwrap_or_else(|e| panic!("{said}: {e}"));
    eprintln!("FIGURE hostile {kind:?} {mode}: {said}");
    let steps = &said["steps"];
    // Every server cuts off a frame over its bound; roompeer serve also one over 256 KiB and
    // a sender over its message rate, which the seed's server lets through.
    assert_eq!(steps["oversize frame"], "cut off", "{said}");
    let flood_cut = steps["10,000 candidates"] == "cut off";
    assert_eq!(flood_cut, kind == ServerKind::Serve, "{said}");
    let rss_after = stayer.rss_kib().expect("RSS readable");
    // A real peer comes after the hostile one has left.
    let g = good_guest(&ns, &dir, &url, "8");
    assert_eq!(g.report.last_call.video.peer_sender_id, Some(7));
    // The stayer leaves by itself after the good call: the attempts did not use up `--calls`.
    let s = stayer.finish();
    assert_eq!(s.code, 0, "{}\n{}", s.dump(), s.stderr);
    assert_eq!(s.report.outcome, Outcome::Ok);
    let ev = s.event_names();
    assert_eq!(ev.last(), Some(&"leaved"), "leaves cleanly: {ev:?}");
    let counted = |name: &str| -> u32 {
        s.report
            .events
            .iter()
            .filter(|e| e.event == name)
            .map(|e| 1 + e.more.unwrap_or(0))
            .sum()
    };
    assert!(counted("malformed") >= 10, "{ev:?}");
    if !flood_cut {
        assert!(counted("ignored") >= 1000, "the flood is refused: {ev:?}");
    }
    let attempts: Vec<_> = s.report.calls.iter().filter(|c| !c.connected).collect();
    assert!(
        attempts
            .iter()
            .any(|c| matches!(c.end, Some(CallEnd::NegotiationFailed(_)))),
        "a bad description ended an attempt: {}",
        s.dump()
    );
    let good = s.report.calls.iter().filter(|c| c.media_ok).count();
    assert_eq!(good, 1, "{}", s.dump());
    // The 1 MB SDP is neither in the report nor in the log.
    let told = serde_json::to_string(&(&s.report.error, &s.report.events)).unwrap();
    eprintln!(
        "FIGURE hostile {kind:?} {mode}: error + events {} bytes; RSS {rss_before} KiB before the battery, {rss_after} after",
        told.len()
    );
    assert!(told.len() < 4096, "{} bytes: {told}", told.len());
    assert!(
        !s.stderr.contains(&"A".repeat(300)),
        "the log quotes the SDP"
    );
    assert!(
        rss_after < rss_before + 10 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB over the battery"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_hostile_offerer_costs_at_most_an_attempt_and_the_next_call_works() {
    a_hostile_member_costs_at_most_an_attempt(ServerKind::V2, "battery");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_hostile_answerer_costs_at_most_an_attempt_and_the_next_call_works() {
    a_hostile_member_costs_at_most_an_attempt(ServerKind::V2, "answerer");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn on_roompeer_serve_a_hostile_offerer_costs_at_most_an_attempt() {
    a_hostile_member_costs_at_most_an_attempt(ServerKind::Serve, "battery");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn on_roompeer_serve_a_hostile_answerer_costs_at_most_an_attempt() {
    a_hostile_member_costs_at_most_an_attempt(ServerKind::Serve, "answerer");
}

/// The battery one step at a time, a good peer's call after each: every attack costs at most
/// its own attempt, whatever came before it.
fn after_each_attack_a_good_call(mode: &str, steps: &[&str]) {
    let dir = scratch(&format!("hostile-steps-{mode}"));
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let url = server.http();
    let calls = steps.len().to_string();
    let stayer = Peer::start(
        &ns,
        &dir,
        "stayer",
        &[
            "--server",
            &url,
            "--id",
            "7",
            "--wait",
            "60",
            "--calls",
            &calls,
            "--video-size",
            "320x240",
        ],
    )
    .joined();
    for (k, step) in steps.iter().enumerate() {
        let said = run_node_script(&ns, "hostile-peer.js", &[&url, "null", mode, step]);
        assert!(said.contains(step), "{step}: {said}");
        let g = good_guest(&ns, &dir, &url, &(10 + k).to_string());
        assert_eq!(
            g.report.last_call.video.peer_sender_id,
            Some(7),
            "after {step}: {}",
            g.dump()
        );
    }
    let s = stayer.finish();
    assert_eq!(s.code, 0, "{}\n{}", s.dump(), s.stderr);
    let good = s.report.calls.iter().filter(|c| c.media_ok).count();
    assert_eq!(good, steps.len(), "{}", s.dump());
    // Memory after each good call (measured once the call is closed and freed memory given
    // back). Its bar is the whole battery's (above); here it is only shown: it steps up after
    // each refused 0.5–1 MB message to a plateau (~10 MiB over eight of them), a finding to
    // explain, not yet a bar.
    let rss: Vec<u64> = s
        .report
        .calls
        .iter()
        .filter(|c| c.media_ok)
        .filter_map(|c| c.rss_kib_after)
        .collect();
    eprintln!("FIGURE hostile steps {mode}: RSS after each good call (KiB) {rss:?}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn after_each_attack_on_the_answerer_a_good_call_follows() {
    after_each_attack_a_good_call(
        "battery",
        &[
            "malformed",
            "binary frames",
            "1 MB SDP",
            "10,000 m-lines",
            "no media",
            "10,000 candidates",
            "stranger",
            "oversize frame",
        ],
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn after_each_attack_on_the_offerer_a_good_call_follows() {
    after_each_attack_a_good_call(
        "answerer",
        &[
            "absurd answers",
            "10,000 candidates",
            "malformed",
            "binary frames",
            "stranger",
            "oversize frame",
        ],
    );
}

/// On the seed's server any socket can have `bye` relayed into a room. Neither side of a
/// connected call hangs up for a stranger's: the offerer knows its peer's socket, the answerer
/// (which never learns it) tells by the peer's media. The peer's own `bye` still ends the call.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_strangers_bye_hangs_up_neither_side_but_the_peers_own_does() {
    let dir = scratch("stranger-bye");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let url = server.http();
    let side = |name: &str, id: &str, more: &[&str]| {
        let mut args = vec![
            "--server",
            &url,
            "--id",
            id,
            "--calls",
            "1",
            "--video-size",
            "320x240",
        ];
        args.extend(more);
        Peer::start(&ns, &dir, name, &args)
    };
    // The offerer leaves after 3 s (closing its peer connection first, as the page does): long
    // enough for reception reports, which the answerer's call is judged on, as it now hangs up
    // a quarter second after the peer's media stops.
    let offerer = side("offerer", "1", &["--duration", "3"]).joined();
    let answerer = side("answerer", "2", &[]);
    for p in [&offerer, &answerer] {
        p.wait_event("call_connected", Duration::from_secs(20));
    }
    run_node_script(&ns, "hostile-peer.js", &[&url, "null", "stranger"]);
    for p in [&offerer, &answerer] {
        let e = p.wait_event("ignored", Duration::from_secs(10));
        assert_eq!(e.detail.as_deref(), Some("bye_from_stranger"));
    }
    let ended = answerer.wait_event("call_ended", Duration::from_secs(10));
    assert_eq!(ended.detail.as_deref(), Some("call 1: peer_left"));
    let o = offerer.finish();
    let a = answerer.finish();
    assert_eq!(a.code, 0, "{}\n{}", a.dump(), a.stderr);
    assert_eq!(a.report.calls.len(), 1, "{}", a.dump());
    assert_eq!(a.report.calls[0].end, Some(CallEnd::PeerLeft));
    for f in [&o, &a] {
        assert!(f.report.calls[0].media_ok, "{}", f.dump());
        assert!(f.event_names().contains(&"bye"), "{:?}", f.event_names());
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_peer_that_vanishes_is_noticed_and_the_next_one_is_called() {
    let dir = scratch("vanish");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V4, seed_cert());
    let url = server.http();
    let video = ["--video-size", "320x240"];
    let stayer = Peer::start(
        &ns,
        &dir,
        "stayer",
        &[&["--server", &url, "--id", "1", "--calls", "2"][..], &video].concat(),
    )
    .joined();
    let mut crasher = Peer::start(
        &ns,
        &dir,
        "crasher",
        &[&["--server", &url, "--id", "2"][..], &video].concat(),
    );
    crasher.wait_event("call_connected", Duration::from_secs(20));
    crasher.kill();
    // No `bye` comes: the stayer must notice on its own, within seconds.
    stayer.wait_event("call_ended", Duration::from_secs(20));
    good_guest(&ns, &dir, &url, "3");
    let s = stayer.finish();
    assert_eq!(s.code, 0, "{}", s.stderr);
    let calls = &s.report.calls;
    assert_eq!(calls.len(), 2, "{}", s.dump());
    assert_eq!(calls[0].end, Some(CallEnd::ConnectionFailed));
    let c0 = &calls[0].summary.timings_ms;
    assert!(c0.ended.unwrap() > c0.ice_connected.unwrap());
    assert!(calls[1].media_ok, "{}", s.dump());
    assert_eq!(calls[1].summary.video.peer_sender_id, Some(3));
}

/// A roompeer that stays while another joins and leaves 20 times: every call works, and it
/// does not grow with every call (webrtc#906 leaks each closed peer connection).
#[test]
#[ignore = "needs root: network namespaces"]
fn twenty_calls_in_a_row_work_and_memory_stays_flat() {
    let report = stay_while_guests_come_and_go("twenty", 20, "2");
    let calls = &report.calls;
    assert_eq!(calls.len(), 20);
    for (n, c) in calls.iter().enumerate() {
        assert!(c.media_ok, "call {}: {c:?}", n + 1);
        assert_eq!(c.summary.video.peer_sender_id, Some(n as u16 + 2));
    }
    let rss: Vec<u64> = calls.iter().map(|c| c.rss_kib_after.unwrap()).collect();
    eprintln!("RSS after each call (KiB): {rss:?}");
    // Around calls 2 and 20, the median of three: a single reading can catch a transient
    // (a blocking-pool thread that has not exited yet), a leak per call shows in all three.
    let median = |w: &[u64]| {
        let mut w = w.to_vec();
        w.sort_unstable();
        w[1] as i64
    };
    // A leak per call grows both halves of the run; a single step (glibc making another arena
    // when a thread first allocates: +3.6 MiB at call 19 in one CI run, flat before and after)
    // grows only one. 2 MiB over 8 calls is the same 256 KiB a call the whole-run bar allowed.
    let (early, middle, late) = (
        median(&rss[1..4]),
        median(&rss[9..12]),
        median(&rss[17..20]),
    );
    assert!(
        middle - early < 2 * 1024 || late - middle < 2 * 1024,
        "RSS grew {} KiB from calls 2-4 to 10-12 and {} KiB from there to 18-20: {rss:?}",
        middle - early,
        late - middle
    );
}

/// 100 peers join and leave a roompeer that stays (each gets an offer, then says `bye`): its
/// memory, descriptors and threads after them are what they were after the first ten, and it
/// still holds a call.
#[test]
#[ignore = "needs root: network namespaces"]
fn a_hundred_peers_that_join_and_leave_leave_nothing_behind() {
    let dir = scratch("join-leave");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let url = server.http();
    let video = ["--video-size", "320x240"];
    let stayer = Peer::start(
        &ns,
        &dir,
        "stayer",
        &[
            &[
                "--server", &url, "--id", "1", "--wait", "120", "--calls", "1",
            ][..],
            &video,
        ]
        .concat(),
    )
    .joined();
    // Per-call threads (the media pipelines, the blocking pool's) end a moment after the call
    // does: wait for the counts to settle rather than read a transient.
    let settled = |stayer: &Peer, limit: Option<(u64, u64)>| -> (u64, u64, u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let now = (
                stayer.rss_kib().unwrap(),
                stayer.open_fds().unwrap(),
                stayer.threads().unwrap(),
            );
            let within = limit.is_none_or(|(fds, threads)| now.1 <= fds && now.2 <= threads);
            if within || std::time::Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    run_node_script(&ns, "join-leave.js", &[&url, "null", "10"]);
    let before = settled(&stayer, None);
    let said = run_node_script(&ns, "join-leave.js", &[&url, "null", "100"]);
    let after = settled(&stayer, Some((before.1 + 2, before.2 + 2)));
    eprintln!(
        "FIGURE join/leave: 100 cycles {}; RSS {} -> {} KiB, fds {} -> {}, threads {} -> {}",
        said.trim(),
        before.0,
        after.0,
        before.1,
        after.1,
        before.2,
        after.2
    );
    assert!(
        after.0 < before.0 + 5 * 1024,
        "RSS grew {} KiB",
        after.0 - before.0
    );
    assert!(after.1 <= before.1 + 2, "fds {before:?} -> {after:?}");
    assert!(after.2 <= before.2 + 2, "threads {before:?} -> {after:?}");
    good_guest(&ns, &dir, &url, "2");
    let s = stayer.finish();
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert_eq!(
        s.report.calls.iter().filter(|c| c.media_ok).count(),
        1,
        "{}",
        s.dump()
    );
}

/// After an outage the receiver has lost frames: it asks for a keyframe (PLI), the sender
/// answers with one, and the picture comes back.
#[test]
#[ignore = "needs root: network namespaces"]
fn after_a_media_outage_a_keyframe_is_requested_and_sent() {
    let dir = scratch("outage");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let url = server.http();
    // Without the jitter buffer, packets NACKed after the outage come back too late to use, so
    // the gap must be healed by a keyframe.
    let common = [&one_call(&url, "6")[..], &["--jitter-ms", "0"]].concat();
    let Pair { a, b } = Pair::start(&ns, &dir, &common, &[], &[]).connected();
    // The outage itself lasts a second; this sleep is its length, not a synchronisation.
    std::thread::sleep(Duration::from_secs(1));
    ns.drop_udp();
    std::thread::sleep(Duration::from_secs(1));
    ns.restore_udp();
    for r in [a.finish(), b.finish()] {
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v = &r.report.last_call.video;
        assert!(v.keyframe_requests_sent >= 1, "{v:?}");
        assert!(v.keyframe_requests_received >= 1, "{v:?}");
        assert!(
            v.counter_gaps.is_some_and(|g| g >= 1),
            "the outage shows as a gap: {v:?}"
        );
        // Six seconds at 30 frames/s, less the outage and the wait for the keyframe.
        assert!(v.decoded_frames >= 100, "the picture came back: {v:?}");
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_call_goes_on_through_a_signaling_server_restart_and_both_peers_rejoin() {
    let dir = scratch("restart-call");
    let ns = Netns::new();
    let cert = seed_cert();
    let server = NodeServer::start_on(&ns, ServerKind::V2, cert, 18080, 18443);
    let url = server.http();
    let common = one_call(&url, "8");
    let Pair { a, b } = Pair::start(&ns, &dir, &common, &[], &[]).connected();
    drop(server);
    a.wait_event("signaling_down", Duration::from_secs(20));
    b.wait_event("signaling_down", Duration::from_secs(20));
    let _server = NodeServer::start_on(&ns, ServerKind::V2, cert, 18080, 18443);
    a.wait_event("joined", Duration::from_secs(20));
    b.wait_event("joined", Duration::from_secs(20));
    for r in [a.finish(), b.finish()] {
        assert_eq!(r.code, 0, "{}", r.stderr);
        let calls = &r.report.calls;
        assert_eq!(calls.len(), 1, "one call all along: {}", r.dump());
        // Held to the end: the first whose hold is over leaves, the other sees its `bye`.
        let end = calls[0].end.as_ref();
        assert!(
            matches!(end, Some(CallEnd::WeLeft | CallEnd::PeerLeft)),
            "{end:?}"
        );
        let decoded = r.report.last_call.video.decoded_frames;
        assert!(
            decoded >= 200,
            "media kept flowing: {decoded} frames in 8 s"
        );
        let ev = r.event_names();
        assert!(ev.contains(&"signaling_down"), "{ev:?}");
        assert_eq!(
            ev.iter().filter(|e| **e == "joined").count(),
            2,
            "joined, then rejoined: {ev:?}"
        );
        assert_eq!(ev.last(), Some(&"leaved"), "{ev:?}");
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_waiting_peer_rejoins_after_a_server_restart_and_takes_the_next_call() {
    let dir = scratch("restart-wait");
    let ns = Netns::new();
    let cert = seed_cert();
    let server = NodeServer::start_on(&ns, ServerKind::V4, cert, 19080, 19443);
    let url = server.http();
    let common = [
        "--server",
        &url,
        "--duration",
        "3",
        "--video-size",
        "320x240",
    ];
    let a = Peer::start(&ns, &dir, "a", &[&common[..], &["--id", "1"]].concat()).joined();
    drop(server);
    a.wait_event("signaling_down", Duration::from_secs(20));
    let _server = NodeServer::start_on(&ns, ServerKind::V4, cert, 19080, 19443);
    a.wait_event("joined", Duration::from_secs(20));
    let b = Peer::start(&ns, &dir, "b", &[&common[..], &["--id", "2"]].concat()).finish();
    assert_eq!(b.code, 0, "{}", b.stderr);
    let a = a.finish();
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(
        a.report.calls[0].role,
        Role::Offerer,
        "it was in the room first"
    );
    assert_eq!(a.report.last_call.video.peer_sender_id, Some(2));
}

/// A good peer that joins after whatever the test did: a 3 s call at 320x240 that must work.
fn good_guest(ns: &Netns, dir: &std::path::Path, url: &str, id: &str) -> Finished {
    let args = [
        "--server",
        url,
        "--id",
        id,
        "--duration",
        "3",
        "--video-size",
        "320x240",
    ];
    let g = Peer::start(ns, dir, "guest", &args).finish();
    assert_eq!(g.code, 0, "guest {id}: {}", g.stderr);
    g
}
