use super::*;

/// Packet `k` (its first payload byte, and the second) decodes to 20 ms of a 440 Hz sine that
/// continues from packet k-1, so a seam or a click shows as a jump between samples. A second
/// byte of 1 means the packet carries FEC for the one before. Concealment is a constant 7.
struct SineDecoder;

const AMPLITUDE: f64 = 10_000.0;

fn sine(from: usize, n: usize, out: &mut Vec<i16>) {
    for i in from..from + n {
        let t = i as f64 / 48_000.0;
        out.push((AMPLITUDE * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16);
    }
}

impl AudioDecoder for SineDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let [hi, lo, ..] = payload else {
            return Err(CodecError::Decode {
                codec: "test",
                detail: "short".into(),
            });
        };
        let k = usize::from(*hi) * 256 + usize::from(*lo);
        sine(k * 960, 960, out);
        Ok(())
    }

    fn decode_fec(&mut self, next: &[u8], samples: usize, out: &mut Vec<i16>) -> bool {
        if next.get(2) != Some(&1) {
            return false;
        }
        let k = usize::from(next[0]) * 256 + usize::from(next[1]);
        sine(k * 960 - samples, samples, out);
        true
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        out.extend(std::iter::repeat_n(7, samples));
    }
}

fn packet(k: u32, fec: bool) -> AudioPacket {
    AudioPacket {
        seq: k as u16,
        timestamp: 1000 + k * 960,
        payload: vec![(k >> 8) as u8, k as u8, u8::from(fec)],
    }
}

/// Runs up to `ms` milliseconds: packet `k` arrives at `arrival(k)` (None: lost), and 10 ms
/// are pulled every 10 ms, until all that came was played. Returns what was played.
fn run(
    buffer: &mut AudioJitterBuffer,
    packets: u32,
    ms: u64,
    arrival: impl Fn(u32) -> Option<u64>,
    fec: bool,
) -> Vec<i16> {
    let t0 = Instant::now();
    let mut due: Vec<(u64, u32)> = (0..packets)
        .filter_map(|k| arrival(k).map(|at| (at, k)))
        .collect();
    due.sort();
    let last = due.last().map_or(0, |&(at, _)| at);
    let mut due = due.into_iter().peekable();
    let mut played = Vec::new();
    let mut block = [0i16; 480];
    for now_ms in 0..ms {
        if now_ms > last && buffer.level() < block.len() {
            // Everything sent was played: what follows would be the end of the stream.
            break;
        }
        let now = t0 + Duration::from_millis(now_ms);
        while let Some(&(at, k)) = due.peek() {
            if at > now_ms {
                break;
            }
            buffer.insert(packet(k, fec), now);
            due.next();
        }
        if now_ms % 10 == 5 {
            buffer.pull(&mut block, now);
            played.extend_from_slice(&block);
        }
    }
    played
}

