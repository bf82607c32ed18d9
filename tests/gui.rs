//! The desktop window, driven by egui_kittest (egui's own test harness, no display needed):
//! fill the server and room, click Connect, see the call and the SDP panes, click Leave; room
//! full and a refused certificate said in the window.
//!
//! The window's session must talk only inside a network namespace, so each test builds the
//! namespace and its servers, then runs its window part on a thread that entered the namespace
//! (`setns`: a network namespace is per thread, and what the thread starts stays inside).

mod gui_support;
mod support;

use eframe::egui::accesskit::Toggled;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use gui_support::{step_until, step_until_shown, type_into, window};
use roompeer::call::Status;
use roompeer::gui::RoompeerApp;
use roompeer::live::ShownStatus;
use std::time::Duration;
use support::*;

/// What the window does in a test, inside the test's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// A whole call with a headless peer, the panes, plots, devices and Chinese.
    Call,
    /// The room is full.
    Full,
    /// A refused certificate is asked about and trusted.
    Certificate,
    /// The next run remembers the trusted certificate and the fields.
    CertificateRemembered,
    /// The trusted certificate changed: refused loudly.
    CertificateChanged,
    /// A TURN server refuses the password.
    Turn,
    /// Share the screen through the picker, then stop sharing.
    Share,
}

/// Runs the window part of a test on a thread inside `ns`; the window keeps its settings in
/// `config` and starts with the options `args`.
fn window_part(
    ns: &Netns,
    config: &std::path::Path,
    scenario: Scenario,
    server: &str,
    room: &str,
    args: &[&str],
) {
    ns.run_on_thread_inside(|| run_scenario(config, scenario, server, room, args));
}

