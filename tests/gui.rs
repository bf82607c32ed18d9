//! The desktop window, driven by egui_kittest (egui's own test harness, no display needed):
//! fill the server and room, click Connect, see the call and the SDP panes, click Leave; room
//! full and a refused certificate said in the window.
//!
//! The window's session must talk only inside a network namespace, so each test builds the
//! namespace and its servers, then runs its window part again inside the namespace (this test
//! binary, one test, with `ROOMPEER_GUI_SCENARIO` set).

mod support;

use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use roompeer::gui::RoompeerApp;
use std::time::{Duration, Instant};
use support::*;

const SCENARIO: &str = "ROOMPEER_GUI_SCENARIO";
const SERVER: &str = "ROOMPEER_GUI_SERVER";
const ROOM: &str = "ROOMPEER_GUI_ROOM";

/// Runs `test` of this binary inside `ns` with the scenario's environment; panics if it fails.
fn run_inside(ns: &Netns, test: &str, scenario: &str, server: &str, room: &str) {
    let out = ns
        .command(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env(SERVER, server)
        .env(ROOM, room)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the window part failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the window part did not run:\n{text}"
    );
}

/// The window, with the options a user would start it with.
fn window(runtime: &tokio::runtime::Runtime, args: &[&str]) -> Harness<'static, RoompeerApp> {
    use clap::Parser;
    let cli = roompeer::cli::Cli::try_parse_from(
        ["roompeer", "--video-size", "320x240", "--wait", "30"]
            .iter()
            .chain(args),
    )
    .unwrap();
    let handle = runtime.handle().clone();
    Harness::builder()
        .with_size([1100.0, 900.0])
        .build_eframe(move |cc| RoompeerApp::create(cc, cli, handle))
}

fn type_into(harness: &mut Harness<'_, RoompeerApp>, field: &str, text: &str) {
    harness
        .get_by_role_and_label(Role::TextInput, field)
        .focus();
    harness.step();
    harness
        .get_by_role_and_label(Role::TextInput, field)
        .type_text(text);
    harness.step();
}

/// Steps the window until `done` holds (the session runs on other threads; the window looks
/// at it every frame, as it does on screen).
fn step_until(
    harness: &mut Harness<'_, RoompeerApp>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&RoompeerApp) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        harness.step();
        if done(harness.state()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the window never showed {what}: {:?} {:?}",
            harness.state().state().status,
            harness.state().state().error
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn inner_scenario() -> Option<(String, String, String)> {
    Some((
        std::env::var(SCENARIO).ok()?,
        std::env::var(SERVER).ok()?,
        std::env::var(ROOM).ok()?,
    ))
}

#[test]
fn window_part() {
    let Some((scenario, server, room)) = inner_scenario() else {
        return; // only runs inside a namespace, started by the tests below
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut h = window(&runtime, &[]);
    h.run_steps(2);
    type_into(&mut h, "Server", &server);
    type_into(&mut h, "Room", &room);
    assert_eq!(h.state().form.room, room, "typed into the Room field");
    assert_eq!(h.state().form.server, server, "typed into the Server field");
    h.get_by_label("Connect").click();
    h.step();
    match scenario.as_str() {
        "call" => {
            // Two seconds of video, so both sides have the other's reception reports too.
            step_until(&mut h, "the remote video", Duration::from_secs(30), |app| {
                app.state().remote_frames >= 60
            });
            let s = h.state().state().clone();
            assert!(s.offer_sdp.starts_with("v=0"), "Offer pane filled");
            assert!(s.answer_sdp.starts_with("v=0"), "Answer pane filled");
            assert_eq!(s.status, "in a call");
            assert_eq!(s.video_codec.as_deref(), Some("H264"));
            assert!(s.selected_pair.unwrap().starts_with("host"));
            let remote = s.remote_frame.unwrap();
            assert_eq!((remote.width, remote.height), (320, 240));
            // The panes are in the window, with their buttons.
            h.get_by_label("Copy Offer");
            h.get_by_label("Save Answer");
            assert!(!h.state().connected() || h.query_by_label("Leave").is_some());
            h.get_by_label("Leave").click();
            step_until(
                &mut h,
                "the end of the session",
                Duration::from_secs(10),
                |app| app.state().finished,
            );
            assert_eq!(h.state().state().status, "left the room");
            assert_eq!(h.state().state().error, None);
            assert!(!h.state().connected(), "Connect is enabled again");
        }
        "full" => {
            step_until(&mut h, "room full", Duration::from_secs(20), |app| {
                app.state().finished
            });
            let error = h.state().state().error.clone().unwrap_or_default();
            assert!(error.contains("full"), "{error}");
            h.get_by_label(&error);
        }
        "certificate" => {
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
        }
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
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
    run_inside(&ns, "window_part", "call", &server.http(), "房间 1");
    let r = peer.finish();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.report["calls"][0]["end"], "peer_left",
        "the window's Leave"
    );
    assert!(r.report["video"]["decoded_frames"].as_u64().unwrap() >= 10);
}

#[test]
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
    run_inside(&ns, "window_part", "full", &server.http(), "busy");
    // The seed's self-signed certificate, not pinned: refused, with the way to trust it.
    run_inside(&ns, "window_part", "certificate", &server.https(), "any");
    a.terminate();
    b.terminate();
    let _ = (a.finish(), b.finish());
}
