//! What one client may cost `roompeer serve`: messages a second per connection, connections per
//! address, and which web pages may connect. Plain types fed with the time; `server` applies
//! them to sockets.
//!
//! The seed's server has none of these: one client can flood a room member with 10,000
//! candidates a second, or open sockets until the process runs out of descriptors.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The limits, as configured (`roompeer serve --help` shows the flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeLimits {
    /// Messages (`join`, `message`, `leave`) a connection may send a second, on average; 0: no
    /// limit.
    pub messages_per_second: u32,
    /// How many may come at once above that rate. A call's setup sends an offer or answer and a
    /// few dozen candidates in a burst; a browser trickling through many interfaces sends ~100.
    pub message_burst: u32,
    /// Socket.io connections one IP address may hold at once; 0: no limit.
    pub connections_per_address: u32,
    /// Web origins (`https://example.org`) whose pages may connect; empty: any. Requests without
    /// an `Origin` header (native clients) are not browsers' and are let through.
    pub allowed_origins: Vec<String>,
}

/// A call needs ~50 messages; the defaults leave room for four at once on one connection and
/// refuse a flood within a fraction of a second.
pub const DEFAULT_MESSAGES_PER_SECOND: u32 = 50;
/// See [`ServeLimits::message_burst`].
pub const DEFAULT_MESSAGE_BURST: u32 = 200;
/// Enough for a household or an office behind one NAT, each with a few tabs open.
pub const DEFAULT_CONNECTIONS_PER_ADDRESS: u32 = 32;

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            messages_per_second: DEFAULT_MESSAGES_PER_SECOND,
            message_burst: DEFAULT_MESSAGE_BURST,
            connections_per_address: DEFAULT_CONNECTIONS_PER_ADDRESS,
            allowed_origins: Vec::new(),
        }
    }
}

/// What to do with a client's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the budget.
    Pass,
    /// Over it: dropped. `first` is true for the first drop since the last message that
    /// passed, so the log says it once per episode.
    Drop {
        /// The first drop of this episode.
        first: bool,
    },
    /// Over it by another whole burst: the client is not slowing down; disconnect it.
    Disconnect,
}

/// One connection's message budget: a token bucket.
#[derive(Debug, Clone)]
pub struct MessageBudget {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Drops since the last message that passed.
    dropped_in_a_row: u32,
    /// Drops over the connection's life.
    pub dropped: u64,
}

impl MessageBudget {
    /// A full bucket.
    pub fn new(limits: &ServeLimits, now: Instant) -> Self {
        let burst = f64::from(limits.message_burst.max(1));
        MessageBudget {
            rate: f64::from(limits.messages_per_second),
            burst,
            tokens: burst,
            last: now,
            dropped_in_a_row: 0,
            dropped: 0,
        }
    }

