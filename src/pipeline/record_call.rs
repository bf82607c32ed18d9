//! `--record`: the peer's audio and video as they came, in one container file per call
//! (`call-N/remote.webm` or `remote.mp4`), and with `--record-local` what we sent
//! (`local.webm`/`local.mp4`), each on a thread of its own.
//!
//! Each stream's samples are timed by its RTP timestamps on the sender's clock, mapped by its
//! first RTCP sender report (the mapping lip sync uses), so audio and video line up as they
//! were captured. [`Timeline`] (plain, tested) orders them across the two streams and decides
//! where the file starts (the first keyframe) and what it leaves out.

use crate::media::container::{ContainerWriter, has_parameter_sets, is_keyframe};
use crate::media::h264::nal_units;
use crate::media::lipsync::{SenderClock, SenderClocks};
use crate::media::video::VideoCodec;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long samples wait to be put in order across the streams (packets arrive out of order,
/// and video waits in the jitter buffer longer than audio).
const REORDER: f64 = 500.0;
/// A stream whose sender has sent no report this long after its first sample is timed by
/// when its samples arrived instead.
const NO_REPORT_AFTER: Duration = Duration::from_secs(3);
/// Samples queued for the recording thread before new ones are dropped.
pub(super) const QUEUE: usize = 2048;

/// A sample for the recording thread, with its stream's clock when the sender knows it (our
/// own streams); the peer's streams are timed by its sender reports.
#[derive(Debug)]
pub(super) struct Queued {
    pub sample: Sample,
    pub clock: Option<SenderClock>,
}

/// One coded sample on its way to the file.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Sample {
    /// A video frame that decoded, with its picture's size.
    Video {
        codec: VideoCodec,
        ssrc: u32,
        rtp: u32,
        data: Vec<u8>,
        size: (u32, u32),
    },
    /// An Opus packet.
    Audio { ssrc: u32, rtp: u32, data: Vec<u8> },
}

impl Sample {
    fn stream(&self) -> (u32, u32) {
        match self {
            Sample::Video { ssrc, rtp, .. } => (*ssrc, *rtp),
            Sample::Audio { ssrc, rtp, .. } => (*ssrc, *rtp),
        }
    }

    fn rate(&self) -> u32 {
        match self {
            Sample::Video { .. } => 90_000,
            Sample::Audio { .. } => 48_000,
        }
    }
}

/// A sample with its time on the sender's clock, ordered by it (then by arrival).
#[derive(Debug)]
struct Timed {
    ms: f64,
    order: u64,
    sample: Sample,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // At the same moment video goes first: audio may not precede the file's first frame.
        let audio = |t: &Timed| matches!(t.sample, Sample::Audio { .. });
        self.ms
            .total_cmp(&other.ms)
            .then(audio(self).cmp(&audio(other)))
            .then(self.order.cmp(&other.order))
    }
}

/// What goes into the file, and when.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Write {
    /// The first keyframe: the file starts with it (create it at this size).
    Start {
        codec: VideoCodec,
        size: (u32, u32),
        data: Vec<u8>,
    },
    Video {
        secs: f64,
        data: Vec<u8>,
        keyframe: bool,
    },
    Audio {
        secs: f64,
        data: Vec<u8>,
    },
}

/// Orders samples on the sender's clock and decides what is written.
#[derive(Debug, Default)]
pub(super) struct Timeline {
    /// Each stream's mapping, fixed at its first report so that later reports (the clocks
    /// drift apart a little) never move a sample behind one already written.
    anchors: HashMap<u32, SenderClock>,
    /// Samples of streams with no mapping yet, with when each arrived.
    waiting: Vec<(Instant, f64, Sample)>,
    ready: BinaryHeap<Reverse<Timed>>,
    newest: f64,
    order: u64,
    /// The file's zero on the sender's clock (the first keyframe's time).
    start: Option<f64>,
    last_video: Option<f64>,
    last_audio: Option<f64>,
    /// The latest H.264 parameter sets, for a keyframe that comes without them.
    parameter_sets: Vec<u8>,
}

