//! Recordings read back with Debian's ffprobe and ffmpeg, as a user's player would.

use std::path::Path;
use std::process::Command;

/// One stream of a recording, as ffprobe reads it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProbedStream {
    pub codec: String,
    pub packets: u64,
    /// From its first packet's start to its last packet's end, in seconds.
    pub duration: f64,
    /// Each packet's time after the one before (as a muxer must write them).
    pub increasing: bool,
}

/// A recording's video and audio streams.
#[derive(Debug, Default)]
pub struct Probed {
    pub video: Option<ProbedStream>,
    pub audio: Option<ProbedStream>,
}

/// Reads `path`'s streams and packets with ffprobe.
pub fn probe(path: &Path) -> Probed {
    let run = |args: &[&str]| {
        let out = Command::new("ffprobe")
            .args(["-v", "error"])
            .args(args)
            .arg(path)
            .output()
            .expect("ffprobe (apt install ffmpeg)");
        assert!(
            out.status.success(),
            "ffprobe {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut probed = Probed::default();
    let streams = run(&[
        "-show_entries",
        "stream=index,codec_type,codec_name",
        "-of",
        "csv=p=0",
    ]);
    let mut kinds = Vec::new();
    for line in streams.lines() {
        let f: Vec<&str> = line.split(',').collect();
        if let [index, name, kind] = f[..] {
            kinds.push((index.to_owned(), kind.to_owned(), name.to_owned()));
        }
    }
    let packets = run(&[
        "-show_entries",
        "packet=stream_index,pts_time,duration_time",
        "-of",
        "csv=p=0",
    ]);
    for (index, kind, codec) in kinds {
        let mut s = ProbedStream {
            codec,
            increasing: true,
            ..Default::default()
        };
        let mut last: Option<f64> = None;
        let (mut first, mut end) = (f64::MAX, 0f64);
        for line in packets.lines() {
            let f: Vec<&str> = line.split(',').collect();
            if f.first() != Some(&index.as_str()) {
                continue;
            }
            let pts: f64 = f.get(1).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let dur: f64 = f.get(2).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            s.packets += 1;
            s.increasing &= last.is_none_or(|l| pts > l);
            last = Some(pts);
            first = first.min(pts);
            end = end.max(pts + dur);
        }
        s.duration = if s.packets > 0 { end - first } else { 0.0 };
        match kind.as_str() {
            "video" => probed.video = Some(s),
            "audio" => probed.audio = Some(s),
            _ => {}
        }
    }
    probed
}

/// Decodes the whole file with ffmpeg; panics with what it said if it found any error.
///
/// `-fps_mode vfr`: every frame is decoded, and handed to the null output with its own time.
/// Without it ffmpeg re-times the frames of a variable-rate file (frames the sender's rate
/// control skipped leave gaps) to a frame rate it guesses, and then reports its own re-timed
/// frames colliding ("non monotonically increasing dts to muxer"), a complaint about its output,
/// not about the file (a browser's MediaRecorder WebM does the same).
pub fn assert_decodes_cleanly(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-fps_mode", "vfr", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "ffmpeg found errors in {}:\n{said}",
        path.display()
    );
}
