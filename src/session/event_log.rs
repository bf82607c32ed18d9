//! The session's event log: what happened and when, for the report's `events` and, with
//! `--events PATH` (`-` for stdout), as JSON lines the moment it happens, so a script (or a
//! test) can follow a call without reading log text.

use crate::report::{EventRecord, ms_since_start};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Events of one name listed in the report before the rest are only counted.
pub const LISTED_PER_EVENT: usize = 10;
/// Events of one name written live (`--events`) before the rest are only counted.
pub const LIVE_PER_EVENT: usize = 1000;
/// How much detail an event keeps.
const DETAIL_CHARS: usize = 120;

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

    /// Opens `path` if one was given; one that cannot be written is warned about and skipped
    /// (the call matters more than its log).
    pub fn open_or_warn(path: Option<&Path>, what: &str) -> Option<Self> {
        match Self::open(path?) {
            Ok(sink) => Some(sink),
            Err(e) => {
                tracing::warn!("cannot write {what} ({}): {e}", path?.display());
                None
            }
        }
    }

    /// Writes one line and flushes it.
    pub fn write_line(&mut self, line: &str) -> std::io::Result<()> {
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
    /// Events seen per name.
    seen: HashMap<String, usize>,
}

impl EventLog {
    /// A log that also writes each event to `sink`.
    pub fn new(sink: Option<EventSink>) -> Self {
        Self {
            records: Vec::new(),
            sink,
            seen: HashMap::new(),
        }
    }

    /// Records an event now. Past [`LISTED_PER_EVENT`] of one name, the rest are counted on
    /// the last one listed, and past [`LIVE_PER_EVENT`] no longer written live: what a peer
    /// floods us with stays small.
    pub fn push(&mut self, event: impl Into<String>, detail: Option<String>) {
        let event = event.into();
        let seen = self.seen.entry(event.clone()).or_insert(0);
        *seen += 1;
        let seen = *seen;
        let record = EventRecord {
            t_ms: ms_since_start(Instant::now()),
            event,
            detail: detail.map(|d| crate::text::bounded(&d, DETAIL_CHARS)),
            more: None,
        };
        if seen <= LIVE_PER_EVENT
            && let Some(sink) = self.sink.as_mut()
        {
            let line = serde_json::to_string(&record).unwrap_or_default();
            if let Err(e) = sink.write_line(&line) {
                tracing::warn!("cannot write the event log: {e}; no more events are written");
                self.sink = None;
            }
        }
        // The same event again (same detail as the last of its name), or one past the listed
        // number of its name: counted on the last one listed.
        let repeat = self
            .records
            .iter()
            .rev()
            .find(|r| r.event == record.event)
            .is_some_and(|r| r.detail == record.detail);
        if (repeat || seen > LISTED_PER_EVENT)
            && let Some(last) = self
                .records
                .iter_mut()
                .rev()
                .find(|r| r.event == record.event)
        {
            *last.more.get_or_insert(0) += 1;
        } else {
            self.records.push(record);
        }
    }

    /// The events so far, for the report.
    pub fn take(&mut self) -> Vec<EventRecord> {
        std::mem::take(&mut self.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_one_event_is_counted_not_listed() {
        let mut log = EventLog::new(None);
        log.push("joined", Some("x".into()));
        for n in 0..10_000 {
            log.push(
                "malformed",
                Some(format!("message {n}: {}", "A".repeat(5000))),
            );
        }
        for _ in 0..10_000 {
            log.push("message:candidate", None);
            log.push("ignored", Some("candidate_flood".into()));
        }
        log.push("leaved", None);
        let records = log.take();
        assert_eq!(records.len(), 4 + LISTED_PER_EVENT, "{records:?}");
        assert_eq!(records[LISTED_PER_EVENT + 2].more, Some(9_999), "repeats");
        let last_malformed = &records[LISTED_PER_EVENT];
        assert_eq!(last_malformed.more, Some(10_000 - LISTED_PER_EVENT as u32));
        let json = serde_json::to_string(&records).unwrap();
        assert!(json.len() < 2500, "{}", json.len());
    }
}
