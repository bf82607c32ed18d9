//! The adaptive video jitter buffer: RTP packets in, in arrival order; out, in sequence order,
//! a frame at a time as soon as it is complete and its moment has come.
//!
//! A frame's moment is when it would have arrived on a link without jitter (its timestamp on
//! the fastest frames' timeline) plus a target delay. The target is the jitter the
//! [`estimator`] measures (near zero on a clean link), plus, while retransmissions are
//! recovering losses, a round trip for them. A missing packet is asked for at once (the caller
//! sends the NACK [`JitterBuffer::take_nacks`] hands out), up to four more a round trip and a
//! half apart, and given up once the last one's answer is overdue: the packets around the hole then go on, and the frame assembler sees the
//! gap (and asks for a keyframe). Plain code fed with the time, unit-tested without a network.

pub mod estimator;
mod release;
mod start;
mod timeline;

use bytes::Bytes;
use estimator::LatenessEstimator;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use timeline::Timeline;

/// The video RTP clock.
const CLOCK_HZ: f64 = 90_000.0;
/// A jump in sequence numbers this large is a new stream, not a loss.
const RESET_JUMP: i64 = 3000;
/// At most this many packets wait; past it the oldest go on whatever is missing.
const MAX_HELD: usize = 4000;
/// A hole of more packets than this, or spanning more than [`MAX_NACK_SPAN`] of video, is an
/// outage: given up at once, not NACKed.
const MAX_NACK_HOLE: i64 = 300;
const MAX_NACK_SPAN: Duration = Duration::from_millis(500);
/// NACKs per missing packet. Where each try crosses a 5% loss path twice (NACK there,
/// packet back), one in five fails: with three tries, one packet of a call's ~60 losses was
/// given up every other call, and each give-up cost a keyframe and a freeze of 0.3-0.9 s.
/// Waiting two more tries costs the frames behind that hole ~100 ms, once in many calls.
const MAX_NACKS: u32 = 5;
/// A frame due this soon goes now (the timers' granularity).
const SLACK: Duration = Duration::from_millis(1);
/// A packet that comes this long after a later one is reordering, not loss, at most.
const MAX_REORDER_WAIT: Duration = Duration::from_millis(40);
/// How long the wait learnt from reordering is kept after the last reordered packet.
const REORDER_MEMORY: Duration = Duration::from_secs(3);
/// A frame this much ahead of the timeline means the timestamps jumped.
const DISCONTINUITY: Duration = Duration::from_millis(500);
/// How late a frame may be shown rather than every frame held back for it: a picture a few
/// tens of ms late is barely seen, a buffer that long is felt in every exchange. (libwebrtc
/// takes the same 30 ms off its jitter estimate; with the full 95th percentile, the 30±10 ms
/// path buffered 2-3x Chromium's delay.)
const TOLERATED_LATENESS: Duration = Duration::from_millis(30);
/// How long after a give-up the sender's keyframe (and the frames behind it) may come.
const KEYFRAME_ANSWER: Duration = Duration::from_millis(400);
/// Until an RTT is measured, a hole filled sooner than this after its NACK was reordering
/// (on the 30±10 ms path they filled 0-24 ms after; retransmissions on a 20 ms path took 25+).
const UNMEASURED_REORDER: Duration = Duration::from_millis(20);
/// Frames that retransmissions must have completed, within [`RECOVERY_MEMORY`], before frames
/// wait a round trip for them (libwebrtc's NACK limit is also 3): on a jittery path one packet
/// reordered past its NACK, in the first second, passed for a recovery and held every frame up
/// to 134 ms for 5 s, a third of the call's mean buffer.
const RECOVERIES_TO_WAIT: usize = 3;
const RECOVERY_MEMORY: Duration = Duration::from_secs(10);
/// Until an RTT is measured.
const DEFAULT_RTT: Duration = Duration::from_millis(100);

/// How long a frame waits after its moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JitterTarget {
    /// From the measured jitter (and retransmissions while they recover losses).
    #[default]
    Adaptive,
    /// Always this long (`--jitter-ms`).
    Fixed(Duration),
}

