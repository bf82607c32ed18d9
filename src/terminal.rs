//! The headless run on a terminal: one live status line, redrawn once a second, with the log
//! written above it; and the log's known noise left out.
//!
//! The line reads the same [`LiveView`] the window reads (without pictures); [`render`] is
//! plain and tested, the drawing is indicatif's.

use crate::live::{LiveState, LiveView};
use crate::report::{CallReport, Report};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The status line of this process, once one is shown: the log writes above it.
static LINE: OnceLock<ProgressBar> = OnceLock::new();

/// Where the session stands and, in a call, its figures over the last second, in one line.
pub fn render(state: &LiveState) -> String {
    let status = state.status.english();
    let sample = state.stats.back().filter(|_| state.status.in_call());
    let Some(s) = sample else {
        return status.to_owned();
    };
    let secs = s.t.max(0.0) as u64;
    let mut parts = vec![format!("{status} {}:{:02}", secs / 60, secs % 60)];
    if let Some(codec) = &state.video_codec {
        parts.push(codec.clone());
    }
    parts.push(format!("{:.0}↑ {:.0}↓ fps", s.fps_out, s.fps_in));
    parts.push(format!("{:.0}↑ {:.0}↓ kbit/s", s.kbps_out, s.kbps_in));
    parts.push(match s.rtt_ms {
        Some(rtt) => format!("RTT {rtt:.0} ms"),
        None => "RTT -".to_owned(),
    });
    parts.push(format!("loss {:.1}%", s.loss_pct));
    if let Some(p) = &state.selected_pair {
        parts.push(format!("{}↔{} {}", p.local_type, p.remote_type, p.protocol));
    }
    parts.join(" · ")
}

/// The live line, while it is shown.
pub struct StatusLine {
    bar: ProgressBar,
    stop: Arc<std::sync::atomic::AtomicBool>,
    redraw: Option<std::thread::JoinHandle<()>>,
}

