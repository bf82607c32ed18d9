use super::*;

const FRAME: Duration = Duration::from_millis(33);
/// 33 ms at 90 kHz, so the test's clock and the timestamps agree exactly.
const TS_STEP: u32 = 2970;

/// The packets of frame `n` (`per_frame` of them), from sequence number `first_seq`.
fn frame(n: u32, first_seq: u16, per_frame: u16) -> Vec<VideoPacket> {
    (0..per_frame)
        .map(|i| VideoPacket {
            seq: first_seq.wrapping_add(i),
            timestamp: n.wrapping_mul(TS_STEP),
            marker: i + 1 == per_frame,
            starts_frame: i == 0,
            payload: Bytes::from(vec![0u8; 1000]),
        })
        .collect()
}

fn drain(b: &mut JitterBuffer, now: Instant) -> Vec<u16> {
    std::iter::from_fn(|| b.pop(now)).map(|p| p.seq).collect()
}

#[test]
fn on_a_clean_link_a_frame_goes_on_as_soon_as_it_is_complete() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    let mut seq = 0u16;
    for n in 0..300u32 {
        let at = t + FRAME * n;
        let packets = frame(n, seq, 3);
        seq = seq.wrapping_add(3);
        let (last, rest) = packets.split_last().unwrap();
        for p in rest {
            b.push(at, p.clone());
        }
        assert!(drain(&mut b, at).is_empty(), "frame {n} is not complete");
        b.push(at, last.clone());
        // Until the estimator has seen a few frames, it allows a little jitter.
        let out = if n < 30 {
            let due = at + b.target();
            drain(&mut b, due)
        } else {
            drain(&mut b, at)
        };
        assert_eq!(out.len(), 3, "frame {n} goes on at once");
    }
    assert!(b.target() < Duration::from_millis(2), "{:?}", b.target());
    assert!(
        b.stats().waited < Duration::from_millis(100),
        "{:?}",
        b.stats()
    );
    assert!(b.take_nacks(t + FRAME * 300).is_empty());
}

#[test]
fn packets_come_out_in_order_across_the_sequence_wrap() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    let mut packets = frame(0, 65534, 4);
    packets.swap(1, 2);
    for p in packets {
        b.push(t, p);
    }
    assert_eq!(drain(&mut b, t), vec![65534, 65535, 0, 1]);
}

#[test]
fn holes_that_reordering_fills_are_learnt_and_not_nacked() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    let ms = Duration::from_millis;
    b.set_rtt(ms(40));
    // Packet 1 comes 5 ms after packet 2: the first time, the hole is asked for at once.
    b.push(t, frame(0, 0, 1).remove(0));
    b.push(t + ms(10), frame(2, 2, 1).remove(0));
    assert_eq!(b.take_nacks(t + ms(10)), vec![1]);
    b.push(t + ms(15), frame(1, 1, 1).remove(0));
    assert_eq!(drain(&mut b, t + ms(80)), vec![0, 1, 2]);
    assert_eq!(b.stats().recovered_packets, 0, "that was reordering");
    // Now a hole waits that long before its NACK.
    b.push(t + ms(100), frame(4, 4, 1).remove(0));
    assert!(b.take_nacks(t + ms(100)).is_empty());
    b.push(t + ms(103), frame(3, 3, 1).remove(0));
    assert!(b.take_nacks(t + ms(110)).is_empty(), "filled in time");
    // A real loss is still asked for, after the wait.
    b.push(t + ms(200), frame(6, 6, 1).remove(0));
    assert!(b.take_nacks(t + ms(200)).is_empty());
    assert_eq!(b.take_nacks(t + ms(207)), vec![5]);
}

