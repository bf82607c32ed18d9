//! Asks each TURN server for an allocation before a call, so that a wrong password or an
//! unreachable server is said plainly. webrtc 0.21 logs a failed allocation and goes on without
//! relay candidates; a user would only see a call that never connects.
//!
//! The TURN client is rtc's sans-I/O one (`rtc::turn::client`); this module only moves its
//! datagrams over a UDP socket and reads its events. The allocation is released at once.

use rtc::sansio::Protocol as _;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc::turn::client::{Client, ClientConfig, Event};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What a TURN server said.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnStatus {
    /// It gave a relayed address.
    Ok {
        /// The relayed address.
        relayed: SocketAddr,
        /// From the first request to the allocation.
        took: Duration,
    },
    /// It refused the credentials.
    Unauthorized(String),
    /// It did not answer in time.
    Unreachable,
    /// Anything else (refused for another reason, a name that does not resolve, …).
    Failed(String),
}

/// The result for one TURN url.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnCheck {
    /// The url checked.
    pub url: String,
    /// What happened.
    pub status: TurnStatus,
}

impl TurnCheck {
    /// For a person: what failed and what to do.
    pub fn problem(&self) -> Option<String> {
        match &self.status {
            TurnStatus::Ok { .. } => None,
            TurnStatus::Unauthorized(why) => Some(format!(
                "the TURN server {} refused the user name or password ({why}): check --ice-user and --ice-pass",
                self.url
            )),
            TurnStatus::Unreachable => Some(format!(
                "the TURN server {} did not answer: check its address and port, and that {} reaches it",
                self.url,
                if self.url.starts_with("turns:") || self.url.contains("transport=tcp") {
                    "TCP"
                } else {
                    "UDP"
                }
            )),
            TurnStatus::Failed(why) => Some(format!("the TURN server {} failed: {why}", self.url)),
        }
    }
}

/// Reads an allocation error: 401 (and 441, wrong credentials) are authentication failures.
fn classify(error: &str) -> TurnStatus {
    if error.contains("401") || error.contains("441") || error.contains("Unauthorized") {
        TurnStatus::Unauthorized(error.to_owned())
    } else {
        TurnStatus::Failed(error.to_owned())
    }
}

/// The host and port of a `turn:` url (`turn:host:port?transport=udp`), 3478 by default.
fn host_port(url: &str) -> Option<String> {
    let rest = url.strip_prefix("turn:")?;
    let rest = rest.split('?').next()?;
    if rest.is_empty() {
        return None;
    }
    // An IPv6 literal keeps its brackets; a port follows the last colon after them.
    let has_port = match rest.rfind(']') {
        Some(i) => rest[i..].contains(':'),
        None => rest.contains(':'),
    };
    Some(if has_port {
        rest.to_owned()
    } else {
        format!("{rest}:3478")
    })
}

/// Allocates on the TURN server of a UDP `turn:` url with these credentials, within `timeout`.
pub async fn check(url: &str, user: &str, pass: &str, timeout: Duration) -> TurnCheck {
    let status = match tokio::time::timeout(timeout, allocate(url, user, pass)).await {
        Ok(s) => s,
        Err(_) => TurnStatus::Unreachable,
    };
    TurnCheck {
        url: url.to_owned(),
        status,
    }
}

async fn allocate(url: &str, user: &str, pass: &str) -> TurnStatus {
    let Some(server) = host_port(url) else {
        return TurnStatus::Failed(format!("{url} is not a turn: url"));
    };
    let server: SocketAddr = match tokio::net::lookup_host(&server).await {
        Ok(mut addrs) => match addrs.next() {
            Some(a) => a,
            None => return TurnStatus::Failed(format!("{server} has no address")),
        },
        Err(e) => return TurnStatus::Failed(format!("cannot resolve {server}: {e}")),
    };
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap_or(server)
    } else {
        "[::]:0".parse().unwrap_or(server)
    };
    let socket = match tokio::net::UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return TurnStatus::Failed(format!("cannot open a UDP socket: {e}")),
    };
    let local = socket.local_addr().unwrap_or(bind);
    let crypto = match webrtc::peer_connection::crypto::default_provider() {
        Ok(c) => c,
        Err(e) => return TurnStatus::Failed(format!("no crypto provider: {e}")),
    };
    let config = ClientConfig {
        turn_serv_addr: server.to_string(),
        local_addr: local,
        transport_protocol: TransportProtocol::UDP,
        username: user.to_owned(),
        password: pass.to_owned(),
        ..Default::default()
    };
    let mut client = match Client::new(config, crypto) {
        Ok(c) => c,
        Err(e) => return TurnStatus::Failed(e.to_string()),
    };
    let started = Instant::now();
    if let Err(e) = client.allocate(started) {
        return TurnStatus::Failed(e.to_string());
    }
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(out) = client.poll_write() {
            if let Err(e) = socket.send_to(&out.message, out.transport.peer_addr).await {
                return TurnStatus::Failed(format!("cannot send to {server}: {e}"));
            }
        }
        while let Some(event) = client.poll_event() {
            match event {
                Event::AllocateResponse(_, relayed) => {
                    let took = started.elapsed();
                    // Release it: this was only a question.
                    if let Ok(mut relay) = client.relay(relayed) {
                        let _ = relay.close(Instant::now());
                    }
                    while let Some(out) = client.poll_write() {
                        let _ = socket.send_to(&out.message, out.transport.peer_addr).await;
                    }
                    return TurnStatus::Ok { relayed, took };
                }
                Event::AllocateError(_, e) => return classify(&e.to_string()),
                Event::TransactionTimeout(_) => return TurnStatus::Unreachable,
                _ => {}
            }
        }
        let wake = client
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_millis(500));
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let msg = TaggedBytesMut {
                        now: Instant::now(),
                        transport: TransportContext {
                            local_addr: local,
                            peer_addr: from,
                            transport_protocol: TransportProtocol::UDP,
                            ecn: None,
                        },
                        message: bytes::BytesMut::from(&buf[..n]),
                    };
                    if let Err(e) = client.handle_read(msg) {
                        tracing::debug!("TURN check: {e}");
                    }
                }
                // ICMP port unreachable arrives as a receive error on Linux: nobody listens.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return TurnStatus::Unreachable;
                }
                Err(e) => return TurnStatus::Failed(format!("{server}: {e}")),
            },
            _ = tokio::time::sleep_until(wake) => {
                let _ = client.handle_timeout(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_turn_urls_and_errors() {
        assert_eq!(host_port("turn:10.0.0.1").as_deref(), Some("10.0.0.1:3478"));
        assert_eq!(
            host_port("turn:turn.example.org:3479?transport=udp").as_deref(),
            Some("turn.example.org:3479")
        );
        assert_eq!(host_port("turn:[::1]").as_deref(), Some("[::1]:3478"));
        assert_eq!(host_port("turn:[::1]:5000").as_deref(), Some("[::1]:5000"));
        assert_eq!(host_port("stun:10.0.0.1"), None);
        assert!(matches!(
            classify("Allocate error response (error 401: Unauthorized)"),
            TurnStatus::Unauthorized(_)
        ));
        assert!(matches!(
            classify("error 486: Allocation Quota Reached"),
            TurnStatus::Failed(_)
        ));
        let c = TurnCheck {
            url: "turn:h:1".into(),
            status: TurnStatus::Unauthorized("401".into()),
        };
        assert!(c.problem().unwrap().contains("--ice-pass"));
    }
}
