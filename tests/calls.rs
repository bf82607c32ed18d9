//! End-to-end calls between roompeer processes through the project's Node signaling servers,
//! each test in a network namespace of its own whose only interface is `lo`.

mod support;

use roompeer::call::Role;
use support::*;

fn pin(cert: &SeedCert) -> Vec<String> {
    vec!["--pin-cert".into(), cert.cert.display().to_string()]
}

fn args(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// Two roompeers in a room: the first offers, the second answers; both must see and hear
/// the other, in H.264 unless `extra` restricts them to VP8.
fn call_through(kind: ServerKind, use_https: bool, extra: &[&str], expect_eio: &str) {
    let vp8 = extra.contains(&"vp8");
    let codec = if vp8 { "VP8" } else { "H264" };
    let dir = scratch(&format!("call-{kind:?}-{use_https}-{}", extra.join("")));
    let ns = Netns::new();
    let cert = seed_cert();
    let server = NodeServer::start(&ns, kind, cert);
    let url = if use_https {
        server.https()
    } else {
        server.http()
    };
    let mut common: Vec<String> = vec![
        "--server".into(),
        url,
        "--duration".into(),
        "4".into(),
        // Whoever's hold ends first leaves; the other must not wait for a next peer.
        "--calls".into(),
        "1".into(),
        "--video-size".into(),
        "320x240".into(),
    ];
    common.extend(pin(cert));
    common.extend(extra.iter().map(|s| s.to_string()));
    let rec = dir.join("rec-a").display().to_string();
    let common = args(&common);
    let pair = Pair::start(
        &ns,
        &dir,
        &common,
        &[
            "--id",
            "101",
            "--audio",
            "tone:440",
            "--record",
            &rec,
            "--record-raw",
            "--record-local",
        ],
        &["--id", "202", "--audio", "tone:660"],
    );
    let (fa, fb) = pair.finish_ok();
    let side = |role, peer_id, peer_hz| GoodSide {
        role,
        peer_id,
        peer_hz,
        codec,
        min_frames: 60,
    };
    assert_good_side(&fa, side(Role::Offerer, 202, 660.0));
    assert_good_side(&fb, side(Role::Answerer, 101, 440.0));
    for (name, f) in [("offerer", &fa), ("answerer", &fb)] {
        let (v, a) = (&f.report.last_call.video, &f.report.last_call.audio);
        if let (Some(l), Some(jb)) = (v.latency_ms, v.jitter_buffer_ms) {
            println!(
                "FIGURE call via {kind:?} {codec} {name}: capture to decode p50 {} ms, p95 {} ms; jitter buffer {jb:.1} ms",
                l.p50, l.p95
            );
        }
        println!(
            "FIGURE call via {kind:?} {codec} {name}: audio jitter buffer {:?} ms (target {:?}), playout {:?} ms, concealed {} ms, av sync {:?} ms (marker {:?} ms)",
            a.jitter_buffer_ms,
            a.jitter_target_ms,
            a.playout_ms,
            a.concealed_ms,
            f.report.last_call.av_sync_ms,
            f.report.last_call.av_marker_ms
        );
        // A clean link: audio waits only for its turn, and the two streams stay together.
        // libvpx on two cores shared by two calls falls behind, and its video with it (capture
        // to decode ~90 ms); lip sync then rightly holds audio back for it, and does not always
        // catch up within this 4 s call: the bars are for H.264, VP8 gets a looser audio one.
        let audio_delay = a.jitter_buffer_ms.expect("audio waited") + a.playout_ms.unwrap_or(0.0);
        let audio_bar = if vp8 { 120.0 } else { 40.0 };
        assert!(
            audio_delay <= audio_bar,
            "audio delay {audio_delay} ms: {a:?}"
        );
        let sync = f.report.last_call.av_sync_ms.expect("lip sync measured");
        if !vp8 {
            assert!(sync.abs() <= 45.0, "audio and video {sync} ms apart");
            // The sources' flashes and beeps, timed at screen and speaker, confirm the figure
            // computed from the sender reports.
            let marker = f
                .report
                .last_call
                .av_marker_ms
                .expect("flash and beep paired");
            assert!(
                (marker - sync).abs() <= 20.0,
                "marker {marker} ms against av_sync {sync} ms"
            );
        }
    }
    assert_eq!(fa.report.eio.as_deref(), Some(expect_eio));
    assert_eq!(fb.report.eio.as_deref(), Some(expect_eio));
    // The offerer's recording holds the SDP pair, candidates and decoded media.
    let call = dir.join("rec-a/call-1");
    let offer = std::fs::read_to_string(call.join("local-offer.sdp")).unwrap();
    if vp8 {
        assert_eq!(video_codecs(&offer), ["VP8/90000"], "only VP8 is offered");
    } else {
        assert!(offer.contains("profile-level-id=42e01f"), "{offer}");
        assert_eq!(
            video_codecs(&offer),
            ["H264/90000", "VP8/90000"],
            "H.264 is offered first, then VP8"
        );
    }
    assert!(
        std::fs::read_to_string(call.join("remote-answer.sdp"))
            .unwrap()
            .starts_with("v=0")
    );
    let candidates = std::fs::read_to_string(call.join("candidates.jsonl")).unwrap();
    assert!(
        candidates.lines().any(|l| l.contains("\"local\""))
            && candidates.lines().any(|l| l.contains("\"remote\""))
    );
    // The peer's audio and video as they came, in one file a player opens.
    let file = call.join(if vp8 { "remote.webm" } else { "remote.mp4" });
    let probed = probe(&file);
    let (pv, pa) = (
        probed.video.expect("a video stream"),
        probed.audio.expect("an audio stream"),
    );
    assert_eq!(pv.codec, if vp8 { "vp8" } else { "h264" });
    assert!(pv.increasing && pa.increasing, "{pv:?} {pa:?}");
    assert_eq!(pa.codec, "opus");
    let t = &fa.report.last_call.timings_ms;
    // Where the first picture's time went: the peer's first packet, then our picture.
    let (packet, picture) = (
        t.first_remote_video_packet
            .expect("first_remote_video_packet"),
        t.first_remote_frame.expect("first_remote_frame"),
    );
    assert!(packet <= picture, "{t:?}");
    assert!(t.first_video_sent.is_some(), "{t:?}");
    let call_secs = (t.ended.unwrap() - t.ice_connected.unwrap()) as f64 / 1000.0;
    for (kind, s) in [("video", &pv), ("audio", &pa)] {
        assert!(
            (s.duration - call_secs).abs() <= 0.05 * call_secs,
            "{kind} lasts {} s in a {call_secs} s call",
            s.duration
        );
    }
    let decoded = fa.report.last_call.video.decoded_frames as f64;
    assert!(
        (pv.packets as f64 - decoded).abs() <= 0.05 * decoded,
        "{} frames in the file, {decoded} decoded",
        pv.packets
    );
    assert_decodes_cleanly(&file);
    // `--record-local`: what it sent, as sent, beside it.
    let local = call.join(if vp8 { "local.webm" } else { "local.mp4" });
    let mine = probe(&local);
    let (lv, la) = (
        mine.video.expect("our video"),
        mine.audio.expect("our audio"),
    );
    assert_eq!(
        (lv.codec.as_str(), la.codec.as_str()),
        (pv.codec.as_str(), "opus")
    );
    assert!(lv.increasing && la.increasing, "{lv:?} {la:?}");
    let sent = fa.report.last_call.video.sent_frames as f64;
    assert!(
        (lv.packets as f64 - sent).abs() <= 0.05 * sent,
        "{} frames in the local file, {sent} sent",
        lv.packets
    );
    // It runs from our first frame (the call's start) to the end: a little longer than the
    // call's connected time.
    assert!(lv.duration >= 0.95 * call_secs, "{lv:?} in {call_secs} s");
    assert_decodes_cleanly(&local);
    println!(
        "FIGURE call via {kind:?} {codec}: recording {} kB for {call_secs:.1} s ({} frames, {} audio packets)",
        std::fs::metadata(&file).unwrap().len() / 1000,
        pv.packets,
        pa.packets
    );
    // `--record-raw`: the decoded pictures and sound as well, frame-exact.
    let y4m = std::fs::read(call.join("remote-video.y4m")).unwrap();
    assert!(y4m.starts_with(b"YUV4MPEG2 W320 H240"), "y4m header");
    let wav = std::fs::metadata(call.join("remote-audio.wav"))
        .unwrap()
        .len();
    assert!(
        wav > 48_000 * 2,
        "at least a second of audio, got {wav} bytes"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn call_through_the_seed_server_on_socketio_2_over_https_with_a_pinned_seed_certificate() {
    call_through(ServerKind::V2, true, &[], "3");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn call_through_a_socketio_4_server_without_eio3_over_https() {
    call_through(ServerKind::V4, true, &[], "4");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn call_in_vp8_when_both_sides_are_restricted_to_it() {
    call_through(ServerKind::V4, true, &["--video-codec", "vp8"], "4");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn call_over_plain_http_with_forced_engineio_versions() {
    call_through(
        ServerKind::V2,
        false,
        &["--eio", "3", "--room", "房间 1"],
        "3",
    );
    call_through(
        ServerKind::V4,
        false,
        &["--eio", "4", "--room", "__proto__"],
        "4",
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_third_peer_is_told_the_room_is_full() {
    let dir = scratch("full");
    let ns = Netns::new();
    let cert = seed_cert();
    let server = NodeServer::start(&ns, ServerKind::V2, cert);
    let mut common: Vec<String> = vec![
        "--server".into(),
        server.https(),
        "--duration".into(),
        "3".into(),
        "--calls".into(),
        "1".into(),
        "--video-size".into(),
        "160x120".into(),
    ];
    common.extend(pin(cert));
    let a = Peer::start(&ns, &dir, "a", &args(&common)).joined();
    let b = Peer::start(&ns, &dir, "b", &args(&common)).joined();
    let c = Peer::start(&ns, &dir, "c", &args(&common)).finish();
    assert_eq!(c.code, 3, "{}", c.stderr);
    assert_eq!(c.report.outcome, Outcome::RoomFull);
    assert!(
        c.report
            .error
            .as_deref()
            .is_some_and(|e| e.contains("room is full")),
        "{:?}",
        c.report.error
    );
    assert_eq!(a.finish().code, 0);
    assert_eq!(b.finish().code, 0);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_forced_engineio_version_the_server_does_not_speak_fails_clearly() {
    let dir = scratch("eio");
    let ns = Netns::new();
    let cert = seed_cert();
    let v2 = NodeServer::start(&ns, ServerKind::V2, cert);
    let v4 = NodeServer::start(&ns, ServerKind::V4, cert);
    let r = Peer::start(
        &ns,
        &dir,
        "v4-on-v2",
        &["--server", &v2.http(), "--eio", "4", "--wait", "1"],
    )
    .finish();
    assert_eq!(r.code, 4, "{}", r.stderr);
    let error = r.report.error.clone().unwrap_or_default();
    assert!(error.contains("socket.io 2.x"), "{error}");
    let r = Peer::start(
        &ns,
        &dir,
        "v3-on-v4",
        &["--server", &v4.http(), "--eio", "3", "--wait", "1"],
    )
    .finish();
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.report.outcome, Outcome::SignalingFailed);
    let error = r.report.error.clone().unwrap_or_default();
    assert!(error.contains("allowEIO3"), "{error}");
}

/// `--stats PATH` writes the call's figures once a second as JSON lines, for a long run's
/// trends: the frames received, the memory, lip sync. On the other side, `--profile DIR` leaves
/// a flame graph and the CPU time per thread and per function.
#[test]
#[ignore = "needs root: network namespaces"]
fn stats_lines_follow_the_call_once_a_second_and_a_profile_shows_where_the_cpu_went() {
    let dir = scratch("stats-lines");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let url = server.http();
    let stats = dir.join("a-stats.jsonl");
    let a = ["--stats", stats.to_str().unwrap()];
    let profile = dir.join("b-profile");
    let b = ["--profile", profile.to_str().unwrap()];
    let (fa, fb) = Pair::start(&ns, &dir, &one_call(&url, "4"), &a, &b).finish_ok();
    assert_eq!(fa.code, 0);
    let read =
        |name: &str| std::fs::read(profile.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let summary: roompeer::profile::ProfileSummary =
        serde_json::from_slice(&read("profile.json")).expect("profile.json reads as a summary");
    let thread = |name: &str| {
        summary
            .thread_cpu
            .iter()
            .find(|t| t.name == name)
            .map_or(0.0, |t| t.cpu_s)
    };
    for t in ["video-send", "video-decode", "tokio-rt-worker"] {
        assert!(thread(t) > 0.0, "no CPU time for {t}: {summary:?}");
    }
    let reported = fb.report.cpu_seconds.unwrap_or(0.0);
    assert!(
        summary.cpu_s >= reported * 0.5 && summary.samples > 0,
        "the threads' clocks add up to {} CPU-s, the report says {reported}: {summary:?}",
        summary.cpu_s
    );
    // The sampled tables are shares, and sparse in a short call (pprof's timer is
    // process-wide): only that there are some.
    assert!(
        !summary.threads.is_empty()
            && !summary.functions_self.is_empty()
            && !summary.functions_total.is_empty(),
        "sampled threads and functions: {summary:?}"
    );
    // The flame graph draws the same samples: the busiest sampled thread is in it (which one
    // that is depends on where the sparse samples fell).
    let svg = String::from_utf8(read("flamegraph.svg")).unwrap();
    let busiest = &summary.threads[0].name;
    assert!(
        svg.contains("<svg") && svg.contains(busiest.as_str()),
        "flame graph without {busiest:?}: {}",
        &svg[..svg.len().min(300)]
    );
    let text = String::from_utf8(read("profile.txt")).unwrap();
    assert!(
        text.contains("per thread, from the threads' clocks"),
        "{text}"
    );
    assert!(!read("stacks.folded").is_empty());
    let text = std::fs::read_to_string(&stats).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    // A 4 s call: a line a second after the first second.
    assert!((2..=5).contains(&lines.len()), "{text}");
    let last = lines.last().unwrap();
    assert_eq!(last["call"], 1, "{last}");
    assert!(last["rss_kib"].as_u64().is_some_and(|k| k > 1000), "{last}");
    assert!(last["fps_in"].as_f64().is_some_and(|f| f > 20.0), "{last}");
    assert!(last["t"].as_f64().is_some_and(|t| t >= 1.0), "{last}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn nobody_comes_and_the_wait_runs_out() {
    let dir = scratch("nopeer");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let r = Peer::start(
        &ns,
        &dir,
        "alone",
        &["--server", &server.http(), "--wait", "1"],
    )
    .finish();
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(r.report.outcome, Outcome::NoPeer);
    let events = r.event_names();
    assert_eq!(
        events,
        ["connected", "sent:join", "joined", "sent:leave", "leaved"]
    );
    // Nothing listens: a clear signaling failure.
    let r = Peer::start(
        &ns,
        &dir,
        "closed",
        &["--server", "http://127.0.0.1:9", "--wait", "1"],
    )
    .finish();
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.report.outcome, Outcome::SignalingFailed);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn relay_only_calls_go_through_coturn_with_the_seeds_credentials() {
    let dir = scratch("relay");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let turn = Coturn::start(&ns, 3478);
    let ice = format!("turn:127.0.0.1:{}", turn.port);
    let url = server.http();
    let common = [
        &one_call(&url, "5")[..],
        &["--ice", &ice, "--ice-user", "aaaa", "--relay-only"],
    ]
    .concat();
    // The password comes from the environment, so it stays out of `ps`.
    let a = Peer::start_with_env(
        &ns,
        &dir,
        "a",
        &[&common[..], &["--id", "1"]].concat(),
        &[("ROOMPEER_ICE_PASS", "aaaa")],
    )
    .joined();
    let b = Peer::start_with_env(
        &ns,
        &dir,
        "b",
        &[&common[..], &["--id", "2"]].concat(),
        &[("ROOMPEER_ICE_PASS", "aaaa")],
    );
    for r in [a.finish(), b.finish()] {
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.pair_types(), ("relay", "relay"), "{}", r.dump());
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_wrong_turn_password_or_a_dead_turn_server_is_said_plainly() {
    let dir = scratch("turn-errors");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let turn = Coturn::start(&ns, 3478);
    let ice = format!("turn:127.0.0.1:{}", turn.port);
    let relay_only = |name: &str, ice: &str, pass: &str| {
        let started = std::time::Instant::now();
        let r = Peer::start_with_env(
            &ns,
            &dir,
            name,
            &[
                "--server",
                &server.http(),
                "--ice",
                ice,
                "--ice-user",
                "aaaa",
                "--relay-only",
                "--wait",
                "1",
            ],
            &[("ROOMPEER_ICE_PASS", pass)],
        )
        .finish();
        (r, started.elapsed())
    };
    // Relayed candidates only: nothing else can work, so roompeer stops at once and says why.
    let (r, took) = relay_only("wrong-pass", &ice, "wrong");
    assert_eq!(r.code, 9, "{}", r.stderr);
    assert_eq!(r.report.outcome, Outcome::TurnFailed);
    let error = r.error();
    assert!(
        error.contains("refused the user name or password"),
        "{error}"
    );
    assert!(
        !r.stderr.contains("wrong"),
        "the password is never logged:\n{}",
        r.stderr
    );
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    assert!(!r.report.turn[0].ok, "{}", r.dump());
    let (r, _) = relay_only("dead-turn", "turn:127.0.0.1:9", "aaaa");
    assert_eq!(r.code, 9, "{}", r.stderr);
    assert!(r.error().contains("did not answer"), "{}", r.dump());
    // With direct candidates too, the call goes on without the relay, and the report says
    // what the TURN server said.
    let url = server.http();
    let common = [
        &one_call(&url, "3")[..],
        &["--ice", &ice, "--ice-user", "aaaa"],
    ]
    .concat();
    let env = [("ROOMPEER_ICE_PASS", "wrong")];
    let Pair { a, b } = Pair::start_with_env(&ns, &dir, [&common, &[], &[]], &env);
    for r in [a.finish(), b.finish()] {
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.pair_types().0, "host", "{}", r.dump());
        assert!(!r.report.turn[0].ok, "{}", r.dump());
    }
    // And the right password: an allocation, with its time.
    let (r, _) = relay_only("right-pass", &ice, "aaaa");
    assert!(r.report.turn[0].ok, "{}", r.dump());
}

#[test]
#[ignore = "needs root: network namespaces"]
fn without_a_common_video_codec_the_answerer_says_so_and_exits_8() {
    let dir = scratch("no-common-codec");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V4, seed_cert());
    let url = server.http();
    let common = ["--server", &url, "--calls", "1", "--video-size", "320x240"];
    let a = Peer::start(
        &ns,
        &dir,
        "vp8-only",
        &[&common[..], &["--video-codec", "vp8", "--wait", "5"]].concat(),
    )
    .joined();
    let b = Peer::start(
        &ns,
        &dir,
        "h264-only",
        // After the refused attempt it waits for another peer (the attempt is not the call
        // `--calls 1` asked for), then says what went wrong.
        &[&common[..], &["--video-codec", "h264", "--wait", "3"]].concat(),
    );
    let fb = b.finish();
    assert_eq!(fb.code, 8, "{}", fb.stderr);
    assert_eq!(fb.report.outcome, Outcome::NegotiationFailed);
    let error = fb.error();
    assert!(
        error.contains("no common video codec") && error.contains("offers VP8"),
        "{error}"
    );
    let fa = a.finish();
    assert_ne!(fa.code, 0, "the offerer got no call either");
}