fn run_scenario(
    config: &std::path::Path,
    scenario: Scenario,
    server: &str,
    room: &str,
    args: &[&str],
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut h = window(&runtime, config, args);
    h.run_steps(2);
    if matches!(
        scenario,
        Scenario::CertificateRemembered | Scenario::CertificateChanged
    ) {
        // A later run: the fields come from the saved settings.
        assert_eq!(h.state().form.server, server, "the server was remembered");
        assert_eq!(h.state().form.room, room, "the room was remembered");
        assert_eq!(
            h.state().form.ice_pass,
            "s3cret",
            "the password was remembered"
        );
    } else {
        type_into(&mut h, "Server", server);
        type_into(&mut h, "Room", room);
        assert_eq!(h.state().form.room, room, "typed into the Room field");
        assert_eq!(h.state().form.server, server, "typed into the Server field");
    }
    if scenario == Scenario::Certificate {
        // (A password field is not a text input to accesskit; set it as typing would.)
        h.state_mut().form.ice_pass = "s3cret".into();
    }
    h.get_by_label("Connect").click();
    h.step();
    match scenario {
        Scenario::Call => {
            // Two seconds of video, so both sides have the other's reception reports too.
            step_until(&mut h, "the remote video", Duration::from_secs(30), |app| {
                app.state().remote_frames >= 60
            });
            let s = h.state().state().clone();
            assert!(s.offer_sdp.starts_with("v=0"), "Offer pane filled");
            assert!(s.answer_sdp.starts_with("v=0"), "Answer pane filled");
            assert!(s.status.in_call(), "{:?}", s.status);
            assert_eq!(s.video_codec.as_deref(), Some("H264"));
            assert_eq!(s.selected_pair.unwrap().local_type, "host");
            let remote = s.remote_frame.unwrap();
            assert_eq!((remote.width, remote.height), (320, 240));
            // The panes are in the window, with their buttons.
            h.get_by_label("Copy Offer");
            h.get_by_label("Save Answer");
            // The candidates as they trickled, and a few seconds of figures for the plots.
            step_until(
                &mut h,
                "the call's figures",
                Duration::from_secs(10),
                |app| app.state().stats.len() >= 3,
            );
            let s = h.state().state().clone();
            for side in ["local", "remote"] {
                assert!(
                    s.candidates
                        .iter()
                        .any(|c| c.side == side && c.kind == "host" && c.port > 0),
                    "a {side} host candidate is listed: {:?}",
                    s.candidates
                );
            }
            let last = s.stats.back().unwrap();
            assert!(last.fps_in > 10.0 && last.kbps_in > 10.0, "{last:?}");
            assert!(last.fps_out > 10.0 && last.kbps_out > 10.0, "{last:?}");
            assert!(
                s.stats.iter().any(|x| x.rtt_ms.is_some_and(|r| r < 1000.0)),
                "a round-trip time from the peer's reports: {:?}",
                s.stats
            );
            assert!(
                last.video_buffer_ms.is_some() && last.audio_buffer_ms.is_some(),
                "the jitter buffers' delays are plotted: {last:?}"
            );
            // No camera here: said in the window, and the test picture is sent instead.
            let notice = s
                .notices
                .iter()
                .find(|n| n.contains("no camera"))
                .unwrap_or_else(|| panic!("{:?}", s.notices))
                .clone();
            h.get_by_label(&notice);
            // Mute and camera off during the call.
            h.get_by_label("Mute microphone").click();
            h.get_by_label("Camera off").click();
            h.step();
            assert!(h.state().controls.mic_muted() && h.state().controls.camera_off());
            h.get_by_label("Mute microphone").click();
            h.step();
            assert!(!h.state().controls.mic_muted());
            // Switch the microphone during the call (as the Microphone list does): no hang-up,
            // and the peer hears the new source (checked by the outer test).
            let (mut devices, _) = h.state().controls.devices();
            devices.audio_in = roompeer::media::controls::AudioIn::Tone(550.0);
            h.state().controls.set_devices(devices);
            let samples = h.state().state().stats.len();
            step_until(&mut h, "two more seconds", Duration::from_secs(10), |app| {
                app.state().stats.len() >= samples + 2
            });
            assert!(h.state().state().status.in_call());
            // The window in Chinese: Leave is 离开.
            h.state_mut().lang = roompeer::gui::i18n::Lang::Zh;
            h.run_steps(2);
            assert!(h.query_by_label("Leave").is_none());
            h.get_by_label("设备");
            h.get_by_label("离开").click();
            step_until(
                &mut h,
                "the end of the session",
                Duration::from_secs(10),
                |app| app.state().finished,
            );
            assert_eq!(h.state().state().status, ShownStatus::LeftTheRoom);
            assert_eq!(h.state().state().error, None);
            assert!(!h.state().connected(), "Connect is enabled again");
        }
        Scenario::Share => share_and_stop(&mut h),
        Scenario::Full => {
            step_until(&mut h, "room full", Duration::from_secs(20), |app| {
                app.state().finished
            });
            let error = h.state().state().error.clone().unwrap_or_default();
            assert!(error.contains("full"), "{error}");
            h.get_by_label(&error);
        }
        Scenario::Certificate => {
            step_until(
                &mut h,
                "the refused certificate",
                Duration::from_secs(20),
                |app| app.state().finished,
            );
            let error = h.state().state().error.clone().unwrap_or_default();
            assert!(
                error.contains("--pin-cert") && error.contains("SHA-256"),
                "the window says how to trust it: {error}"
            );
            h.get_by_label(&error);
            // The window asks, showing what to check.
            step_until(&mut h, "the question", Duration::from_secs(5), |app| {
                app.cert_question.is_some()
            });
            let q = h.state().cert_question.clone().unwrap();
            assert!(q.changed_from.is_none());
            assert!(error.contains(&q.info.fingerprint), "{error}");
            assert!(
                q.info.subject.contains("O=") && !q.info.not_after.is_empty(),
                "{:?}",
                q.info
            );
            h.get_by_label(&q.info.fingerprint);
            h.get_by_label("Trust this certificate").click();
            // Pinned: connected and in the room.
            step_until(&mut h, "the room", Duration::from_secs(20), |app| {
                app.state().status == ShownStatus::Session(Status::Waiting)
            });
            h.get_by_label("Leave").click();
            step_until(&mut h, "the end", Duration::from_secs(10), |app| {
                app.state().finished
            });
            assert_eq!(h.state().state().error, None);
        }
        Scenario::Turn => {
            step_until(&mut h, "the TURN error", Duration::from_secs(20), |app| {
                app.state().finished
            });
            let error = h.state().state().error.clone().unwrap_or_default();
            assert!(
                error.contains("refused the user name or password"),
                "{error}"
            );
            h.get_by_label(&error);
        }
        Scenario::CertificateRemembered => {
            // Trusted before: no question.
            step_until(&mut h, "the room", Duration::from_secs(20), |app| {
                app.state().status == ShownStatus::Session(Status::Waiting)
            });
            assert!(h.state().cert_question.is_none());
            h.get_by_label("Leave").click();
            step_until(&mut h, "the end", Duration::from_secs(10), |app| {
                app.state().finished
            });
        }
        Scenario::CertificateChanged => {
            step_until(&mut h, "the question", Duration::from_secs(20), |app| {
                app.cert_question.is_some()
            });
            let q = h.state().cert_question.clone().unwrap();
            let old = q.changed_from.clone().expect("the change is noticed");
            assert_ne!(old, q.info.fingerprint);
            // A new window is measured in its first frame and shown in the next.
            h.run_steps(2);
            assert!(
                h.query_by_label("Trust this certificate").is_none(),
                "no one-click accept"
            );
            h.get_by_label_contains("HAS CHANGED");
            h.get_by_label("Do not trust").click();
            h.step();
            assert!(h.state().cert_question.is_none());
            assert!(h.state().state().error.is_some());
        }
    }
}

