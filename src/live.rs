//! What a running session shows while it runs: written by the runner and the media threads,
//! read by the window. The window owns no protocol logic; it reads this and sends commands.

use crate::media::frame::I420Frame;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a session stands, as the window shows it (it translates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShownStatus {
    /// No session yet.
    #[default]
    NotConnected,
    /// The session is running.
    Session(crate::call::Status),
    /// The session ended as planned.
    LeftTheRoom,
    /// The session ended with an error (see [`LiveState::error`]).
    Ended,
}

impl ShownStatus {
    /// In English; the window looks this up in its language.
    pub fn english(self) -> &'static str {
        match self {
            ShownStatus::NotConnected => "not connected",
            ShownStatus::Session(s) => s.english(),
            ShownStatus::LeftTheRoom => "left the room",
            ShownStatus::Ended => "ended",
        }
    }

    /// Whether a call is connected.
    pub fn in_call(self) -> bool {
        matches!(
            self,
            ShownStatus::Session(crate::call::Status::InCall {
                connected: true,
                ..
            })
        )
    }
}

/// A snapshot of a session for display.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// Where the session stands.
    pub status: ShownStatus,
    /// The offer of the current call, whoever made it (the seed page's left pane).
    pub offer_sdp: String,
    /// The answer of the current call (the right pane).
    pub answer_sdp: String,
    /// What went wrong, for a person (room full, refused certificate, …).
    pub error: Option<String>,
    /// The video codec in use.
    pub video_codec: Option<String>,
    /// The candidate pair in use, e.g. `host 127.0.0.1:5000 <-> host 127.0.0.1:6000 (udp)`.
    pub selected_pair: Option<crate::peer::SelectedPair>,
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
    /// Local and remote ICE candidates of the current call, as they trickled in.
    pub candidates: Vec<CandidateRow>,
    /// One sample a second of the current call's figures (the last two minutes).
    pub stats: std::collections::VecDeque<StatsSample>,
    /// A part could not be used (no camera, no microphone, a TURN server that refused us, …)
    /// and what roompeer does instead.
    pub notices: Vec<String>,
}

/// One ICE candidate, as the WebRTC trickle-ICE sample page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRow {
    /// `local` or `remote`.
    pub side: &'static str,
    /// `host`, `srflx`, `prflx` or `relay`.
    pub kind: String,
    /// `udp` or `tcp`.
    pub protocol: String,
    /// An IP address or an mDNS `.local` name.
    pub address: String,
    /// The port.
    pub port: u16,
    /// The ICE priority.
    pub priority: u32,
    /// The candidate line as sent.
    pub raw: String,
}

impl CandidateRow {
    /// Reads `candidate:FOUNDATION COMPONENT PROTOCOL PRIORITY ADDRESS PORT typ TYPE …`;
    /// `None` for anything else (an end-of-candidates marker, garbage from the network).
    pub fn parse(side: &'static str, line: &str) -> Option<Self> {
        let body = line.trim().strip_prefix("a=").unwrap_or(line.trim());
        let body = body.strip_prefix("candidate:")?;
        let f: Vec<&str> = body.split_ascii_whitespace().collect();
        if f.len() < 8 || f[6] != "typ" {
            return None;
        }
        Some(Self {
            side,
            kind: f[7].to_owned(),
            protocol: f[2].to_ascii_lowercase(),
            address: f[4].to_owned(),
            port: f[5].parse().ok()?,
            priority: f[3].parse().ok()?,
            raw: line.to_owned(),
        })
    }
}

/// A call's figures over one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StatsSample {
    /// Seconds since the call connected.
    pub t: f64,
    /// Media sent, kbit/s (RTP payload).
    pub kbps_out: f64,
    /// Media received, kbit/s (RTP payload).
    pub kbps_in: f64,
    /// Video frames sent per second.
    pub fps_out: f64,
    /// Video frames decoded per second.
    pub fps_in: f64,
    /// Round-trip time from the peer's reception reports, ms.
    pub rtt_ms: Option<f64>,
    /// Share of our video the peer reports lost, %.
    pub loss_pct: f64,
    /// What the video jitter buffer holds frames for now, ms.
    pub video_buffer_ms: Option<f64>,
    /// What the audio jitter buffer holds audio for now, ms.
    pub audio_buffer_ms: Option<f64>,
    /// Lately, received video handed over minus audio of the same moment, ms (+: video late).
    pub av_sync_ms: Option<f64>,
}

/// Samples kept for the plots.
pub const STATS_KEPT: usize = 120;

/// Shared, lock-protected [`LiveState`].
#[derive(Debug, Default)]
pub struct LiveView {
    state: Mutex<LiveState>,
    /// Whether the reader shows pictures (the window) or only words and figures (the
    /// terminal's status line): pictures are copied for it only if so.
    figures_only: bool,
}

impl LiveView {
    /// An empty view, for the window.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// An empty view whose reader shows no pictures (the terminal's status line).
    pub fn figures_only() -> Arc<Self> {
        Arc::new(Self {
            figures_only: true,
            ..Self::default()
        })
    }

    fn lock(&self) -> MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the state (frames are shared, not copied).
    pub fn snapshot(&self) -> LiveState {
        self.lock().clone()
    }

    /// Reads the state in place.
    pub fn read<R>(&self, look: impl FnOnce(&LiveState) -> R) -> R {
        look(&self.lock())
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

    /// A candidate trickled in (unparsable ones are not listed).
    pub fn candidate(&self, side: &'static str, line: &str) {
        if let Some(row) = CandidateRow::parse(side, line) {
            self.update(|s| s.candidates.push(row));
        }
    }

    /// A second's figures.
    pub fn stats(&self, sample: StatsSample) {
        self.update(|s| {
            s.stats.push_back(sample);
            while s.stats.len() > STATS_KEPT {
                s.stats.pop_front();
            }
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

/// The window watches the media: it shows the pictures and lists the notices.
impl crate::pipeline::MediaObserver for LiveView {
    fn local_frame(&self, frame: &I420Frame) {
        if !self.figures_only {
            LiveView::local_frame(self, frame);
        }
    }

    fn remote_frame(&self, frame: &I420Frame) {
        if !self.figures_only {
            LiveView::remote_frame(self, frame);
        }
    }

    fn notice(&self, message: &str) {
        self.update(|s| {
            if !s.notices.iter().any(|n| n == message) {
                s.notices.push(message.to_owned());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_candidates_as_browsers_send_them() {
        let c = CandidateRow::parse(
            "remote",
            "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.2 rport 46154 generation 0",
        )
        .unwrap();
        assert_eq!(
            (
                c.kind.as_str(),
                c.protocol.as_str(),
                c.address.as_str(),
                c.port,
                c.priority
            ),
            ("srflx", "udp", "203.0.113.7", 46154, 1677729535)
        );
        let m = CandidateRow::parse(
            "remote",
            "candidate:1 1 UDP 2122260223 4b1c2f3e-1111-2222-3333-444455556666.local 50000 typ host",
        )
        .unwrap();
        assert_eq!((m.protocol.as_str(), m.kind.as_str()), ("udp", "host"));
        assert!(CandidateRow::parse("remote", "").is_none());
        assert!(CandidateRow::parse("remote", "candidate:1 1 udp x 1.2.3.4 5 typ host").is_none());
        assert!(
            CandidateRow::parse("remote", "candidate:1 1 udp 1 1.2.3.4 99999 typ host").is_none()
        );
    }
}
