//! What a call received and decoded, as the report gives it.

use crate::media::testsrc::Stamp;
use crate::media::tone::{SAMPLE_RATE, dominant_hz};
use std::time::Instant;

/// What was received and decoded in a call.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Frames decoded.
    pub decoded_frames: u64,
    /// Size of the last decoded frame.
    pub size: Option<(usize, usize)>,
    /// Runs of decoded sizes, in order.
    pub sizes: Vec<crate::report::SizeRun>,
    /// Frames whose stamp could be read.
    pub stamped_frames: u64,
    /// The sender id read from the frames.
    pub peer_sender_id: Option<u16>,
    /// The last frame counter read.
    pub last_counter: Option<u32>,
    /// Times a counter did not follow the previous one (a frame was lost or skipped).
    pub counter_gaps: u64,
    /// Times a counter went backwards (frames out of order).
    pub counter_reversals: u64,
    /// When the first video packet came.
    pub first_packet_at: Option<Instant>,
    /// When the first frame was decoded.
    pub first_frame_at: Option<Instant>,
    /// When the last frame was decoded.
    pub last_frame_at: Option<Instant>,
    /// The longest time between two decoded frames (a freeze), in ms.
    pub longest_freeze_ms: u64,
    /// Sum of stamp-to-decode delays (sender clock), in ms.
    pub latency_sum_ms: u64,
    /// Every stamped frame's stamp-to-decode delay, ms.
    pub latency_ms: crate::report::MsHistogram,
    /// What the jitter buffer did.
    pub jitter_buffer: crate::media::jitter::BufferStats,
    /// The jitter buffer's target delay when last looked at.
    pub jitter_target: std::time::Duration,
    /// Keyframe requests sent.
    pub keyframe_requests_sent: u64,
    /// Frames the decoder rejected.
    pub video_decode_errors: u64,
    /// Video codec of the incoming track.
    pub video_codec: Option<String>,
    /// Audio codec of the incoming track.
    pub audio_codec: Option<String>,
    /// Opus packets received.
    pub audio_packets: u64,
    /// Opus packets that failed to decode.
    pub audio_decode_errors: u64,
    /// The most recent decoded audio (up to two seconds), for the tone measurement.
    pub audio_tail: std::collections::VecDeque<i16>,
    /// The speaker playing the received audio, if any.
    pub speaker: Option<String>,
    /// Times the speaker's playout buffer ran dry.
    pub playout_underruns: u64,
    /// What the audio jitter buffer did.
    pub audio_buffer: crate::media::audio_jitter::AudioBufferStats,
    /// Audio handed on from the jitter buffer waits this long in the sink before it is played:
    /// the sum of the sink's queue (ms) at each hand-over, and how many.
    pub playout_queue_ms_sum: f64,
    /// Hand-overs counted in `playout_queue_ms_sum`.
    pub playout_handovers: u64,
    /// How far each stream is handed over behind its sender's clock.
    pub av_sync: crate::media::lipsync::AvSync,
    /// The test sources' flashes and beeps as handed to screen and speaker.
    pub marker: crate::media::marker::MarkerSync,
}

/// What the session is told as it happens (for its event log), beside the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// The first remote picture was decoded.
    FirstPicture,
    /// The remote picture moves again after a freeze of at least a second.
    PictureBack {
        /// How long it stood still.
        freeze_ms: u64,
    },
}

/// The report keeps the first this many runs of picture sizes.
const MAX_SIZE_RUNS: usize = 64;

/// How far from our clock a stamp's send time may be (a day) and still be a stamp of ours.
const PLAUSIBLE_CLOCK_MS: u64 = 24 * 3600 * 1000;

/// A freeze this long or longer is told as [`MediaEvent::PictureBack`] when it ends.
const TOLD_FREEZE_MS: u64 = 1000;