/// In a call: Share screen, the picker's thumbnails of the screen and a window, the whole
/// screen chosen (sent fitted to the window's 320x240 video size: 320x180), then Stop sharing
/// (the test picture again), then Leave.
fn share_and_stop(h: &mut Harness<'_, RoompeerApp>) {
    let local_size = |app: &RoompeerApp| {
        let f = app.state().local_frame.as_ref();
        f.map(|f| (f.width, f.height))
    };
    step_until(h, "the remote video", Duration::from_secs(30), |app| {
        app.state().remote_frames >= 30
    });
    assert_eq!(local_size(h.state()), Some((320, 240)));
    let remote = h.state().state().remote_frame.clone().unwrap();
    assert_eq!(
        (remote.width, remote.height),
        (1280, 720),
        "the peer's screen"
    );
    // Fitted at first; pixel for pixel on request.
    let actual = "Actual size (1280x720)";
    assert_eq!(
        h.get_by_label(actual).accesskit_node().toggled(),
        Some(Toggled::False)
    );
    h.get_by_label(actual).click();
    h.run_steps(2);
    assert_eq!(
        h.get_by_label(actual).accesskit_node().toggled(),
        Some(Toggled::True)
    );
    h.get_by_label("Share screen").click();
    step_until_shown(h, "Whole screen (1280x720)", Duration::from_secs(10));
    h.get_by_label_contains("Window \"Quarterly figures\" (400x300)");
    h.get_by_label_contains("Whole screen (1280x720)").click();
    step_until(h, "the shared screen", Duration::from_secs(10), |app| {
        local_size(app) == Some((320, 180))
    });
    let frames = h.state().state().remote_frames;
    step_until(h, "a second of sharing", Duration::from_secs(10), |app| {
        app.state().remote_frames >= frames + 15
    });
    h.get_by_label("Sharing Whole screen");
    h.get_by_label("Stop sharing").click();
    step_until(
        h,
        "the test picture again",
        Duration::from_secs(10),
        |app| local_size(app) == Some((320, 240)),
    );
    let frames = h.state().state().remote_frames;
    step_until(h, "a second after", Duration::from_secs(10), |app| {
        app.state().remote_frames >= frames + 15
    });
    h.get_by_label("Share screen");
    h.get_by_label("Leave").click();
    step_until(
        h,
        "the end of the session",
        Duration::from_secs(10),
        |app| app.state().finished,
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn the_window_shares_the_screen_and_stops() {
    let x = support::xvfb::Xvfb::start(1280, 720);
    x.window("Quarterly figures", (600, 300), (400, 300));
    // SAFETY: set before any thread of this test reads it; the other window tests do not read
    // DISPLAY (the harness needs no display).
    unsafe { std::env::set_var("DISPLAY", &x.display) };
    let dir = scratch("gui-share");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    // The peer shares the screen too: the window shows it fitted, or at its actual size.
    let peer = Peer::start_with_env(
        &ns,
        &dir,
        "headless",
        &[
            "--server",
            &server.http(),
            "--room",
            "share",
            "--calls",
            "1",
            "--video",
            "screen",
        ],
        &[("DISPLAY", &x.display)],
    )
    .joined();
    window_part(
        &ns,
        &dir.join("config"),
        Scenario::Share,
        &server.http(),
        "share",
        &[],
    );
    let r = peer.finish();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let runs = r.report.last_call.video.sizes.iter();
    let sizes: Vec<(usize, usize)> = runs.map(|s| (s.width, s.height)).collect();
    assert_eq!(
        sizes,
        [(320, 240), (320, 180), (320, 240)],
        "what the peer saw"
    );
    assert_eq!(
        r.report.calls.len(),
        1,
        "one call, no renegotiation or hang-up"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_call_from_the_window_with_a_headless_peer() {
    let dir = scratch("gui-call");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let peer = Peer::start(
        &ns,
        &dir,
        "headless",
        &[
            "--server",
            &server.http(),
            "--room",
            "房间 1",
            "--calls",
            "1",
            "--video-size",
            "320x240",
        ],
    )
    .joined();
    // A Chinese room name: typed, shown and sent (egui's own fonts have no such glyphs).
    window_part(
        &ns,
        &dir.join("config"),
        Scenario::Call,
        &server.http(),
        "房间 1",
        &[],
    );
    let r = peer.finish();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.report.calls[0].end,
        Some(CallEnd::PeerLeft),
        "the window's Leave"
    );
    assert!(r.report.last_call.video.decoded_frames >= 10);
    // The window's microphone was switched to a 550 Hz tone during the call.
    let hz = r.report.last_call.audio.dominant_hz.unwrap_or_default();
    assert!((hz - 550.0).abs() <= 2.0, "the peer heard {hz} Hz");
    assert_eq!(r.report.calls.len(), 1, "one call, no hang-up");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn room_full_and_a_refused_certificate_are_said_in_the_window() {
    let dir = scratch("gui-errors");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let args = |id: &'static str| {
        vec![
            "--server".to_string(),
            server.http(),
            "--room".into(),
            "busy".into(),
            "--id".into(),
            id.into(),
            "--video-size".into(),
            "320x240".into(),
        ]
    };
    let a_args = args("1");
    let a = Peer::start(
        &ns,
        &dir,
        "a",
        &a_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .joined();
    let b_args = args("2");
    let b = Peer::start(
        &ns,
        &dir,
        "b",
        &b_args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .joined();
    window_part(
        &ns,
        &dir.join("config-full"),
        Scenario::Full,
        &server.http(),
        "busy",
        &[],
    );
    // The seed's self-signed certificate, not pinned: refused, with the way to trust it; the
    // window asks, and trusting pins it.
    let config = dir.join("config");
    window_part(
        &ns,
        &config,
        Scenario::Certificate,
        &server.https(),
        "any",
        &[],
    );
    // The settings: the password readable by the user alone, and not in settings.toml.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config.join("turn-password"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let settings = std::fs::read_to_string(config.join("settings.toml")).unwrap();
        assert!(
            !settings.contains("s3cret") && settings.contains("[pins]"),
            "{settings}"
        );
    }
    // The next run remembers the server, room, password and certificate.
    window_part(
        &ns,
        &config,
        Scenario::CertificateRemembered,
        &server.https(),
        "any",
        &[],
    );
    // The server's certificate "changes" (the pinned file now holds another): refused loudly.
    let pins: Vec<_> = std::fs::read_dir(config.join("pins"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(pins.len(), 1);
    std::fs::copy(&serve_cert().cert, pins[0].path()).unwrap();
    window_part(
        &ns,
        &config,
        Scenario::CertificateChanged,
        &server.https(),
        "any",
        &[],
    );
    a.terminate();
    b.terminate();
    let _ = (a.finish(), b.finish());
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_turn_server_that_refuses_the_password_is_said_in_the_window() {
    let dir = scratch("gui-turn");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let turn = Coturn::start(&ns, 3478);
    let ice = format!("turn:127.0.0.1:{}", turn.port);
    window_part(
        &ns,
        &dir.join("config"),
        Scenario::Turn,
        &server.http(),
        "turn",
        &[
            "--ice",
            &ice,
            "--ice-user",
            "aaaa",
            "--ice-pass",
            "wrong",
            "--relay-only",
        ],
    );
}