#[test]
fn a_packet_that_comes_right_after_its_nack_was_only_late() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    let ms = Duration::from_millis;
    b.set_rtt(ms(60));
    // Reordering by 15 ms is learnt: holes then wait 16 ms before their NACK.
    b.push(t, frame(0, 0, 1).remove(0));
    b.push(t + ms(10), frame(2, 2, 1).remove(0));
    assert_eq!(b.take_nacks(t + ms(10)), vec![1]);
    b.push(t + ms(25), frame(1, 1, 1).remove(0));
    b.push(t + ms(100), frame(4, 4, 1).remove(0));
    assert!(b.take_nacks(t + ms(100)).is_empty());
    assert_eq!(b.take_nacks(t + ms(117)), vec![3]);
    // 35 ms after the hole showed (more than half the round trip) but 18 ms after the NACK:
    // no retransmission can come that quick.
    b.push(t + ms(135), frame(3, 3, 1).remove(0));
    drain(&mut b, t + ms(300));
    assert_eq!(
        b.stats().recovered_packets,
        0,
        "not a recovery (which would add a round trip to the target)"
    );
}

#[test]
fn a_lost_packet_is_nacked_at_once_and_waited_for() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    b.set_rtt(Duration::from_millis(20));
    for p in frame(0, 100, 2) {
        b.push(t, p);
    }
    assert_eq!(drain(&mut b, t), vec![100, 101]);
    // Frame 1: its second packet is lost; frame 2 comes whole.
    let at = t + FRAME;
    let f1 = frame(1, 102, 2);
    b.push(at, f1[0].clone());
    for p in frame(2, 104, 2) {
        b.push(at + FRAME, p);
    }
    assert_eq!(b.take_nacks(at + FRAME), vec![103], "asked for at once");
    assert_eq!(b.stats().nacked_packets, 1);
    assert!(
        drain(&mut b, at + FRAME).is_empty(),
        "frame 2 waits behind the hole"
    );
    // Asked again after a round trip and a half.
    let again = at + FRAME + Duration::from_millis(41);
    assert!(b.next_deadline().is_some_and(|d| d <= again));
    assert_eq!(b.take_nacks(again), vec![103]);
    // The retransmission comes: both frames go on, in order.
    b.push(again, f1[1].clone());
    assert_eq!(drain(&mut b, again), vec![102, 103, 104, 105]);
    let stats = b.stats();
    assert_eq!((stats.nacked_packets, stats.recovered_packets), (1, 1));
    assert_eq!(
        b.target(),
        Duration::ZERO,
        "one recovery (perhaps a reordered packet) does not hold every frame a round trip"
    );
    // Two more frames completed by retransmissions: now frames wait a round trip for them.
    let mut at = again;
    for n in [3u32, 5] {
        at += FRAME;
        let f = frame(n, 100 + 2 * n as u16, 2);
        b.push(at, f[0].clone());
        for p in frame(n + 1, 102 + 2 * n as u16, 2) {
            b.push(at + FRAME, p);
        }
        assert_eq!(b.take_nacks(at + FRAME), vec![101 + 2 * n as u16]);
        at += FRAME + Duration::from_millis(25);
        b.push(at, f[1].clone());
        assert_eq!(drain(&mut b, at + Duration::from_secs(1)).len(), 4);
    }
    assert_eq!(b.stats().recovered_packets, 3);
    assert!(
        b.target() >= Duration::from_millis(20),
        "recoveries keep a round trip in the target: {:?}",
        b.target()
    );
}

#[test]
fn a_packet_that_never_comes_is_given_up_and_the_gap_goes_on() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    b.set_rtt(Duration::from_millis(10));
    for p in frame(0, 0, 1) {
        b.push(t, p);
    }
    drain(&mut b, t);
    // Frame 1 (seq 1) is lost entirely; frame 2 (seq 2) comes.
    for p in frame(2, 2, 1) {
        b.push(t + FRAME * 2, p);
    }
    let seen = t + FRAME * 2;
    assert!(drain(&mut b, seen).is_empty());
    assert_eq!(b.take_nacks(seen), vec![1]);
    // Given up once the fifth NACK's answer is overdue: four NACK intervals (1.5 round trips
    // and 10 ms each) and a round trip and 20 ms.
    let give_up = seen + Duration::from_millis(4 * 25 + 30);
    let mut now = seen;
    while let Some(due) = b.next_deadline().filter(|&d| d < give_up) {
        now = due.max(now);
        b.take_nacks(now);
        assert!(
            drain(&mut b, now).is_empty(),
            "still waiting at {:?}",
            now - seen
        );
        if due <= now && b.next_deadline() == Some(due) {
            break;
        }
    }
    assert_eq!(b.next_deadline(), Some(give_up));
    assert_eq!(
        drain(&mut b, give_up),
        vec![2],
        "the gap goes on to the assembler"
    );
    assert_eq!(b.stats().lost_packets, 1);
    // The lost packet, late: dropped.
    b.push(give_up, frame(1, 1, 1).remove(0));
    assert!(drain(&mut b, give_up).is_empty());
    assert_eq!(b.stats().late_packets, 1);
}

