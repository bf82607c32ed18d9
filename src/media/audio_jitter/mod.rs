//! The adaptive audio jitter buffer, NetEQ-like in spirit: RTP packets go in as they arrive,
//! 48 kHz audio comes out at the sound card's pace. Sans-I/O: fed packets and `now`, it never
//! reads a clock or a socket, so it is tested with made-up arrivals.
//!
//! - Its target delay is what the arrival jitter of the packets needs, measured over the last
//!   seconds ([`ArrivalJitter`]): near zero on a clean link.
//! - A packet missing at its moment is concealed: with Opus's in-band FEC when the next packet
//!   carries it, else with the decoder's loss concealment.
//! - When nothing at all is there (the network stalled), it stretches with concealment and
//!   waits: the delay grows rather than audio being skipped.
//! - When more waits than the target needs, it catches up a few milliseconds at a time by
//!   cutting short spans with a crossfade (quiet spans first), never with a click.

mod arrival;
#[cfg(test)]
mod tests;

pub use arrival::ArrivalJitter;

use crate::media::CodecError;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Samples a millisecond at 48 kHz, Opus's RTP clock.
pub const PER_MS: usize = 48;
/// A 20 ms packet, what browsers and roompeer send.
const DEFAULT_PACKET: usize = 20 * PER_MS;
/// How much concealment a stall gets before it fades to silence.
const MAX_EXPAND: usize = 100 * PER_MS;
/// A gap in timestamps longer than this is the sender pausing or restarting: jump over it.
const MAX_GAP: u64 = 200 * PER_MS as u64;
/// Length of the crossfade when cutting audio to catch up.
const FADE: usize = 5 * PER_MS / 2;
/// The most cut in one pull, and the most cut from a quiet span.
const CUT: usize = 5 * PER_MS;
const QUIET_CUT: usize = 10 * PER_MS;
/// Mean absolute amplitude under which a span counts as quiet.
const QUIET: f64 = 300.0;
/// A skipped packet that has not come this long after is counted lost (a reordered one
/// comes within the jitter).
const LOSS_AFTER: Duration = Duration::from_millis(200);
/// The most skipped sequence numbers followed at once (an outage skips many).
const MAX_TRACKED_GAP: u16 = 50;
/// How long a loss keeps the target a packet higher.
const LOSS_MEMORY: Duration = Duration::from_secs(10);
/// How far past the target a packet may play without counting as excess: the pull that
/// needs it comes up to a pull (10 ms) after its moment.
const PULL_SLACK: Duration = Duration::from_millis(12);
/// How long the playout delay is watched before it is brought to the target.
const LEVEL_WINDOW: Duration = Duration::from_millis(500);

/// Decodes one stream's packets; [`crate::media::opus_codec::OpusDecoder`] in a call.
pub trait AudioDecoder: Send {
    /// Decodes a packet, appending its samples.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError>;
    /// Rebuilds `samples` of the packet before `next` from the redundancy `next` carries;
    /// false when it carries none.
    fn decode_fec(&mut self, next: &[u8], samples: usize, out: &mut Vec<i16>) -> bool;
    /// Appends `samples` of concealment for audio that did not come.
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>);
}

/// An RTP packet of the stream.
#[derive(Debug, Clone)]
pub struct AudioPacket {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp (48 kHz).
    pub timestamp: u32,
    /// The codec's payload.
    pub payload: Vec<u8>,
}

/// What the buffer did so far, for the report and the window.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct AudioBufferStats {
    /// Samples played that came from packets (decoded or rebuilt from FEC).
    pub played: u64,
    /// Samples of concealment played (lost or late packets, stalls).
    pub concealed: u64,
    /// Of those, samples rebuilt from the next packet's in-band FEC.
    pub fec: u64,
    /// Samples cut to catch up.
    pub cut: u64,
    /// Samples added by stretching, to let the delay grow to the target.
    pub stretched: u64,
    /// Packets that came after their moment had passed, dropped.
    pub late_packets: u64,
    /// Packets that failed to decode.
    pub decode_errors: u64,
    /// Sum over played samples of the time each waited from its packet's arrival, in µs.
    pub wait_us_sum: u128,
    /// The target delay now, ms.
    pub target_ms: f64,
}

