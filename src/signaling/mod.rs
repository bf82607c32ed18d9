//! Signaling: the seed's socket.io room protocol over Engine.IO v3 or v4.
//!
//! `engineio` and `socketio` are pure codecs, `transport` owns the
//! websocket, and `room` turns socket.io events into typed room events.

pub mod engineio;
pub mod room;
pub mod socketio;
pub mod transport;

pub use engineio::EioVersion;
pub use transport::{ConnectError, Signaling, TransportEvent, TransportOptions, connect};