impl Received {
    /// Counts a decoded picture of `size`, decoded at `now` (`now_unix_ms` on the wall clock,
    /// which the sender's stamp, if the picture has one, is compared with).
    pub fn frame_decoded(
        &mut self,
        now: Instant,
        size: (usize, usize),
        stamp: Option<Stamp>,
        now_unix_ms: u64,
    ) -> Option<MediaEvent> {
        self.decoded_frames += 1;
        self.size = Some(size);
        let runs = self.sizes.len();
        match self.sizes.last_mut() {
            Some(run) if (run.width, run.height) == size => run.frames += 1,
            // Bounded: a peer changing size at every frame must not grow the report forever.
            _ if runs >= MAX_SIZE_RUNS => {}
            _ => self.sizes.push(crate::report::SizeRun {
                width: size.0,
                height: size.1,
                frames: 1,
            }),
        }
        let mut event = None;
        if self.first_frame_at.is_none() {
            self.first_frame_at = Some(now);
            event = Some(MediaEvent::FirstPicture);
        }
        if let Some(last) = self.last_frame_at {
            let gap = now.duration_since(last).as_millis() as u64;
            self.longest_freeze_ms = self.longest_freeze_ms.max(gap);
            if gap >= TOLD_FREEZE_MS {
                event = Some(MediaEvent::PictureBack { freeze_ms: gap });
            }
        }
        self.last_frame_at = Some(now);
        // A stamp that passed its checks but was sent more than a day away from now is not
        // ours either (or our clocks are useless for latency).
        let plausible = |s: &Stamp| now_unix_ms.abs_diff(s.sent_ms) <= PLAUSIBLE_CLOCK_MS;
        if let Some(s) = stamp.filter(plausible) {
            self.stamped_frames += 1;
            self.peer_sender_id = Some(s.sender_id);
            if let Some(last) = self.last_counter {
                if s.counter < last {
                    self.counter_reversals += 1;
                } else if s.counter != last.wrapping_add(1) {
                    self.counter_gaps += 1;
                }
            }
            self.last_counter = Some(s.counter);
            let latency = now_unix_ms.saturating_sub(s.sent_ms);
            self.latency_sum_ms += latency;
            self.latency_ms
                .add(u32::try_from(latency).unwrap_or(u32::MAX));
        }
        event
    }

    /// The frequency heard in the most recent second of audio.
    pub fn dominant_hz(&self) -> Option<f64> {
        let n = self.audio_tail.len().min(SAMPLE_RATE as usize);
        let last: Vec<i16> = self
            .audio_tail
            .range(self.audio_tail.len() - n..)
            .copied()
            .collect();
        dominant_hz(&last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stamp(counter: u32, sent_ms: u64) -> Option<Stamp> {
        Some(Stamp {
            sender_id: 7,
            counter,
            sent_ms,
        })
    }

    #[test]
    fn counts_pictures_freezes_and_stamps() {
        let t = Instant::now();
        let mut r = Received::default();
        let at = |ms| t + Duration::from_millis(ms);
        assert_eq!(
            r.frame_decoded(at(0), (640, 480), stamp(0, 1000), 1010),
            Some(MediaEvent::FirstPicture)
        );
        assert_eq!(
            r.frame_decoded(at(33), (640, 480), stamp(1, 1033), 1045),
            None
        );
        // Frame 2 is lost; frame 4 comes before frame 3.
        assert_eq!(
            r.frame_decoded(at(100), (640, 480), stamp(4, 1133), 1140),
            None
        );
        assert_eq!(
            r.frame_decoded(at(133), (640, 480), stamp(3, 1100), 1150),
            None
        );
        // A freeze of 1.2 s, then a picture without a stamp (a browser's).
        assert_eq!(
            r.frame_decoded(at(1333), (320, 240), None, 2400),
            Some(MediaEvent::PictureBack { freeze_ms: 1200 })
        );
        assert_eq!(r.decoded_frames, 5);
        assert_eq!(r.size, Some((320, 240)));
        let run = |width, height, frames| crate::report::SizeRun {
            width,
            height,
            frames,
        };
        assert_eq!(r.sizes, [run(640, 480, 4), run(320, 240, 1)]);
        assert_eq!(r.stamped_frames, 4);
        assert_eq!(r.peer_sender_id, Some(7));
        assert_eq!((r.counter_gaps, r.counter_reversals), (1, 1));
        assert_eq!(r.longest_freeze_ms, 1200);
        assert_eq!(r.latency_sum_ms, 10 + 12 + 7 + 50);
        let l = r.latency_ms.percentiles().unwrap();
        assert_eq!((l.p50, l.max, l.samples), (10.0, 50.0, 4));
        assert_eq!(r.first_frame_at, Some(at(0)));
    }

    #[test]
    fn a_stamp_from_another_day_is_not_ours() {
        let t = Instant::now();
        let mut r = Received::default();
        let now_ms = 1_800_000_000_000;
        r.frame_decoded(
            t,
            (640, 480),
            stamp(0, now_ms - 3 * 24 * 3600 * 1000),
            now_ms,
        );
        r.frame_decoded(t, (640, 480), stamp(1, 0), now_ms);
        assert_eq!((r.decoded_frames, r.stamped_frames), (2, 0));
        assert_eq!(r.peer_sender_id, None);
        // A late frame of ours (seconds late) still counts.
        r.frame_decoded(t, (640, 480), stamp(2, now_ms - 5000), now_ms);
        assert_eq!(r.stamped_frames, 1);
    }

    #[test]
    fn a_peer_changing_size_at_every_frame_keeps_the_report_bounded() {
        let t = Instant::now();
        let mut r = Received::default();
        for i in 0..1000 {
            r.frame_decoded(t, (320 + 2 * (i % 2), 240), None, 0);
        }
        assert_eq!(r.sizes.len(), MAX_SIZE_RUNS);
        assert_eq!(r.size, Some((322, 240)), "the current size still told");
    }
}