impl AudioBufferStats {
    /// Mean time a played sample waited in the buffer, ms; comparable with a browser's
    /// `jitterBufferDelay / jitterBufferEmittedCount` for audio.
    pub fn mean_wait_ms(&self) -> Option<f64> {
        (self.played > 0).then(|| self.wait_us_sum as f64 / self.played as f64 / 1000.0)
    }

    /// Concealment played, ms.
    pub fn concealed_ms(&self) -> f64 {
        self.concealed as f64 / PER_MS as f64
    }
}

/// Where a span of output audio came from.
#[derive(Debug, Clone, Copy)]
struct Span {
    len: usize,
    /// The packet's arrival, for decoded audio.
    arrived: Option<Instant>,
    /// RTP timestamp of the span's first sample, for decoded audio.
    timestamp: Option<u64>,
    concealed: bool,
}

/// What [`AudioJitterBuffer::pull`] handed out, besides the samples: the RTP timestamp of the
/// first sample that came from a packet, and how far into the pulled block it stood, so the
/// caller can line it up with video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pulled {
    /// `(offset in the block, RTP timestamp)` of decoded audio, if any was pulled.
    pub anchor: Option<(usize, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing played yet, or resynchronising: waiting for the first packet to have waited
    /// the target.
    Buffering,
    /// Playing from `next_ts`.
    Playing,
}

/// The buffer. See the module's documentation.
pub struct AudioJitterBuffer {
    decoder: Box<dyn AudioDecoder>,
    packets: BTreeMap<u64, (Vec<u8>, Instant)>,
    /// Decoded audio not yet pulled, and where each span of it came from.
    pcm: VecDeque<i16>,
    spans: VecDeque<Span>,
    state: State,
    /// Extended RTP timestamp of the next packet to decode.
    next_ts: u64,
    /// The last extended timestamp seen, for unwrapping.
    last_ts: Option<u64>,
    packet_samples: usize,
    /// Concealment played in a row (stall).
    expanded: usize,
    arrival: ArrivalJitter,
    /// The playout delay of the packets decoded in the current window (how long after its
    /// earliest possible arrival each was played), summed, and how many; when the window started.
    delay_sum: Duration,
    delay_count: u32,
    window_start: Option<Instant>,
    /// Samples still to cut to reach the target.
    excess: usize,
    /// Samples still to add to reach the target.
    deficit: usize,
    /// The highest sequence number seen, and the ones skipped that have not come yet (with
    /// when they were missed), for telling losses from reordering.
    highest_seq: Option<u16>,
    missing: Vec<(u16, Instant)>,
    /// The latest time passed in.
    now: Option<Instant>,
    /// How long audio is held back for video to catch up (lip sync).
    sync_hold: Duration,
    /// When audio was last lost: for a while after, the target holds one packet more, so the
    /// next packet (and the redundancy it may carry) is there when a loss must be concealed.
    lost_at: Option<Instant>,
    scratch: Vec<i16>,
    stats: AudioBufferStats,
}

impl AudioJitterBuffer {
    /// An empty buffer around `decoder`.
    pub fn new(decoder: Box<dyn AudioDecoder>) -> Self {
        Self {
            decoder,
            packets: BTreeMap::new(),
            pcm: VecDeque::new(),
            spans: VecDeque::new(),
            state: State::Buffering,
            next_ts: 0,
            last_ts: None,
            packet_samples: DEFAULT_PACKET,
            expanded: 0,
            arrival: ArrivalJitter::new(),
            delay_sum: Duration::ZERO,
            delay_count: 0,
            window_start: None,
            excess: 0,
            deficit: 0,
            highest_seq: None,
            missing: Vec::new(),
            now: None,
            sync_hold: Duration::ZERO,
            lost_at: None,
            scratch: Vec::new(),
            stats: AudioBufferStats::default(),
        }
    }

    /// A packet arrived at `now`.
    pub fn insert(&mut self, packet: AudioPacket, now: Instant) {
        self.now = Some(now);
        self.note_sequence(packet.seq, now);
        let ts = self.unwrap(packet.timestamp);
        self.arrival.arrived(ts, now);
        if self.state == State::Playing && ts < self.next_ts {
            // Its moment has passed: it was concealed already.
            self.stats.late_packets += 1;
            return;
        }
        self.packets.entry(ts).or_insert((packet.payload, now));
    }

