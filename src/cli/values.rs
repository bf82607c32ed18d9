//! Reading option values, and the errors a command line can have.

use crate::media::controls::{AudioIn, VideoIn, VideoSchedule};
use crate::signaling::EioVersion;
use std::time::Duration;

pub fn parse_eio(s: &str) -> Result<EioVersion, ValueError> {
    match s {
        "3" => Ok(EioVersion::V3),
        "4" => Ok(EioVersion::V4),
        _ => Err(ValueError("expected 3 or 4".into())),
    }
}

/// Reads a `--video-size` value.
pub fn parse_size(s: &str) -> Result<(usize, usize), ValueError> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| ValueError("expected WIDTHxHEIGHT, e.g. 640x480".into()))?;
    let w: usize = w
        .parse()
        .map_err(|_| ValueError(format!("bad width {w:?}")))?;
    let h: usize = h
        .parse()
        .map_err(|_| ValueError(format!("bad height {h:?}")))?;
    if !w.is_multiple_of(2)
        || !h.is_multiple_of(2)
        || !(64..=3840).contains(&w)
        || !(48..=2160).contains(&h)
    {
        return Err(ValueError(
            "width and height must be even, 64..3840 by 48..2160".into(),
        ));
    }
    Ok((w, h))
}

pub fn parse_lang(s: &str) -> Result<crate::gui::i18n::Lang, ValueError> {
    match s {
        "en" => Ok(crate::gui::i18n::Lang::En),
        "zh" | "zh-CN" | "zh_CN" => Ok(crate::gui::i18n::Lang::Zh),
        _ => Err(ValueError("expected en or zh".into())),
    }
}

/// Reads an `--audio` value.
pub fn parse_audio(s: &str) -> Result<AudioIn, ValueError> {
    if s == "none" {
        return Ok(AudioIn::Silence);
    }
    if s == "mic" {
        return Ok(AudioIn::Mic(None));
    }
    if let Some(name) = s.strip_prefix("mic:") {
        return Ok(AudioIn::Mic(Some(name.to_owned())));
    }
    let hz = match s.strip_prefix("tone") {
        Some("") => 440.0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|h| h.parse::<f64>().ok())
            .ok_or_else(|| ValueError("expected tone or tone:HZ".into()))?,
        None => {
            return Err(ValueError("expected tone[:HZ], mic[:NAME] or none".into()));
        }
    };
    if !(20.0..=20_000.0).contains(&hz) {
        return Err(ValueError(
            "the tone must be between 20 and 20000 Hz".into(),
        ));
    }
    Ok(AudioIn::Tone(hz))
}

/// Reads a `--video` value.
pub fn parse_video(s: &str) -> Result<VideoIn, ValueError> {
    use crate::media::controls::ScreenChoice;
    const EXPECTED: &str = "expected testsrc, camera, camera:NAME, screen, screen:N (a monitor), screen:portal (the desktop's dialog) or window:TITLE";
    match s {
        "testsrc" => return Ok(VideoIn::TestPattern),
        "camera" => return Ok(VideoIn::Camera(None)),
        "screen" => return Ok(VideoIn::Screen(ScreenChoice::Whole)),
        "screen:portal" => return Ok(VideoIn::Screen(ScreenChoice::Portal)),
        _ => {}
    }
    if let Some(c) = s.strip_prefix("camera:") {
        return Ok(VideoIn::Camera(Some(c.to_owned())));
    }
    if let Some(n) = s.strip_prefix("screen:") {
        return n
            .parse()
            .map(|n| VideoIn::Screen(ScreenChoice::Monitor(n)))
            .map_err(|_| {
                ValueError(format!(
                    "screen:{n}: a monitor is a number from 0; {EXPECTED}"
                ))
            });
    }
    match s.strip_prefix("window:") {
        Some("") => Err(ValueError(format!("window: needs a title; {EXPECTED}"))),
        Some(title) => Ok(VideoIn::Screen(ScreenChoice::Window(title.to_owned()))),
        None => Err(ValueError(EXPECTED.into())),
    }
}

