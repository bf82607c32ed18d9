//! Calls between roompeer and real browsers running the project's room page (which behaves as
//! the seed's page): Debian's Chromium and Firefox ESR, in both roles, in both video codecs.

mod support;

use std::time::Duration;
use support::*;

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_offers_h264_first_and_chromium_takes_it() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: true,
        video_codec: None,
        expect: "H264",
        relay: Relay::Off,
    }
    .run("chromium-offerer-h264");
    // H.264 then VP8 in roompeer's offer; H.264 is packetization-mode 1, 42e01f.
    let codecs = video_codecs(&seen.offer);
    assert_eq!(&codecs[..2], ["H264/90000", "VP8/90000"], "{codecs:?}");
    // Both ask Chromium to start what it sends at 1 Mbit/s (its first keyframe comes sooner).
    assert_eq!(
        seen.offer.matches("x-google-start-bitrate=1000").count(),
        2,
        "{}",
        seen.offer
    );
    assert!(
        seen.answer.contains("packetization-mode=1") && seen.answer.contains("42e01f"),
        "{}",
        seen.answer
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_restricted_to_vp8_offers_it_to_chromium() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: true,
        video_codec: Some("vp8"),
        expect: "VP8",
        relay: Relay::Off,
    }
    .run("chromium-offerer-vp8");
    assert_eq!(video_codecs(&seen.offer), ["VP8/90000"]);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn chromium_offers_vp8_first_and_roompeer_takes_it() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: false,
        video_codec: None,
        expect: "VP8",
        relay: Relay::Off,
    }
    .run("chromium-answerer-vp8");
    assert_eq!(
        first_video_codec(&seen.offer),
        "VP8/90000",
        "Chromium lists VP8 first"
    );
    // Answering, roompeer asks for Chromium's 1 Mbit/s start too.
    assert!(
        seen.answer
            .contains("a=fmtp:96 x-google-start-bitrate=1000"),
        "{}",
        seen.answer
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn roompeer_restricted_to_h264_answers_chromium_with_it() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: false,
        video_codec: Some("h264"),
        expect: "H264",
        relay: Relay::Off,
    }
    .run("chromium-answerer-h264");
    assert!(
        seen.answer.contains("packetization-mode=1") && seen.answer.contains("42e01f"),
        "{}",
        seen.answer
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn firefox_answers_roompeer_with_vp8() {
    BrowserCall {
        browser: Browser::Firefox,
        server: ServerKind::V2,
        roompeer_first: true,
        video_codec: None,
        expect: "VP8",
        relay: Relay::Off,
    }
    .run("firefox-answerer");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn firefox_offers_vp8_and_roompeer_answers() {
    BrowserCall {
        browser: Browser::Firefox,
        server: ServerKind::V2,
        roompeer_first: false,
        video_codec: None,
        expect: "VP8",
        relay: Relay::Off,
    }
    .run("firefox-offerer");
}

/// Relayed candidates only on both sides, through coturn with the seed's credentials: roompeer
/// and Chromium both select a relay pair.
#[test]
#[ignore = "needs root: network namespaces"]
fn relay_only_between_roompeer_and_chromium_goes_through_coturn() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: true,
        video_codec: None,
        expect: "H264",
        relay: Relay::Udp,
    }
    .run("chromium-relay-only");
    relayed_both_sides(&seen, "relay-only");
}

/// Asserts relay ↔ relay as both roompeer and the browser report it, and prints the time to
/// connect.
fn relayed_both_sides(seen: &CallSeen, what: &str) {
    let pair = seen
        .roompeer
        .last_call
        .selected_pair
        .as_ref()
        .expect("roompeer's selected pair");
    assert_eq!(pair.local_type, "relay", "{pair}");
    assert_eq!(pair.remote_type, "relay", "{pair}");
    let browser_pair = &seen.browser["last"]["pair"];
    assert_eq!(browser_pair["local"], "relay", "{:#}", seen.browser);
    assert_eq!(browser_pair["remote"], "relay", "{:#}", seen.browser);
    let t = &seen.roompeer.last_call.timings_ms;
    println!(
        "FIGURE {what} roompeer<->Chromium: ICE connected {} ms after the peer arrived",
        t.ice_connected.unwrap_or(0) - t.peer_joined.unwrap_or(0)
    );
}

/// Relayed candidates only, both sides reaching coturn over TCP (`turn:…?transport=tcp`):
/// Chromium natively, roompeer through its local bridge; both select a relay pair.
#[test]
#[ignore = "needs root: network namespaces"]
fn relay_over_tcp_between_roompeer_and_chromium() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: false,
        video_codec: None,
        expect: "VP8",
        relay: Relay::Tcp,
    }
    .run("chromium-relay-tcp");
    relayed_both_sides(&seen, "relay-only over TCP");
    assert_eq!(
        seen.browser["last"]["pair"]["relayProtocol"], "tcp",
        "{:#}",
        seen.browser
    );
    assert!(seen.roompeer.turn[0].ok, "{:?}", seen.roompeer.turn);
}

/// Through a 12 s outage with Chromium on the other side: roompeer restarts ICE through
/// signaling, the page (as the seed's) answers the new offer, and the call goes on.
#[test]
#[ignore = "needs root: network namespaces"]
fn chromium_takes_roompeers_ice_restart_after_an_outage() {
    let dir = scratch("chromium-restart");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let room = "restart";
    let url = server.http();
    let rp = Peer::start(
        &ns,
        &dir,
        "roompeer",
        &[
            "--server",
            &url,
            "--room",
            room,
            "--calls",
            "1",
            "--duration",
            "26",
            "--video-size",
            "320x240",
        ],
    )
    .joined();
    let page = format!("{url}/index.html?room={room}");
    let browser = BrowserPeer::start_in(Browser::Chromium, &ns, &page, 22);
    browser.wait_for("remote_video", Duration::from_secs(60));
    rp.wait_event("call_connected", Duration::from_secs(20));
    // These sleeps place and time the outage; they synchronise nothing.
    std::thread::sleep(Duration::from_secs(2));
    ns.drop_udp();
    let cut = std::time::Instant::now();
    rp.wait_event("ice_restart", Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs(12).saturating_sub(cut.elapsed()));
    ns.restore_udp();
    let restored = std::time::Instant::now();
    rp.wait_event("peer_connected", Duration::from_secs(15));
    rp.wait_event("picture_back", Duration::from_secs(5));
    println!(
        "FIGURE ICE restart with Chromium: roompeer shows Chromium's picture again {} ms after the network came back",
        restored.elapsed().as_millis()
    );
    let b = browser.finish();
    let r = rp.finish();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report.calls.len(), 1, "the same call: {}", r.dump());
    let events = r.event_names();
    assert!(events.contains(&"ice_restart"), "{events:?}");
    let decoded = b["last"]["video"]["framesDecoded"].as_u64().unwrap()
        - b["first"]["video"]["framesDecoded"].as_u64().unwrap();
    // About 2 s before the outage and several after it, at 30 frames/s.
    assert!(
        decoded >= 120,
        "the browser decoded {decoded} frames in the hold: {b:#}"
    );
}
