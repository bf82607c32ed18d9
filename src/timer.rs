//! The one timer helper the adapters share: their sans-I/O state machines say when they next
//! need the time (or that they do not), and the adapters sleep until then.

use std::time::Instant;

/// Sleeps until `deadline`, or forever when there is none (a `select!` branch that never fires).
pub async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
