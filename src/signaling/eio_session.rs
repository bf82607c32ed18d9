//! One Engine.IO session with its socket.io namespace `/`, as a plain type: fed with the
//! websocket's text frames and the time, it says what to send, what arrived and when the
//! session is over. Pings (the client's in v3, the server's in v4), liveness and the namespace
//! join live here; `transport.rs` only moves frames.

use super::engineio::{self, EioVersion, Handshake};
use super::socketio;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the session asks of the adapter, or tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this websocket text frame.
    Send(String),
    /// Namespace `/` is joined.
    Connected {
        /// The socket id the room knows us by.
        socket_id: String,
        /// The protocol the server speaks.
        eio: EioVersion,
    },
    /// A socket.io event from the server.
    Event {
        /// Its name.
        name: String,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// The session is over; close the websocket.
    Closed(SessionEnd),
}

/// Why a session ended (or never opened).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The first frame was not the handshake.
    #[error("expected an Engine.IO handshake, got {0}")]
    NoHandshake(String),
    /// Nothing came in time for the handshake.
    #[error("no Engine.IO handshake from the server")]
    HandshakeTimeout,
    /// `--eio` forced a version the server does not speak.
    #[error(
        "--eio {} was given but the server speaks Engine.IO {} ({})",
        forced.query_value(),
        spoken.query_value(),
        if *spoken == EioVersion::V3 { "socket.io 2.x" } else { "socket.io 3.x/4.x" }
    )]
    WrongVersion {
        /// What was forced.
        forced: EioVersion,
        /// What the server speaks.
        spoken: EioVersion,
    },
    /// The server refused namespace `/`.
    #[error("the server refused the socket.io connection: {0}")]
    Refused(String),
    /// The namespace join was not confirmed in time.
    #[error("the server never confirmed the socket.io connection")]
    JoinTimeout,
    /// The server sent Engine.IO close.
    #[error("the server closed the session")]
    ServerClosed,
    /// The server disconnected our socket from `/`.
    #[error("the server disconnected this socket")]
    ServerDisconnected,
    /// v4: the server's pings stopped.
    #[error("the server stopped pinging (connection dead)")]
    PingsStopped,
    /// v3: our ping was not answered.
    #[error("the server did not answer our ping (connection dead)")]
    PongMissing,
    /// We closed it.
    #[error("closed by roompeer")]
    ClosedByUs,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Waiting for the `open` packet until the deadline.
    Handshake {
        deadline: Instant,
    },
    /// Waiting for namespace `/`'s connect until the deadline.
    Joining {
        handshake: Handshake,
        deadline: Instant,
    },
    /// Joined: events flow, pings keep it alive.
    Open {
        handshake: Handshake,
        pings: Pings,
    },
    Closed,
}

/// The keep-alive clocks of an open session.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pings {
    /// v3: when we ping next.
    next_ping: Instant,
    /// v3: our ping must be answered by then.
    pong_deadline: Option<Instant>,
    /// v4: silence until then is tolerated.
    alive_until: Instant,
}

/// The session; see the module docs.
#[derive(Debug)]
pub struct EioSession {
    phase: Phase,
    /// `--eio`: the version the user insists on.
    forced: Option<EioVersion>,
    /// How long each step of opening may take.
    step_timeout: Duration,
    out: VecDeque<Output>,
}

fn sio_frame(packet: &socketio::Packet) -> String {
    engineio::Packet::Message(packet.encode()).encode()
}

impl EioSession {
    /// A session whose websocket just opened at `now`.
    pub fn new(now: Instant, forced: Option<EioVersion>, step_timeout: Duration) -> Self {
        Self {
            phase: Phase::Handshake {
                deadline: now + step_timeout,
            },
            forced,
            step_timeout,
            out: VecDeque::new(),
        }
    }