impl Timeline {
    /// Takes a sample that arrived at `now` (`unix_ms` on our wall clock); `clock` is its
    /// stream's latest sender report, if one came.
    pub fn push(&mut self, now: Instant, unix_ms: f64, sample: Sample, clock: Option<SenderClock>) {
        let (ssrc, _) = sample.stream();
        if let (false, Some(c)) = (self.anchors.contains_key(&ssrc), clock) {
            self.anchors.insert(ssrc, c);
        }
        self.waiting.push((now, unix_ms, sample));
        self.place(now);
    }

    /// Moves waiting samples whose stream is now timed into the ordered queue; a stream that
    /// has waited too long for a report is timed from its first sample's arrival.
    fn place(&mut self, now: Instant) {
        let waiting = std::mem::take(&mut self.waiting);
        for (at, unix_ms, sample) in waiting {
            let (ssrc, rtp) = sample.stream();
            if !self.anchors.contains_key(&ssrc) && now.duration_since(at) >= NO_REPORT_AFTER {
                tracing::info!(
                    ssrc,
                    "no sender report for a recorded stream: timed by arrival"
                );
                self.anchors
                    .insert(ssrc, SenderClock::from_unix_ms(unix_ms, rtp));
            }
            match self.anchors.get(&ssrc) {
                Some(c) => {
                    let ms = c.sender_ms(rtp, sample.rate());
                    self.newest = self.newest.max(ms);
                    self.order += 1;
                    self.ready.push(Reverse(Timed {
                        ms,
                        order: self.order,
                        sample,
                    }));
                }
                None => self.waiting.push((at, unix_ms, sample)),
            }
        }
    }

    /// What can be written now (everything when `all`, at the end), in order.
    pub fn take(&mut self, now: Instant, all: bool) -> Vec<Write> {
        self.place(now);
        let mut out = Vec::new();
        // A stream still waiting for its first report may hold samples earlier than any ready
        // one: nothing is written until it has one (at most `NO_REPORT_AFTER`).
        if !all && !self.waiting.is_empty() {
            return out;
        }
        while let Some(Reverse(top)) = self.ready.peek() {
            if !all && top.ms > self.newest - REORDER {
                break;
            }
            let Some(Reverse(t)) = self.ready.pop() else {
                break;
            };
            if let Some(w) = self.write(t) {
                out.push(w);
            }
        }
        out
    }

    fn write(&mut self, t: Timed) -> Option<Write> {
        match t.sample {
            Sample::Video {
                codec,
                mut data,
                size,
                ..
            } => {
                let keyframe = is_keyframe(codec, &data);
                if codec == VideoCodec::H264 {
                    data = self.with_parameter_sets(data, keyframe);
                }
                let Some(start) = self.start else {
                    // The file starts at a keyframe, which a player can decode on its own.
                    if !keyframe {
                        return None;
                    }
                    tracing::debug!(ms = t.ms, "video starts");
                    self.start = Some(t.ms);
                    self.last_video = Some(t.ms);
                    return Some(Write::Start { codec, size, data });
                };
                // A repeated frame (the same timestamp) is left out.
                if self.last_video.is_some_and(|l| t.ms <= l) {
                    return None;
                }
                self.last_video = Some(t.ms);
                Some(Write::Video {
                    secs: (t.ms - start) / 1000.0,
                    data,
                    keyframe,
                })
            }
            Sample::Audio { data, .. } => {
                let Some(start) = self.start else {
                    tracing::trace!(ms = t.ms, "audio before the first video frame");
                    return None;
                };
                if t.ms < start || self.last_audio.is_some_and(|l| t.ms <= l) {
                    tracing::trace!(ms = t.ms, start, last = ?self.last_audio, "audio left out");
                    return None;
                }
                self.last_audio = Some(t.ms);
                Some(Write::Audio {
                    secs: (t.ms - start) / 1000.0,
                    data,
                })
            }
        }
    }

