//! What a running session shows while it runs: written by the runner and the media threads,
//! read by the window. The window owns no protocol logic; it reads this and sends commands.

use crate::media::frame::I420Frame;
use std::sync::{Arc, Mutex, MutexGuard};

/// A snapshot of a session for display.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// The session's state in words (`in a call`, `in the room, waiting for a peer`, …).
    pub status: String,
    /// The offer of the current call, whoever made it (the seed page's left pane).
    pub offer_sdp: String,
    /// The answer of the current call (the right pane).
    pub answer_sdp: String,
    /// What went wrong, for a person (room full, refused certificate, …).
    pub error: Option<String>,
    /// The video codec in use.
    pub video_codec: Option<String>,
    /// The candidate pair in use, e.g. `host 127.0.0.1:5000 <-> host 127.0.0.1:6000 (udp)`.
    pub selected_pair: Option<String>,
    /// The last picture we sent.
    pub local_frame: Option<Arc<I420Frame>>,
    /// The last picture decoded from the peer.
    pub remote_frame: Option<Arc<I420Frame>>,
    /// Counts remote frames, so a reader knows when to upload a new texture.
    pub remote_frames: u64,
    /// Counts local frames.
    pub local_frames: u64,
    /// The session is over (left, failed, or stopped).
    pub finished: bool,
    /// The server's certificate, when it was refused as untrusted (DER): the window asks
    /// whether to trust it.
    pub untrusted_certificate: Option<Vec<u8>>,
    /// A device could not be used (no camera, no microphone, …) and what roompeer does instead.
    pub device_notice: Option<String>,
}

/// Shared, lock-protected [`LiveState`].
#[derive(Debug, Default)]
pub struct LiveView {
    state: Mutex<LiveState>,
}

impl LiveView {
    /// An empty view.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the state (frames are shared, not copied).
    pub fn snapshot(&self) -> LiveState {
        self.lock().clone()
    }

    /// Changes the state.
    pub fn update(&self, change: impl FnOnce(&mut LiveState)) {
        change(&mut self.lock());
    }

    /// A new remote picture.
    pub fn remote_frame(&self, frame: &I420Frame) {
        let frame = Arc::new(frame.clone());
        self.update(|s| {
            s.remote_frame = Some(frame);
            s.remote_frames += 1;
        });
    }

    /// A new local picture.
    pub fn local_frame(&self, frame: &I420Frame) {
        let frame = Arc::new(frame.clone());
        self.update(|s| {
            s.local_frame = Some(frame);
            s.local_frames += 1;
        });
    }
}
