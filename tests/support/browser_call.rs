//! Calls between roompeer and a browser running the room page, with what both sides saw.

use super::*;
use serde_json::Value;
use std::time::Duration;

/// One call between roompeer and a browser.
pub struct BrowserCall {
    pub browser: Browser,
    pub server: ServerKind,
    /// roompeer joins first (and offers), else the browser does.
    pub roompeer_first: bool,
    /// roompeer's `--video-codec`, if any.
    pub video_codec: Option<&'static str>,
    /// The video codec both sides must end up using (`H264` or `VP8`).
    pub expect: &'static str,
    /// Whether both sides use relayed candidates only, through a coturn with the seed's
    /// credentials, and how they reach it.
    pub relay: Relay,
}

/// How the call reaches coturn, if it must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// Any candidates, no TURN server.
    Off,
    /// Relay only, `turn:` over UDP.
    Udp,
    /// Relay only, `turn:…?transport=tcp`.
    Tcp,
}

/// What the call left behind.
pub struct CallSeen {
    pub browser: Value,
    pub roompeer: Report,
    pub offer: String,
    pub answer: String,
}

impl BrowserCall {
    pub fn run(&self, name: &str) -> CallSeen {
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
        let mut page = format!("{}/index.html?room={room}", server.http());
        let turn = (self.relay != Relay::Off).then(|| Coturn::start(&ns, 3478));
        let query = if self.relay == Relay::Tcp {
            "?transport=tcp"
        } else {
            ""
        };
        let ice = turn
            .as_ref()
            .map(|t| format!("turn:127.0.0.1:{}{query}", t.port))
            .unwrap_or_default();
        if turn.is_some() {
            args.extend([
                "--relay-only",
                "--ice",
                &ice,
                "--ice-user",
                "aaaa",
                "--ice-pass",
                "aaaa",
            ]);
            let encoded = ice.replace('?', "%3F").replace('=', "%3D");
            page.push_str(&format!("&turn={encoded}&user=aaaa&pass=aaaa&relay=1"));
        }
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
            Role::Offerer
        } else {
            Role::Answerer
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
        let json = dump(r);
        let (video, audio) = (&r.last_call.video, &r.last_call.audio);
        assert_eq!(r.outcome, Outcome::Ok, "{json}");
        assert_eq!(r.calls[0].role, role, "{json}");
        assert_eq!(video.codec.as_deref(), Some(self.expect), "{json}");
        assert_eq!(video.received_codec.as_deref(), Some(self.expect), "{json}");
        assert_eq!(audio.codec.as_deref(), Some("opus"));
        assert!(video.decoded_frames >= 30, "{json}");
        assert!(audio.received_packets >= 100, "{json}");
        assert_eq!(
            r.calls[0].end,
            Some(CallEnd::PeerLeft),
            "the page's Leave reached roompeer as bye"
        );
        assert_eq!(
            first_video_codec(&seen.answer),
            format!("{}/90000", self.expect),
            "the answer's first video codec"
        );
        // Figures: from the second join to the first remote frame on each side (one clock).
        let started = r.started_unix_ms.expect("the report's start time");
        let t = &r.last_call.timings_ms;
        let rp_joined = started + t.joined.unwrap_or(0);
        let rp_frame = started + t.first_remote_frame.unwrap_or(0);
        let b_joined = b["joinedAt"].as_u64().unwrap();
        let second_join = rp_joined.max(b_joined);
        eprintln!(
            "FIGURE {:?} via {:?}, roompeer {role:?}, {}: first remote frame after the second join: roompeer {} ms, browser {} ms",
            self.browser,
            self.server,
            self.expect,
            rp_frame as i64 - second_join as i64,
            b["remoteVideoAt"].as_u64().unwrap() as i64 - second_join as i64,
        );
    }
}
