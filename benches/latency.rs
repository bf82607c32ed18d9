//! The delay of a call, as a user feels it, next to Chromium's on the same paths, in one run:
//! capture-to-decode latency (p50/p95, from roompeer's stamps), the jitter buffer's delay (for
//! Chromium `jitterBufferDelay / jitterBufferEmittedCount` from getStats), received frames/s,
//! the longest freeze, and the time to the first picture after the second join.
//!
//! Paths (all inside a private network namespace):
//! - `clean`: loopback, host candidates;
//! - `30±10ms`: relay-only through coturn behind a relay that delays each datagram 30 ms ± 10
//!   ms (uniform, so packets reorder) on each leg: ~60 ms one way end to end;
//! - `5% loss`: relay-only through the same relay with 5 ms each way on each leg (a 20 ms
//!   round trip) and 2.5% loss on each pass (5% end to end).
//!
//! Pairs: roompeer↔roompeer, Chromium↔Chromium (the seed-like page), and roompeer↔Chromium in
//! both roles (roompeer's report for the stream Chromium sends, Chromium's getStats for
//! roompeer's).
//!
//! Then the setup time of `ROOMPEER_BENCH_PAIRS` (default 50) roompeer pairs in a row.
//!
//! Run: `scripts/bench-latency.sh` (or `cargo bench --bench latency`), as root.
//! `ROOMPEER_BENCH_SECONDS` sets the call length (default 10); `ROOMPEER_BENCH_SETUP_ONLY=1`
//! measures only the setup; `ROOMPEER_BENCH_PATHS=clean,jitter,loss` picks the paths,
//! `ROOMPEER_BENCH_KINDS=roompeer,chromium,mixed` the pairs; `ROOMPEER_BENCH_MIXED_RUNS` the
//! roompeer↔Chromium calls in each role (default 3, for the first-picture medians);
//! `ROOMPEER_BENCH_VIDEO_CODEC=vp8|h264` is roompeer's `--video-codec` (default: its own);
//! `ROOMPEER_BENCH_REPORTS=1` prints roompeer's reports (and logs) to stderr;
//! `ROOMPEER_CHROMIUM_FPS=30` runs Chromium's fake camera at 30 frames/s (its default is 20;
//! roompeer's test picture is 30): a sender's first frame waits for its camera's next one.

#[path = "../tests/support/mod.rs"]
mod support;

use roompeer::report::Report;
use serde_json::Value;
use std::time::Duration;
use support::impair::{ImpairedRelay, Impairment};
use support::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Clean,
    Jitter,
    Loss,
}

impl PathKind {
    fn name(self) -> &'static str {
        match self {
            PathKind::Clean => "clean",
            PathKind::Jitter => "30±10ms",
            PathKind::Loss => "5% loss",
        }
    }
}

/// One side's figures: what it received.
#[derive(Default)]
struct Row {
    latency: Option<(f64, f64)>,
    jitter_buffer_ms: Option<f64>,
    audio_buffer_ms: Option<f64>,
    concealed_ms: Option<f64>,
    av_sync_ms: Option<f64>,
    fps: Option<f64>,
    freeze_ms: Option<f64>,
    first_picture_ms: Option<i64>,
}

fn print_row(pair: &str, path: PathKind, side: &str, r: &Row) {
    let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    println!(
        "| {pair} | {} | {side} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        path.name(),
        r.latency.map_or("-".into(), |l| format!("{:.0}", l.0)),
        r.latency.map_or("-".into(), |l| format!("{:.0}", l.1)),
        opt(r.jitter_buffer_ms),
        opt(r.audio_buffer_ms),
        opt(r.concealed_ms),
        opt(r.av_sync_ms),
        opt(r.fps),
        opt(r.freeze_ms),
        r.first_picture_ms.map_or("-".into(), |t| t.to_string()),
    );
}

/// The signaling server, and for impaired paths coturn behind the relay; the ICE options.
struct Setup {
    _server: NodeServer,
    _turn: Option<(Coturn, ImpairedRelay)>,
    url: String,
    turn_url: Option<String>,
}

