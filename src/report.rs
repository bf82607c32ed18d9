//! The JSON report a run leaves behind (`--report`), and the exit code it implies.

use crate::call::{CallEnd, Role};
use crate::peer::{RemoteCandidates, SelectedPair};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();
static START_UNIX_MS: OnceLock<u64> = OnceLock::new();

/// Marks the process start; all report times are milliseconds since then.
pub fn mark_start() {
    START.get_or_init(Instant::now);
    START_UNIX_MS.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    });
}

/// The wall-clock time of the process start, ms since the Unix epoch (to line up reports of
/// several processes).
pub fn started_unix_ms() -> Option<u64> {
    START_UNIX_MS.get().copied()
}

/// Milliseconds from the process start to `t`.
pub fn ms_since_start(t: Instant) -> u64 {
    let start = *START.get_or_init(Instant::now);
    t.saturating_duration_since(start).as_millis() as u64
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A call connected and media flowed both ways.
    Ok,
    /// The room already had two peers.
    RoomFull,
    /// The signaling server could not be reached or dropped us.
    SignalingFailed,
    /// The server's certificate was not trusted or TLS failed.
    TlsFailed,
    /// No peer came within `--wait`.
    NoPeer,
    /// No call got through ICE/DTLS.
    IceFailed,
    /// A call connected but media did not flow both ways.
    NoMedia,
    /// No call could be negotiated (no common codec, an SDP that could not be used).
    NegotiationFailed,
    /// Relayed candidates only, and no TURN server gave an allocation (wrong password,
    /// unreachable).
    TurnFailed,
    /// Anything else.
    Error,
}

impl Outcome {
    /// The outcome as the report spells it (`no_peer`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The process exit code for this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Ok => 0,
            Outcome::RoomFull => 3,
            Outcome::SignalingFailed | Outcome::TlsFailed => 4,
            Outcome::NoPeer => 5,
            Outcome::IceFailed => 6,
            Outcome::NoMedia => 7,
            Outcome::NegotiationFailed => 8,
            Outcome::TurnFailed => 9,
            Outcome::Error => 1,
        }
    }
}

/// A distribution in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// The median.
    pub p50: f64,
    /// The 95th percentile.
    pub p95: f64,
    /// The largest.
    pub max: f64,
    /// How many values.
    pub samples: u64,
}

impl Percentiles {
    /// The distribution of `values`, if there are any.
    pub fn of(values: &[u32]) -> Option<Self> {
        let mut h = MsHistogram::default();
        values.iter().for_each(|&v| h.add(v));
        h.percentiles()
    }
}

/// Values above this are counted as this in the percentiles (the max stays exact).
const HISTOGRAM_CAP_MS: u32 = 60_000;

/// Whole-millisecond values counted per value: exact nearest-rank percentiles, in memory that
/// grows with the largest value (capped at a minute), not with how many were counted (a call
/// of hours counts a frame 30 times a second).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MsHistogram {
    counts: Vec<u64>,
    samples: u64,
    max: u32,
}

impl MsHistogram {
    /// Counts one value.
    pub fn add(&mut self, ms: u32) {
        let i = ms.min(HISTOGRAM_CAP_MS) as usize;
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.samples += 1;
        self.max = self.max.max(ms);
    }

    /// How many values were counted.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The distribution, by nearest rank, if anything was counted.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.samples == 0 {
            return None;
        }
        let rank = |p: f64| {
            let wanted = ((p * self.samples as f64).ceil() as u64).clamp(1, self.samples);
            let mut seen = 0;
            for (ms, &n) in self.counts.iter().enumerate() {
                seen += n;
                if seen >= wanted {
                    return ms as f64;
                }
            }
            f64::from(self.max)
        };
        Some(Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
            max: f64::from(self.max),
            samples: self.samples,
        })
    }
}

/// One TURN server's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TurnReport {
    /// The `turn:` url.
    pub url: String,
    /// Whether it gave an allocation.
    pub ok: bool,
    /// The relayed address it gave.
    pub relayed: Option<String>,
    /// How long the allocation took, ms.
    pub ms: Option<u64>,
    /// What went wrong and what to do.
    pub error: Option<String>,
}