/// `--video-schedule`: `SOURCE@SECONDS,…` in time order, each SOURCE as `--video` takes it.
pub fn parse_video_schedule(s: &str) -> Result<VideoSchedule, ValueError> {
    let mut schedule: VideoSchedule = Vec::new();
    for step in s.split(',') {
        let (source, at) = step.rsplit_once('@').ok_or_else(|| {
            ValueError(format!("{step:?}: expected SOURCE@SECONDS, e.g. screen@5"))
        })?;
        let at = at
            .parse::<f64>()
            .ok()
            .and_then(|v| Duration::try_from_secs_f64(v).ok())
            .ok_or_else(|| ValueError(format!("{step:?}: {at:?} is not a number of seconds")))?;
        if schedule.last().is_some_and(|(before, _)| *before > at) {
            return Err(ValueError(format!(
                "{step:?}: the steps must be in time order"
            )));
        }
        schedule.push((at, parse_video(source)?));
    }
    Ok(schedule)
}

pub fn seconds(v: f64, option: &'static str) -> Result<Duration, UsageError> {
    Duration::try_from_secs_f64(v).map_err(|_| UsageError::NotSeconds(option))
}

/// A command-line value that cannot be read; clap shows it beside the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(String);

/// Options that do not make a run (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The config file could not be read.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// `--server` is not a URL.
    #[error("--server {server:?} is not a URL: {reason}")]
    ServerUrl {
        /// What was given.
        server: String,
        /// Why it is not a URL.
        reason: url::ParseError,
    },
    /// A TURN url without `--ice-user` and `--ice-pass`.
    #[error("{0} needs credentials: give --ice-user and --ice-pass (or ROOMPEER_ICE_PASS)")]
    TurnCredentials(String),
    /// `--relay-only` without a TURN server.
    #[error("--relay-only needs a TURN server (--ice turn:HOST:PORT)")]
    RelayOnlyWithoutTurn,
    /// A duration that is not a number of seconds.
    #[error("{0} must be a non-negative number of seconds")]
    NotSeconds(&'static str),
    /// `--record DIR` cannot be created or written.
    #[error("--record {dir}: cannot write there ({reason}); give a directory you can write to")]
    RecordDir {
        /// What was given.
        dir: std::path::PathBuf,
        /// Why not.
        reason: String,
    },
}

/// Reads an ICE server URL (RFC 7064/7065): `stun:HOST[:PORT]`, `stuns:…`,
/// `turn:HOST[:PORT][?transport=udp|tcp]` or `turns:…`.
pub fn parse_ice_url(s: &str) -> Result<String, ValueError> {
    const FORMS: &str = "expected stun:HOST[:PORT], stuns:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT][?transport=tcp]";
    let bad = |what: String| ValueError(format!("{what}; {FORMS}"));
    let (scheme, rest) = s
        .split_once(':')
        .ok_or_else(|| bad(format!("{} has no scheme", crate::text::quote(s))))?;
    if !matches!(scheme, "stun" | "stuns" | "turn" | "turns") {
        return Err(bad(format!(
            "unknown scheme {}",
            crate::text::quote(scheme)
        )));
    }
    let (hostport, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    if let Some(q) = query {
        let transport = q.strip_prefix("transport=");
        if scheme.starts_with("stun") || !matches!(transport, Some("udp" | "tcp")) {
            return Err(bad(format!("bad query {}", crate::text::quote(q))));
        }
    }
    // An IPv6 address is bracketed; otherwise the last colon starts the port.
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("an unclosed [ in the host".into()))?;
        (addr, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if !host_ok || hostport.starts_with("//") {
        return Err(bad(format!("bad host {}", crate::text::quote(host))));
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad(format!("bad port {}", crate::text::quote(p))));
    }
    Ok(s.to_owned())
}

/// Makes sure `--record DIR` exists and can be written, before anything joins a room.
pub fn check_record_dir(dir: &std::path::Path) -> Result<(), UsageError> {
    let failed = |e: std::io::Error| UsageError::RecordDir {
        dir: dir.to_owned(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let probe = dir.join(format!(".roompeer-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(failed)?;
    std::fs::remove_file(&probe).map_err(failed)
}

/// Reads a web origin as browsers send it: `http(s)://HOST[:PORT]`, nothing after.
pub fn parse_origin(s: &str) -> Result<String, ValueError> {
    let bad = || {
        ValueError(format!(
            "{} is not an origin; expected http://HOST[:PORT] or https://HOST[:PORT], no path",
            crate::text::quote(s)
        ))
    };
    let url: url::Url = s.parse().map_err(|_| bad())?;
    let trimmed = s.trim_end_matches('/');
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || trimmed.len() + 1 < s.len()
    {
        return Err(bad());
    }
    Ok(trimmed.to_owned())
}
