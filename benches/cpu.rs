//! Prints what roompeer costs beside Chromium, in one run (`scripts/bench-cpu.sh`):
//! - encode and decode time per frame, H.264 (openh264) and VP8 (libvpx), at 640x480 and
//!   1280x720, and the test picture's drawing;
//! - a roompeer waiting alone in a room: CPU seconds per minute;
//! - calls at 640x480, 20 frames/s, `ROOMPEER_BENCH_SECONDS` long (default 20), each
//!   `ROOMPEER_BENCH_RUNS` times (default 3, alternating): CPU seconds and peak PSS per side of
//!   a roompeer pair in H.264 and in VP8, of a Chromium pair (the project's page with
//!   Chromium's fake camera), and of roompeer answering that page in Chromium (VP8); the medians
//!   and each side against a Chromium side of the Chromium pair.
//!
//! CPU is user + system time from /proc (for Chromium, every process under its driver: browser,
//! renderers, GPU and utility processes); PSS is from smaps_rollup, summed over the processes
//! at each reading. Runs as root (network namespaces). `ROOMPEER_BENCH_PROFILE=DIR` also
//! profiles the roompeer sides (`--profile`), one directory per side.

#[path = "../tests/support/mod.rs"]
mod support;

use roompeer::media::frame::I420Frame;
use roompeer::media::testsrc::{Stamp, TestPattern};
use roompeer::media::video::{VideoCodec, VideoDecoder, VideoEncoder};
use std::time::{Duration, Instant};
use support::cpu::{Cost, TreeMeter, any_process, is_chromium};
use support::*;

/// Frames the codec figures average over.
const FRAMES: u32 = 120;

fn pictures(w: usize, h: usize) -> Vec<I420Frame> {
    let pattern = TestPattern::new(w, h);
    (0..FRAMES)
        .map(|n| {
            let mut f = I420Frame::black(w, h);
            let stamp = Stamp {
                sender_id: 1,
                counter: n,
                sent_ms: 0,
            };
            pattern.render(stamp, &mut f);
            f
        })
        .collect()
}

fn per_frame_ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0 / f64::from(FRAMES)
}

fn codec_figures() {
    println!("| codec | size | encode ms/frame | decode ms/frame | kbit/s at 20 fps |");
    println!("|---|---|---|---|---|");
    for (w, h, rate) in [(640, 480, 1_000_000), (1280, 720, 2_500_000)] {
        let frames = pictures(w, h);
        for (name, codec) in [("H.264", VideoCodec::H264), ("VP8", VideoCodec::Vp8)] {
            let mut enc = VideoEncoder::new(
                codec,
                (w, h),
                roompeer::media::video::Content::Motion,
                20,
                rate,
                600,
            )
            .unwrap();
            let t = Instant::now();
            let encoded: Vec<Vec<u8>> = frames
                .iter()
                .map(|f| enc.encode(f, false).unwrap().data)
                .collect();
            let encode = per_frame_ms(t);
            let mut dec = VideoDecoder::new(codec).unwrap();
            let t = Instant::now();
            for f in encoded.iter().filter(|f| !f.is_empty()) {
                dec.decode(f).unwrap();
            }
            row(name, w, h, encode, per_frame_ms(t), &encoded);
        }

        let pattern = TestPattern::new(w, h);
        let mut f = I420Frame::black(w, h);
        let t = Instant::now();
        for n in 0..FRAMES {
            let stamp = Stamp {
                sender_id: 1,
                counter: n,
                sent_ms: 0,
            };
            pattern.render(stamp, &mut f);
        }
        println!(
            "| test picture (drawing) | {w}x{h} | {:.2} | - | - |",
            per_frame_ms(t)
        );
    }
}

