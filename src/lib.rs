//! roompeer: a native WebRTC client for the seed's socket.io room signaling.

pub mod call;
pub mod cli;
pub mod config;
pub mod devices;
pub mod fuzz;
pub mod gui;
pub mod live;
pub mod media;
pub mod peer;
pub mod pipeline;
pub mod profile;
pub mod report;
pub mod server;
pub mod session;
pub mod settings;
pub mod signaling;
pub mod terminal;
pub mod text;
pub mod timer;
pub mod tls;