/// One RTP packet of the video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoPacket {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp (90 kHz).
    pub timestamp: u32,
    /// The last packet of a frame.
    pub marker: bool,
    /// Its payload begins a frame (or a partition of one), as the codec's packetization says:
    /// where the stream's first frame is known to begin.
    pub starts_frame: bool,
    /// The payload.
    pub payload: Bytes,
}

#[derive(Debug)]
struct Held {
    packet: VideoPacket,
    arrival: Instant,
    /// It came as the answer to a NACK.
    retransmitted: bool,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    first_seen: Instant,
    next_nack: Instant,
    nacks: u32,
    /// When it was first NACKed.
    nacked_at: Option<Instant>,
}

impl Missing {
    /// A packet just found missing, to be asked for at `first_nack`.
    fn new(now: Instant, first_nack: Instant) -> Self {
        Self {
            first_seen: now,
            next_nack: first_nack,
            nacks: 0,
            nacked_at: None,
        }
    }
}

/// What a frame's release cost, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BufferStats {
    /// Frames released.
    pub frames: u64,
    /// Time they waited, from their last packet's arrival to their release.
    pub waited: Duration,
    /// Packets asked for again (NACKed at least once).
    pub nacked_packets: u64,
    /// Of those, the ones that came.
    pub recovered_packets: u64,
    /// Packets given up on.
    pub lost_packets: u64,
    /// Packets that came after their place had gone on (late or duplicate).
    pub late_packets: u64,
}

/// The buffer; see the module docs.
#[derive(Debug)]
pub struct JitterBuffer {
    target: JitterTarget,
    held: BTreeMap<i64, Held>,
    missing: BTreeMap<i64, Missing>,
    /// The next sequence number to hand on.
    next: Option<i64>,
    /// The highest sequence number seen, and its timestamp.
    highest: Option<i64>,
    highest_ts: Option<i64>,
    last_seq: Option<i64>,
    last_ts: Option<i64>,
    anchor: Option<Timeline>,
    estimator: LatenessEstimator,
    rtt: Duration,
    /// An RTT came from RTCP (until then `rtt` is a guess, too coarse to tell a retransmission
    /// from a late original).
    rtt_measured: bool,
    /// How long a hole is given to be reordering before it is NACKed (0 until packets were
    /// seen to come out of order).
    reorder_wait: Duration,
    /// When a packet last came out of order.
    last_reorder: Option<Instant>,
    /// How long a first NACK took to be answered, recently at most; decays.
    answer_delay: Duration,
    /// When a hole was last given up on (the keyframe that follows is the sender's answer to
    /// it, late by its size: not path jitter).
    gave_up_at: Option<Instant>,
    /// How much of a round trip frames wait for retransmissions: 1 after a recovery, fading
    /// without. (A share, not a duration: the round trip it multiplies is the latest one, not
    /// the guess in force at a recovery before any was measured.)
    retransmit_share: f64,
    /// When frames were last completed by a retransmission, and their timestamps (one entry a
    /// frame), within [`RECOVERY_MEMORY`].
    recoveries: VecDeque<(Instant, u32)>,
    /// How long video is held back for audio to catch up (lip sync).
    sync_hold: Duration,
    out: VecDeque<VideoPacket>,
    /// Something went out: the stream's start is settled (see `start`).
    handed_on: bool,
    nacks: Vec<u16>,
    stats: BufferStats,
}

