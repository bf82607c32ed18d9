//! Calls between roompeer and Debian's Chromium running the project's room page (which behaves
//! as the seed's page), in both roles, through the seed's server on socket.io 2.x.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::*;

/// What the browser must have seen: roompeer's H.264 picture at its size, moving, and sound.
fn assert_browser_saw_roompeer(b: &Value) {
    let (first, last) = (&b["first"], &b["last"]);
    assert_eq!(last["video"]["codec"], "video/H264", "{b:#}");
    assert_eq!(last["audio"]["codec"], "audio/opus");
    let decoded = last["video"]["framesDecoded"].as_u64().unwrap()
        - first["video"]["framesDecoded"].as_u64().unwrap();
    assert!(
        decoded >= 60,
        "the browser decoded only {decoded} frames in the hold: {b:#}"
    );
    assert_eq!(
        (b["width"].as_u64(), b["height"].as_u64()),
        (Some(320), Some(240)),
        "the remote video element shows roompeer's size"
    );
    assert!(
        last["audio"]["totalAudioEnergy"].as_f64().unwrap() > 0.01,
        "the browser heard the tone: {b:#}"
    );
    assert!(
        b["offer"].as_str().unwrap().starts_with("v=0"),
        "Offer SDP pane filled"
    );
    assert!(
        b["answer"].as_str().unwrap().starts_with("v=0"),
        "Answer SDP pane filled"
    );
    assert_eq!(b["state"], "leaved");
    assert_eq!(
        b["panesAfterLeave"], "",
        "Leave clears the panes as the seed's page does"
    );
}

/// What roompeer must have seen: the browser's H.264 and Opus, and its reception reports.
fn assert_roompeer_saw_browser(r: &Value, role: &str) {
    assert_eq!(r["outcome"], "ok", "{r:#}");
    assert_eq!(r["calls"][0]["role"], role);
    assert_eq!(r["video"]["codec"], "H264");
    assert_eq!(r["audio"]["codec"], "opus");
    assert!(
        r["video"]["decoded_frames"].as_u64().unwrap() >= 30,
        "{r:#}"
    );
    assert!(
        r["audio"]["received_packets"].as_u64().unwrap() >= 100,
        "{r:#}"
    );
    assert_eq!(
        r["calls"][0]["end"], "peer_left",
        "the page's Leave reached roompeer as bye"
    );
}

#[test]
fn roompeer_first_offers_h264_to_chromium() {
    let dir = scratch("chromium-offerer");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let rp = Peer::start(
        &ns,
        &dir,
        "roompeer",
        &[
            "--server",
            &server.http(),
            "--calls",
            "1",
            "--video-size",
            "320x240",
            "--record",
            &dir.join("rec").display().to_string(),
        ],
    )
    .joined();
    let browser = BrowserPeer::start(&ns, &format!("{}/index.html", server.http()), 4);
    let b = browser.finish();
    let r = rp.finish();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_browser_saw_roompeer(&b);
    assert_roompeer_saw_browser(&r.report, "offerer");
    // The page joined room null, as the seed's page does.
    let offer = std::fs::read_to_string(dir.join("rec/call-1/local-offer.sdp")).unwrap();
    assert_eq!(
        b["offer"].as_str().unwrap().replace("\r\n", "\n"),
        offer.replace("\r\n", "\n")
    );
}

#[test]
fn chromium_first_offers_vp8_first_and_roompeer_answers_with_h264() {
    let dir = scratch("chromium-answerer");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let browser = BrowserPeer::start(
        &ns,
        &format!("{}/index.html?room=browser-first", server.http()),
        4,
    );
    browser.wait_for("joined", Duration::from_secs(30));
    let rp = Peer::start(
        &ns,
        &dir,
        "roompeer",
        &[
            "--server",
            &server.http(),
            "--room",
            "browser-first",
            "--calls",
            "1",
            "--video-size",
            "320x240",
            "--record",
            &dir.join("rec").display().to_string(),
        ],
    );
    let b = browser.finish();
    let r = rp.finish();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_browser_saw_roompeer(&b);
    assert_roompeer_saw_browser(&r.report, "answerer");
    let offer = std::fs::read_to_string(dir.join("rec/call-1/remote-offer.sdp")).unwrap();
    assert_eq!(
        first_video_codec(&offer),
        "VP8/90000",
        "Chromium lists VP8 first"
    );
    let answer = std::fs::read_to_string(dir.join("rec/call-1/local-answer.sdp")).unwrap();
    assert_eq!(
        first_video_codec(&answer),
        "H264/90000",
        "roompeer answers with H.264"
    );
    assert!(
        answer.contains("packetization-mode=1") && answer.contains("42e01f"),
        "{answer}"
    );
}
