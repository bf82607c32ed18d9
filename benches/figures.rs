//! Prints the figures the issues ask for, measured on this machine:
//! - H.264 encode and decode time per 640x480 frame (openh264; shows whether nasm was used);
//! - a call between two roompeers at 640x480 (30 s unless ROOMPEER_BENCH_SECONDS says otherwise):
//!   time from the second join to the first remote frame on each side, received frames/s, CPU
//!   seconds and peak RSS of each process;
//! - RSS of a roompeer that stays while 20 others come and go.
//!
//! Run: `cargo bench --bench figures` (as root: calls run in a private network namespace).

#[path = "../tests/support/mod.rs"]
mod support;

use roompeer::media::frame::I420Frame;
use roompeer::media::h264::{H264Decoder, H264Encoder};
use roompeer::media::testsrc::{Stamp, TestPattern};
use std::time::Instant;
use support::*;

fn codec_figures() {
    let (w, h, frames) = (640, 480, 300u32);
    let mut enc = H264Encoder::new(
        (w, h),
        roompeer::media::video::Content::Motion,
        30.0,
        1_000_000,
        60,
    )
    .unwrap();
    let mut dec = H264Decoder::new().unwrap();
    let pattern = TestPattern::new(w, h);
    let mut frame = I420Frame::black(w, h);
    let mut encoded = Vec::new();
    let t = Instant::now();
    for n in 0..frames {
        pattern.render(
            Stamp {
                sender_id: 1,
                counter: n,
                sent_ms: 0,
            },
            &mut frame,
        );
        encoded.push(enc.encode(&frame, false).unwrap().data);
    }
    let enc_ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(frames);
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    let t = Instant::now();
    for au in encoded.iter().filter(|a| !a.is_empty()) {
        dec.decode(au).unwrap();
    }
    let dec_ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(frames);
    println!(
        "h264 640x480 (incl. test pattern drawing): encode {enc_ms:.2} ms/frame, decode {dec_ms:.2} ms/frame, {:.0} kbit/s at 30 fps",
        bytes as f64 * 8.0 * 30.0 / f64::from(frames) / 1000.0
    );
}

/// A milestone of the last call, ms since the Unix epoch.
fn at(report: &Report, t_ms: Option<u64>) -> Option<u64> {
    Some(report.started_unix_ms? + t_ms?)
}

fn call_figures(seconds: &str) {
    let dir = scratch("bench-call");
    let ns = Netns::new();
    let cert = seed_cert();
    let server = NodeServer::start(&ns, ServerKind::V2, cert);
    let pin = cert.cert.display().to_string();
    let common = [
        "--server",
        &server.https(),
        "--pin-cert",
        &pin,
        "--duration",
        seconds,
        "--calls",
        "1",
    ];
    let a = Peer::start(&ns, &dir, "a", &[&common[..], &["--id", "1"]].concat()).joined();
    let b = Peer::start(
        &ns,
        &dir,
        "b",
        &[&common[..], &["--id", "2", "--audio", "tone:660"]].concat(),
    );
    let (ra, rb) = (a.finish().report, b.finish().report);
    let second_join = at(&rb, rb.last_call.timings_ms.joined).unwrap_or(0);
    for (name, r) in [("first (offerer)", &ra), ("second (answerer)", &rb)] {
        let t = &r.last_call.timings_ms;
        let first_frame = at(r, t.first_remote_frame).map(|t| t as i64 - second_join as i64);
        println!(
            "call {seconds} s 640x480, {name}: outcome {:?}, second join -> first remote frame {:?} ms, ICE connected at {:?} ms, received {:.1} frames/s, {} frames decoded, CPU {:.2} s, peak RSS {} KiB",
            r.outcome,
            first_frame,
            at(r, t.ice_connected).map(|t| t as i64 - second_join as i64),
            r.last_call.video.received_fps.unwrap_or(0.0),
            r.last_call.video.decoded_frames,
            r.cpu_seconds.unwrap_or(0.0),
            r.peak_rss_kib.unwrap_or(0),
        );
    }
}

fn twenty_calls() {
    let r = stay_while_guests_come_and_go("bench-twenty", 20, "2");
    let rss: Vec<u64> = r.calls.iter().filter_map(|c| c.rss_kib_after).collect();
    let ok = r.calls.iter().filter(|c| c.media_ok).count();
    println!("20 calls: {ok} with media both ways; stayer RSS after each call (KiB): {rss:?}");
    if rss.len() == 20 {
        println!(
            "20 calls: RSS after call 20 minus after call 2: {} KiB",
            rss[19] as i64 - rss[1] as i64
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    codec_figures();
    let seconds = std::env::var("ROOMPEER_BENCH_SECONDS").unwrap_or_else(|_| "30".into());
    call_figures(&seconds);
    twenty_calls();
}
