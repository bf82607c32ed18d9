//! How late audio packets arrive against their timestamps, and the delay that covers it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back arrivals count: long enough to see a burst come again, short enough that the
/// delay comes down soon after the network calms.
const WINDOW: Duration = Duration::from_secs(2);
/// The share of packets the target delay lets arrive in time.
const QUANTILE: f64 = 0.95;
/// The target never exceeds this.
const MAX_TARGET: Duration = Duration::from_millis(500);
/// Scheduling noise that is always there, even on loopback.
const FLOOR: Duration = Duration::from_millis(1);

/// The relative delay of each packet (arrival minus timestamp) over the last seconds; the
/// target delay is how far the late ones lag behind the earliest.
#[derive(Debug)]
pub struct ArrivalJitter {
    /// `(arrival, relative delay in ms)`, oldest first.
    seen: VecDeque<(Instant, f64)>,
    /// The first arrival, the origin of relative delays.
    origin: Option<(Instant, u64)>,
    target: Duration,
    /// The smallest relative delay in the window, ms.
    earliest: f64,
    /// The window's delays, reused for the percentile (no allocation per packet).
    scratch: Vec<f64>,
}

impl Default for ArrivalJitter {
    fn default() -> Self {
        Self::new()
    }
}

impl ArrivalJitter {
    /// Nothing seen yet: the target is the floor.
    pub fn new() -> Self {
        Self {
            seen: VecDeque::new(),
            origin: None,
            target: FLOOR,
            earliest: f64::INFINITY,
            scratch: Vec::new(),
        }
    }

    /// The relative delay of a packet with extended timestamp `ts` that arrived at `at`, ms.
    fn relative_delay(&mut self, ts: u64, at: Instant) -> f64 {
        let (t0, ts0) = *self.origin.get_or_insert((at, ts));
        let since = at.saturating_duration_since(t0).as_secs_f64() * 1000.0;
        since - (ts as f64 - ts0 as f64) / 48.0
    }

    /// A packet with extended 48 kHz timestamp `ts` arrived at `now`.
    pub fn arrived(&mut self, ts: u64, now: Instant) {
        let delay = self.relative_delay(ts, now);
        self.seen.push_back((now, delay));
        while self
            .seen
            .front()
            .is_some_and(|&(t, _)| now.saturating_duration_since(t) > WINDOW)
        {
            self.seen.pop_front();
        }
        self.target = self.compute();
    }

    /// How much later than the earliest packets of late this packet arrived.
    pub fn lateness(&mut self, ts: u64, arrived: Instant) -> Duration {
        let delay = self.relative_delay(ts, arrived);
        if !self.earliest.is_finite() {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(((delay - self.earliest) / 1000.0).max(0.0))
    }

    /// The target from the window; also keeps its earliest delay. A selection, not a sort: it
    /// runs for every packet.
    fn compute(&mut self) -> Duration {
        let delays = &mut self.scratch;
        delays.clear();
        delays.extend(self.seen.iter().map(|&(_, d)| d));
        self.earliest = delays.iter().copied().fold(f64::INFINITY, f64::min);
        if delays.len() < 2 {
            return FLOOR;
        }
        let earliest = self.earliest;
        let at = ((delays.len() - 1) as f64 * QUANTILE).round() as usize;
        let (_, late, _) = delays.select_nth_unstable_by(at, f64::total_cmp);
        let spread = (*late - earliest).max(0.0);
        Duration::from_secs_f64(spread / 1000.0)
            .max(FLOOR)
            .min(MAX_TARGET)
    }

    /// The delay that lets the packets arrive in time.
    pub fn target(&self) -> Duration {
        self.target
    }
}