impl StatusLine {
    /// Shows `view` as a live line on stderr, if stderr is a terminal.
    pub fn start(view: Arc<LiveView>) -> Option<Self> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{spinner} {wide_msg}").ok()?);
        // One status line per process: a second one would fight the first for the terminal.
        LINE.set(bar.clone()).ok()?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let redraw = {
            let (bar, stop) = (bar.clone(), stop.clone());
            std::thread::Builder::new()
                .name("status line".into())
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        bar.set_message(view.read(render));
                        bar.tick();
                        std::thread::park_timeout(Duration::from_secs(1));
                    }
                })
                .ok()
        };
        Some(Self { bar, stop, redraw })
    }

    /// Takes the line off the terminal (the summary follows in its place).
    pub fn finish(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.redraw.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

/// The log's writer: stderr, with the status line (if any) lifted while a line is written.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

/// One log record being written.
pub struct LogRecord(Vec<u8>);

impl Write for LogRecord {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogRecord {
    fn drop(&mut self) {
        let write = || {
            let _ = std::io::stderr().write_all(&self.0);
        };
        match LINE.get() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogRecord;

    fn make_writer(&'a self) -> Self::Writer {
        LogRecord(Vec::with_capacity(160))
    }
}

/// Warnings of webrtc's parts that say nothing is wrong, each in every call, by target and
/// text. None can be switched off through webrtc's configuration.
const KNOWN_NOISE: &[(&str, &str)] = &[
    // The ICE agent starts checking when the remote description is set, before the peer's
    // first trickled candidate has come; a real ICE failure is reported by the call itself.
    ("rtc_ice::agent", "pingAllCandidates called with no"),
    // The peer's first connectivity check can arrive before its description (with its ICE
    // password) has been applied; it is dropped and the peer checks again.
    (
        "rtc::peer_connection::handler",
        "handle_read got error: password is empty",
    ),
    // DTLS in WebRTC is checked against the SDP's fingerprint, never a server name; webrtc
    // has no setting for the name it warns about.
    ("rtc_dtls::config", "conn.remote_addr is empty"),
    // A portal's request and session objects have no properties to cache; zbus warns for
    // each one ashpd makes while asking the desktop for a screen.
    (
        "zbus::proxy",
        "Failed to populate properties cache via GetAll",
    ),
];

/// Leaves the [`KNOWN_NOISE`] out of the log.
pub struct KnownNoise;

impl<S> tracing_subscriber::layer::Filter<S> for KnownNoise {
    fn enabled(
        &self,
        _meta: &tracing::Metadata<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        true
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let meta = event.metadata();
        // Warnings are few: reading their fields costs nothing a call would notice.
        if *meta.level() != tracing::Level::WARN {
            return true;
        }
        let mut seen = Seen::default();
        event.record(&mut seen);
        // webrtc logs through `log`: its events carry their real target as a field.
        let target = seen.log_target.as_deref().unwrap_or(meta.target());
        !is_known_noise(target, &seen.message)
    }
}

fn is_known_noise(target: &str, message: &str) -> bool {
    KNOWN_NOISE
        .iter()
        .any(|(t, text)| target == *t && message.contains(text))
}

/// An event's message and, for one from `log`, its real target.
#[derive(Default)]
struct Seen {
    message: String,
    log_target: Option<String>,
}

impl tracing::field::Visit for Seen {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "log.target" => self.log_target = Some(value.to_owned()),
            _ => {}
        }
    }
}

/// What the run ends with on stderr: its outcome, and a line per call (the last few).
pub fn summary(report: &Report) -> Vec<String> {
    const CALLS_SHOWN: usize = 5;
    let mut lines = vec![format!(
        "roompeer: outcome {} (exit code {}){}",
        report.outcome.name(),
        report.exit_code,
        report
            .error
            .as_ref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    )];
    let skipped = report.calls.len().saturating_sub(CALLS_SHOWN);
    if skipped > 0 {
        lines.push(format!("  ({skipped} earlier calls in the report)"));
    }
    for c in &report.calls[skipped..] {
        lines.push(call_line(c));
    }
    lines
}

fn call_line(c: &CallReport) -> String {
    let s = &c.summary;
    let (v, a) = (&s.video, &s.audio);
    let role = match c.role {
        crate::call::Role::Offerer => "offerer",
        crate::call::Role::Answerer => "answerer",
    };
    let mut line = format!("  call {} as {role}", c.call);
    if let Some(p) = &s.selected_pair {
        line += &format!(" ({}↔{} {})", p.local_type, p.remote_type, p.protocol);
    }
    line += &format!(": {}", c.end.as_ref().map_or("still open", |e| e.name()));
    if !c.connected {
        return line + ", never connected";
    }
    line += &format!(
        "; video {} {}x{} {:.1} fps",
        v.received_codec.as_deref().unwrap_or("-"),
        v.width.unwrap_or(0),
        v.height.unwrap_or(0),
        v.received_fps.unwrap_or(0.0)
    );
    if let Some(l) = &v.latency_ms {
        line += &format!(", delay p50 {:.0} ms", l.p50);
    }
    line += &format!("; audio {}", a.codec.as_deref().unwrap_or("-"));
    if let Some(hz) = a.dominant_hz {
        line += &format!(" {hz:.0} Hz");
    }
    line + if c.media_ok {
        "; media ok"
    } else {
        "; media NOT ok"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{Role, Status};
    use crate::live::{ShownStatus, StatsSample};

    #[test]
    fn only_the_known_noise_is_left_out() {
        assert!(is_known_noise(
            "rtc_ice::agent",
            "[controlled]: pingAllCandidates called with no candidate pairs. Connection is not possible yet."
        ));
        assert!(!is_known_noise(
            "rtc_ice::agent",
            "[controlled]: failed to resolve a candidate"
        ));
        assert!(!is_known_noise(
            "roompeer::session",
            "pingAllCandidates called with no"
        ));
    }

    #[test]
    fn a_waiting_session_shows_its_status_and_a_call_its_figures() {
        let mut state = LiveState {
            status: ShownStatus::Session(Status::Waiting),
            ..LiveState::default()
        };
        assert_eq!(render(&state), "in the room, waiting for a peer");
        state.status = ShownStatus::Session(Status::InCall {
            role: Role::Offerer,
            connected: true,
        });
        state.video_codec = Some("H264".into());
        state.selected_pair = Some(crate::peer::SelectedPair {
            local_type: "host".into(),
            remote_type: "relay".into(),
            local_address: "127.0.0.1:5000".into(),
            remote_address: "127.0.0.1:6000".into(),
            protocol: "udp".into(),
        });
        state.stats.push_back(StatsSample {
            t: 72.4,
            kbps_out: 1250.2,
            kbps_in: 1180.0,
            fps_out: 30.0,
            fps_in: 29.6,
            rtt_ms: Some(1.2),
            loss_pct: 0.0,
            ..StatsSample::default()
        });
        assert_eq!(
            render(&state),
            "in a call 1:12 · H264 · 30↑ 30↓ fps · 1250↑ 1180↓ kbit/s · RTT 1 ms · loss 0.0% · host↔relay udp"
        );
    }
}