    /// The next thing to do or tell.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`EioSession::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Handshake { deadline } | Phase::Joining { deadline, .. } => Some(*deadline),
            Phase::Open { handshake, pings } => Some(match handshake.version() {
                EioVersion::V3 => pings
                    .pong_deadline
                    .map_or(pings.next_ping, |d| d.min(pings.next_ping)),
                EioVersion::V4 => pings.alive_until,
            }),
            Phase::Closed => None,
        }
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    fn end(&mut self, why: SessionEnd) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.out.push_back(Output::Closed(why));
        }
    }

    /// Emits a socket.io event on `/` (dropped once the session is closed).
    pub fn emit(&mut self, name: String, args: Vec<Value>) {
        if self.phase != Phase::Closed {
            let packet = socketio::Packet::Event {
                nsp: "/".into(),
                name,
                args,
            };
            self.out.push_back(Output::Send(sio_frame(&packet)));
        }
    }

    /// Leaves `/` and closes the Engine.IO session, as a browser tab that closes does.
    pub fn close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        let disconnect = socketio::Packet::Disconnect { nsp: "/".into() };
        self.out.push_back(Output::Send(sio_frame(&disconnect)));
        self.out
            .push_back(Output::Send(engineio::Packet::Close.encode()));
        self.end(SessionEnd::ClosedByUs);
    }

    /// Time has passed: deadlines, and v3's pings.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Handshake { deadline } if now >= *deadline => {
                self.end(SessionEnd::HandshakeTimeout)
            }
            Phase::Joining { deadline, .. } if now >= *deadline => {
                self.end(SessionEnd::JoinTimeout)
            }
            Phase::Open { handshake, pings } => match handshake.version() {
                EioVersion::V4 if now >= pings.alive_until => self.end(SessionEnd::PingsStopped),
                EioVersion::V4 => {}
                EioVersion::V3 => {
                    if pings.pong_deadline.is_some_and(|d| now >= d) {
                        self.end(SessionEnd::PongMissing);
                    } else if now >= pings.next_ping {
                        let interval = Duration::from_millis(handshake.ping_interval.max(100));
                        let timeout = Duration::from_millis(handshake.ping_timeout.max(100));
                        pings.next_ping = now + interval;
                        pings.pong_deadline = Some(now + timeout);
                        self.out.push_back(Output::Send(
                            engineio::Packet::Ping(String::new()).encode(),
                        ));
                    }
                }
            },
            _ => {}
        }
    }

    /// A websocket text frame arrived at `now`.
    pub fn handle_frame(&mut self, now: Instant, frame: &str) {
        let packet = match engineio::Packet::parse(frame) {
            Ok(p) => p,
            Err(e) => {
                if let Phase::Handshake { .. } = self.phase {
                    self.end(SessionEnd::NoHandshake(e.to_string()));
                } else {
                    tracing::warn!("ignoring a malformed Engine.IO frame: {e}");
                }
                return;
            }
        };
        match &mut self.phase {
            Phase::Closed => {}
            Phase::Handshake { .. } => self.on_handshake(now, packet),
            Phase::Joining { .. } => self.on_joining(now, packet),
            Phase::Open { handshake, pings } => {
                pings.alive_until = now + handshake.liveness_window();
                match packet {
                    engineio::Packet::Ping(d) => self
                        .out
                        .push_back(Output::Send(engineio::Packet::Pong(d).encode())),
                    engineio::Packet::Pong(_) => pings.pong_deadline = None,
                    engineio::Packet::Close => self.end(SessionEnd::ServerClosed),
                    engineio::Packet::Message(m) => self.on_socketio(&m),
                    other => tracing::debug!(?other, "ignored Engine.IO packet"),
                }
            }
        }
    }

    fn on_handshake(&mut self, now: Instant, packet: engineio::Packet) {
        let engineio::Packet::Open(handshake) = packet else {
            self.end(SessionEnd::NoHandshake(format!("{packet:?}")));
            return;
        };
        let spoken = handshake.version();
        if let Some(forced) = self.forced
            && forced != spoken
        {
            self.end(SessionEnd::WrongVersion { forced, spoken });
            return;
        }
        tracing::info!(eio = ?spoken, sid = %handshake.sid, "Engine.IO session open");
        // v4 asks to join `/` and gets its socket id back; v3 is joined by the server.
        if spoken == EioVersion::V4 {
            let connect = socketio::Packet::Connect {
                nsp: "/".into(),
                payload: None,
            };
            self.out.push_back(Output::Send(sio_frame(&connect)));
        }
        self.phase = Phase::Joining {
            handshake,
            deadline: now + self.step_timeout,
        };
    }

    fn on_joining(&mut self, now: Instant, packet: engineio::Packet) {
        let Phase::Joining { handshake, .. } = &self.phase else {
            return;
        };
        match packet {
            engineio::Packet::Message(m) => match socketio::Packet::parse(&m) {
                Ok(socketio::Packet::Connect { nsp, payload }) if nsp == "/" => {
                    let handshake = handshake.clone();
                    let socket_id = payload
                        .as_ref()
                        .and_then(|p| p.get("sid"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        // socket.io 2.x: the socket id of namespace `/` is the Engine.IO sid.
                        .unwrap_or_else(|| handshake.sid.clone());
                    let eio = handshake.version();
                    let interval = Duration::from_millis(handshake.ping_interval.max(100));
                    let pings = Pings {
                        next_ping: now + interval,
                        pong_deadline: None,
                        alive_until: now + handshake.liveness_window(),
                    };
                    self.phase = Phase::Open { handshake, pings };
                    self.out.push_back(Output::Connected { socket_id, eio });
                }
                Ok(socketio::Packet::ConnectError { message, .. }) => {
                    self.end(SessionEnd::Refused(message))
                }
                // Events before the connect are kept, in order, after it.
                Ok(_) => self.on_socketio(&m),
                Err(e) => tracing::warn!("ignoring a malformed socket.io packet: {e}"),
            },
            engineio::Packet::Ping(d) => self
                .out
                .push_back(Output::Send(engineio::Packet::Pong(d).encode())),
            engineio::Packet::Close => self.end(SessionEnd::ServerClosed),
            _ => {}
        }
    }

    fn on_socketio(&mut self, message: &str) {
        match socketio::Packet::parse(message) {
            Ok(socketio::Packet::Event { name, args, .. }) => {
                self.out.push_back(Output::Event { name, args })
            }
            Ok(socketio::Packet::Disconnect { .. }) => self.end(SessionEnd::ServerDisconnected),
            Ok(other) => tracing::debug!(?other, "ignored socket.io packet"),
            Err(e) => tracing::warn!("ignoring a malformed socket.io packet: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;
