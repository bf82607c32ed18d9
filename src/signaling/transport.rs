//! The socket.io connection: one websocket, Engine.IO v3 or v4, pings, and the namespace join.
//!
//! A small task owns the socket and feeds its frames to the sans-I/O [`EioSession`], which
//! holds the protocol (pings, liveness, the namespace join); the rest of the program sees only
//! [`Signaling`] (send) and a stream of [`TransportEvent`]s (receive), whichever protocol the
//! server speaks.

use super::eio_session::{EioSession, Output, SessionEnd};
use super::engineio::EioVersion;
use crate::timer::sleep_until_opt;
use crate::tls::{self, RefusedCertificate, TrustMode};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, Message};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// `http://host:port[/path/]` or `https://…`; the socket.io path defaults to `/socket.io/`.
    pub url: url::Url,
    /// Force an Engine.IO version instead of detecting it.
    pub eio: Option<EioVersion>,
    /// How the server's certificate is trusted (https only).
    pub trust: TrustMode,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

/// What the connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportEvent {
    /// A socket.io event from the server.
    Event {
        /// Its name.
        name: String,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// The connection is gone.
    Closed {
        /// Why, for the user.
        reason: String,
    },
}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server's certificate was not trusted, or the TLS handshake failed.
    #[error("{0}")]
    Tls(String),
    /// The server's certificate was not trusted; here it is, for the user to decide on.
    #[error("{message}")]
    Untrusted {
        /// What happened and what to do, for a person.
        message: String,
        /// The refused certificate (DER).
        der: Vec<u8>,
    },
    /// Anything else: refused, unreachable, wrong protocol, timeout.
    #[error("{0}")]
    Signaling(String),
}

/// The sending half of an open connection.
#[derive(Debug, Clone)]
pub struct Signaling {
    commands: mpsc::UnboundedSender<Command>,
    /// The socket id the server gave us (the id other peers see in `otherjoin`/`bye`).
    pub socket_id: String,
    /// The Engine.IO protocol in use.
    pub eio: EioVersion,
}

/// The signaling connection is gone; nothing more can be sent on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signaling connection is closed")]
pub struct SignalingClosed;

#[derive(Debug)]
enum Command {
    Emit(String, Vec<Value>),
    Close,
}

impl Signaling {
    /// Emits a socket.io event; fails only if the connection is gone.
    pub fn emit(&self, name: &str, args: Vec<Value>) -> Result<(), SignalingClosed> {
        self.commands
            .send(Command::Emit(name.to_owned(), args))
            .map_err(|_| SignalingClosed)
    }

    /// Closes the connection (sends Engine.IO close first).
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Largest websocket message accepted from the server; SDP is a few KiB.
const MAX_MESSAGE: usize = 4 << 20;

fn websocket_url(base: &url::Url, eio: EioVersion) -> Result<url::Url, ConnectError> {
    let mut url = base.clone();
    let scheme = match base.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(ConnectError::Signaling(format!(
                "unsupported server URL scheme {other:?}: use http:// or https://"
            )));
        }
    };
    url.set_scheme(scheme)
        .map_err(|_| ConnectError::Signaling(format!("cannot use URL {base}")))?;
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/socket.io/");
    }
    url.query_pairs_mut()
        .clear()
        .append_pair("EIO", eio.query_value())
        .append_pair("transport", "websocket");
    Ok(url)
}