    /// Tells losses from reordering: a skipped sequence number that has not come a while later
    /// was lost, and for a while the target holds a packet more.
    fn note_sequence(&mut self, seq: u16, now: Instant) {
        self.missing.retain(|&(s, _)| s != seq);
        match self.highest_seq {
            Some(h) if seq.wrapping_sub(h) as i16 > 0 => {
                let skipped = seq.wrapping_sub(h).wrapping_sub(1).min(MAX_TRACKED_GAP);
                for i in 1..=skipped {
                    self.missing.push((h.wrapping_add(i), now));
                }
                self.highest_seq = Some(seq);
            }
            Some(_) => {}
            None => self.highest_seq = Some(seq),
        }
        let before = self.missing.len();
        self.missing
            .retain(|&(_, seen)| now.saturating_duration_since(seen) < LOSS_AFTER);
        if self.missing.len() < before {
            self.lost_at = Some(now);
        }
        self.missing.truncate(usize::from(MAX_TRACKED_GAP));
    }

    fn unwrap(&mut self, ts: u32) -> u64 {
        let extended = match self.last_ts {
            None => u64::from(ts) + (1 << 32),
            Some(last) => {
                let delta = ts.wrapping_sub(last as u32) as i32;
                last.saturating_add_signed(i64::from(delta))
            }
        };
        if self.last_ts.is_none_or(|l| extended > l) {
            self.last_ts = Some(extended);
        }
        extended
    }

    /// The target delay now: what the measured arrival jitter needs, a packet and a half more
    /// for a while after a loss, and the lip-sync hold.
    pub fn target(&self) -> Duration {
        let recent_loss = match (self.lost_at, self.now) {
            (Some(lost), Some(now)) => now.saturating_duration_since(lost) < LOSS_MEMORY,
            _ => false,
        };
        let packet = Duration::from_micros((self.packet_samples * 1000 / PER_MS) as u64);
        // After a loss: the next packet, and a pull's time for it to be there when needed.
        let after_loss = if recent_loss {
            packet + packet / 2
        } else {
            Duration::ZERO
        };
        self.arrival.target() + after_loss + self.sync_hold
    }

    /// Holds audio back this much beyond what jitter needs, for lip sync.
    pub fn set_sync_hold(&mut self, hold: Duration) {
        self.sync_hold = hold;
    }

    /// What happened so far.
    pub fn stats(&self) -> AudioBufferStats {
        AudioBufferStats {
            target_ms: self.target().as_secs_f64() * 1000.0,
            ..self.stats
        }
    }

    /// Audio waiting, in samples: decoded, and in packets from the playout point on.
    #[cfg(test)]
    fn level(&self) -> usize {
        let queued = self
            .packets
            .range(self.next_ts..)
            .next_back()
            .map_or(0, |(&ts, _)| {
                (ts + self.packet_samples as u64).saturating_sub(self.next_ts) as usize
            });
        self.pcm.len() + queued
    }

    /// Fills `out` with the next 48 kHz samples at `now`.
    pub fn pull(&mut self, out: &mut [i16], now: Instant) -> Pulled {
        self.now = Some(now);
        if self.state == State::Buffering {
            self.try_start(now);
        }
        if self.state == State::Playing {
            self.adapt(now);
            while self.pcm.len() < out.len() {
                self.produce();
            }
        }
        let mut pulled = Pulled::default();
        let n = out.len().min(self.pcm.len());
        let mut at = 0;
        while at < n {
            let Some(span) = self.spans.front_mut() else {
                break;
            };
            let take = span.len.min(n - at);
            if let (Some(arrived), Some(ts)) = (span.arrived, span.timestamp) {
                if pulled.anchor.is_none() {
                    pulled.anchor = Some((at, ts as u32));
                }
                let waited = now.saturating_duration_since(arrived).as_micros();
                self.stats.wait_us_sum += waited * take as u128;
                self.stats.played += take as u64;
                span.timestamp = Some(ts + take as u64);
            } else if span.concealed {
                self.stats.concealed += take as u64;
            }
            span.len -= take;
            if span.len == 0 {
                self.spans.pop_front();
            }
            at += take;
        }
        for (o, s) in out.iter_mut().zip(self.pcm.drain(..n)) {
            *o = s;
        }
        out[n..].fill(0);
        pulled
    }