/// Sharing a screen: the BGRX → I420 conversion at the screen's size and scaled to 1080p, and
/// screen-content encoding of a mostly still 1080p desktop (a window moving across it).
fn screen_figures() {
    use roompeer::media::bgrx::BgrxToI420;
    use roompeer::media::video::Content;
    println!("\n| screen step | size | ms/frame | kbit/s at 15 fps |");
    println!("|---|---|---|---|");
    let mut conv = BgrxToI420::default();
    for ((sw, sh), dst) in [((1920, 1080), (1920, 1080)), ((2560, 1440), (1920, 1080))] {
        let px: Vec<u8> = (0..sw * sh * 4).map(|i| (i % 241) as u8).collect();
        let t = Instant::now();
        for _ in 0..FRAMES {
            conv.convert(&px, sw * 4, (sw, sh), dst).unwrap();
        }
        let ms = per_frame_ms(t);
        println!(
            "| BGRX to I420 | {sw}x{sh} to {}x{} | {ms:.2} | - |",
            dst.0, dst.1
        );
    }
    let (w, h) = (1920, 1080);
    let desktop: Vec<I420Frame> = (0..FRAMES as usize)
        .map(|n| {
            let mut f = I420Frame::black(w, h);
            // A light window with text-like stripes, moving 8 pixels a frame.
            for y in 200..600 {
                for x in 0..640 {
                    let text = (y / 3 + x / 2) % 7 == 0;
                    f.y[y * w + (x + n * 8) % w] = if text { 40 } else { 220 };
                }
            }
            f
        })
        .collect();
    for (name, codec) in [("H.264", VideoCodec::H264), ("VP8", VideoCodec::Vp8)] {
        let mut enc =
            VideoEncoder::new(codec, (w, h), Content::Detail, 15, 1_000_000, 1500).unwrap();
        let t = Instant::now();
        let bytes: usize = desktop
            .iter()
            .map(|f| enc.encode(f, false).unwrap().data.len())
            .sum();
        let ms = per_frame_ms(t);
        let kbps = bytes as f64 * 8.0 * 15.0 / f64::from(FRAMES) / 1000.0;
        println!("| {name} encode (screen content) | {w}x{h} | {ms:.2} | {kbps:.0} |");
    }
}

fn row(codec: &str, w: usize, h: usize, encode: f64, decode: f64, encoded: &[Vec<u8>]) {
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    println!(
        "| {codec} | {w}x{h} | {encode:.2} | {decode:.2} | {:.0} |",
        bytes as f64 * 8.0 * 20.0 / f64::from(FRAMES) / 1000.0
    );
}

/// A roompeer alone in a room for `seconds`: its CPU per minute.
fn idle(seconds: u32) -> f64 {
    let dir = scratch("bench-cpu-idle");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let wait = seconds.to_string();
    let args = [
        "--server",
        &server.http(),
        "--room",
        "idle",
        "--wait",
        &wait,
    ];
    let f = Peer::start(&ns, &dir, "idle", &args).finish();
    let cpu = f.report.cpu_seconds.unwrap_or(f64::NAN);
    cpu * 60.0 / f64::from(seconds)
}

/// Options every roompeer side of a call gets.
fn call_args(url: &str, seconds: &str) -> Vec<String> {
    [
        "--server",
        url,
        "--room",
        "cpu",
        "--duration",
        seconds,
        "--calls",
        "1",
        "--video-size",
        "640x480",
        "--fps",
        "20",
    ]
    .map(String::from)
    .to_vec()
}

fn profile_args(side: &str) -> Vec<String> {
    match std::env::var("ROOMPEER_BENCH_PROFILE") {
        Ok(dir) => vec!["--profile".into(), format!("{dir}/{side}")],
        Err(_) => Vec::new(),
    }
}

/// A roompeer side's cost: CPU from its report (exact, to its exit), PSS from the meter.
fn roompeer_cost(f: &Finished, meter: TreeMeter) -> Cost {
    let pss = meter.finish().peak_pss_kib;
    Cost {
        cpu_s: f.report.cpu_seconds.unwrap_or(f64::NAN),
        peak_pss_kib: pss,
    }
}

fn roompeer_pair(codec: &str, seconds: &str, run: usize) -> [Cost; 2] {
    let dir = scratch(&format!("bench-cpu-{codec}"));
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let mut common = call_args(&server.http(), seconds);
    common.extend(["--video-codec".into(), codec.into()]);
    let mut a_args = common.clone();
    a_args.extend(["--id".into(), "1".into()]);
    a_args.extend(profile_args(&format!("{codec}-{run}-offerer")));
    let mut b_args = common;
    b_args.extend([
        "--id".into(),
        "2".into(),
        "--audio".into(),
        "tone:660".into(),
    ]);
    b_args.extend(profile_args(&format!("{codec}-{run}-answerer")));
    let a = Peer::start(&ns, &dir, "a", &strs(&a_args)).joined();
    let ma = TreeMeter::start(a.pid().unwrap(), any_process);
    let b = Peer::start(&ns, &dir, "b", &strs(&b_args));
    let mb = TreeMeter::start(b.pid().unwrap(), any_process);
    let (fa, fb) = (a.finish(), b.finish());
    assert!(
        fa.report.last_call.video.decoded_frames > 0
            && fb.report.last_call.video.decoded_frames > 0,
        "the {codec} call carried no video:\n{}\n{}",
        fa.dump(),
        fb.dump()
    );
    [roompeer_cost(&fa, ma), roompeer_cost(&fb, mb)]
}

