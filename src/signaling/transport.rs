//! The socket.io connection: one websocket, Engine.IO v3 or v4, pings, and the namespace join.
//!
//! A small task owns the socket; the rest of the program sees only [`Signaling`] (send) and a
//! stream of [`TransportEvent`]s (receive), whichever protocol the server speaks.

use super::engineio::{self, EioVersion, Handshake};
use super::socketio;
use crate::tls::{self, RefusedCertificate, TrustMode};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
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
    let attempt = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        Some(ws_config),
        false,
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

    let handshake = match timeout(opts.connect_timeout, next_packet(&mut ws)).await {
        Ok(Ok(engineio::Packet::Open(h))) => h,
        Ok(Ok(other)) => {
            return Err(ConnectError::Signaling(format!(
                "expected an Engine.IO handshake, got {other:?}"
            )));
        }
        Ok(Err(e)) => return Err(ConnectError::Signaling(e)),
        Err(_) => {
            return Err(ConnectError::Signaling(
                "no Engine.IO handshake from the server".into(),
            ));
        }
    };
    let eio = handshake.version();
    if let Some(forced) = opts.eio
        && forced != eio
    {
        return Err(ConnectError::Signaling(format!(
            "--eio {} was given but the server speaks Engine.IO {} ({})",
            forced.query_value(),
            eio.query_value(),
            if eio == EioVersion::V3 {
                "socket.io 2.x"
            } else {
                "socket.io 3.x/4.x"
            }
        )));
    }
    tracing::info!(?eio, sid = %handshake.sid, "Engine.IO session open");

    // Join namespace `/`: v4 asks and gets its socket id back; v3 is joined by the server.
    if eio == EioVersion::V4 {
        send_sio(
            &mut ws,
            &socketio::Packet::Connect {
                nsp: "/".into(),
                payload: None,
            },
        )
        .await
        .map_err(ConnectError::Signaling)?;
    }
    let mut early = Vec::new();
    let socket_id = match timeout(
        opts.connect_timeout,
        wait_connected(&mut ws, &handshake, &mut early),
    )
    .await
    {
        Ok(r) => r.map_err(ConnectError::Signaling)?,
        Err(_) => {
            return Err(ConnectError::Signaling(
                "the server never confirmed the socket.io connection".into(),
            ));
        }
    };
    tracing::info!(%socket_id, "socket.io connected");

    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (evt_tx, evt_rx) = mpsc::unbounded_channel();
    for e in early {
        let _ = evt_tx.send(e);
    }
    tokio::spawn(run_connection(ws, handshake, cmd_rx, evt_tx));
    Ok((
        Signaling {
            commands: cmd_tx,
            socket_id,
            eio,
        },
        evt_rx,
    ))
}

async fn next_packet(ws: &mut Ws) -> Result<engineio::Packet, String> {
    loop {
        match ws.next().await {
            None => return Err("the server closed the connection".into()),
            Some(Err(e)) => return Err(format!("signaling connection failed: {e}")),
            Some(Ok(Message::Text(t))) => {
                return engineio::Packet::parse(t.as_str()).map_err(|e| e.to_string());
            }
            Some(Ok(Message::Close(_))) => return Err("the server closed the connection".into()),
            Some(Ok(_)) => continue,
        }
    }
}

async fn send_sio(ws: &mut Ws, packet: &socketio::Packet) -> Result<(), String> {
    let frame = engineio::Packet::Message(packet.encode()).encode();
    ws.send(Message::text(frame))
        .await
        .map_err(|e| format!("cannot send to the signaling server: {e}"))
}