/// A signaling event, with its time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRecord {
    /// Milliseconds since the process started.
    pub t_ms: u64,
    /// `joined`, `otherjoin`, `message:offer`, `sent:join`, …
    pub event: String,
    /// Short detail (a socket id, a reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How many more events of this name came after it and are not listed (a flood of
    /// malformed messages or candidates is counted, not listed one by one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<u32>,
}

/// Decoded pictures of one size, one after another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeRun {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// How many pictures in a row had it.
    pub frames: u64,
}

/// Video of one call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VideoReport {
    /// The codec we send in, as negotiated (`H264`, `VP8`).
    pub codec: Option<String>,
    /// What picture we sent: `test picture`, `camera "NAME"`.
    pub source: String,
    /// The codec of the video we receive.
    pub received_codec: Option<String>,
    /// Frames we encoded and sent.
    pub sent_frames: u64,
    /// Remote frames decoded.
    pub decoded_frames: u64,
    /// Decoded frame width.
    pub width: Option<usize>,
    /// Decoded frame height.
    pub height: Option<usize>,
    /// The decoded pictures' sizes in the order they came, a run per change (the peer switched
    /// camera, screen or window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<SizeRun>,
    /// Frames whose stamp was read.
    pub stamped_frames: u64,
    /// The peer's sender id, read from its frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_sender_id: Option<u16>,
    /// Times the frame counter skipped (absent when no frame carried a stamp of ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_gaps: Option<u64>,
    /// Times the frame counter went backwards (absent when no frame carried a stamp of ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter_reversals: Option<u64>,
    /// Decoded frames per second over the connected time.
    pub received_fps: Option<f64>,
    /// The longest time between two decoded frames, ms (a freeze).
    pub longest_freeze_ms: u64,
    /// The rate the video encoder aimed at when the call ended, kbit/s (congestion control).
    pub encoder_kbps: u64,
    /// The lowest rate congestion control asked of the encoder in the call, kbit/s.
    pub encoder_kbps_min: u64,
    /// Mean delay from the sender's stamp to decoding (both clocks on this machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_latency_ms: Option<f64>,
    /// Capture-to-decode delay of every stamped frame, read from the stamp (sender's clock),
    /// over the whole call; absent when no frame carried a stamp of ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Percentiles>,
    /// The mean time a frame waited in the jitter buffer, from the arrival of its last packet
    /// to its release to the decoder (comparable with Chromium's
    /// `jitterBufferDelay / jitterBufferEmittedCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_buffer_ms: Option<f64>,
    /// The jitter buffer's target delay at the end of the call, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_target_ms: Option<f64>,
    /// Video packets NACKed, recovered by retransmission, and given up on.
    #[serde(default)]
    pub nacked_packets: u64,
    /// Of the NACKed packets, those a retransmission brought.
    #[serde(default)]
    pub recovered_packets: u64,
    /// Packets given up on (their frames cost a keyframe).
    #[serde(default)]
    pub lost_packets: u64,
    /// Frames the decoder rejected.
    pub decode_errors: u64,
    /// Keyframe requests we sent.
    pub keyframe_requests_sent: u64,
    /// Keyframe requests the peer sent us.
    pub keyframe_requests_received: u64,
    /// Video packets the peer's receiver reports say it got.
    pub peer_received_packets: u64,
}

/// Audio of one call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AudioReport {
    /// Negotiated codec (`opus`).
    pub codec: Option<String>,
    /// Packets we sent.
    pub sent_packets: u64,
    /// Packets received.
    pub received_packets: u64,
    /// Packets that failed to decode.
    pub decode_errors: u64,
    /// The strongest frequency in the last second heard.
    pub dominant_hz: Option<f64>,
    /// Audio packets the peer's receiver reports say it got.
    pub peer_received_packets: u64,
    /// What we sent: `tone 440 Hz`, `microphone "NAME"`, `silence`.
    pub source: String,
    /// The speaker that played what we received, if any.
    pub speaker: Option<String>,
    /// Times the speaker's playout buffer ran dry.
    pub playout_underruns: u64,
    /// Mean time a played sample waited in the jitter buffer from its packet's arrival, ms;
    /// comparable with a browser's audio `jitterBufferDelay / jitterBufferEmittedCount`.
    #[serde(default)]
    pub jitter_buffer_ms: Option<f64>,
    /// The jitter buffer's target delay at the end, ms: what the arrival jitter needed.
    #[serde(default)]
    pub jitter_target_ms: Option<f64>,
    /// Mean time audio then waited in the sink's queue before it played, ms.
    #[serde(default)]
    pub playout_ms: Option<f64>,
    /// Concealment played for audio lost, late or stalled, ms.
    #[serde(default)]
    pub concealed_ms: f64,
    /// Audio cut to catch up after the delay had grown, ms.
    #[serde(default)]
    pub cut_ms: f64,
    /// Packets that came after their moment had passed.
    #[serde(default)]
    pub late_packets: u64,
}

