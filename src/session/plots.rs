//! The window's live plots: one sample a second of the connected call's rates and delays.

use crate::live::StatsSample;
use crate::pipeline::CallMedia;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// The call's running counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    /// RTP payload bytes sent.
    pub bytes_sent: u64,
    /// RTP payload bytes received.
    pub bytes_received: u64,
    /// Video frames sent.
    pub frames_sent: u64,
    /// Video frames decoded.
    pub frames_decoded: u64,
    /// The jitter buffers' targets and the lip-sync offset now, ms.
    pub video_buffer_ms: Option<f64>,
    pub audio_buffer_ms: Option<f64>,
    pub av_sync_ms: Option<f64>,
    /// When they were read.
    pub at: Instant,
}

impl Counters {
    /// Reads the call's counters now.
    pub fn read(media: &CallMedia) -> Self {
        let (frames_decoded, video_buffer_ms, audio_buffer_ms, av_sync_ms) = media
            .received
            .lock()
            .map(|r| {
                (
                    r.decoded_frames,
                    (r.decoded_frames > 0).then(|| r.jitter_target.as_secs_f64() * 1000.0),
                    (r.audio_packets > 0).then_some(r.audio_buffer.target_ms),
                    r.av_sync.recent_offset_ms(),
                )
            })
            .unwrap_or_default();
        Self {
            bytes_sent: media.bytes_sent.load(Relaxed),
            bytes_received: media.bytes_received.load(Relaxed),
            frames_sent: media.video_sent.load(Relaxed),
            frames_decoded,
            video_buffer_ms,
            audio_buffer_ms,
            av_sync_ms,
            at: Instant::now(),
        }
    }
}

/// The rates between two readings, as one point of the plots; `connected` is when the call
/// connected (the plots' time 0). The link figures come from the peer's RTCP reports.
pub fn sample(
    prev: &Counters,
    now: &Counters,
    connected: Instant,
    rtt_ms: Option<f64>,
    loss_pct: f64,
) -> StatsSample {
    let secs = now.at.duration_since(prev.at).as_secs_f64().max(0.001);
    let per_sec = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
    StatsSample {
        t: now.at.duration_since(connected).as_secs_f64(),
        kbps_out: per_sec(now.bytes_sent, prev.bytes_sent) * 8.0 / 1000.0,
        kbps_in: per_sec(now.bytes_received, prev.bytes_received) * 8.0 / 1000.0,
        fps_out: per_sec(now.frames_sent, prev.frames_sent),
        fps_in: per_sec(now.frames_decoded, prev.frames_decoded),
        rtt_ms,
        loss_pct,
        video_buffer_ms: now.video_buffer_ms,
        audio_buffer_ms: now.audio_buffer_ms,
        av_sync_ms: now.av_sync_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_are_per_second_between_readings() {
        let t0 = Instant::now();
        let prev = Counters {
            bytes_sent: 0,
            bytes_received: 1000,
            frames_sent: 10,
            frames_decoded: 10,
            video_buffer_ms: None,
            audio_buffer_ms: None,
            av_sync_ms: None,
            at: t0 + Duration::from_secs(1),
        };
        let now = Counters {
            bytes_sent: 250_000,
            bytes_received: 126_000,
            frames_sent: 40,
            frames_decoded: 39,
            video_buffer_ms: Some(3.0),
            audio_buffer_ms: Some(12.0),
            av_sync_ms: Some(-4.0),
            at: t0 + Duration::from_secs(2),
        };
        let s = sample(&prev, &now, t0, Some(20.0), 1.5);
        assert_eq!(s.t, 2.0);
        assert_eq!(s.kbps_out, 2000.0);
        assert_eq!(s.kbps_in, 1000.0);
        assert_eq!(s.fps_out, 30.0);
        assert_eq!(s.fps_in, 29.0);
        assert_eq!(s.rtt_ms, Some(20.0));
        assert_eq!(
            (s.video_buffer_ms, s.audio_buffer_ms, s.av_sync_ms),
            (Some(3.0), Some(12.0), Some(-4.0)),
            "the delays as they stand now"
        );
    }

    #[test]
    fn counters_that_restart_give_zero_not_a_wrap() {
        let t0 = Instant::now();
        let prev = Counters {
            bytes_sent: 500,
            bytes_received: 500,
            frames_sent: 5,
            frames_decoded: 5,
            video_buffer_ms: None,
            audio_buffer_ms: None,
            av_sync_ms: None,
            at: t0,
        };
        let now = Counters {
            at: t0 + Duration::from_secs(1),
            bytes_sent: 100,
            ..prev
        };
        assert_eq!(sample(&prev, &now, t0, None, 0.0).kbps_out, 0.0);
    }
}