fn setup(ns: &Netns, path: PathKind) -> Setup {
    let server = NodeServer::start(ns, ServerKind::V2, seed_cert());
    let url = server.http();
    let impairment = match path {
        PathKind::Clean => None,
        PathKind::Jitter => Some(Impairment {
            delay: Duration::from_millis(30),
            jitter: Duration::from_millis(10),
            loss: 0.0,
        }),
        PathKind::Loss => Some(Impairment {
            delay: Duration::from_millis(5),
            jitter: Duration::ZERO,
            loss: 0.0253,
        }),
    };
    let turn = impairment.map(|i| {
        let coturn = Coturn::start(ns, 3478);
        let relay =
            ImpairedRelay::start(ns, format!("127.0.0.1:{}", coturn.port).parse().unwrap(), i);
        (coturn, relay)
    });
    let turn_url = turn
        .as_ref()
        .map(|(_, relay)| format!("turn:127.0.0.1:{}", relay.port));
    Setup {
        _server: server,
        _turn: turn,
        url,
        turn_url,
    }
}

fn roompeer_args<'a>(s: &'a Setup, seconds: &'a str) -> Vec<&'a str> {
    let mut args = vec![
        "--server",
        &s.url,
        "--room",
        "latency",
        "--duration",
        seconds,
        "--calls",
        "1",
    ];
    // `ROOMPEER_BENCH_VIDEO_CODEC=vp8` (or `h264`): roompeer's `--video-codec`.
    if let Some(codec) = bench_video_codec() {
        args.extend(["--video-codec", codec]);
    }
    if let Some(turn) = &s.turn_url {
        args.extend([
            "--ice",
            turn,
            "--ice-user",
            "aaaa",
            "--ice-pass",
            "aaaa",
            "--relay-only",
        ]);
    }
    args
}

/// The codec roompeer is told to prefer, if the bench was given one.
fn bench_video_codec() -> Option<&'static str> {
    static CODEC: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CODEC
        .get_or_init(|| std::env::var("ROOMPEER_BENCH_VIDEO_CODEC").ok())
        .as_deref()
}

fn page_url(s: &Setup) -> String {
    let mut page = format!("{}/index.html?room=latency", s.url);
    if let Some(turn) = &s.turn_url {
        page.push_str(&format!("&turn={turn}&user=aaaa&pass=aaaa&relay=1"));
    }
    page
}

/// Unix ms of a roompeer milestone.
fn at(r: &Report, ms: Option<u64>) -> Option<i64> {
    Some((r.started_unix_ms? + ms?) as i64)
}

fn roompeer_row(r: &Report, second_join: Option<i64>) -> Row {
    let (v, a) = (&r.last_call.video, &r.last_call.audio);
    Row {
        latency: v.latency_ms.map(|l| (l.p50, l.p95)),
        jitter_buffer_ms: v.jitter_buffer_ms,
        audio_buffer_ms: a.jitter_buffer_ms,
        concealed_ms: Some(a.concealed_ms),
        av_sync_ms: r.last_call.av_sync_ms,
        fps: v.received_fps,
        freeze_ms: Some(v.longest_freeze_ms as f64),
        first_picture_ms: at(r, r.last_call.timings_ms.first_remote_frame)
            .zip(second_join)
            .map(|(f, j)| f - j),
    }
}

/// Chromium's figures for what it received, from the first and last getStats of its call.
fn chromium_row(result: &Value, second_join: Option<i64>) -> Row {
    let (first, last) = (&result["first"]["video"], &result["last"]["video"]);
    let delta = |k: &str| last[k].as_f64().unwrap_or(0.0) - first[k].as_f64().unwrap_or(0.0);
    let emitted = delta("jitterBufferEmittedCount");
    let (a_first, a_last) = (&result["first"]["audio"], &result["last"]["audio"]);
    let a_delta = |k: &str| a_last[k].as_f64().unwrap_or(0.0) - a_first[k].as_f64().unwrap_or(0.0);
    let a_emitted = a_delta("jitterBufferEmittedCount");
    Row {
        latency: None,
        jitter_buffer_ms: (emitted > 0.0).then(|| delta("jitterBufferDelay") / emitted * 1000.0),
        audio_buffer_ms: (a_emitted > 0.0)
            .then(|| a_delta("jitterBufferDelay") / a_emitted * 1000.0),
        // Concealed audio over the whole call, ms (48 kHz).
        concealed_ms: a_last["concealedSamples"].as_f64().map(|s| s / 48.0),
        av_sync_ms: None,
        fps: {
            let secs = (result["last"]["at"].as_f64().unwrap_or(0.0)
                - result["first"]["at"].as_f64().unwrap_or(0.0))
                / 1000.0;
            (secs > 0.0).then(|| delta("framesDecoded") / secs)
        },
        freeze_ms: last["maxFreezeMs"].as_f64(),
        first_picture_ms: result["remoteVideoAt"]
            .as_i64()
            .zip(second_join)
            .map(|(f, j)| f - j),
    }
}