/// Milestones of a call, in ms since the process started.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    /// We were in the room.
    pub joined: Option<u64>,
    /// The peer arrived (otherjoin, or its offer when it was there first).
    pub peer_joined: Option<u64>,
    /// ICE and DTLS connected.
    pub ice_connected: Option<u64>,
    /// Our first video frame went to the peer (its packets written to the connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_video_sent: Option<u64>,
    /// The peer's first video packet came. With `first_remote_frame` it tells a late
    /// picture's cause: the peer's sender (late packet) or our receiver (slow after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_remote_video_packet: Option<u64>,
    /// The first remote frame was decoded.
    pub first_remote_frame: Option<u64>,
    /// The call ended.
    pub ended: Option<u64>,
}

/// The parts of a call that also stand at the top level for the last call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallSummary {
    /// The ICE candidate pair in use.
    pub selected_pair: Option<SelectedPair>,
    /// The peer's candidates that ICE took, by type, when the call ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_candidates: Option<RemoteCandidates>,
    /// Video figures.
    pub video: VideoReport,
    /// Audio figures.
    pub audio: AudioReport,
    /// Milestones.
    pub timings_ms: Timings,
    /// For what the peer captured at one moment: when its video is handed to the screen minus
    /// when its audio is handed to the speaker, ms, from the peer's sender reports; `+` means
    /// video late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub av_sync_ms: Option<f64>,
    /// The same, measured on the test sources' shared marker (the picture flashes and the tone
    /// beeps in the same instant once a second): the median of flash minus beep as handed to
    /// screen and speaker, ms; absent when the peer's sources carry no marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub av_marker_ms: Option<f64>,
}

/// One call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallReport {
    /// 1, 2, … in this run.
    pub call: u32,
    /// Offerer or answerer.
    pub role: Role,
    /// Whether ICE/DTLS connected.
    pub connected: bool,
    /// Whether media flowed both ways.
    pub media_ok: bool,
    /// Why it ended.
    pub end: Option<CallEnd>,
    /// Resident memory of this process after the call was closed, KiB.
    pub rss_kib_after: Option<u64>,
    /// Figures.
    #[serde(flatten)]
    pub summary: CallSummary,
}

/// The built-in room server of a run without `--server`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "as")]
pub enum Hosting {
    /// This run hosts it; a browser joins the call at `page`.
    Hosted {
        /// The room page's address, with the room in its query.
        page: String,
    },
    /// Its address was taken, by another roompeer hosting there already: this run joined it.
    AlreadyThere,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// How the run ended.
    pub outcome: Outcome,
    /// The exit code that goes with it.
    pub exit_code: i32,
    /// What went wrong, for a person.
    pub error: Option<String>,
    /// When the process started, ms since the Unix epoch; `t_ms` values count from here.
    pub started_unix_ms: Option<u64>,
    /// The signaling server.
    pub server: String,
    /// With no `--server`: the room server this run hosted, or found already there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosting: Option<Hosting>,
    /// The Engine.IO version spoken.
    pub eio: Option<String>,
    /// Our socket id.
    pub socket_id: Option<String>,
    /// Signaling events in order.
    pub events: Vec<EventRecord>,
    /// Every call.
    pub calls: Vec<CallReport>,
    /// What each UDP TURN server said when asked for an allocation before the call.
    pub turn: Vec<TurnReport>,
    /// Peak resident memory of this process, KiB.
    pub peak_rss_kib: Option<u64>,
    /// CPU time this process used, user plus system, in seconds.
    pub cpu_seconds: Option<f64>,
    /// The last call's figures, repeated at the top level.
    #[serde(flatten)]
    pub last_call: CallSummary,
}

