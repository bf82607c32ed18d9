//! A connected call's outages and the ICE restarts tried in them, as one state.

use super::Role;
use std::time::{Duration, Instant};

/// ICE restarts tried in one outage before the call is given up.
const MAX_RESTARTS: u32 = 3;

/// Who restarted ICE in the current outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// Nobody yet.
    NotYet,
    /// We offered a restart; only its sender tries again.
    Ours {
        /// The peer answered it: the new checks run.
        answered: bool,
    },
    /// The peer offered one, so we offer none.
    Theirs {
        /// An earlier restart offer of ours still waits for its answer.
        ours_unanswered: bool,
    },
}

/// The connection is down (it may come back).
#[derive(Debug, Clone, Copy)]
struct Outage {
    /// Since when; an answered restart moves it on, so its checks get a fresh grace.
    since: Instant,
    restart: Restart,
    /// Restarts we offered in this outage.
    offered: u32,
}

/// How a connected call stands with its connection.
#[derive(Debug, Default)]
pub struct Connection {
    outage: Option<Outage>,
    /// ICE restarts we offered in the call.
    restarts: u32,
}

impl Connection {
    /// The connection is down; an outage already under way goes on.
    pub fn disconnected(&mut self, now: Instant) {
        self.outage.get_or_insert(Outage {
            since: now,
            restart: Restart::NotYet,
            offered: 0,
        });
    }

    /// The connection is up; true if it came back from an outage.
    pub fn reconnected(&mut self) -> bool {
        self.outage.take().is_some()
    }

    /// Whether the connection is down.
    pub fn in_outage(&self) -> bool {
        self.outage.is_some()
    }

    /// ICE restarts we offered in the call.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// When to offer the first restart of this outage: after `restart_after` as offerer,
    /// three times that as answerer (so two roompeers do not both offer).
    pub fn restart_due(&self, role: Role, restart_after: Duration) -> Option<Instant> {
        let outage = self.outage.filter(|o| o.restart == Restart::NotYet)?;
        let wait = match role {
            Role::Offerer => restart_after,
            Role::Answerer => restart_after * 3,
        };
        Some(outage.since + wait)
    }

    /// When the outage has lasted `grace`: then try again or give up.
    pub fn grace_ends(&self, grace: Duration) -> Option<Instant> {
        self.outage.map(|o| o.since + grace)
    }

    /// We offer the first restart of this outage.
    pub fn restart(&mut self) {
        if let Some(o) = self.outage.as_mut() {
            o.restart = Restart::Ours { answered: false };
            o.offered = 1;
            self.restarts += 1;
        }
    }

    /// Whether to offer another restart now the grace is over: the peer answered our last
    /// one (so it is there) but the path has not come back, up to three times an outage.
    pub fn may_restart_again(&self) -> bool {
        self.outage.is_some_and(|o| {
            o.restart == Restart::Ours { answered: true } && o.offered < MAX_RESTARTS
        })
    }

    /// We offer another restart; its checks get a fresh grace.
    pub fn restart_again(&mut self, now: Instant) {
        if let Some(o) = self.outage.as_mut() {
            o.restart = Restart::Ours { answered: false };
            o.offered += 1;
            o.since = now;
            self.restarts += 1;
        }
    }

    /// The peer offers a restart during the outage: we offer none, and give it `wait` beyond
    /// its own grace to restart again if this one does not do.
    pub fn peer_restarts(&mut self, now: Instant, wait: Duration) {
        let ours_unanswered = self.awaiting_answer();
        if let Some(o) = self.outage.as_mut() {
            o.since = now + wait;
            o.restart = Restart::Theirs { ours_unanswered };
        }
    }

    /// Whether a restart offer of ours waits for its answer.
    pub fn awaiting_answer(&self) -> bool {
        matches!(
            self.outage.map(|o| o.restart),
            Some(
                Restart::Ours { answered: false }
                    | Restart::Theirs {
                        ours_unanswered: true
                    }
            )
        )
    }

    /// The peer answered our restart: a fresh grace for the new checks.
    pub fn answered(&mut self, now: Instant) {
        if let Some(o) = self.outage.as_mut() {
            o.restart = match o.restart {
                Restart::Ours { .. } => Restart::Ours { answered: true },
                Restart::Theirs { .. } => Restart::Theirs {
                    ours_unanswered: false,
                },
                Restart::NotYet => Restart::NotYet,
            };
            o.since = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn an_outage_restarts_after_the_roles_wait_and_again_only_when_answered() {
        let t = Instant::now();
        let mut c = Connection::default();
        assert_eq!(c.restart_due(Role::Offerer, S), None, "no outage");
        c.disconnected(t);
        c.disconnected(t + S);
        assert_eq!(
            c.restart_due(Role::Offerer, S),
            Some(t + S),
            "from the first"
        );
        assert_eq!(c.restart_due(Role::Answerer, S), Some(t + 3 * S));
        c.restart();
        assert_eq!(c.restart_due(Role::Offerer, S), None, "once an outage");
        assert!(c.awaiting_answer());
        assert!(!c.may_restart_again(), "not before the answer");
        c.answered(t + 2 * S);
        assert_eq!(c.grace_ends(5 * S), Some(t + 7 * S), "a fresh grace");
        for n in 2..=3 {
            assert!(c.may_restart_again(), "restart {n}");
            c.restart_again(t + 10 * S);
            assert!(!c.may_restart_again());
            c.answered(t + 10 * S);
        }
        assert!(!c.may_restart_again(), "three an outage");
        assert_eq!(c.restarts(), 3);
        assert!(c.reconnected());
        assert!(!c.in_outage());
        c.disconnected(t + 20 * S);
        assert_eq!(
            c.restart_due(Role::Offerer, S),
            Some(t + 21 * S),
            "a new outage"
        );
    }

    #[test]
    fn the_peers_restart_stops_ours() {
        let t = Instant::now();
        let mut c = Connection::default();
        c.peer_restarts(t, 3 * S);
        assert!(!c.in_outage(), "a renegotiation while up is no restart");
        c.disconnected(t);
        c.peer_restarts(t + S, 3 * S);
        assert_eq!(c.restart_due(Role::Answerer, S), None);
        assert!(!c.awaiting_answer());
        assert_eq!(c.grace_ends(5 * S), Some(t + 9 * S));
        assert!(
            !c.may_restart_again(),
            "only the restart's sender tries again"
        );
        assert_eq!(c.restarts(), 0);
    }

    #[test]
    fn crossing_restarts_still_take_our_answer() {
        let t = Instant::now();
        let mut c = Connection::default();
        c.disconnected(t);
        c.restart();
        c.peer_restarts(t + S, 3 * S);
        assert!(c.awaiting_answer());
        c.answered(t + 2 * S);
        assert!(!c.awaiting_answer());
        assert!(!c.may_restart_again());
    }
}