/// Unwraps a 16- or 32-bit counter against the last unwrapped value.
fn unwrap(last: Option<i64>, value: i64, modulus: i64) -> i64 {
    let Some(last) = last else {
        return value;
    };
    let base = last - last.rem_euclid(modulus);
    [base - modulus, base, base + modulus]
        .into_iter()
        .map(|b| b + value)
        .min_by_key(|v| (v - last).abs())
        .unwrap_or(value)
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(target: JitterTarget) -> Self {
        Self {
            target,
            held: BTreeMap::new(),
            missing: BTreeMap::new(),
            next: None,
            highest: None,
            highest_ts: None,
            last_seq: None,
            last_ts: None,
            anchor: None,
            estimator: LatenessEstimator::default(),
            rtt: DEFAULT_RTT,
            rtt_measured: false,
            reorder_wait: Duration::ZERO,
            last_reorder: None,
            answer_delay: Duration::ZERO,
            gave_up_at: None,
            retransmit_share: 0.0,
            recoveries: VecDeque::new(),
            sync_hold: Duration::ZERO,
            out: VecDeque::new(),
            handed_on: false,
            nacks: Vec::new(),
            stats: BufferStats::default(),
        }
    }

    /// The round trip to the sender, as last measured.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt.clamp(Duration::from_millis(1), Duration::from_secs(1));
        self.rtt_measured = true;
    }

    /// Holds video back this much beyond what jitter needs, for lip sync.
    pub fn set_sync_hold(&mut self, hold: Duration) {
        self.sync_hold = hold;
    }

    /// What the buffer did so far.
    pub fn stats(&self) -> BufferStats {
        self.stats
    }

    /// The delay frames wait after their moment now, ms.
    pub fn target(&self) -> Duration {
        let own = match self.target {
            JitterTarget::Fixed(d) => d,
            JitterTarget::Adaptive => {
                Duration::from_secs_f64(self.estimator.jitter_ms() / 1000.0)
                    .saturating_sub(TOLERATED_LATENESS)
                    + (self.rtt + Duration::from_millis(10)).mul_f64(self.retransmit_share)
            }
        };
        own + self.sync_hold
    }

    /// How long a missing packet may be waited for: until the last NACK's answer is overdue.
    /// (Given up before it, as when this was two round trips, a packet whose first two
    /// retransmissions were lost cost a keyframe, and a keyframe costs far more delay than
    /// waiting: a freeze, a burst, and frames late behind it.)
    ///
    /// Before the first frame is out, one answer is waited for, not five: packets sent before
    /// the path was up (or the receiver could decrypt them) never come, and waiting 620 ms for
    /// one held the first picture and every frame behind it (a 210 ms mean wait in the first
    /// second on the 30±10 ms path); a first picture that cannot be decoded costs a keyframe
    /// request instead, about a round trip.
    fn give_up_after(&self) -> Duration {
        let answer = (self.rtt + Duration::from_millis(20)).max(self.answer_delay.mul_f64(1.25));
        let tries = if self.stats.frames == 0 { 1 } else { MAX_NACKS };
        self.reorder_wait
            + (self.nack_again_after() * (tries - 1) + answer)
                .clamp(Duration::from_millis(60), Duration::from_millis(600))
    }

    /// A retransmission completed (part of) the frame with this timestamp.
    fn note_recovery(&mut self, now: Instant, ts: u32) {
        while self
            .recoveries
            .front()
            .is_some_and(|&(t, _)| now.saturating_duration_since(t) > RECOVERY_MEMORY)
        {
            self.recoveries.pop_front();
        }
        if self.recoveries.back().is_none_or(|&(_, last)| last != ts) {
            self.recoveries.push_back((now, ts));
        }
        if self.target == JitterTarget::Adaptive && self.recoveries.len() >= RECOVERIES_TO_WAIT {
            self.retransmit_share = 1.0;
        }
    }

    fn nack_again_after(&self) -> Duration {
        self.rtt + self.rtt / 2 + Duration::from_millis(10)
    }

    fn reset(&mut self, seq: i64) {
        self.held.clear();
        self.missing.clear();
        self.next = Some(seq);
        self.highest = None;
        self.last_ts = None;
        self.anchor = None;
    }

    /// A packet arrived at `now`.
    pub fn push(&mut self, now: Instant, packet: VideoPacket) {
        let seq = unwrap(self.last_seq, i64::from(packet.seq), 1 << 16);
        self.last_seq = Some(seq);
        let mut next = *self.next.get_or_insert(seq);
        if self.starts_earlier(now, seq, next) {
            next = seq;
        }
        if (seq - next).abs() > RESET_JUMP
            && self.highest.is_some_and(|h| (seq - h).abs() > RESET_JUMP)
        {
            self.reset(seq);
        } else if seq < next || self.held.contains_key(&seq) {
            self.stats.late_packets += 1;
            return;
        }
        let mut retransmitted = false;
        if let Some(m) = self.missing.remove(&seq) {
            let after = now.saturating_duration_since(m.first_seen);
            // Without RTX a retransmission looks like the original: one that comes sooner
            // after the NACK than half a round trip is the original, late. (Counted from the
            // hole, a packet reordered by more than half a round trip passed for a
            // retransmission, and its round trip of allowance doubled the buffer on a
            // jittery path.)
            let reordered = match m.nacked_at {
                // Given up as part of an outage: late, and nothing to learn.
                None if m.nacks > 0 => None,
                None => Some(true),
                // Before a round trip is measured the 100 ms guess cannot tell (at 20 ms it
                // took every retransmission for reordering): only a very quick answer is.
                Some(at) if !self.rtt_measured => {
                    Some(now.saturating_duration_since(at) < UNMEASURED_REORDER)
                }
                Some(at) => Some(now.saturating_duration_since(at) < self.rtt / 2),
            };
            if reordered == Some(true) {
                self.last_reorder = Some(now);
                tracing::trace!(
                    seq,
                    after_ms = after.as_millis() as u64,
                    "video packet reordered"
                );
                // It was only out of order: give such holes that long before asking.
                self.reorder_wait = (self.reorder_wait.mul_f64(0.99))
                    .max(after + Duration::from_millis(1))
                    .min(MAX_REORDER_WAIT);
            } else if m.nacked_at.is_some() {
                self.stats.recovered_packets += 1;
                // Until RTCP measures the round trip, a first NACK's answer bounds it (the
                // 100 ms guess made the retransmit allowance 110 ms for the first second).
                if let (false, 1, Some(at)) = (self.rtt_measured, m.nacks, m.nacked_at) {
                    let answered = now.saturating_duration_since(at);
                    self.rtt = self.rtt.min(answered.max(Duration::from_millis(1)));
                }
                tracing::trace!(
                    seq,
                    after_ms = after.as_millis() as u64,
                    nacks = m.nacks,
                    "video packet recovered"
                );
                retransmitted = true;
                // Retransmissions can take longer than a round trip (they queue at the
                // sender's pacer behind fresh video): wait as long as they have been taking.
                if let (1, Some(at)) = (m.nacks, m.nacked_at) {
                    let answered = now.saturating_duration_since(at);
                    self.answer_delay = self.answer_delay.mul_f64(0.95).max(answered);
                }
                // Retransmissions saved frames: keep time for the next ones.
                self.note_recovery(now, packet.timestamp);
            }
        }
        let ts = i64::from(packet.timestamp);
        if let Some(highest) = self.highest
            && seq > highest + 1
        {
            // An outage, not a loss: what was missed is too old to be worth resending (and
            // resending it would queue it before fresh video at the sender); the assembler
            // asks for a keyframe instead.
            let span = self.highest_ts.map_or(0, |t| {
                (ts - t)
                    .rem_euclid(1 << 32)
                    .min((t - ts).rem_euclid(1 << 32))
            });
            let outage = seq - highest - 1 > MAX_NACK_HOLE
                || span as f64 / CLOCK_HZ > MAX_NACK_SPAN.as_secs_f64();
            // A hole: ask for what is missing at once (or once reordering would have filled
            // it, where packets come out of order).
            let first_nack = now + self.reorder_wait;
            let give_up_now = now.checked_sub(self.give_up_after()).unwrap_or(now);
            for lost in (highest + 1)..seq {
                let entry = if outage {
                    Missing {
                        first_seen: give_up_now,
                        next_nack: now,
                        nacks: MAX_NACKS,
                        nacked_at: None,
                    }
                } else {
                    Missing::new(now, first_nack)
                };
                self.missing.insert(lost, entry);
            }
        }
        if self.highest.is_none_or(|h| seq > h) {
            self.highest_ts = Some(ts);
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        self.held.insert(
            seq,
            Held {
                packet,
                arrival: now,
                retransmitted,
            },
        );
    }

    /// Sequence numbers to NACK now (each at most once per call).
    pub fn take_nacks(&mut self, now: Instant) -> Vec<u16> {
        let again = self.nack_again_after();
        for (&seq, m) in self.missing.iter_mut() {
            if m.nacks < MAX_NACKS && now >= m.next_nack {
                if m.nacks == 0 {
                    self.stats.nacked_packets += 1;
                    m.nacked_at = Some(now);
                }
                m.nacks += 1;
                m.next_nack = now + again;
                self.nacks.push(seq as u16);
            }
        }
        std::mem::take(&mut self.nacks)
    }

    /// The next packet to hand on at `now`, in sequence order.
    pub fn pop(&mut self, now: Instant) -> Option<VideoPacket> {
        while self.out.is_empty() && self.release(now) {}
        self.out.pop_front()
    }

    /// When something is due: a frame's moment, a NACK again, giving up on a hole.
    pub fn next_deadline(&self) -> Option<Instant> {
        let nack = self
            .missing
            .values()
            .filter(|m| m.nacks < MAX_NACKS)
            .map(|m| m.next_nack)
            .min();
        let head = self.head_deadline();
        [nack, head].into_iter().flatten().min()
    }

    fn head_deadline(&self) -> Option<Instant> {
        let next = self.next?;
        match self.frame_at(next) {
            Some(Frame::Complete { release_at, .. }) => Some(release_at),
            // A hole is given up on only once a later packet showed it (a packet merely not
            // here yet is waited for).
            Some(Frame::Hole { seq }) => self
                .missing
                .get(&seq)
                .map(|m| m.first_seen + self.give_up_after()),
            None => None,
        }
    }

    /// The frame starting at `seq`: complete (with its end and moment) or held up by a hole.
    fn frame_at(&self, seq: i64) -> Option<Frame> {
        let frame = self.frame_span(seq)?;
        Some(self.unproven_start_waits(frame, seq))
    }

    /// The packets from `seq` to its frame's end, or the first hole among them.
    fn frame_span(&self, seq: i64) -> Option<Frame> {
        let first = match self.held.get(&seq) {
            Some(h) => h,
            None => {
                return self.held.range(seq..).next().map(|_| Frame::Hole { seq });
            }
        };
        let ts = self.unwrapped_ts(first.packet.timestamp);
        let mut completed = first.arrival;
        let mut retransmitted = false;
        let mut s = seq;
        loop {
            let Some(h) = self.held.get(&s) else {
                return Some(Frame::Hole { seq: s });
            };
            if h.packet.timestamp != first.packet.timestamp {
                // The next frame began with nothing missing: this one had no marker.
                return Some(self.complete(seq, s - 1, ts, completed, retransmitted));
            }
            completed = completed.max(h.arrival);
            retransmitted |= h.retransmitted;
            if h.packet.marker {
                return Some(self.complete(seq, s, ts, completed, retransmitted));
            }
            s += 1;
        }
    }

    fn complete(
        &self,
        first: i64,
        last: i64,
        ts: i64,
        completed: Instant,
        retransmitted: bool,
    ) -> Frame {
        let target = self.target();
        let moment = self
            .anchor
            .and_then(|a| a.expected(ts))
            .map_or(completed, |m| m + target);
        // Far ahead of the timeline: the sender's clock jumped; this frame starts a new one.
        let release_at = if moment > completed + target + DISCONTINUITY {
            completed
        } else {
            moment.max(completed)
        };
        Frame::Complete {
            first,
            last,
            ts,
            completed,
            release_at,
            retransmitted,
        }
    }

    fn unwrapped_ts(&self, ts: u32) -> i64 {
        unwrap(self.last_ts, i64::from(ts), 1 << 32)
    }
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    Complete {
        first: i64,
        last: i64,
        ts: i64,
        completed: Instant,
        release_at: Instant,
        /// A packet of it came as the answer to a NACK.
        retransmitted: bool,
    },
    Hole {
        seq: i64,
    },
}

#[cfg(test)]
mod tests;