fn roompeer_pair(path: PathKind, seconds: &str) {
    let dir = scratch(&format!(
        "bench-latency-rp-{}",
        path.name().replace(['%', '±', ' '], "")
    ));
    let ns = Netns::new();
    let s = setup(&ns, path);
    let common = roompeer_args(&s, seconds);
    let (a, b) = Pair::start(&ns, &dir, &common, &[], &["--audio", "tone:660"]).finish_ok();
    let join = at(&b.report, b.report.last_call.timings_ms.joined);
    if std::env::var_os("ROOMPEER_BENCH_REPORTS").is_some() {
        eprintln!("offerer: {}\nanswerer: {}", a.dump(), b.dump());
        eprintln!(
            "offerer stderr:\n{}\nanswerer stderr:\n{}",
            a.stderr, b.stderr
        );
    }
    print_row(
        "roompeer↔roompeer",
        path,
        "offerer",
        &roompeer_row(&a.report, join),
    );
    print_row(
        "roompeer↔roompeer",
        path,
        "answerer",
        &roompeer_row(&b.report, join),
    );
}

fn chromium_pair(path: PathKind, seconds: &str) {
    let ns = Netns::new();
    let s = setup(&ns, path);
    let page = page_url(&s);
    let hold: u32 = seconds.parse().unwrap_or(10);
    // The first leaves first, so its last figures are taken while the call still runs.
    let first = BrowserPeer::start(&ns, &page, hold);
    first.wait_for("joined", Duration::from_secs(60));
    let second = BrowserPeer::start(&ns, &page, hold + 3);
    let join = second.wait_for("joined", Duration::from_secs(60))["t"].as_i64();
    let (a, b) = (first.finish(), second.finish());
    print_row(
        "Chromium↔Chromium",
        path,
        "offerer",
        &chromium_row(&a, join),
    );
    print_row(
        "Chromium↔Chromium",
        path,
        "answerer",
        &chromium_row(&b, join),
    );
}

/// Who is in the room first in a roompeer↔Chromium call (the first one offers when the other
/// joins).
#[derive(Clone, Copy)]
enum FirstInRoom {
    Roompeer,
    Chromium,
}

/// What one roompeer↔Chromium call gave the summary, ms: each side's time to the first picture
/// from the second join, roompeer's `call_started` to `peer_connected` (ICE and DTLS), and
/// where each picture's time went: from connected to the sender's first video packet, and from
/// that packet to the receiver's picture.
#[derive(Default)]
struct MixedTimes {
    ours: Option<i64>,
    theirs: Option<i64>,
    setup: Option<i64>,
    /// Connected to Chromium's first video packet at roompeer.
    chromium_sends: Option<i64>,
    /// That packet to roompeer's first picture.
    roompeer_shows: Option<i64>,
    /// Connected to roompeer's first video frame sent.
    roompeer_sends: Option<i64>,
    /// That frame sent to Chromium's first picture (as its page saw it).
    chromium_shows: Option<i64>,
}