fn biggest_jump(pcm: &[i16]) -> i32 {
    pcm.windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

/// One sample to the next of the sine moves at most this much; a click moves far more.
const SMOOTH: i32 = 700;

fn buffer() -> AudioJitterBuffer {
    AudioJitterBuffer::new(Box::new(SineDecoder))
}

#[test]
fn on_a_clean_link_audio_plays_at_once_and_whole() {
    let mut b = buffer();
    let played = run(&mut b, 100, 2000, |k| Some(u64::from(k) * 20), false);
    let s = b.stats();
    assert_eq!(s.concealed, 0, "{s:?}");
    assert_eq!(s.cut, 0, "{s:?}");
    assert_eq!(s.late_packets, 0);
    let wait = s.mean_wait_ms().unwrap();
    assert!(
        wait <= 15.0,
        "a clean link waits only for the pulls: {wait} ms"
    );
    assert!(s.target_ms <= 2.0, "{s:?}");
    // The sine comes out whole: no seam.
    let start = played.iter().position(|&x| x != 0).unwrap();
    assert!(biggest_jump(&played[start..]) <= SMOOTH);
}

#[test]
fn after_a_loss_the_buffer_makes_room_and_the_next_loss_is_rebuilt_from_fec() {
    let mut b = buffer();
    let played = run(
        &mut b,
        100,
        2000,
        |k| (k != 20 && k != 70).then_some(u64::from(k) * 20),
        true,
    );
    let s = b.stats();
    // The first loss comes with nothing after it in the buffer: concealed. It raises the
    // target by a packet, the audio is stretched to make that room, and the second loss is
    // rebuilt from the packet after it.
    assert!(s.stretched >= 15 * 48, "{s:?}");
    assert_eq!(s.fec, 960, "{s:?}");
    assert_eq!(
        s.concealed,
        2 * 960,
        "rebuilt audio counts as concealed: {s:?}"
    );
    assert!((30.0..=32.0).contains(&s.target_ms), "{s:?}");
    let start = played.iter().position(|&x| x != 0).unwrap();
    let after_first = start + played[start..].iter().rposition(|&x| x == 7).unwrap() + 2;
    assert!(
        biggest_jump(&played[after_first..]) <= SMOOTH * 2,
        "stretching and FEC leave no click"
    );
}

#[test]
fn without_fec_a_lost_packet_is_concealed_and_the_rest_plays_on_time() {
    let mut b = buffer();
    let played = run(
        &mut b,
        50,
        1030,
        |k| (k != 20).then_some(u64::from(k) * 20),
        false,
    );
    let s = b.stats();
    assert_eq!((s.fec, s.concealed), (0, 960), "{s:?}");
    assert_eq!(played.iter().filter(|&&x| x == 7).count(), 960);
    // All the rest played, but for what was still buffered when the stream ended.
    assert!(s.played + 480 >= 49 * 960, "{s:?}");
}

#[test]
fn the_target_grows_with_jitter_and_keeps_packets_in_time() {
    let mut b = buffer();
    // Every third packet 15 ms late.
    let late = |k: u32| Some(u64::from(k) * 20 + if k.is_multiple_of(3) { 15 } else { 0 });
    run(&mut b, 150, 3100, late, false);
    let s = b.stats();
    assert!(
        (13.0..=17.0).contains(&s.target_ms),
        "target covers the 15 ms: {s:?}"
    );
    // Only the late packets of the first half second, before the buffer had grown to the
    // target, may have missed their turn.
    assert!(s.concealed <= 4 * 960, "{s:?}");
}

/// A small deterministic generator for arrival noise.
fn noise(k: u32) -> u64 {
    let x = k.wrapping_mul(2_654_435_761).rotate_left(13) ^ 0x9e37_79b9;
    u64::from(x.wrapping_mul(2_246_822_519) >> 16)
}

#[test]
fn under_random_jitter_and_loss_the_delay_stays_at_the_target() {
    let mut b = buffer();
    // Up to 40 ms of jitter (so packets reorder), and 5% of packets lost.
    let arrival =
        |k: u32| (!noise(k).is_multiple_of(20)).then_some(u64::from(k) * 20 + noise(k + 7) % 40);
    run(&mut b, 500, 10_050, arrival, false);
    let s = b.stats();
    let wait = s.mean_wait_ms().unwrap();
    // The target covers 95% of the spread (~38 ms) and a packet for the losses; a sample
    // waits on average less than that, as most packets are not the latest.
    assert!((45.0..=80.0).contains(&s.target_ms), "{s:?}");
    assert!(wait <= s.target_ms, "waited {wait} ms on average: {s:?}");
    // The losses (~25) and the few packets later than the target are concealed, no more.
    assert!(s.concealed <= 40 * 960, "{s:?}");
}

#[test]
fn after_a_stall_it_stretches_then_catches_up_without_a_click() {
    let mut b = buffer();
    // Packets 30..40 are held for 200 ms, then come in a burst with the others.
    let stalled = |k: u32| {
        let t = u64::from(k) * 20;
        Some(if (30..40).contains(&k) { 800 } else { t })
    };
    let played = run(&mut b, 200, 4000, stalled, false);
    let s = b.stats();
    assert!(s.concealed >= 100 * 48, "the stall was stretched: {s:?}");
    assert!(s.cut > 0, "then caught up: {s:?}");
    assert_eq!(s.late_packets, 0, "nothing skipped: {s:?}");
    // By the end the delay is back near the target (a packet's swing above it).
    assert!(b.level() <= 30 * 48, "level {} samples", b.level());
    // No click where audio was cut: after the concealment ends, the sine is smooth.
    let resumed = played
        .iter()
        .rposition(|&x| x == 7)
        .expect("concealment was played");
    assert!(biggest_jump(&played[resumed + 2..]) <= SMOOTH * 2);
}

#[test]
fn a_packet_after_its_moment_is_dropped_and_counted() {
    let mut b = buffer();
    // Packet 10 comes 300 ms late: concealed at its moment, dropped when it comes.
    run(
        &mut b,
        60,
        1200,
        |k| Some(u64::from(k) * 20 + if k == 10 { 300 } else { 0 }),
        false,
    );
    let s = b.stats();
    assert_eq!(s.late_packets, 1, "{s:?}");
    assert_eq!(s.concealed, 960, "{s:?}");
}

#[test]
fn timestamps_wrap_around() {
    let mut b = buffer();
    let t0 = Instant::now();
    let mut block = [0i16; 960];
    for k in 0..10u32 {
        let now = t0 + Duration::from_millis(u64::from(k) * 20);
        b.insert(
            AudioPacket {
                seq: k as u16,
                timestamp: u32::MAX - 2000 + k * 960,
                payload: vec![0, k as u8, 0],
            },
            now,
        );
        b.pull(&mut block, now + Duration::from_millis(5));
    }
    let s = b.stats();
    assert_eq!(s.concealed, 0, "{s:?}");
    assert!(s.played >= 8 * 960, "{s:?}");
}

#[test]
fn undecodable_packets_are_concealed_not_fatal() {
    let mut b = buffer();
    let t0 = Instant::now();
    let mut block = [0i16; 960];
    for k in 0..5u32 {
        let now = t0 + Duration::from_millis(u64::from(k) * 20);
        b.insert(
            AudioPacket {
                seq: k as u16,
                timestamp: k * 960,
                payload: if k == 2 { vec![] } else { vec![0, k as u8] },
            },
            now,
        );
        b.pull(&mut block, now + Duration::from_millis(5));
    }
    let s = b.stats();
    assert_eq!(s.decode_errors, 1, "{s:?}");
    assert_eq!(s.concealed, 960);
}

#[test]
fn arrival_jitter_measures_the_spread_of_delays() {
    let mut j = ArrivalJitter::new();
    let t0 = Instant::now();
    for k in 0..100u64 {
        let extra = if k % 2 == 0 { 0 } else { 10 };
        j.arrived(k * 960, t0 + Duration::from_millis(k * 20 + extra));
    }
    let target = j.target().as_secs_f64() * 1000.0;
    assert!((9.5..=10.5).contains(&target), "{target}");
    // Calm again: after the window, the target falls back.
    for k in 100..250u64 {
        j.arrived(k * 960, t0 + Duration::from_millis(k * 20));
    }
    assert_eq!(j.target(), Duration::from_millis(1));
}