fn describe_ws_error(
    err: tungstenite::Error,
    refused: &RefusedCertificate,
    host: &str,
) -> ConnectError {
    use std::error::Error as _;
    if let Some(der) = refused.take() {
        let path = std::env::temp_dir().join(format!(
            "roompeer-untrusted-{}.pem",
            host.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "_")
        ));
        let saved = std::fs::write(&path, tls::to_pem(&der)).is_ok();
        let mut msg = format!(
            "the server's TLS certificate is not trusted ({err}). Its SHA-256 fingerprint is {}.",
            tls::fingerprint(&der)
        );
        if saved {
            msg.push_str(&format!(
                " If you trust this server, check the fingerprint with its owner, then run again with --pin-cert {} (saved there), or --ca-cert with the CA that issued it.",
                path.display()
            ));
        } else {
            msg.push_str(" If you trust this server, get its certificate and run again with --pin-cert PATH.");
        }
        return ConnectError::Untrusted { message: msg, der };
    }
    let is_tls = matches!(err, tungstenite::Error::Tls(_))
        || (matches!(&err, tungstenite::Error::Io(e) if e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()).is_some()));
    if is_tls {
        return ConnectError::Tls(format!("TLS handshake with the server failed: {err}"));
    }
    if let tungstenite::Error::Http(resp) = &err {
        let body = resp
            .body()
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        return ConnectError::Signaling(format!(
            "the server refused the socket.io connection: HTTP {} {}",
            resp.status(),
            body
        ));
    }
    let detail = err.source().map(|s| format!(" ({s})")).unwrap_or_default();
    ConnectError::Signaling(format!(
        "cannot connect to the signaling server: {err}{detail}"
    ))
}

/// Connects, detects the protocol, joins namespace `/`, and starts the connection task.
pub async fn connect(
    opts: &TransportOptions,
) -> Result<(Signaling, mpsc::UnboundedReceiver<TransportEvent>), ConnectError> {
    let mut result = open_session(opts).await;
    if opts.eio == Some(EioVersion::V3)
        && let Err(ConnectError::Signaling(msg)) = &mut result
    {
        // A 3.x/4.x server without allowEIO3 refuses the upgrade or breaks it off.
        msg.push_str(
            " (with --eio 3: a socket.io 3.x/4.x server without allowEIO3 refuses Engine.IO v3; try without --eio)",
        );
    }
    result
}

async fn open_session(
    opts: &TransportOptions,
) -> Result<(Signaling, mpsc::UnboundedReceiver<TransportEvent>), ConnectError> {
    // Ask for v4 unless told otherwise: a v3 server ignores the parameter and answers v3, a v4
    // server without allowEIO3 refuses v3 outright.
    let requested = opts.eio.unwrap_or(EioVersion::V4);
    let url = websocket_url(&opts.url, requested)?;
    let host = opts.url.host_str().unwrap_or("server").to_owned();
    let refused = RefusedCertificate::default();
    let connector = if url.scheme() == "wss" {
        let config = tls::client_config(&opts.trust, refused.clone())
            .map_err(|e| ConnectError::Tls(e.to_string()))?;
        Some(tokio_tungstenite::Connector::Rustls(config))
    } else {
        None
    };
    let ws_config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    tracing::info!(%url, "connecting to the signaling server");
    // Nagle off: signaling is small messages in bursts (an offer, then candidates), and with
    // it on, a message written while the previous one is unacknowledged waits for the
    // server's delayed ACK: measured 40 ms per hop on loopback, in half the call setups.
    let disable_nagle = true;
    let attempt = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        Some(ws_config),
        disable_nagle,
        connector,
    );
    let (mut ws, _) = match timeout(opts.connect_timeout, attempt).await {
        Err(_) => {
            return Err(ConnectError::Signaling(format!(
                "no answer from the signaling server {} within {:?}",
                opts.url, opts.connect_timeout
            )));
        }
        Ok(Err(e)) => {
            return Err(describe_ws_error(e, &refused, &host));
        }
        Ok(Ok(pair)) => pair,
    };
    if matches!(opts.trust, TrustMode::Insecure) && url.scheme() == "wss" {
        tracing::warn!(
            "--insecure: the signaling connection to {} is not authenticated",
            opts.url
        );
    }

    // The session opens: handshake, version check, the namespace join. Events that come
    // before the join are handed on after it, in order.
    let mut session = EioSession::new(std::time::Instant::now(), opts.eio, opts.connect_timeout);
    let mut early = Vec::new();
    let (socket_id, eio) = 'opening: loop {
        while let Some(output) = session.poll_output() {
            match output {
                Output::Send(frame) => ws.send(Message::text(frame)).await.map_err(|e| {
                    ConnectError::Signaling(format!("cannot send to the signaling server: {e}"))
                })?,
                Output::Event { name, args } => early.push(TransportEvent::Event { name, args }),
                Output::Connected { socket_id, eio } => break 'opening (socket_id, eio),
                Output::Closed(why) => return Err(ConnectError::Signaling(why.to_string())),
            }
        }
        let wake = session.poll_timeout();
        tokio::select! {
            frame = ws.next() => match frame {
                None | Some(Ok(Message::Close(_))) => {
                    return Err(ConnectError::Signaling("the server closed the connection".into()));
                }
                Some(Err(e)) => {
                    return Err(ConnectError::Signaling(format!("signaling connection failed: {e}")));
                }
                Some(Ok(Message::Text(t))) => session.handle_frame(std::time::Instant::now(), t.as_str()),
                Some(Ok(_)) => {}
            },
            _ = sleep_until_opt(wake) => session.handle_timeout(std::time::Instant::now()),
        }
    };
    tracing::info!(%socket_id, "socket.io connected");

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (evt_tx, evt_rx) = mpsc::unbounded_channel();
    for e in early {
        let _ = evt_tx.send(e);
    }
    tokio::spawn(run_connection(ws, session, cmd_rx, evt_tx));
    Ok((
        Signaling {
            commands: cmd_tx,
            socket_id,
            eio,
        },
        evt_rx,
    ))
}