/// One roompeer↔Chromium call: each side's figures for what it received.
fn mixed_pair(path: PathKind, seconds: &str, first: FirstInRoom) -> MixedTimes {
    let role = match first {
        FirstInRoom::Roompeer => "rp-first",
        FirstInRoom::Chromium => "cr-first",
    };
    let dir = scratch(&format!(
        "bench-latency-mix-{role}-{}",
        path.name().replace(['%', '±', ' '], "")
    ));
    let ns = Netns::new();
    let s = setup(&ns, path);
    let hold: u32 = seconds.parse().unwrap_or(10);
    let long = (hold + 15).to_string();
    let mut args = roompeer_args(&s, &long);
    args.extend(["--id", "1"]);
    let (rp, browser, join) = match first {
        FirstInRoom::Roompeer => {
            let rp = Peer::start(&ns, &dir, "roompeer", &args).joined();
            let browser = BrowserPeer::start(&ns, &page_url(&s), hold);
            let join = browser.wait_for("joined", Duration::from_secs(60))["t"].as_i64();
            (rp, browser, join)
        }
        FirstInRoom::Chromium => {
            let browser = BrowserPeer::start(&ns, &page_url(&s), hold);
            browser.wait_for("joined", Duration::from_secs(60));
            let rp = Peer::start(&ns, &dir, "roompeer", &args);
            (rp, browser, None)
        }
    };
    let seen = browser.finish();
    let r = rp.finish();
    if std::env::var_os("ROOMPEER_BENCH_REPORTS").is_some() {
        eprintln!(
            "roompeer ({role}): {}\nstderr:\n{}\nChromium: joined at {}, first picture at {}",
            r.dump(),
            r.stderr,
            seen["joinedAt"],
            seen["remoteVideoAt"]
        );
    }
    // With Chromium first, the second join is roompeer's own.
    let join = join.or_else(|| at(&r.report, r.report.last_call.timings_ms.joined));
    let (ours, theirs) = (roompeer_row(&r.report, join), chromium_row(&seen, join));
    let offers = match first {
        FirstInRoom::Roompeer => "roompeer offers",
        FirstInRoom::Chromium => "Chromium offers",
    };
    print_row(
        &format!("roompeer↔Chromium ({offers})"),
        path,
        "roompeer (from Chromium)",
        &ours,
    );
    print_row(
        &format!("roompeer↔Chromium ({offers})"),
        path,
        "Chromium (from roompeer)",
        &theirs,
    );
    let event = |name: &str| {
        r.report
            .events
            .iter()
            .find(|e| e.event == name)
            .map(|e| e.t_ms as i64)
    };
    let t = &r.report.last_call.timings_ms;
    let ms = |v: Option<u64>| v.map(|v| v as i64);
    let since = |a: Option<u64>, b: Option<u64>| ms(a).zip(ms(b)).map(|(a, b)| a - b);
    MixedTimes {
        ours: ours.first_picture_ms,
        theirs: theirs.first_picture_ms,
        setup: since(
            event("peer_connected").map(|v| v as u64),
            event("call_started").map(|v| v as u64),
        ),
        chromium_sends: since(t.first_remote_video_packet, t.ice_connected),
        roompeer_shows: since(t.first_remote_frame, t.first_remote_video_packet),
        roompeer_sends: since(t.first_video_sent, t.ice_connected),
        chromium_shows: seen["remoteVideoAt"]
            .as_i64()
            .zip(at(&r.report, t.first_video_sent))
            .map(|(shown, sent)| shown - sent),
    }
}

fn median(v: &mut [i64]) -> Option<i64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// `runs` mixed calls in each role, then each side's median time to the first picture (the
/// issue's bar: roompeer's at most Chromium's + 30 ms, median of 3, in both roles).
fn mixed_pairs(path: PathKind, seconds: &str, runs: usize) {
    let mut medians = Vec::new();
    for first in [FirstInRoom::Roompeer, FirstInRoom::Chromium] {
        let mut calls = Vec::new();
        for _ in 0..runs {
            calls.push(mixed_pair(path, seconds, first));
        }
        let all = |f: fn(&MixedTimes) -> Option<i64>| -> Vec<i64> {
            calls.iter().filter_map(f).collect()
        };
        let (mut ours, mut theirs, mut setups) =
            (all(|c| c.ours), all(|c| c.theirs), all(|c| c.setup));
        // Each call's roompeer minus Chromium: both pictures wait for the same setup, whose
        // call-to-call spread (±50 ms) is larger than the bar; the difference within one call
        // is what the bar is about.
        let mut differences = all(|c| c.ours.zip(c.theirs).map(|(a, b)| a - b));
        let parts = [
            (
                "Chromium's first video packet after connected",
                all(|c| c.chromium_sends),
            ),
            (
                "roompeer's picture after that packet",
                all(|c| c.roompeer_shows),
            ),
            (
                "roompeer's first video frame sent after connected",
                all(|c| c.roompeer_sends),
            ),
            (
                "Chromium's picture after that frame",
                all(|c| c.chromium_shows),
            ),
        ];
        let role = match first {
            FirstInRoom::Roompeer => "roompeer offers",
            FirstInRoom::Chromium => "Chromium offers",
        };
        if let (Some(o), Some(t), Some(d)) = (
            median(&mut ours),
            median(&mut theirs),
            median(&mut differences),
        ) {
            setups.sort_unstable();
            let parts: Vec<String> = parts
                .into_iter()
                .map(|(what, mut v)| {
                    let m = median(&mut v).map_or("-".into(), |m| m.to_string());
                    format!("{what} {m} (of {v:?})")
                })
                .collect();
            medians.push(format!(
                "{role}: roompeer {o} ms (of {ours:?}), Chromium {t} ms (of {theirs:?}); roompeer minus Chromium in each call {differences:?} ms, median {d} ms; roompeer's setup (call_started to peer_connected) {setups:?} ms; medians, ms: {}",
                parts.join(", ")
            ));
        }
    }
    MIXED_SUMMARY.lock().unwrap().extend(
        medians
            .into_iter()
            .map(|m| format!("{} path, {m}", path.name())),
    );
}