    /// Starts playing once the earliest packet has waited the target.
    fn try_start(&mut self, now: Instant) {
        let Some((&ts, &(_, arrived))) = self.packets.iter().next() else {
            return;
        };
        if now.saturating_duration_since(arrived) >= self.target() {
            self.state = State::Playing;
            self.next_ts = ts;
            self.expanded = 0;
        }
    }

    /// Decodes (or conceals) the next packet's worth of audio.
    fn produce(&mut self) {
        let next = self.next_ts;
        // Whatever is older than the playout point is of no use.
        while let Some(entry) = self.packets.first_entry() {
            if *entry.key() >= next {
                break;
            }
            entry.remove();
            self.stats.late_packets += 1;
        }
        match self.packets.first_key_value().map(|(&ts, _)| ts) {
            Some(ts) if ts == next => {
                let Some((payload, arrived)) = self.packets.remove(&ts) else {
                    return;
                };
                self.scratch.clear();
                if let Some(now) = self.now {
                    // How long after its earliest possible arrival this packet plays.
                    self.delay_sum +=
                        now.saturating_duration_since(arrived) + self.arrival.lateness(ts, arrived);
                    self.delay_count += 1;
                }
                match self.decoder.decode(&payload, &mut self.scratch) {
                    Ok(()) if !self.scratch.is_empty() => {
                        self.packet_samples = self.scratch.len();
                        self.push_decoded(arrived, ts);
                    }
                    _ => {
                        self.stats.decode_errors += 1;
                        self.conceal(self.packet_samples);
                    }
                }
                self.next_ts = ts + self.packet_samples as u64;
                self.expanded = 0;
            }
            Some(ts) if ts - next > MAX_GAP => {
                // The sender skipped ahead (a pause, a restart): start over from there.
                self.next_ts = ts;
            }
            Some(ts) if self.expanded > 0 => {
                // The stall's concealment stood in for (part of) what is missing: go on from
                // the audio that came, or conceal only the rest.
                let credit = (ts - next).min(self.expanded as u64);
                self.expanded = 0;
                self.next_ts = next + credit;
            }
            Some(ts) => {
                // Lost (later audio is here): rebuild it from the next packet's FEC, or conceal.
                let missing = ((ts - next) as usize).min(self.packet_samples);
                let fec_from = (ts - next) as usize == missing;
                self.scratch.clear();
                let rebuilt = fec_from && {
                    let payload = &self.packets[&ts].0;
                    self.decoder.decode_fec(payload, missing, &mut self.scratch)
                };
                if rebuilt && self.scratch.len() == missing {
                    self.stats.fec += missing as u64;
                    self.push_concealed();
                } else {
                    self.conceal(missing);
                }
                self.next_ts = next + missing as u64;
            }
            None => {
                // Nothing there: the network stalled. Stretch, and wait for it.
                let n = self.packet_samples.min(CUT * 2);
                if self.expanded < MAX_EXPAND {
                    self.conceal(n);
                } else {
                    // Concealment has faded out by now: silence.
                    self.scratch.clear();
                    self.scratch.resize(n, 0);
                    self.push_concealed();
                }
                self.expanded += n;
            }
        }
    }

    fn push_decoded(&mut self, arrived: Instant, ts: u64) {
        self.pcm.extend(self.scratch.iter());
        self.spans.push_back(Span {
            len: self.scratch.len(),
            arrived: Some(arrived),
            timestamp: Some(ts),
            concealed: false,
        });
    }

    fn conceal(&mut self, samples: usize) {
        self.scratch.clear();
        self.decoder.conceal(samples, &mut self.scratch);
        self.scratch.resize(samples, 0);
        self.push_concealed();
    }

