//! Calls between roompeer and real browsers running the project's room page (which behaves as
//! the seed's page): Debian's Chromium and Firefox ESR, in both roles, in both video codecs.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::*;

/// One call between roompeer and a browser.
struct BrowserCall {
    browser: Browser,
    server: ServerKind,
    /// roompeer joins first (and offers), else the browser does.
    roompeer_first: bool,
    /// roompeer's `--video-codec`, if any.
    video_codec: Option<&'static str>,
    /// The video codec both sides must end up using (`H264` or `VP8`).
    expect: &'static str,
}

/// What the call left behind.
struct CallSeen {
    browser: Value,
    roompeer: Value,
    offer: String,
    answer: String,
}

impl BrowserCall {
    fn run(&self, name: &str) -> CallSeen {
        let dir = scratch(name);
        let ns = Netns::new();
        if self.browser == Browser::Firefox {
            ns.default_route_via_lo();
        }
        let server = NodeServer::start(&ns, self.server, seed_cert());
        let room = format!("{name}-room");
        let rec = dir.join("rec").display().to_string();
        let server_url = server.http();
        let mut args = vec![
            "--server",
            &server_url,
            "--room",
            &room,
            "--calls",
            "1",
            "--video-size",
            "320x240",
            "--record",
            &rec,
        ];
        if let Some(c) = self.video_codec {
            args.extend(["--video-codec", c]);
        }
        let page = format!("{}/index.html?room={room}", server.http());
        let (browser, rp) = if self.roompeer_first {
            let rp = Peer::start(&ns, &dir, "roompeer", &args).joined();
            (BrowserPeer::start_in(self.browser, &ns, &page, 4), rp)
        } else {
            let b = BrowserPeer::start_in(self.browser, &ns, &page, 4);
            b.wait_for("joined", Duration::from_secs(60));
            (b, Peer::start(&ns, &dir, "roompeer", &args))
        };
        let b = browser.finish();
        let r = rp.finish();
        assert_eq!(r.code, 0, "{}", r.stderr);
        let (offer, answer) = if self.roompeer_first {
            ("local-offer.sdp", "remote-answer.sdp")
        } else {
            ("remote-offer.sdp", "local-answer.sdp")
        };
        let read = |f: &str| std::fs::read_to_string(dir.join("rec/call-1").join(f)).unwrap();
        let seen = CallSeen {
            browser: b,
            roompeer: r.report,
            offer: read(offer),
            answer: read(answer),
        };
        self.check(&seen);
        seen
    }

    fn check(&self, seen: &CallSeen) {
        let (b, r) = (&seen.browser, &seen.roompeer);
        let role = if self.roompeer_first {
            "offerer"
        } else {
            "answerer"
        };
        // The browser saw roompeer's picture at its size, moving, in the expected codec, and
        // heard the tone.
        let (first, last) = (&b["first"], &b["last"]);
        assert_eq!(
            last["video"]["codec"],
            format!("video/{}", self.expect),
            "{b:#}"
        );
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
        // The page's panes and Leave behave as the seed's.
        assert_eq!(
            b["offer"].as_str().unwrap().replace("\r\n", "\n"),
            seen.offer.replace("\r\n", "\n"),
            "the Offer SDP pane shows the offer"
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
        // roompeer saw the browser's video in the same codec, and its sound.
        assert_eq!(r["outcome"], "ok", "{r:#}");
        assert_eq!(r["calls"][0]["role"], role);
        assert_eq!(r["video"]["codec"], self.expect, "{r:#}");
        assert_eq!(r["video"]["received_codec"], self.expect, "{r:#}");
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
        assert_eq!(
            first_video_codec(&seen.answer),
            format!("{}/90000", self.expect),
            "the answer's first video codec"
        );
        eprintln!(
            "{:?} {:?} roompeer {role} {}: roompeer's first frame {} ms after it started",
            self.browser,
            self.server,
            self.expect,
            r["calls"][0]["timings_ms"]["first_remote_frame"]
        );
    }
}

#[test]
fn roompeer_offers_h264_first_and_chromium_takes_it() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: true,
        video_codec: None,
        expect: "H264",
    }
    .run("chromium-offerer-h264");
    // H.264 then VP8 in roompeer's offer; H.264 is packetization-mode 1, 42e01f.
    let codecs = video_codecs(&seen.offer);
    assert_eq!(&codecs[..2], ["H264/90000", "VP8/90000"], "{codecs:?}");
    assert!(
        seen.answer.contains("packetization-mode=1") && seen.answer.contains("42e01f"),
        "{}",
        seen.answer
    );
}

#[test]
fn roompeer_restricted_to_vp8_offers_it_to_chromium() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: true,
        video_codec: Some("vp8"),
        expect: "VP8",
    }
    .run("chromium-offerer-vp8");
    assert_eq!(video_codecs(&seen.offer), ["VP8/90000"]);
}

#[test]
fn chromium_offers_vp8_first_and_roompeer_takes_it() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: false,
        video_codec: None,
        expect: "VP8",
    }
    .run("chromium-answerer-vp8");
    assert_eq!(
        first_video_codec(&seen.offer),
        "VP8/90000",
        "Chromium lists VP8 first"
    );
}

#[test]
fn roompeer_restricted_to_h264_answers_chromium_with_it() {
    let seen = BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::V2,
        roompeer_first: false,
        video_codec: Some("h264"),
        expect: "H264",
    }
    .run("chromium-answerer-h264");
    assert!(
        seen.answer.contains("packetization-mode=1") && seen.answer.contains("42e01f"),
        "{}",
        seen.answer
    );
}

#[test]
fn firefox_answers_roompeer_with_vp8() {
    BrowserCall {
        browser: Browser::Firefox,
        server: ServerKind::V2,
        roompeer_first: true,
        video_codec: None,
        expect: "VP8",
    }
    .run("firefox-answerer");
}

#[test]
fn firefox_offers_vp8_and_roompeer_answers() {
    BrowserCall {
        browser: Browser::Firefox,
        server: ServerKind::V2,
        roompeer_first: false,
        video_codec: None,
        expect: "VP8",
    }
    .run("firefox-offerer");
}
