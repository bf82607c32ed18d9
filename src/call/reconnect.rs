//! When the signaling connection is tried again after it was lost: 250 ms after the loss, then
//! doubling after each failed attempt up to 5 s, one attempt at a time.

use std::time::{Duration, Instant};

const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Signaling is up (or was never lost).
    #[default]
    Idle,
    /// The next attempt is due then.
    Waiting(Instant),
    /// An attempt is under way.
    Attempting,
}

/// The reconnect policy, fed with time; the adapter makes the attempts it asks for.
#[derive(Debug, Clone, Default)]
pub struct Reconnect {
    state: State,
    /// The pause before the attempt now scheduled.
    pause: Duration,
}

impl Reconnect {
    fn schedule(&mut self, now: Instant) {
        self.pause = (self.pause * 2).clamp(FIRST_PAUSE, LONGEST_PAUSE);
        self.state = State::Waiting(now + self.pause);
    }

    /// Signaling was lost: the first attempt is scheduled (unless one is already under way).
    pub fn lost(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.schedule(now);
        }
    }

    /// The attempt failed: the next one waits twice as long.
    pub fn failed(&mut self, now: Instant) {
        self.schedule(now);
    }

    /// Signaling is up: the policy starts afresh.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// When the next attempt is due, if one is scheduled.
    pub fn due(&self) -> Option<Instant> {
        match self.state {
            State::Waiting(at) => Some(at),
            _ => None,
        }
    }

    /// Whether an attempt is due at `now`; if so it counts as started.
    pub fn take_due(&mut self, now: Instant) -> bool {
        match self.state {
            State::Waiting(at) if now >= at => {
                self.state = State::Attempting;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_back_off_from_250_ms_to_5_s_one_at_a_time() {
        let t = Instant::now();
        let mut r = Reconnect::default();
        assert_eq!(r.due(), None);
        assert!(!r.take_due(t));
        r.lost(t);
        assert_eq!(r.due(), Some(t + Duration::from_millis(250)));
        assert!(!r.take_due(t + Duration::from_millis(249)));
        assert!(r.take_due(t + Duration::from_millis(250)));
        assert_eq!(r.due(), None, "one attempt at a time");
        assert!(!r.take_due(t + Duration::from_secs(60)));
        r.lost(t);
        assert_eq!(r.due(), None, "a loss during an attempt changes nothing");
        let mut now = t;
        let mut pauses = Vec::new();
        for _ in 0..7 {
            r.failed(now);
            let at = r.due().unwrap();
            pauses.push((at - now).as_millis());
            now = at;
            assert!(r.take_due(now));
        }
        assert_eq!(pauses, [500, 1000, 2000, 4000, 5000, 5000, 5000]);
    }

    #[test]
    fn success_starts_afresh() {
        let t = Instant::now();
        let mut r = Reconnect::default();
        r.lost(t);
        assert!(r.take_due(t + Duration::from_secs(1)));
        r.failed(t);
        r.succeeded();
        assert_eq!(r.due(), None);
        r.lost(t);
        assert_eq!(r.due(), Some(t + Duration::from_millis(250)));
    }
}