    /// Keeps the latest SPS/PPS, and puts them in front of a keyframe that lacks them (a
    /// file must start with them, and a player seeks to keyframes).
    fn with_parameter_sets(&mut self, data: Vec<u8>, keyframe: bool) -> Vec<u8> {
        if has_parameter_sets(&data) {
            self.parameter_sets.clear();
            for unit in
                nal_units(&data).filter(|u| matches!(u.first().map(|b| b & 0x1f), Some(7 | 8)))
            {
                self.parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
                self.parameter_sets.extend_from_slice(unit);
            }
            data
        } else if keyframe && !self.parameter_sets.is_empty() {
            [self.parameter_sets.as_slice(), &data].concat()
        } else {
            data
        }
    }
}

/// The recording thread's end of the queue.
/// Starts the thread that writes `dir/stem.<ext>`.
pub(super) fn spawn(
    dir: PathBuf,
    stem: &'static str,
    rx: Receiver<Queued>,
    clocks: Arc<SenderClocks>,
    stop: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("recording {stem}"))
        .spawn(move || record(&dir.join(stem), rx, &clocks, &stop))
}

fn record(stem: &Path, rx: Receiver<Queued>, clocks: &SenderClocks, stop: &CancellationToken) {
    let mut timeline = Timeline::default();
    let mut file: Option<ContainerWriter> = None;
    let mut failed = false;
    loop {
        let stopped = stop.is_cancelled();
        let sample = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(s) => Some(s),
            Err(RecvTimeoutError::Timeout) if !stopped => None,
            // Stopped (or every sender gone) and nothing queued: the end.
            Err(_) => break,
        };
        let now = Instant::now();
        if let Some(Queued { sample, clock }) = sample {
            let clock = clock.or_else(|| clocks.get(sample.stream().0));
            timeline.push(now, super::unix_ms_f64(), sample, clock);
        }
        for w in timeline.take(now, false) {
            apply(stem, &mut file, &mut failed, w);
        }
    }
    for w in timeline.take(Instant::now(), true) {
        apply(stem, &mut file, &mut failed, w);
    }
    tracing::debug!(start = ?timeline.start, video = ?timeline.last_video, audio = ?timeline.last_audio, "recording ends");
    if let Some(f) = file {
        let path = f.path().to_path_buf();
        match f.finish() {
            Ok(()) => tracing::info!(file = %path.display(), "recording written"),
            Err(e) => tracing::error!("cannot finish the recording {}: {e}", path.display()),
        }
    }
}

