//! The session's event log: what happened and when, for the report's `events` and, with
//! `--events PATH` (`-` for stdout), as JSON lines the moment it happens, so a script (or a
//! test) can follow a call without reading log text.

use crate::report::{EventRecord, ms_since_start};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Where the live event lines go.
pub enum EventSink {
    /// Standard output.
    Stdout,
    /// A file.
    File(std::fs::File),
}

impl EventSink {
    /// Opens `-` (stdout) or a file, truncating it.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if path == Path::new("-") {
            Ok(Self::Stdout)
        } else {
            std::fs::File::create(path).map(Self::File)
        }
    }

    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Self::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()
            }
            Self::File(f) => {
                writeln!(f, "{line}")?;
                f.flush()
            }
        }
    }
}

/// The events of a session, kept for the report and written live where asked.
#[derive(Default)]
pub struct EventLog {
    records: Vec<EventRecord>,
    sink: Option<EventSink>,
}

impl EventLog {
    /// A log that also writes each event to `sink`.
    pub fn new(sink: Option<EventSink>) -> Self {
        Self {
            records: Vec::new(),
            sink,
        }
    }

    /// Records an event now.
    pub fn push(&mut self, event: impl Into<String>, detail: Option<String>) {
        let record = EventRecord {
            t_ms: ms_since_start(Instant::now()),
            event: event.into(),
            detail,
        };
        if let Some(sink) = self.sink.as_mut() {
            let line = serde_json::to_string(&record).unwrap_or_default();
            if let Err(e) = sink.write_line(&line) {
                tracing::warn!("cannot write the event log: {e}; no more events are written");
                self.sink = None;
            }
        }
        self.records.push(record);
    }

    /// The events so far, for the report.
    pub fn take(&mut self) -> Vec<EventRecord> {
        std::mem::take(&mut self.records)
    }
}