#[test]
fn nacks_stop_after_five() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    b.set_rtt(Duration::from_millis(200));
    b.push(t, frame(0, 0, 1).remove(0));
    b.push(t, frame(2, 2, 1).remove(0));
    let mut sent = b.take_nacks(t).len();
    for ms in (0..2000).step_by(10) {
        sent += b.take_nacks(t + Duration::from_millis(ms)).len();
    }
    assert_eq!(sent, 5);
}

#[test]
fn late_frames_set_the_target_and_early_ones_wait_for_their_moment() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    let mut seed = 3u64;
    let mut waited_any = false;
    for n in 0..400u32 {
        // Each frame 0 to 60 ms late, at random.
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let late = Duration::from_millis((seed >> 33) % 61);
        let at = t + FRAME * n + late;
        for p in frame(n, (n * 2) as u16, 2) {
            b.push(at, p);
        }
        let now_out = drain(&mut b, at);
        if now_out.is_empty() {
            waited_any = true;
            let due = b.next_deadline().expect("a moment");
            assert!(
                due > at && due <= at + Duration::from_millis(60),
                "{:?}",
                due - at
            );
            assert_eq!(drain(&mut b, due).len(), 2);
        }
    }
    assert!(waited_any, "early frames wait");
    let target = b.target();
    // The 95th percentile (about 57 ms), less the 30 ms a frame may be shown late.
    assert!(
        (Duration::from_millis(20)..Duration::from_millis(30)).contains(&target),
        "{target:?}"
    );
}

#[test]
fn a_fixed_target_holds_every_frame_that_long() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Fixed(Duration::from_millis(50)));
    for n in 0..10u32 {
        let at = t + FRAME * n;
        for p in frame(n, n as u16, 1) {
            b.push(at, p);
        }
        if n == 0 {
            assert_eq!(
                drain(&mut b, at).len(),
                1,
                "the first frame sets the timeline"
            );
            continue;
        }
        assert!(drain(&mut b, at).is_empty());
        assert_eq!(b.next_deadline(), Some(at + Duration::from_millis(50)));
        assert_eq!(drain(&mut b, at + Duration::from_millis(50)).len(), 1);
    }
}

#[test]
fn a_new_stream_after_a_jump_starts_afresh() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    for n in 0..3u32 {
        for p in frame(n, n as u16, 1) {
            b.push(t + FRAME * n, p);
        }
        drain(&mut b, t + FRAME * n);
    }
    for p in frame(3, 40_000, 1) {
        b.push(t + FRAME * 3, p);
    }
    assert_eq!(drain(&mut b, t + FRAME * 3), vec![40_000]);
    assert!(b.take_nacks(t + FRAME * 3).is_empty(), "no NACK storm");
}

#[test]
fn an_outage_is_not_nacked_but_given_up_at_once() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    for p in frame(0, 0, 1) {
        b.push(t, p);
    }
    drain(&mut b, t);
    // Three seconds of video lost (90 frames, one packet each): the next one goes on at once.
    let back = t + FRAME * 91;
    for p in frame(91, 91, 1) {
        b.push(back, p);
    }
    assert!(
        b.take_nacks(back).is_empty(),
        "no NACK storm after an outage"
    );
    assert_eq!(drain(&mut b, back), vec![91]);
    assert_eq!(b.stats().lost_packets, 90);
}