/// Waits for the namespace `/` connect; events that come first are kept.
async fn wait_connected(
    ws: &mut Ws,
    handshake: &Handshake,
    early: &mut Vec<TransportEvent>,
) -> Result<String, String> {
    loop {
        match next_packet(ws).await? {
            engineio::Packet::Message(m) => match socketio::Packet::parse(&m) {
                Ok(socketio::Packet::Connect { nsp, payload }) if nsp == "/" => {
                    let sid = payload
                        .as_ref()
                        .and_then(|p| p.get("sid"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        // socket.io 2.x: the socket id of namespace `/` is the Engine.IO sid.
                        .unwrap_or_else(|| handshake.sid.clone());
                    return Ok(sid);
                }
                Ok(socketio::Packet::ConnectError { message, .. }) => {
                    return Err(format!(
                        "the server refused the socket.io connection: {message}"
                    ));
                }
                Ok(socketio::Packet::Event { name, args, .. }) => {
                    early.push(TransportEvent::Event { name, args })
                }
                Ok(other) => tracing::debug!(?other, "ignored before connect"),
                Err(e) => tracing::warn!("ignoring a malformed socket.io packet: {e}"),
            },
            engineio::Packet::Ping(d) => {
                ws.send(Message::text(engineio::Packet::Pong(d).encode()))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            engineio::Packet::Close => return Err("the server closed the connection".into()),
            _ => {}
        }
    }
}

/// The connection task: relays commands and events and keeps the session alive.
async fn run_connection(
    mut ws: Ws,
    handshake: Handshake,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<TransportEvent>,
) {
    let eio = handshake.version();
    let interval = Duration::from_millis(handshake.ping_interval.max(100));
    let ping_timeout = Duration::from_millis(handshake.ping_timeout.max(100));
    // v3: we ping every interval and expect a pong within the timeout.
    // v4: the server pings; silence for interval + timeout means the connection is dead.
    let mut next_ping = Instant::now() + interval;
    let mut pong_deadline: Option<Instant> = None;
    let mut liveness_deadline = Instant::now() + handshake.liveness_window();

    let reason = loop {
        let wake = match eio {
            EioVersion::V3 => pong_deadline.map_or(next_ping, |d| d.min(next_ping)),
            EioVersion::V4 => liveness_deadline,
        };
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Emit(name, args)) => {
                    let packet = socketio::Packet::Event { nsp: "/".into(), name, args };
                    if let Err(e) = send_sio(&mut ws, &packet).await {
                        break e;
                    }
                }
                Some(Command::Close) | None => {
                    let _ = send_sio(&mut ws, &socketio::Packet::Disconnect { nsp: "/".into() }).await;
                    let _ = ws.send(Message::text(engineio::Packet::Close.encode())).await;
                    let _ = ws.close(None).await;
                    break "closed by roompeer".to_owned();
                }
            },
            frame = ws.next() => {
                let text = match frame {
                    None => break "the server closed the connection".to_owned(),
                    Some(Err(e)) => break format!("signaling connection lost: {e}"),
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) => break "the server closed the connection".to_owned(),
                    Some(Ok(_)) => continue,
                };
                liveness_deadline = Instant::now() + handshake.liveness_window();
                match engineio::Packet::parse(text.as_str()) {
                    Ok(engineio::Packet::Ping(d)) => {
                        if ws.send(Message::text(engineio::Packet::Pong(d).encode())).await.is_err() {
                            break "signaling connection lost while answering a ping".to_owned();
                        }
                    }
                    Ok(engineio::Packet::Pong(_)) => pong_deadline = None,
                    Ok(engineio::Packet::Close) => break "the server closed the session".to_owned(),
                    Ok(engineio::Packet::Message(m)) => match socketio::Packet::parse(&m) {
                        Ok(socketio::Packet::Event { name, args, .. }) => {
                            let _ = events.send(TransportEvent::Event { name, args });
                        }
                        Ok(socketio::Packet::Disconnect { .. }) => break "the server disconnected this socket".to_owned(),
                        Ok(other) => tracing::debug!(?other, "ignored socket.io packet"),
                        Err(e) => tracing::warn!("ignoring a malformed socket.io packet: {e}"),
                    },
                    Ok(other) => tracing::debug!(?other, "ignored Engine.IO packet"),
                    Err(e) => tracing::warn!("ignoring a malformed Engine.IO frame: {e}"),
                }
            }
            _ = sleep_until(wake) => {
                let now = Instant::now();
                match eio {
                    EioVersion::V4 => break "the server stopped pinging (connection dead)".to_owned(),
                    EioVersion::V3 => {
                        if pong_deadline.is_some_and(|d| now >= d) {
                            break "the server did not answer our ping (connection dead)".to_owned();
                        }
                        if now >= next_ping {
                            if ws.send(Message::text(engineio::Packet::Ping(String::new()).encode())).await.is_err() {
                                break "signaling connection lost while pinging".to_owned();
                            }
                            next_ping = now + interval;
                            pong_deadline = Some(now + ping_timeout);
                        }
                    }
                }
            }
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