fn page(url: &str) -> String {
    format!("{url}/index.html?room=cpu")
}

fn chromium_pair(seconds: u32) -> [Cost; 2] {
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let page = page(&server.http());
    let first = BrowserPeer::start(&ns, &page, seconds);
    let m1 = TreeMeter::start(first.pid().unwrap(), is_chromium);
    first.wait_for("joined", Duration::from_secs(60));
    let second = BrowserPeer::start(&ns, &page, seconds + 1);
    let m2 = TreeMeter::start(second.pid().unwrap(), is_chromium);
    // The costs are read while the browsers still run (the driver closes them after `result`).
    first.wait_for("result", Duration::from_secs(120));
    let c1 = m1.finish();
    second.wait_for("result", Duration::from_secs(120));
    let c2 = m2.finish();
    first.closed();
    second.closed();
    [c1, c2]
}

/// Chromium joins first and offers; roompeer answers (VP8, the page's choice): [roompeer, Chromium].
fn roompeer_answers_chromium(seconds: u32, run: usize) -> [Cost; 2] {
    let dir = scratch("bench-cpu-mixed");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let browser = BrowserPeer::start(&ns, &page(&server.http()), seconds + 3);
    let mc = TreeMeter::start(browser.pid().unwrap(), is_chromium);
    browser.wait_for("joined", Duration::from_secs(60));
    let mut args = call_args(&server.http(), &seconds.to_string());
    args.extend(["--id".into(), "1".into()]);
    args.extend(profile_args(&format!("answering-chromium-{run}")));
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let rp = Peer::start(&ns, &dir, "roompeer", &strs);
    let mr = TreeMeter::start(rp.pid().unwrap(), any_process);
    let f = rp.finish();
    browser.wait_for("result", Duration::from_secs(120));
    let c = mc.finish();
    browser.closed();
    assert!(
        f.report.last_call.video.decoded_frames > 0,
        "no video from Chromium:\n{}",
        f.dump()
    );
    [roompeer_cost(&f, mr), c]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let seconds: u32 = std::env::var("ROOMPEER_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let runs: usize = std::env::var("ROOMPEER_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    if std::env::var_os("ROOMPEER_BENCH_CALLS_ONLY").is_none() {
        codec_figures();
        screen_figures();
        let idle_s = std::env::var("ROOMPEER_BENCH_IDLE_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60);
        println!(
            "\nroompeer waiting alone in a room for {idle_s} s: {:.3} CPU-s per minute",
            idle(idle_s)
        );
    }
    let secs = seconds.to_string();
    // Per contender, every run's cost.
    let names = [
        "roompeer, roompeer pair (H.264)",
        "roompeer, roompeer pair (VP8)",
        "Chromium, Chromium pair (VP8)",
        "roompeer, answering Chromium (VP8)",
        "Chromium, called by roompeer (VP8)",
    ];
    let mut costs: Vec<Vec<Cost>> = vec![Vec::new(); names.len()];
    for run in 0..runs {
        let [a, b] = roompeer_pair("h264", &secs, run);
        costs[0].extend([a, b]);
        let [a, b] = roompeer_pair("vp8", &secs, run);
        costs[1].extend([a, b]);
        let [a, b] = chromium_pair(seconds);
        costs[2].extend([a, b]);
        let [r, c] = roompeer_answers_chromium(seconds, run);
        costs[3].push(r);
        costs[4].push(c);
        eprintln!("cpu bench: run {} of {runs} done", run + 1);
    }
    let chromium = median(costs[2].iter().map(|c| c.cpu_s).collect());
    println!(
        "\nCalls at 640x480, 20 frames/s, {seconds} s, {runs} runs (medians over every side of every run):\n"
    );
    println!(
        "| contender | CPU-s per call (median) | each run | × Chromium pair side | peak PSS MiB (median) |"
    );
    println!("|---|---|---|---|---|");
    for (name, runs) in names.iter().zip(&costs) {
        let cpu = median(runs.iter().map(|c| c.cpu_s).collect());
        let pss = median(runs.iter().map(|c| c.peak_pss_kib as f64).collect()) / 1024.0;
        let each: Vec<String> = runs.iter().map(|c| format!("{:.2}", c.cpu_s)).collect();
        println!(
            "| {name} | {cpu:.2} | {} | {:.2}× | {pss:.0} |",
            each.join(" "),
            cpu / chromium
        );
    }
}
