//! The timeline frames would arrive on without jitter: the fastest recent frame's arrival,
//! moved along by the RTP timestamps. A frame's lateness is measured against it.

use super::CLOCK_HZ;
use std::time::{Duration, Instant};

/// The timeline is re-anchored this often, so clock drift between the sender and us does not
/// build up as false delay.
const WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub(super) struct Timeline {
    at: Instant,
    ts: i64,
    /// The fastest frame since the window started, as a candidate anchor.
    best_in_window: Option<(Instant, i64)>,
    window_started: Instant,
}

impl Timeline {
    /// A timeline through the first frame (completed at `at`, timestamp `ts`).
    pub(super) fn new(at: Instant, ts: i64) -> Self {
        Self {
            at,
            ts,
            best_in_window: None,
            window_started: at,
        }
    }

    /// When a frame with timestamp `ts` is due on the timeline.
    pub(super) fn expected(&self, ts: i64) -> Option<Instant> {
        let offset = (ts - self.ts) as f64 / CLOCK_HZ;
        if offset >= 0.0 {
            self.at.checked_add(Duration::from_secs_f64(offset))
        } else {
            self.at.checked_sub(Duration::from_secs_f64(-offset))
        }
    }

    /// A frame completed at `completed`: how late it is on the timeline, ms (an earlier one
    /// becomes the new anchor).
    pub(super) fn observe(&mut self, completed: Instant, ts: i64) -> f64 {
        let mut late_ms = 0.0;
        match self
            .expected(ts)
            .map(|e| completed.checked_duration_since(e))
        {
            Some(Some(late)) => late_ms = late.as_secs_f64() * 1000.0,
            // Earlier than the timeline: this frame is the new fastest.
            Some(None) => {
                self.at = completed;
                self.ts = ts;
            }
            None => {}
        }
        let rel = |a: &Timeline, at: Instant, t: i64| {
            a.expected(t)
                .map_or(0.0, |e| at.saturating_duration_since(e).as_secs_f64())
        };
        let better = self
            .best_in_window
            .is_none_or(|(at, t)| rel(self, completed, ts) <= rel(self, at, t));
        if better {
            self.best_in_window = Some((completed, ts));
        }
        if completed.duration_since(self.window_started) >= WINDOW {
            // Drift: the timeline follows the fastest frame of the last window.
            if let Some((at, t)) = self.best_in_window.take() {
                self.at = at;
                self.ts = t;
            }
            self.window_started = completed;
        }
        late_ms
    }
}