/// The connection task: moves frames between the websocket and the session, and commands and
/// events between the session and the rest of roompeer.
async fn run_connection(
    mut ws: Ws,
    mut session: EioSession,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<TransportEvent>,
) {
    let reason = 'connection: loop {
        while let Some(output) = session.poll_output() {
            match output {
                Output::Send(frame) => {
                    if let Err(e) = ws.send(Message::text(frame)).await {
                        break 'connection format!("signaling connection lost: {e}");
                    }
                }
                Output::Event { name, args } => {
                    let _ = events.send(TransportEvent::Event { name, args });
                }
                Output::Connected { .. } => {}
                Output::Closed(why) => {
                    if why == SessionEnd::ClosedByUs {
                        let _ = ws.close(None).await;
                    }
                    break 'connection why.to_string();
                }
            }
        }
        let wake = session.poll_timeout();
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Emit(name, args)) => session.emit(name, args),
                Some(Command::Close) | None => session.close(),
            },
            frame = ws.next() => match frame {
                None | Some(Ok(Message::Close(_))) => break "the server closed the connection".to_owned(),
                Some(Err(e)) => break format!("signaling connection lost: {e}"),
                Some(Ok(Message::Text(t))) => session.handle_frame(std::time::Instant::now(), t.as_str()),
                Some(Ok(_)) => {}
            },
            _ = sleep_until_opt(wake) => session.handle_timeout(std::time::Instant::now()),
        }
    };
    tracing::info!(%reason, "signaling connection ended");
    let _ = events.send(TransportEvent::Closed { reason });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_urls() {
        let u =
            websocket_url(&"https://example.org:8443".parse().unwrap(), EioVersion::V4).unwrap();
        assert_eq!(
            u.as_str(),
            "wss://example.org:8443/socket.io/?EIO=4&transport=websocket"
        );
        let u = websocket_url(&"http://h/custom/".parse().unwrap(), EioVersion::V3).unwrap();
        assert_eq!(u.as_str(), "ws://h/custom/?EIO=3&transport=websocket");
        assert!(websocket_url(&"ftp://h".parse().unwrap(), EioVersion::V3).is_err());
    }
}
