//! Calls through random packet loss (nftables drops a share of every UDP packet, media and ICE
//! alike) and through an outage: video keeps coming, thanks to NACK retransmissions, the
//! receive jitter buffer and keyframe requests. Prints FIGURE lines for the note.

mod support;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use support::*;

/// One call at a time: these tests measure frame rates and freezes, which six calls sharing two
/// cores would measure as CPU starvation (a run saw 7.7 frames/s at 10% loss that way).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Two roompeers in a connected call of `secs` seconds, in a namespace of their own; `extra`
/// options for both. Returns what must live as long as the call, the turn to run included.
fn connected_call(
    name: &str,
    secs: &str,
    extra: &[&str],
) -> (Netns, NodeServer, Peer, Peer, MutexGuard<'static, ()>) {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch(name);
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let url = server.http();
    let common = [&one_call(&url, secs)[..], extra].concat();
    let Pair { a, b } = Pair::start(&ns, &dir, &common, &[], &[]).connected();
    (ns, server, a, b, turn)
}

fn lossy_call(percent: u32) -> [Report; 2] {
    // Loss starts once the call is up: it is the media that must survive it.
    let (ns, _server, a, b, _turn) = connected_call(&format!("loss-{percent}"), "8", &[]);
    ns.lose_udp(percent);
    [a.finish(), b.finish()].map(|r| {
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.report
    })
}

fn figures(percent: u32, reports: &[Report; 2]) {
    for (side, r) in ["a", "b"].iter().zip(reports) {
        let v = &r.last_call.video;
        println!(
            "FIGURE loss {percent}% side {side}: {:.1} frames/s received, longest freeze {} ms, {} keyframe requests, {} counter gaps",
            v.received_fps.unwrap_or_default(),
            v.longest_freeze_ms,
            v.keyframe_requests_sent,
            v.counter_gaps.unwrap_or_default(),
        );
    }
}

