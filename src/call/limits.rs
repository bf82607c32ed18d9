//! What one peer may make roompeer do per unit of time or per call: bounds that keep a hostile
//! or broken peer from turning the room into a denial of service.

use std::time::{Duration, Instant};

/// Offers one call takes (renegotiations and ICE restarts included) per [`WINDOW`]: a browser
/// sends one per restart or track change; a storm of them is refused, not re-applied.
pub const OFFERS_PER_WINDOW: u32 = 10;
/// Call attempts that end without connecting (a bad offer, no common codec) per [`WINDOW`];
/// past it, offers wait for the window to pass (a good peer that joins is still called).
pub const FAILED_ATTEMPTS_PER_WINDOW: u32 = 5;
/// Remote candidates one call keeps: a browser gathers a handful per interface and server;
/// thousands are a flood.
pub const CANDIDATES_PER_CALL: usize = 200;
/// The window the rates above are counted over.
pub const WINDOW: Duration = Duration::from_secs(10);

/// A count that starts again every [`WINDOW`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RateWindow {
    started: Option<Instant>,
    count: u32,
}

impl RateWindow {
    /// Counts one at `now`.
    pub fn count(&mut self, now: Instant) {
        if self
            .started
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW)
        {
            self.started = Some(now);
            self.count = 0;
        }
        self.count += 1;
    }

    /// Counts one at `now`; false once more than `limit` came in the window.
    pub fn allow(&mut self, now: Instant, limit: u32) -> bool {
        self.count(now);
        self.count <= limit
    }

    /// Whether the window is full at `now` (without counting).
    pub fn is_full(&self, now: Instant, limit: u32) -> bool {
        self.started
            .is_some_and(|s| now.saturating_duration_since(s) < WINDOW && self.count >= limit)
    }
}

/// What the session refused from the peer (recorded as an `ignored` event, counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// An answer when we had no offer out.
    AnswerWithoutOffer,
    /// More offers in one call than [`OFFERS_PER_WINDOW`].
    OfferStorm,
    /// An offer while too many attempts just failed.
    FailedAttempts,
    /// Candidates past [`CANDIDATES_PER_CALL`].
    CandidateFlood,
    /// A candidate with no call to go to.
    CandidateWithoutCall,
    /// A `bye` about a socket that is not our peer.
    ByeFromStranger,
}

impl Refused {
    /// The name in the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::AnswerWithoutOffer => "answer_without_offer",
            Refused::OfferStorm => "offer_storm",
            Refused::FailedAttempts => "offer_after_failed_attempts",
            Refused::CandidateFlood => "candidate_flood",
            Refused::CandidateWithoutCall => "candidate_without_call",
            Refused::ByeFromStranger => "bye_from_stranger",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_refuses_past_its_limit_and_starts_again() {
        let t = Instant::now();
        let mut w = RateWindow::default();
        assert!((0..3).all(|_| w.allow(t, 3)));
        assert!(w.is_full(t, 3));
        assert!(!w.allow(t + Duration::from_secs(1), 3));
        assert!(w.allow(t + WINDOW, 3));
    }
}