fn apply(stem: &Path, file: &mut Option<ContainerWriter>, failed: &mut bool, w: Write) {
    if *failed {
        return;
    }
    let result = match (w, file.as_mut()) {
        (Write::Start { codec, size, data }, None) => {
            ContainerWriter::create(stem, codec, size.0, size.1).and_then(|mut f| {
                let r = f.video(0.0, &data, true);
                *file = Some(f);
                r
            })
        }
        (
            Write::Video {
                secs,
                data,
                keyframe,
            },
            Some(f),
        ) => f.video(secs, &data, keyframe),
        (Write::Audio { secs, data }, Some(f)) => f.audio(secs, &data),
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::error!("cannot record the call: {e}; the recording stops here");
        *failed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(rtp: u32, key: bool) -> Sample {
        Sample::Video {
            codec: VideoCodec::Vp8,
            ssrc: 1,
            rtp,
            data: vec![if key { 0x10 } else { 0x11 }, rtp as u8],
            size: (320, 240),
        }
    }

    fn audio(rtp: u32) -> Sample {
        Sample::Audio {
            ssrc: 2,
            rtp,
            data: vec![rtp as u8],
        }
    }

    const NTP_MS: f64 = 3_900_000_000_000.0;

    fn clock(rtp: u32) -> Option<SenderClock> {
        Some(SenderClock {
            ntp_ms: NTP_MS,
            rtp,
        })
    }

    #[test]
    fn starts_at_a_keyframe_and_lines_the_streams_up_on_the_sender_clock() {
        let t = Instant::now();
        let mut tl = Timeline::default();
        // Audio's clock starts at 0, video's at 9000: both at the same sender time.
        tl.push(t, 0.0, audio(0), clock(0));
        tl.push(t, 0.0, video(9_000, false), clock(9_000));
        tl.push(t, 0.0, video(9_000 + 3_000, true), clock(9_000));
        for i in 1..40 {
            tl.push(t, 0.0, audio(i * 960), clock(0));
        }
        for i in 2..20 {
            tl.push(t, 0.0, video(9_000 + i * 3_000, i == 10), clock(9_000));
        }
        let w = tl.take(t, true);
        // The P-frame and the audio before the first keyframe (at 33.3 ms) are left out.
        match &w[0] {
            Write::Start { size, .. } => assert_eq!(*size, (320, 240)),
            other => panic!("{other:?}"),
        }
        let first_audio = w
            .iter()
            .find_map(|w| match w {
                Write::Audio { secs, .. } => Some(*secs),
                _ => None,
            })
            .unwrap();
        assert!(
            (first_audio - (40.0 - 33.333) / 1000.0).abs() < 1e-6,
            "{first_audio}"
        );
        let times: Vec<f64> = w
            .iter()
            .filter_map(|w| match w {
                Write::Video { secs, .. } | Write::Audio { secs, .. } => Some(*secs),
                _ => None,
            })
            .collect();
        assert!(
            times.windows(2).all(|p| p[0] <= p[1]),
            "in order: {times:?}"
        );
        let keyframes = w
            .iter()
            .filter(|w| matches!(w, Write::Video { keyframe: true, .. }))
            .count();
        assert_eq!(keyframes, 1);
    }

    #[test]
    fn waits_for_a_report_then_for_the_reorder_window() {
        let t = Instant::now();
        let mut tl = Timeline::default();
        tl.push(t, 0.0, video(0, true), None);
        assert!(tl.take(t, false).is_empty(), "no report yet");
        tl.push(t, 0.0, video(3_000, false), clock(0));
        assert!(tl.take(t, false).is_empty(), "within the reorder window");
        // Audio timed already waits while video has no report: video may come earlier.
        let mut tl2 = Timeline::default();
        tl2.push(t, 0.0, audio(0), clock(0));
        tl2.push(t, 0.0, audio(96_000), clock(0));
        tl2.push(t, 0.0, video(0, true), None);
        assert!(tl2.take(t, false).is_empty(), "video waits for its report");
        tl2.push(t, 0.0, video(3_000, false), clock(0));
        let w = tl2.take(t, true);
        assert!(matches!(w[0], Write::Start { .. }), "{w:?}");
        assert_eq!(w.len(), 4, "the audio after the keyframe is kept: {w:?}");
        tl.push(t, 0.0, video(90_000, false), clock(0));
        assert_eq!(tl.take(t, false).len(), 2);
        // A stream with no report at all is timed by arrival after a while.
        let mut tl = Timeline::default();
        tl.push(t, 1_000.0, video(0, true), None);
        let later = t + NO_REPORT_AFTER;
        assert_eq!(tl.take(later, true).len(), 1);
    }

    #[test]
    fn a_repeated_frame_is_left_out() {
        let t = Instant::now();
        let mut tl = Timeline::default();
        tl.push(t, 0.0, video(0, true), clock(0));
        tl.push(t, 0.0, video(3_000, false), clock(0));
        tl.push(t, 0.0, video(3_000, false), clock(0));
        assert_eq!(tl.take(t, true).len(), 2);
    }
}