    /// A message came at `now`.
    pub fn spend(&mut self, now: Instant) -> Verdict {
        if self.rate <= 0.0 {
            return Verdict::Pass;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.dropped_in_a_row = 0;
            return Verdict::Pass;
        }
        self.dropped += 1;
        self.dropped_in_a_row += 1;
        if f64::from(self.dropped_in_a_row) > self.burst {
            Verdict::Disconnect
        } else {
            Verdict::Drop {
                first: self.dropped_in_a_row == 1,
            }
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefused {
    /// The address holds as many connections as it may.
    #[error("{address} already holds {limit} connections (--max-connections-per-address)")]
    TooManyFromAddress {
        /// The client's address.
        address: IpAddr,
        /// The limit.
        limit: u32,
    },
}

/// How often a refused address is named in the log.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Connections held per address.
#[derive(Debug, Default)]
pub struct AddressCounts {
    limit: u32,
    held: HashMap<IpAddr, u32>,
    /// When each refused address was last logged.
    logged: HashMap<IpAddr, Instant>,
}

impl AddressCounts {
    /// Counts against `limit` connections an address (0: no limit).
    pub fn new(limit: u32) -> Self {
        AddressCounts {
            limit,
            ..Default::default()
        }
    }

    /// A connection from `address` asks in. Refused: whether to log it (once per address in
    /// [`REFUSAL_LOG_INTERVAL`]; a flood of refusals must not flood the log).
    pub fn admit(
        &mut self,
        address: IpAddr,
        now: Instant,
    ) -> Result<(), (ConnectionRefused, bool)> {
        let held = self.held.entry(address).or_insert(0);
        if self.limit > 0 && *held >= self.limit {
            let log = self
                .logged
                .get(&address)
                .is_none_or(|t| now.saturating_duration_since(*t) >= REFUSAL_LOG_INTERVAL);
            if log {
                self.logged.insert(address, now);
            }
            let refused = ConnectionRefused::TooManyFromAddress {
                address,
                limit: self.limit,
            };
            return Err((refused, log));
        }
        *held += 1;
        Ok(())
    }

    /// An admitted connection from `address` closed.
    pub fn release(&mut self, address: IpAddr) {
        if let Some(held) = self.held.get_mut(&address) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.held.remove(&address);
                self.logged.remove(&address);
            }
        }
    }

    /// Connections `address` holds.
    pub fn held(&self, address: IpAddr) -> u32 {
        self.held.get(&address).copied().unwrap_or(0)
    }
}

/// Whether a request with this `Origin` header may connect. Without an allowlist, or without
/// the header (not a browser: a browser sends it on every websocket and cross-origin request),
/// yes; otherwise only an origin on the list (compared as browsers write it: scheme, host and
/// port, no trailing slash, case-insensitively).
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    allowed.is_empty()
        || allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32) -> ServeLimits {
        ServeLimits {
            messages_per_second: rate,
            message_burst: burst,
            ..Default::default()
        }
    }

    #[test]
    fn a_burst_passes_a_flood_is_dropped_then_disconnected() {
        let t0 = Instant::now();
        let mut b = MessageBudget::new(&limits(50, 200), t0);
        let verdicts: Vec<Verdict> = (0..600).map(|_| b.spend(t0)).collect();
        assert!(verdicts[..200].iter().all(|v| *v == Verdict::Pass));
        assert_eq!(verdicts[200], Verdict::Drop { first: true });
        assert!(
            verdicts[201..400]
                .iter()
                .all(|v| *v == Verdict::Drop { first: false })
        );
        assert_eq!(verdicts[400], Verdict::Disconnect);
        assert_eq!(b.dropped, 400);
    }

    #[test]
    fn a_client_within_the_rate_is_never_dropped() {
        let t0 = Instant::now();
        let mut b = MessageBudget::new(&limits(50, 200), t0);
        // A call's burst, then 40 a second for a minute.
        for _ in 0..150 {
            assert_eq!(b.spend(t0), Verdict::Pass);
        }
        for i in 1..=2400u64 {
            let at = t0 + Duration::from_millis(i * 25);
            assert_eq!(b.spend(at), Verdict::Pass, "message {i}");
        }
        // After a pause the whole burst is back.
        let later = t0 + Duration::from_secs(120);
        for _ in 0..200 {
            assert_eq!(b.spend(later), Verdict::Pass);
        }
        assert_eq!(b.spend(later), Verdict::Drop { first: true });
    }

    #[test]
    fn no_rate_means_no_limit() {
        let t0 = Instant::now();
        let mut b = MessageBudget::new(&limits(0, 1), t0);
        assert!((0..10_000).all(|_| b.spend(t0) == Verdict::Pass));
    }

    #[test]
    fn addresses_are_counted_apart_and_refusals_logged_once_in_a_while() {
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        let mut counts = AddressCounts::new(2);
        assert!(counts.admit(a, t0).is_ok());
        assert!(counts.admit(a, t0).is_ok());
        assert!(counts.admit(b, t0).is_ok());
        assert!(
            counts.admit(a, t0).unwrap_err().1,
            "the first refusal is logged"
        );
        assert!(!counts.admit(a, t0).unwrap_err().1, "the next is not");
        let (refused, log) = counts.admit(a, t0 + REFUSAL_LOG_INTERVAL).unwrap_err();
        assert!(log);
        assert!(refused.to_string().contains("10.0.0.1 already holds 2"));
        counts.release(a);
        assert!(counts.admit(a, t0).is_ok());
        for _ in 0..5 {
            counts.release(b);
        }
        assert_eq!(counts.held(b), 0);
        let mut unlimited = AddressCounts::new(0);
        assert!((0..1000).all(|_| unlimited.admit(a, t0).is_ok()));
    }

    #[test]
    fn origins_are_checked_only_when_listed_and_sent() {
        let list = vec!["https://rooms.example.org/".to_string()];
        assert!(origin_allowed(&[], Some("https://evil.example")));
        assert!(origin_allowed(&list, None));
        assert!(origin_allowed(&list, Some("https://ROOMS.example.org")));
        assert!(!origin_allowed(&list, Some("https://evil.example")));
        assert!(!origin_allowed(&list, Some("null")));
        assert!(!origin_allowed(
            &list,
            Some("https://rooms.example.org:8443")
        ));
    }
}
