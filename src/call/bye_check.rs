//! A `bye` the answerer cannot attribute, checked against the peer's media before it is believed.
//!
//! The seed's server relays `leave` from any socket into any room, and never tells the answerer
//! who offered, so a `bye` that names an unknown socket may be a stranger's. A peer that really
//! left has closed its peer connection (roompeer closes it before it sends `leave`, the page
//! right after): its media stops. So the session lets in-flight packets land, counts what
//! arrives over the next second, and believes the `bye` only if the media stopped.

use std::time::{Duration, Instant};

/// Packets still in flight when the `bye` came may land this long after it.
const SETTLE: Duration = Duration::from_millis(300);
/// How long media is counted after the settle.
const WATCH: Duration = Duration::from_secs(1);
/// A peer still in the call sends far more than this in [`WATCH`] (audio alone is 50 packets a
/// second; a muted microphone still sends silence); one that left sends none.
const ALIVE_PACKETS: u64 = 10;

/// What the check wants done next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ByeStep {
    /// Note how many packets the call has received so far.
    Mark,
    /// Count the packets received since the mark, and report them.
    Count,
}

/// One `bye` under check.
#[derive(Debug)]
pub(super) struct ByeCheck {
    /// The socket the `bye` named (for the log).
    pub socket: String,
    mark_at: Instant,
    count_at: Instant,
    marked: bool,
    counting: bool,
}

impl ByeCheck {
    pub fn new(now: Instant, socket: String) -> Self {
        Self {
            socket,
            mark_at: now + SETTLE,
            count_at: now + SETTLE + WATCH,
            marked: false,
            counting: false,
        }
    }

    /// When to look at the check again, until its count is asked for.
    pub fn due(&self) -> Option<Instant> {
        if !self.marked {
            Some(self.mark_at)
        } else if !self.counting {
            Some(self.count_at)
        } else {
            None
        }
    }

    /// The step due at `now`, if any (each is asked for once).
    pub fn step(&mut self, now: Instant) -> Option<ByeStep> {
        if !self.marked && now >= self.mark_at {
            self.marked = true;
            Some(ByeStep::Mark)
        } else if self.marked && !self.counting && now >= self.count_at {
            self.counting = true;
            Some(ByeStep::Count)
        } else {
            None
        }
    }

    /// Whether `packets` received over the watch show a peer still in the call.
    pub fn peer_still_sends(packets: u64) -> bool {
        packets >= ALIVE_PACKETS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_after_the_settle_then_counts_once() {
        let t0 = Instant::now();
        let mut c = ByeCheck::new(t0, "x".into());
        assert_eq!(c.step(t0), None);
        assert_eq!(c.due(), Some(t0 + SETTLE));
        assert_eq!(c.step(t0 + SETTLE), Some(ByeStep::Mark));
        assert_eq!(c.step(t0 + SETTLE), None);
        assert_eq!(c.due(), Some(t0 + SETTLE + WATCH));
        assert_eq!(c.step(t0 + SETTLE + WATCH), Some(ByeStep::Count));
        assert_eq!(c.due(), None);
        assert_eq!(c.step(t0 + SETTLE + WATCH * 2), None);
    }

    #[test]
    fn a_few_stragglers_are_not_a_peer() {
        assert!(!ByeCheck::peer_still_sends(0));
        assert!(!ByeCheck::peer_still_sends(ALIVE_PACKETS - 1));
        assert!(ByeCheck::peer_still_sends(50));
    }
}