/// CPU time used by this process so far (user + system), in seconds.
pub fn cpu_seconds() -> Option<f64> {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        (libc::getrusage(libc::RUSAGE_SELF, &mut u) == 0).then_some(u)
    }?;
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(secs(usage.ru_utime) + secs(usage.ru_stime))
}

/// Reads a `VmRSS`/`VmHWM` style line of /proc/self/status, in KiB.
pub fn proc_status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_readme() {
        // Every outcome, with the code and name the README's table gives it.
        let all = [
            Outcome::Ok,
            Outcome::RoomFull,
            Outcome::SignalingFailed,
            Outcome::TlsFailed,
            Outcome::NoPeer,
            Outcome::IceFailed,
            Outcome::NoMedia,
            Outcome::NegotiationFailed,
            Outcome::TurnFailed,
            Outcome::Error,
        ];
        let readme = include_str!("../README.md");
        let table = &readme[readme.find("## Exit codes").expect("an exit code section")..];
        for outcome in all {
            let name = serde_json::to_value(outcome).unwrap();
            let name = name.as_str().unwrap();
            let row = table
                .lines()
                .find(|l| l.contains(&format!("`{name}`")))
                .unwrap_or_else(|| panic!("the README has no row for {name}"));
            let code: i32 = row
                .trim_start_matches('|')
                .split('|')
                .next()
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or_else(|| panic!("no code in {row:?}"));
            assert_eq!(outcome.exit_code(), code, "{name}");
        }
        assert!(proc_status_kib("VmRSS").is_some_and(|k| k > 0));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(Percentiles::of(&[]), None);
        let p = Percentiles::of(&[5]).unwrap();
        assert_eq!((p.p50, p.p95, p.max, p.samples), (5.0, 5.0, 5.0, 1));
        let values: Vec<u32> = (1..=100).rev().collect();
        let p = Percentiles::of(&values).unwrap();
        assert_eq!((p.p50, p.p95, p.max, p.samples), (50.0, 95.0, 100.0, 100));
    }

    #[test]
    fn a_histogram_stays_small_however_many_values_it_counts() {
        let mut h = MsHistogram::default();
        for i in 0..1_000_000u32 {
            h.add(5 + i % 10);
        }
        h.add(90_000);
        let p = h.percentiles().unwrap();
        assert_eq!(
            (p.p50, p.p95, p.max, p.samples),
            (10.0, 14.0, 90_000.0, 1_000_001)
        );
        assert_eq!(h.counts.len(), HISTOGRAM_CAP_MS as usize + 1);
        let mut small = MsHistogram::default();
        (0..100_000).for_each(|_| small.add(12));
        assert_eq!(small.counts.len(), 13);
    }

    #[test]
    fn a_report_reads_back_as_it_was_written() {
        let report = Report {
            outcome: Outcome::NegotiationFailed,
            exit_code: 8,
            error: Some("no common video codec".into()),
            started_unix_ms: Some(1),
            server: "http://127.0.0.1:8080/".into(),
            hosting: Some(Hosting::Hosted {
                page: "http://127.0.0.1:8080/index.html".into(),
            }),
            eio: Some("4".into()),
            socket_id: Some("abc".into()),
            events: vec![EventRecord {
                more: None,
                t_ms: 5,
                event: "joined".into(),
                detail: Some("abc".into()),
            }],
            calls: vec![CallReport {
                call: 1,
                role: Role::Answerer,
                connected: false,
                media_ok: false,
                end: Some(CallEnd::NegotiationFailed("no common video codec".into())),
                rss_kib_after: Some(20_000),
                summary: CallSummary::default(),
            }],
            turn: Vec::new(),
            peak_rss_kib: Some(30_000),
            cpu_seconds: Some(0.5),
            last_call: CallSummary::default(),
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["outcome"], "negotiation_failed");
        assert_eq!(json["calls"][0]["role"], "answerer");
        assert_eq!(json["hosting"]["as"], "hosted");
        assert!(
            json["video"].is_object(),
            "the last call's figures stand at the top"
        );
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back.outcome, Outcome::NegotiationFailed);
        assert_eq!(back.calls[0].end, report.calls[0].end);
        assert_eq!(back.events[0].event, "joined");
        assert_eq!(back.hosting, report.hosting);
    }
}
