//! roompeer: a native WebRTC client for the seed's socket.io room signaling.

pub mod call;
pub mod signaling;
pub mod media;