    /// Queues what `scratch` holds as audio that stands in for audio that did not come.
    fn push_concealed(&mut self) {
        self.pcm.extend(self.scratch.iter());
        self.spans.push_back(Span {
            len: self.scratch.len(),
            arrived: None,
            timestamp: None,
            concealed: true,
        });
    }

    /// Watches the playout delay over a window; when it was above the target, cuts the excess
    /// a little at a time, and when below, stretches the audio to make room.
    fn adapt(&mut self, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) >= LEVEL_WINDOW && self.delay_count > 0 {
            let delay = self.delay_sum / self.delay_count;
            let target = self.target();
            // A packet is decoded at the pull that needs it, up to a pull after its moment:
            // that much over the target is not excess.
            let allowed = target + PULL_SLACK;
            let to_samples = |d: Duration| (d.as_secs_f64() * 1000.0) as usize * PER_MS;
            self.excess = to_samples(delay.saturating_sub(allowed));
            self.deficit = to_samples(target.saturating_sub(delay));
            self.delay_sum = Duration::ZERO;
            self.delay_count = 0;
            self.window_start = Some(now);
        }
        if self.excess >= FADE {
            let cut = self.cut(self.excess);
            self.excess -= cut.min(self.excess);
        } else if self.deficit >= FADE {
            let added = self.stretch(self.deficit.min(CUT));
            self.deficit -= added.min(self.deficit);
        }
    }

    /// Decodes the next packet if it is here and fewer than `samples` are decoded.
    fn decode_ahead(&mut self, samples: usize) {
        if self.pcm.len() < samples && self.packets.contains_key(&self.next_ts) {
            self.produce();
        }
    }

    /// Plays the first `n` decoded samples twice, crossfading back into the start: the audio
    /// lasts `n` samples longer. Returns how many were added.
    fn stretch(&mut self, n: usize) -> usize {
        self.decode_ahead(n + FADE);
        if n < FADE || self.pcm.len() < n + FADE {
            return 0;
        }
        let head = self.pcm.make_contiguous();
        let mut added: Vec<i16> = head[..n].to_vec();
        for i in 0..FADE {
            added.push(crossfade(head[n + i], head[i], i));
        }
        // `added` ends in a fade into the start: it replaces the start's first FADE samples.
        for (i, s) in added[n..].iter().enumerate() {
            head[i] = *s;
        }
        for &s in added[..n].iter().rev() {
            self.pcm.push_front(s);
        }
        self.spans.push_front(Span {
            len: n,
            arrived: None,
            timestamp: None,
            concealed: false,
        });
        self.stats.stretched += n as u64;
        n
    }

    /// Cuts up to `want` samples from the decoded audio with a crossfade; returns how many.
    fn cut(&mut self, want: usize) -> usize {
        self.decode_ahead(FADE * 2 + CUT);
        let head = self.pcm.make_contiguous();
        let quiet = head.len() >= QUIET_CUT + FADE
            && head[..QUIET_CUT + FADE]
                .iter()
                .map(|&s| f64::from(s).abs())
                .sum::<f64>()
                / ((QUIET_CUT + FADE) as f64)
                < QUIET;
        let most = if quiet { QUIET_CUT } else { CUT };
        let cut = want.min(most);
        if cut < FADE || head.len() < cut + FADE {
            return 0;
        }
        // Crossfade the FADE samples at the start into the FADE samples after the cut.
        for i in 0..FADE {
            head[cut + i] = crossfade(head[i], head[cut + i], i);
        }
        self.pcm.drain(..cut);
        // The spans lose the same samples from their front.
        let mut left = cut;
        while left > 0 {
            let Some(span) = self.spans.front_mut() else {
                break;
            };
            let take = span.len.min(left);
            span.len -= take;
            if let Some(ts) = span.timestamp.as_mut() {
                *ts += take as u64;
            }
            left -= take;
            if span.len == 0 {
                self.spans.pop_front();
            }
        }
        self.stats.cut += cut as u64;
        cut
    }
}

/// Sample `i` of a FADE-long crossfade from `from` into `to`.
fn crossfade(from: i16, to: i16, i: usize) -> i16 {
    let w = (i as f32 + 0.5) / FADE as f32;
    (f32::from(from) * (1.0 - w) + f32::from(to) * w).round() as i16
}
