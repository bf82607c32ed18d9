//! `--record DIR`: each call's SDP and candidates under `DIR/call-N/` (the media pipelines
//! write the pictures and sound there too).

use crate::report::ms_since_start;
use crate::signaling::room::SignalMessage;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which side a recorded candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Gathered here.
    Local,
    /// Sent by the peer.
    Remote,
}

impl Side {
    /// The word the candidate files and the window use.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }
}

/// One call's recording folder; does nothing when the run records nothing.
#[derive(Debug, Default)]
pub struct CallRecording {
    dir: Option<PathBuf>,
    candidates: Option<std::fs::File>,
}

impl CallRecording {
    /// Creates `root/call-N/` and its candidate log, when `root` is given.
    pub fn start(root: Option<&Path>, call: u32) -> Self {
        let dir = root.map(|d| d.join(format!("call-{call}")));
        if let Some(d) = &dir
            && let Err(e) = std::fs::create_dir_all(d)
        {
            tracing::error!("cannot create {}: {e}", d.display());
        }
        let candidates = dir
            .as_ref()
            .and_then(|d| std::fs::File::create(d.join("candidates.jsonl")).ok());
        Self { dir, candidates }
    }

    /// The call's folder, if recording.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Writes `name` into the call's folder.
    pub fn save(&self, name: &str, content: &str) {
        if let Some(dir) = &self.dir
            && let Err(e) = std::fs::write(dir.join(name), content)
        {
            tracing::error!("cannot write {name}: {e}");
        }
    }

    /// Saves our own offer or answer (`local-offer.sdp`, `local-answer.sdp`).
    pub fn save_local_description(&self, desc: &SignalMessage) {
        match desc {
            SignalMessage::Offer(sdp) => self.save("local-offer.sdp", sdp),
            SignalMessage::Answer(sdp) => self.save("local-answer.sdp", sdp),
            SignalMessage::Candidate(_) => {}
        }
    }

    /// Appends a candidate to `candidates.jsonl`, with the time since start.
    pub fn log_candidate(&mut self, side: Side, candidate: &str) {
        if let Some(f) = self.candidates.as_mut() {
            let line = serde_json::json!({
                "t_ms": ms_since_start(Instant::now()),
                "side": side.as_str(),
                "candidate": candidate,
            });
            if let Err(e) = writeln!(f, "{line}") {
                tracing::error!("cannot write candidates.jsonl: {e}");
                self.candidates = None;
            }
        }
    }
}