#[test]
fn before_rtcp_measures_the_round_trip_a_quick_answer_is_a_recovery() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    let ms = Duration::from_millis;
    // No RTT yet (the guess is 100 ms): the answer 25 ms after the NACK is a retransmission,
    // not reordering, so the next hole is still asked for at once.
    b.push(t, frame(0, 0, 1).remove(0));
    b.push(t + ms(10), frame(2, 2, 1).remove(0));
    assert_eq!(b.take_nacks(t + ms(10)), vec![1]);
    b.push(t + ms(35), frame(1, 1, 1).remove(0));
    assert_eq!(drain(&mut b, t + ms(200)), vec![0, 1, 2]);
    assert_eq!(b.stats().recovered_packets, 1);
    b.push(t + ms(300), frame(4, 4, 1).remove(0));
    assert_eq!(
        b.take_nacks(t + ms(300)),
        vec![3],
        "no reordering wait was learnt"
    );
    // And the round trip it showed, not the guess, sizes the retransmit allowance.
    assert!(b.target() <= ms(36), "{:?}", b.target());
}

#[test]
fn at_the_start_a_missing_packet_is_waited_for_one_answer_only() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    // No round trip measured yet (the 100 ms guess). Frame 0 loses its second packet, which
    // was sent before the path was up and never comes; frame 1 is whole.
    let f0 = frame(0, 10, 2);
    b.push(t, f0[0].clone());
    for p in frame(1, 12, 2) {
        b.push(t + FRAME, p);
    }
    assert_eq!(b.take_nacks(t + FRAME), vec![11]);
    assert!(drain(&mut b, t + FRAME + Duration::from_millis(100)).is_empty());
    // One answer's time after the hole showed (a round trip and 20 ms), not five NACKs'
    // (620 ms).
    let out = drain(&mut b, t + FRAME + Duration::from_millis(121));
    assert!(out.contains(&12) && out.contains(&13), "{out:?}");
    // Later holes get every try again.
    assert!(b.give_up_after() > Duration::from_millis(500));
}

#[test]
fn a_first_keyframe_whose_last_packet_came_first_is_still_the_first_picture() {
    // On a reordering path the keyframe's last packet (10..=15, marker on 15) came first,
    // then padding of the same frame, then the rest: the frame goes out whole once its first
    // packets came, none dropped as late.
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    let key = frame(0, 10, 6);
    b.push(t, key[5].clone());
    assert!(
        drain(&mut b, t).is_empty(),
        "half a keyframe does not go out"
    );
    let ms = Duration::from_millis;
    for (i, p) in [2, 0, 1, 4, 3].into_iter().enumerate() {
        let at = t + ms(2 + i as u64);
        b.push(at, key[p].clone());
    }
    let out = drain(&mut b, t + ms(7));
    assert_eq!(out, (10..=15).collect::<Vec<u16>>(), "at once, in order");
    assert_eq!(b.stats().late_packets, 0);
    assert_eq!(b.stats().frames, 1);
    // Once something went out, an older packet is late as before.
    b.push(t + ms(8), key[0].clone());
    assert_eq!(b.stats().late_packets, 1);
}

#[test]
fn a_stream_that_begins_mid_frame_waits_briefly_for_the_frame_s_start() {
    let t = Instant::now();
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    let key = frame(0, 10, 4);
    // Its first two packets never come.
    b.push(t, key[2].clone());
    b.push(t, key[3].clone());
    assert!(drain(&mut b, t).is_empty());
    let due = b.next_deadline().expect("a deadline");
    assert_eq!(due, t + start::START_WAIT);
    assert_eq!(drain(&mut b, due), vec![12, 13], "then it goes on as it is");
    // A stream whose first packet begins a frame waits for nothing.
    let mut b = JitterBuffer::new(JitterTarget::Adaptive);
    for p in frame(0, 10, 4) {
        b.push(t, p);
    }
    assert_eq!(drain(&mut b, t), vec![10, 11, 12, 13]);
}
