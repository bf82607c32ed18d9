//! The interop matrix: {roompeer↔roompeer, roompeer↔Chromium, roompeer↔Firefox} × {the seed's
//! server on socket.io 2.x, its 4.x port with allowEIO3, `roompeer serve`}, each cell a test.
//! Each prints a `FIGURE` line (run with `--nocapture`): time from the second join to the first
//! remote frame on each side. Chromium↔Chromium on each server is there for comparison.

mod support;

use roompeer::call::Role;
use std::time::Duration;
use support::*;

/// Unix ms of a roompeer milestone.
/// When a milestone of the last call happened, ms since the Unix epoch.
fn at(r: &Report, milestone: fn(&Timings) -> Option<u64>) -> u64 {
    r.started_unix_ms.unwrap() + milestone(&r.last_call.timings_ms).unwrap_or(0)
}

fn roompeer_pair(server: ServerKind) {
    let dir = scratch(&format!("matrix-rp-{server:?}"));
    let ns = Netns::new();
    let srv = NodeServer::start(&ns, server, seed_cert());
    let pin = match server {
        ServerKind::Serve | ServerKind::ServeSeedClient => serve_cert(),
        _ => seed_cert(),
    };
    let url = srv.https();
    let pin = pin.cert.display().to_string();
    let common = [
        "--server",
        &url,
        "--pin-cert",
        &pin,
        "--room",
        "matrix",
        "--duration",
        "3",
        "--calls",
        "1",
        "--video-size",
        "320x240",
    ];
    let (fa, fb) = Pair::start(&ns, &dir, &common, &[], &[]).finish_ok();
    for (f, role, peer_id) in [(&fa, Role::Offerer, 2), (&fb, Role::Answerer, 1)] {
        assert_good_side(
            f,
            GoodSide {
                role,
                peer_id,
                peer_hz: 440.0,
                codec: "H264",
                min_frames: 30,
            },
        );
    }
    let second_join = at(&fb.report, |t| t.joined);
    eprintln!(
        "FIGURE roompeer via {server:?}, H264: first remote frame after the second join: offerer {} ms, answerer {} ms",
        at(&fa.report, |t| t.first_remote_frame) as i64 - second_join as i64,
        at(&fb.report, |t| t.first_remote_frame) as i64 - second_join as i64,
    );
}

fn browser(browser: Browser, server: ServerKind) {
    BrowserCall {
        browser,
        server,
        roompeer_first: true,
        video_codec: None,
        // roompeer offers H.264 first; Firefox here has no H.264 and answers VP8.
        expect: if browser == Browser::Firefox {
            "VP8"
        } else {
            "H264"
        },
        relay: Relay::Off,
    }
    .run(&format!("matrix-{}-{server:?}", browser.name()));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_roompeer_via_socketio_2() {
    roompeer_pair(ServerKind::V2);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_roompeer_via_socketio_4() {
    roompeer_pair(ServerKind::V4Eio3);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_roompeer_via_roompeer_serve() {
    roompeer_pair(ServerKind::Serve);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_chromium_via_socketio_2() {
    browser(Browser::Chromium, ServerKind::V2);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_chromium_via_socketio_4() {
    browser(Browser::Chromium, ServerKind::V4Eio3);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_chromium_via_roompeer_serve() {
    browser(Browser::Chromium, ServerKind::Serve);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_firefox_via_socketio_2() {
    browser(Browser::Firefox, ServerKind::V2);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_firefox_via_socketio_4() {
    browser(Browser::Firefox, ServerKind::V4Eio3);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_firefox_via_roompeer_serve() {
    browser(Browser::Firefox, ServerKind::Serve);
}

/// For comparison: two Chromium pages call each other on each server.
#[test]
#[ignore = "needs root: network namespaces"]
fn chromium_chromium_on_each_server_for_comparison() {
    for server in [ServerKind::V2, ServerKind::V4Eio3, ServerKind::Serve] {
        let ns = Netns::new();
        let srv = NodeServer::start(&ns, server, seed_cert());
        let page = format!("{}/index.html?room=pair", srv.http());
        // The first leaves first, so its last figures are taken while the call still runs.
        let first = BrowserPeer::start(&ns, &page, 2);
        let j1 = first.wait_for("joined", Duration::from_secs(60));
        let second = BrowserPeer::start(&ns, &page, 4);
        let (a, b) = (first.finish(), second.finish());
        for r in [&a, &b] {
            assert_eq!(r["state"], "leaved", "{r:#}");
            assert!(r["width"].as_u64().unwrap() > 0, "{r:#}");
        }
        assert_eq!(
            a["last"]["video"]["codec"], "video/VP8",
            "Chromium pairs settle on VP8"
        );
        let second_join = b["joinedAt"]
            .as_u64()
            .unwrap()
            .max(j1["t"].as_u64().unwrap());
        eprintln!(
            "FIGURE Chromium-Chromium via {server:?}, VP8: first remote frame after the second join: offerer {} ms, answerer {} ms",
            a["remoteVideoAt"].as_u64().unwrap() as i64 - second_join as i64,
            b["remoteVideoAt"].as_u64().unwrap() as i64 - second_join as i64,
        );
    }
}
