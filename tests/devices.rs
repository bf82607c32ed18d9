//! Devices in calls: a microphone and speakers through cpal and a private PulseAudio daemon,
//! no devices at all, and mute / camera off. Each test in a network namespace of its own;
//! the first roompeer hosts the built-in room server, the second joins it.

mod support;

use support::pulse::Pulse;
use support::*;

const COMMON: &[&str] = &["--duration", "5", "--calls", "1", "--video-size", "320x240"];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = COMMON.to_vec();
    v.extend_from_slice(extra);
    v
}

/// The frequency of the loudest second of a mono 48 kHz s16le recording.
fn loudest_tone(raw: &[u8]) -> Option<f64> {
    let pcm: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let loudest = pcm
        .windows(48_000)
        .step_by(24_000)
        .max_by_key(|w| w.iter().map(|&s| i64::from(s).abs()).sum::<i64>())?;
    roompeer::media::tone::dominant_hz(loudest)
}

fn hz(r: &Report) -> Option<f64> {
    r.last_call.audio.dominant_hz
}

#[test]
#[ignore = "needs root: network namespaces"]
fn microphone_and_speakers_through_pulseaudio() {
    let dir = scratch("devices-pulse");
    let ns = Netns::new();
    let pulse = Pulse::start(&dir, 880);
    let env = pulse.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let played = dir.join("speakers.raw");
    let mut parec = pulse.record_speakers(&played);
    // The microphone (a steady sine) would be taken for noise: noise suppression off here.
    let a = Peer::start_with_env(
        &ns,
        &dir,
        "a",
        &with(&[
            "--id",
            "101",
            "--audio",
            "mic",
            "--no-noise-suppression",
            "--audio-out",
            "default",
        ]),
        &env,
    )
    .joined();
    let b = Peer::start(
        &ns,
        &dir,
        "b",
        &with(&["--id", "202", "--audio", "tone:660"]),
    );
    let (fa, fb) = (a.finish(), b.finish());
    let _ = parec.kill();
    let _ = parec.wait();
    assert_eq!(fa.code, 0, "{}", fa.stderr);
    assert_eq!(fb.code, 0, "{}", fb.stderr);
    let ra = &fa.report;
    assert!(
        ra.last_call.audio.source.starts_with("microphone"),
        "{}",
        dump(ra)
    );
    assert!(ra.last_call.audio.speaker.is_some(), "{}", dump(ra));
    // B hears A's microphone: the sine that PulseAudio's source plays, captured by cpal.
    let heard = hz(&fb.report).expect("B heard A's microphone");
    assert!((heard - 880.0).abs() <= 3.0, "B heard {heard} Hz");
    // A's speakers played B's tone: recorded from the sink's monitor.
    let raw = std::fs::read(&played).unwrap();
    assert!(raw.len() > 48_000 * 2 * 2, "recorded {} bytes", raw.len());
    let played_hz = loudest_tone(&raw).expect("the speakers played something");
    assert!(
        (played_hz - 660.0).abs() <= 3.0,
        "the speakers played {played_hz} Hz"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn without_devices_the_call_carries_on() {
    let dir = scratch("devices-none");
    let ns = Netns::new();
    // No sound server to reach (and none spawned), no camera on this machine.
    let env = [("PULSE_SERVER", "unix:/nonexistent/pulse")];
    let a = Peer::start_with_env(
        &ns,
        &dir,
        "a",
        &with(&[
            "--id",
            "101",
            "--audio",
            "mic",
            "--video",
            "camera",
            "--audio-out",
            "default",
        ]),
        &env,
    )
    .joined();
    let b = Peer::start(&ns, &dir, "b", &with(&["--id", "202"]));
    let (fa, fb) = (a.finish(), b.finish());
    assert_eq!(fa.code, 0, "{}", fa.stderr);
    assert_eq!(fb.code, 0, "{}", fb.stderr);
    let ra = &fa.report;
    assert_eq!(ra.last_call.audio.source, "silence", "{}", dump(ra));
    assert_eq!(ra.last_call.video.source, "test picture", "{}", dump(ra));
    assert!(ra.last_call.audio.speaker.is_none());
    let rb = &fb.report;
    assert_eq!(
        rb.last_call.video.peer_sender_id,
        Some(101),
        "B sees A's test picture"
    );
    assert!(rb.last_call.audio.received_packets > 100);
    assert_eq!(hz(rb), None, "A sends silence");
    assert!(
        hz(ra).is_some_and(|h| (h - 440.0).abs() <= 2.0),
        "A still hears B"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn muted_microphone_and_camera_off() {
    let dir = scratch("devices-mute");
    let ns = Netns::new();
    let a = Peer::start(
        &ns,
        &dir,
        "a",
        &with(&["--id", "101", "--mute", "--camera-off"]),
    )
    .joined();
    let b = Peer::start(
        &ns,
        &dir,
        "b",
        &with(&["--id", "202", "--audio", "tone:660"]),
    );
    let (fa, fb) = (a.finish(), b.finish());
    assert_eq!(fa.code, 0, "{}", fa.stderr);
    assert_eq!(fb.code, 0, "{}", fb.stderr);
    let rb = &fb.report;
    // Media still flows (a browser's disabled track sends silence and black), but carries
    // nothing: no tone, no stamp.
    assert!(rb.last_call.audio.received_packets > 100, "{}", dump(rb));
    assert_eq!(hz(rb), None, "{}", dump(rb));
    assert!(rb.last_call.video.decoded_frames > 30, "{}", dump(rb));
    assert_eq!(
        rb.last_call.video.stamped_frames, 0,
        "black pictures carry no stamp"
    );
    assert_eq!(
        (
            rb.last_call.video.counter_gaps,
            rb.last_call.video.latency_ms
        ),
        (None, None),
        "nor figures read from one"
    );
    // The other way is untouched.
    assert!(hz(&fa.report).is_some_and(|h| (h - 660.0).abs() <= 2.0));
    assert_eq!(fa.report.last_call.video.peer_sender_id, Some(202));
}
