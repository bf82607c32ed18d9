//! How much later than the fastest frames the others come: the delay the buffer must allow
//! for so that nearly every frame is there at its moment.
//!
//! Each complete frame's lateness is measured against the timeline of the fastest recent
//! frames (see the buffer's anchor); the estimate is the 95th percentile of the last
//! [`WINDOW`] of them. What makes frames late is all in it: network jitter, the time a large
//! frame takes to cross the link or the sender's pacer, the sender's encoding time.
//!
//! libwebrtc's estimator, a Kalman filter fitting `delay = slope · size difference + noise`,
//! was tried first (written here from its description). Behind a pacer that lets a frame out
//! at once while its budget lasts, delay is not linear in size: the slope it learnt (or its
//! 512 kbit/s prior, which P-frames never corrected) turned every size difference into
//! predicted delay, and the residuals' spread kept 35–75 ms of buffer on a path whose frames
//! varied by 7 ms. The percentile needs no model; large frames count as often as they come
//! (a keyframe every few frames is allowed for; one after a loss costs that one frame). Half a
//! second of frames far earlier than the estimate ends a spike: a queue that drained, or a
//! keyframe as rare as senders make them now, is not waited for afterwards.
//! Frames a retransmission completed are not fed in (see the buffer's retransmit allowance).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back lateness is remembered: long enough for a twentieth of it to be a handful of
/// frames, short enough to shrink within seconds when the path calms down.
pub const WINDOW: Duration = Duration::from_secs(3);
/// The share of frames the buffer is sized for.
const QUANTILE: f64 = 0.95;
/// Frames in a row that came this much earlier than the estimate allows for...
const FAR_EARLY_MS: f64 = 40.0;
/// ...and how many, before the spike that raised the estimate is forgotten: the frames of a
/// queue that built up and drained (lateness growing to 125 ms on the 30±10 ms path, then back
/// to 14) otherwise held every frame after it 90 ms for the rest of the window.
const FAR_EARLY_RUN: usize = 15;
/// What is kept when a spike is forgotten.
const KEPT_AFTER_SPIKE: Duration = Duration::from_millis(500);

/// The recent frames' lateness.
#[derive(Debug, Clone, Default)]
pub struct LatenessEstimator {
    /// (completion, lateness ms), oldest first.
    frames: VecDeque<(Instant, f64)>,
    /// The estimate, ms, as of the last frame.
    estimate_ms: f64,
    /// Frames in a row far earlier than the estimate.
    far_early: usize,
    /// The window's lateness values, reused for the percentile (no allocation per frame).
    scratch: Vec<f64>,
}

impl LatenessEstimator {
    /// A frame completed at `at`, `late_ms` after the fastest frames' timeline.
    pub fn update(&mut self, at: Instant, late_ms: f64) {
        while self
            .frames
            .front()
            .is_some_and(|&(t, _)| at.saturating_duration_since(t) > WINDOW)
        {
            self.frames.pop_front();
        }
        self.far_early = if late_ms + FAR_EARLY_MS < self.estimate_ms {
            self.far_early + 1
        } else {
            0
        };
        if self.far_early >= FAR_EARLY_RUN {
            // The path is back to its usual lateness: the spike is over.
            self.far_early = 0;
            while self
                .frames
                .front()
                .is_some_and(|&(t, _)| at.saturating_duration_since(t) > KEPT_AFTER_SPIKE)
            {
                self.frames.pop_front();
            }
        }
        self.frames.push_back((at, late_ms.max(0.0)));
        let late = &mut self.scratch;
        late.clear();
        late.extend(self.frames.iter().map(|&(_, l)| l));
        let at = ((late.len() - 1) as f64 * QUANTILE).round() as usize;
        self.estimate_ms = *late.select_nth_unstable_by(at, f64::total_cmp).1;
    }

    /// The delay to allow for, ms (0 until frames came).
    pub fn jitter_ms(&self) -> f64 {
        self.estimate_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: &mut u64) -> f64 {
        // A small deterministic generator, uniform in [0, 1].
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as f64 / (1u64 << 31) as f64
    }

    /// 10 s of 30 frames/s, frame `i` late by `late(i)` ms.
    fn run(mut late: impl FnMut(usize) -> f64) -> f64 {
        let t = Instant::now();
        let mut e = LatenessEstimator::default();
        for i in 0..300 {
            e.update(t + Duration::from_millis(33 * i as u64), late(i));
        }
        e.jitter_ms()
    }

    #[test]
    fn a_queue_that_built_up_and_drained_is_forgotten_once_frames_are_early_again() {
        // 3 s of lateness growing 50 ms a second, then on time again (±10 ms).
        let mut seed = 3;
        let t = Instant::now();
        let mut e = LatenessEstimator::default();
        for i in 0..180u64 {
            let late = if i < 90 {
                i as f64 * 50.0 / 30.0
            } else {
                10.0 * noise(&mut seed)
            };
            e.update(t + Duration::from_millis(33 * i), late);
            if i == 92 {
                assert!(e.jitter_ms() > 100.0, "the spike counts while it lasts");
            }
        }
        // Half a second of early frames later (not the 3 s window), it is gone.
        assert!(e.jitter_ms() < 11.0, "{}", e.jitter_ms());
    }

    #[test]
    fn a_clean_link_needs_almost_no_buffer() {
        let mut seed = 1;
        let j = run(|_| 0.5 * noise(&mut seed));
        assert!(j < 1.0, "{j}");
    }

    #[test]
    fn jittery_arrival_asks_for_about_the_spread() {
        let mut seed = 7;
        let j = run(|_| 20.0 * noise(&mut seed));
        assert!((17.0..=20.0).contains(&j), "{j}");
    }

    #[test]
    fn large_frames_that_come_often_are_allowed_for() {
        // A keyframe every 10 frames, 300 ms late (40 kB at 1 Mbit/s).
        let j = run(|i| if i % 10 == 0 { 300.0 } else { 2.0 });
        assert!(j > 250.0, "{j}");
    }

    #[test]
    fn a_rare_keyframe_does_not_hold_every_frame_back() {
        let j = run(|i| if i % 60 == 0 { 300.0 } else { 2.0 });
        assert!(j < 10.0, "{j}");
    }

    #[test]
    fn a_calmer_path_is_followed_within_the_window() {
        let j = run(|i| if i < 150 { 40.0 } else { 3.0 });
        assert!(j < 5.0, "{j}");
    }
}
