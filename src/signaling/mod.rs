//! Signaling: the seed's socket.io room protocol over Engine.IO v3 or v4.
//!
//! `engineio` and `socketio` are pure codecs, `eio_session` is the Engine.IO session as a
//! plain type (pings, liveness, the namespace join), `transport` owns the
//! websocket, and `room` turns socket.io events into typed room events.

pub mod eio_session;
pub mod engineio;
pub mod room;
pub mod socketio;
pub mod transport;

pub use engineio::EioVersion;
pub use transport::{ConnectError, Signaling, TransportEvent, TransportOptions, connect};