fn check(percent: u32, min_fps: f64, max_freeze_ms: u64) {
    let reports = lossy_call(percent);
    figures(percent, &reports);
    for r in &reports {
        let v = &r.last_call.video;
        let fps = v.received_fps.unwrap_or_default();
        assert!(fps >= min_fps, "{percent}% loss: {fps} frames/s: {v:?}");
        let freeze = v.longest_freeze_ms;
        assert!(
            freeze <= max_freeze_ms,
            "{percent}% loss: a {freeze} ms freeze: {v:?}"
        );
        assert!(
            r.last_call.audio.dominant_hz.is_some(),
            "the tone still comes through"
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn two_percent_loss_barely_shows() {
    check(2, 25.0, 1000);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn five_percent_loss_keeps_the_picture_moving() {
    // Seen: 19.5–30 frames/s. Each packet NACK cannot bring back in time costs a keyframe
    // request and the frames until the keyframe; how many that is varies from run to run.
    check(5, 15.0, 1500);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn ten_percent_loss_keeps_the_picture_moving() {
    // Congestion control reads 10% loss as congestion and lowers the rate to its floor; the
    // encoder then skips frames and a keyframe at that rate takes long: fewer frames (~23/s)
    // and freezes of up to ~2 s (seen here), but the picture keeps coming.
    check(10, 8.0, 5000);
}

/// A 3 s outage (every UDP packet dropped): the call survives it (ICE consent is 5 s here, and
/// roompeer gives a disconnected peer 5 s more), and the picture comes back within a second.
#[test]
#[ignore = "needs root: network namespaces"]
fn after_a_three_second_outage_the_picture_comes_back() {
    let (ns, _server, a, b, _turn) = connected_call("outage-3s", "9", &[]);
    // These sleeps are the outage's place and length, not synchronisation.
    std::thread::sleep(Duration::from_secs(2));
    ns.drop_udp();
    std::thread::sleep(Duration::from_secs(3));
    ns.restore_udp();
    for (side, r) in ["a", "b"].iter().zip([a.finish(), b.finish()]) {
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v = &r.report.last_call.video;
        let freeze = v.longest_freeze_ms;
        println!(
            "FIGURE outage 3 s side {side}: longest freeze {freeze} ms, so the picture came back {} ms after the network did",
            freeze.saturating_sub(3000)
        );
        assert!(freeze >= 2500, "the outage shows as a freeze: {v:?}");
        assert!(freeze <= 4500, "the picture came back within 1.5 s: {v:?}");
        assert_eq!(r.report.calls.len(), 1, "the same call");
    }
}

/// A link that carries less than the call sends (1 Mbit/s of video asked each way through
/// 0.52 Mbit/s in all; at 0.64 the 320x240 test picture, whose stamp band now changes fewer
/// pixels a frame, no longer filled it): congestion control (GCC on transport-wide feedback)
/// brings the encoders down, and the picture keeps moving.
#[test]
#[ignore = "needs root: network namespaces"]
fn on_a_narrow_link_the_senders_slow_down_and_the_picture_keeps_moving() {
    let (ns, _server, a, b, _turn) = connected_call("narrow", "15", &["--video-kbps", "1000"]);
    ns.cap_udp(65);
    for (side, r) in ["a", "b"].iter().zip([a.finish(), b.finish()]) {
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v = &r.report.last_call.video;
        println!(
            "FIGURE narrow link side {side}: encoder down to {} kbit/s (ended at {}), {:.1} frames/s received, longest freeze {} ms",
            v.encoder_kbps_min,
            v.encoder_kbps,
            v.received_fps.unwrap_or_default(),
            v.longest_freeze_ms,
        );
        assert!(v.encoder_kbps_min < 600, "the sender slowed down: {v:?}");
        assert!(v.received_fps.unwrap_or_default() >= 15.0, "{v:?}");
    }
}

/// A 12 s outage outlasts ICE consent (5 s) and roompeer's grace (5 s): the offerer restarts
/// ICE through signaling (which still works), the peer answers, and when the path comes back
/// the same call goes on.
#[test]
#[ignore = "needs root: network namespaces"]
fn through_a_twelve_second_outage_ice_restarts_keep_the_call() {
    let (ns, _server, a, b, _turn) = connected_call("outage-12s", "20", &[]);
    std::thread::sleep(Duration::from_secs(1));
    ns.drop_udp();
    let cut = std::time::Instant::now();
    a.wait_event("ice_restart", Duration::from_secs(15));
    // The rest of the outage's 12 s (a length, not synchronisation).
    std::thread::sleep(Duration::from_secs(12).saturating_sub(cut.elapsed()));
    ns.restore_udp();
    let restored = std::time::Instant::now();
    a.wait_event("peer_connected", Duration::from_secs(15));
    // The restarted checks are still running when the path comes back, so the call does not
    // wait for another restart: the picture is back within a few seconds (here < 0.5 s).
    a.wait_event("picture_back", Duration::from_secs(5));
    println!(
        "FIGURE outage 12 s: the picture came back {} ms after the network did",
        restored.elapsed().as_millis()
    );
    let reports = [a.finish(), b.finish()];
    for (side, r) in ["a", "b"].iter().zip(&reports) {
        assert_eq!(r.code, 0, "{}", r.stderr);
        let calls = &r.report.calls;
        assert_eq!(calls.len(), 1, "the same call, not a new one: {}", r.dump());
        assert_eq!(calls[0].end, Some(CallEnd::WeLeft), "held to the end");
        let v = &r.report.last_call.video;
        println!(
            "FIGURE outage 12 s side {side}: ICE restarts offered {}",
            r.event_names()
                .iter()
                .filter(|e| **e == "ice_restart")
                .count()
        );
        // Before and after the outage, at 30 frames/s.
        assert!(v.decoded_frames > 120, "{v:?}");
    }
    assert!(
        reports[0].event_names().contains(&"ice_restart"),
        "the offerer restarted ICE"
    );
}
