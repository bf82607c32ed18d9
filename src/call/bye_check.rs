//! A `bye` the answerer cannot attribute, checked against the peer's media before it is believed.
//!
//! The seed's server relays `leave` from any socket into any room, and never tells the answerer
//! who offered, so a `bye` that names an unknown socket may be a stranger's. A peer that really
//! left has closed its peer connection (roompeer closes it before it sends `leave`, the page
//! right after): its media stops. So the session counts the packets that arrive after the `bye`,
//! a few times a second: media that stops for [`QUIET`] means the peer left (the call ends then,
//! not a fixed second later); media that flows on past the settle means a stranger's `bye`.

use std::time::{Duration, Instant};

/// Packets still in flight when the `bye` came may land this long after it (a keyframe leaving
/// a pacer); they do not show a peer still there.
const SETTLE: Duration = Duration::from_millis(300);
/// How long media is counted after the settle, at most.
const WATCH: Duration = Duration::from_secs(1);
/// A peer still in the call sends far more than this in [`WATCH`] (audio alone is 50 packets a
/// second; a muted microphone still sends silence); one that left sends none.
const ALIVE_PACKETS: u64 = 10;
/// No packet for this long: the media stopped. Audio alone comes every 20 ms; a live peer's
/// media pausing this long just as a stranger's `bye` comes is far less likely than the peer
/// having left, and a pause that is an outage is told apart by the connection anyway.
const QUIET: Duration = Duration::from_millis(250);
/// How often the packets are counted.
const POLL: Duration = Duration::from_millis(50);

/// What the check wants done next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ByeStep {
    /// Note how many packets the call has received so far.
    Mark,
    /// Count the packets received since the mark, and report them.
    Count,
}

/// What the media said of the `bye`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ByeVerdict {
    /// The media stopped: the peer left.
    PeerLeft,
    /// The media went on: the `bye` was somebody else's.
    PeerStays {
        /// Packets that came after the settle.
        packets: u64,
    },
}

/// One `bye` under check.
#[derive(Debug)]
pub(super) struct ByeCheck {
    /// The socket the `bye` named (for the log).
    pub socket: String,
    since: Instant,
    marked: bool,
    /// A count is asked for and not yet answered.
    counting: bool,
    next_count: Instant,
    /// Packets since the mark at the last count, and when they last grew.
    packets: u64,
    last_growth: Instant,
    /// Packets since the mark when the settle ended.
    at_settle: Option<u64>,
}

impl ByeCheck {
    pub fn new(now: Instant, socket: String) -> Self {
        Self {
            socket,
            since: now,
            marked: false,
            counting: false,
            next_count: now + POLL,
            packets: 0,
            last_growth: now,
            at_settle: None,
        }
    }

    /// When to look at the check again.
    pub fn due(&self) -> Option<Instant> {
        if !self.marked {
            Some(self.since)
        } else if !self.counting {
            Some(self.next_count)
        } else {
            None
        }
    }

    /// The step due at `now`, if any.
    pub fn step(&mut self, now: Instant) -> Option<ByeStep> {
        if !self.marked {
            self.marked = true;
            Some(ByeStep::Mark)
        } else if !self.counting && now >= self.next_count {
            self.counting = true;
            Some(ByeStep::Count)
        } else {
            None
        }
    }

    /// The answer to a count at `now`: `packets` received since the mark. A verdict once the
    /// media stopped or flowed on long enough; `None` while it cannot tell yet.
    pub fn counted(&mut self, now: Instant, packets: u64) -> Option<ByeVerdict> {
        self.counting = false;
        self.next_count = now + POLL;
        if packets > self.packets {
            self.packets = packets;
            self.last_growth = now;
        }
        if now.saturating_duration_since(self.last_growth) >= QUIET {
            return Some(ByeVerdict::PeerLeft);
        }
        if self.at_settle.is_none() && now >= self.since + SETTLE {
            self.at_settle = Some(self.packets);
        }
        let after_settle = self.packets - self.at_settle.unwrap_or(self.packets);
        if after_settle >= ALIVE_PACKETS {
            return Some(ByeVerdict::PeerStays {
                packets: after_settle,
            });
        }
        if now >= self.since + SETTLE + WATCH {
            // A trickle, neither flowing nor stopped: not a peer still in the call.
            return Some(ByeVerdict::PeerLeft);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the check a count every `POLL` from `t0` with `packets_at(elapsed)`, until a
    /// verdict; returns it and when it came.
    fn run(packets_at: impl Fn(Duration) -> u64) -> (ByeVerdict, Duration) {
        let t0 = Instant::now();
        let mut c = ByeCheck::new(t0, "x".into());
        assert_eq!(c.due(), Some(t0), "marked at once");
        assert_eq!(c.step(t0), Some(ByeStep::Mark));
        loop {
            let due = c.due().expect("a count is due");
            assert_eq!(c.step(due), Some(ByeStep::Count));
            assert_eq!(c.due(), None, "one count at a time");
            let elapsed = due - t0;
            assert!(elapsed <= SETTLE + WATCH + POLL, "decided in time");
            if let Some(v) = c.counted(due, packets_at(elapsed)) {
                return (v, elapsed);
            }
        }
    }

    #[test]
    fn media_that_stops_ends_the_call_soon() {
        // Nothing after the bye: believed after the quiet, not a second later.
        let (v, at) = run(|_| 0);
        assert_eq!(v, ByeVerdict::PeerLeft);
        assert_eq!(at, QUIET);
        // A keyframe in flight (40 packets in the first 60 ms), then nothing.
        let (v, at) = run(|t| {
            if t < Duration::from_millis(60) {
                20
            } else {
                40
            }
        });
        assert_eq!(v, ByeVerdict::PeerLeft);
        assert!(at < SETTLE + POLL * 2, "{at:?}");
    }

    #[test]
    fn media_that_flows_on_is_a_stranger_s_bye() {
        // 100 packets a second.
        let (v, at) = run(|t| t.as_millis() as u64 / 10);
        assert!(matches!(v, ByeVerdict::PeerStays { packets } if packets >= ALIVE_PACKETS));
        assert!(at <= SETTLE + Duration::from_millis(150), "{at:?}");
    }

    #[test]
    fn a_trickle_is_not_a_peer() {
        // One packet every 200 ms: never quiet for long, never enough.
        let (v, at) = run(|t| t.as_millis() as u64 / 200);
        assert_eq!(v, ByeVerdict::PeerLeft);
        assert!(at >= SETTLE + WATCH, "{at:?}");
    }
}