/// The mixed calls' first-picture medians, printed after the table.
static MIXED_SUMMARY: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// `connecting` to `connected` of roompeer pairs in a row on the clean path: from each side's
/// `call_started` event to its `peer_connected`.
fn setup_pairs(n: usize) {
    let ns = Netns::new();
    let s = setup(&ns, PathKind::Clean);
    let common = [
        "--server",
        s.url.as_str(),
        "--room",
        "setup",
        // Long enough for the peer's first reception reports (the call is judged on them).
        "--duration",
        "2",
        "--calls",
        "1",
        "--video-size",
        "320x240",
    ];
    let mut took = Vec::new();
    for i in 0..n {
        let dir = scratch(&format!("bench-setup-{i}"));
        let (a, b) = Pair::start(&ns, &dir, &common, &[], &[]).finish_ok();
        for f in [&a, &b] {
            let at = |name: &str| {
                f.report
                    .events
                    .iter()
                    .find(|e| e.event == name)
                    .map(|e| e.t_ms)
            };
            if let (Some(start), Some(up)) = (at("call_started"), at("peer_connected")) {
                took.push(up.saturating_sub(start));
            }
        }
    }
    if took.is_empty() {
        // ROOMPEER_BENCH_PAIRS=0: no setup measured.
        return;
    }
    took.sort_unstable();
    let pick = |p: f64| took[((p * took.len() as f64).ceil() as usize).clamp(1, took.len()) - 1];
    println!();
    println!(
        "Setup, {n} roompeer pairs in a row (call_started to peer_connected, both sides, ms): min {}, p50 {}, p95 {}, max {}; over 500 ms: {}",
        took[0],
        pick(0.5),
        pick(0.95),
        took[took.len() - 1],
        took.iter().filter(|&&t| t > 500).count()
    );
}

fn main() {
    let pairs: usize = std::env::var("ROOMPEER_BENCH_PAIRS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(50);
    if std::env::var_os("ROOMPEER_BENCH_SETUP_ONLY").is_some() {
        setup_pairs(pairs);
        return;
    }
    let seconds = std::env::var("ROOMPEER_BENCH_SECONDS").unwrap_or_else(|_| "10".into());
    // Calls per role of the mixed pair (the first-picture bar is a median of 3).
    let mixed_runs: usize = std::env::var("ROOMPEER_BENCH_MIXED_RUNS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3);
    println!("Call delay, {seconds} s calls at 640x480@30 (roompeer's defaults), one run:");
    println!();
    println!(
        "| pair | path | side (receiving) | latency p50 ms | p95 ms | jitter buffer ms | audio buffer ms | audio concealed ms | av sync ms | frames/s | longest freeze ms | first picture ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    // `ROOMPEER_BENCH_PATHS=loss,jitter` runs only those paths.
    let only = std::env::var("ROOMPEER_BENCH_PATHS").ok();
    for path in [PathKind::Clean, PathKind::Jitter, PathKind::Loss] {
        let key = match path {
            PathKind::Clean => "clean",
            PathKind::Jitter => "jitter",
            PathKind::Loss => "loss",
        };
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|p| p.trim() == key))
        {
            continue;
        }
        // `ROOMPEER_BENCH_KINDS=roompeer,chromium,mixed` picks the pairs.
        let kinds = std::env::var("ROOMPEER_BENCH_KINDS").ok();
        let run = |k: &str| {
            kinds
                .as_deref()
                .is_none_or(|o| o.split(',').any(|p| p.trim() == k))
        };
        if run("roompeer") {
            roompeer_pair(path, &seconds);
        }
        if run("chromium") {
            chromium_pair(path, &seconds);
        }
        if run("mixed") {
            mixed_pairs(path, &seconds, mixed_runs);
        }
    }
    let summary = MIXED_SUMMARY.lock().unwrap();
    if !summary.is_empty() {
        println!();
        println!(
            "First picture in roompeer↔Chromium calls, from the second join, median of {mixed_runs}; Chromium's camera at {} frames/s:",
            std::env::var("ROOMPEER_CHROMIUM_FPS").unwrap_or_else(|_| "20 (its default)".into())
        );
        for line in summary.iter() {
            println!("- {line}");
        }
    }
    setup_pairs(pairs);
}
