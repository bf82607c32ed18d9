//! Lining audio up with video, as browsers do: each stream's RTCP sender reports map its RTP
//! timestamps to the sender's wall clock (NTP), so the moment a sample or a frame was sent
//! can be compared across the two streams. The sender's clock need not agree with ours: only
//! differences between the two streams are used, and its offset cancels out.

use std::collections::HashMap;
use std::sync::Mutex;

/// One sender report's mapping of an RTP timestamp to the sender's wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SenderClock {
    /// The sender's wall clock at `rtp`, ms since the NTP epoch.
    pub ntp_ms: f64,
    /// The RTP timestamp that goes with it.
    pub rtp: u32,
}

impl SenderClock {
    /// From a sender report's 64-bit NTP time (seconds in the high word, fraction in the low).
    pub fn from_report(ntp: u64, rtp: u32) -> Self {
        let secs = (ntp >> 32) as f64;
        let frac = (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0;
        Self {
            ntp_ms: (secs + frac) * 1000.0,
            rtp,
        }
    }

    /// A mapping made on our side: RTP timestamp `rtp` at `unix_ms` on our wall clock (for a
    /// stream whose sender sends no reports).
    pub fn from_unix_ms(unix_ms: f64, rtp: u32) -> Self {
        /// From 1900 (NTP's epoch) to 1970.
        const NTP_TO_UNIX_MS: f64 = 2_208_988_800_000.0;
        Self {
            ntp_ms: unix_ms + NTP_TO_UNIX_MS,
            rtp,
        }
    }

    /// The sender's wall-clock time of RTP timestamp `ts`, for a stream clocked at `rate` Hz.
    pub fn sender_ms(&self, ts: u32, rate: u32) -> f64 {
        let delta = ts.wrapping_sub(self.rtp) as i32;
        self.ntp_ms + f64::from(delta) * 1000.0 / f64::from(rate)
    }
}

/// The latest sender report of each stream we receive, by SSRC; written by the RTCP reader,
/// read by the receive pipelines.
#[derive(Debug, Default)]
pub struct SenderClocks(Mutex<HashMap<u32, SenderClock>>);

impl SenderClocks {
    /// A sender report for `ssrc` arrived.
    pub fn record(&self, ssrc: u32, clock: SenderClock) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(ssrc, clock);
        }
    }

    /// The latest mapping for `ssrc`, once a report came.
    pub fn get(&self, ssrc: u32) -> Option<SenderClock> {
        self.0.lock().ok()?.get(&ssrc).copied()
    }
}

/// How far behind the sender's clock each stream is handed to its sink, and the difference.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct AvSync {
    audio: Mean,
    video: Mean,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Mean {
    sum: f64,
    count: u64,
    /// Recent values, smoothed (what the synchronisation follows).
    recent: Option<f64>,
}

/// How much of each new delay goes into the recent figure.
const SMOOTHING: f64 = 0.05;

impl Mean {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.count += 1;
        self.recent = Some(match self.recent {
            Some(r) => r + (v - r) * SMOOTHING,
            None => v,
        });
    }

    fn get(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

impl AvSync {
    /// Audio sent at sender time `sent_ms` was handed to the speaker at our `now_ms`.
    pub fn audio(&mut self, now_ms: f64, sent_ms: f64) {
        self.audio.add(now_ms - sent_ms);
    }

    /// A frame sent at sender time `sent_ms` was handed to the screen at our `now_ms`.
    pub fn video(&mut self, now_ms: f64, sent_ms: f64) {
        self.video.add(now_ms - sent_ms);
    }

    /// Over the call: when video is handed over minus when audio of the same moment is; `+`
    /// means video late.
    pub fn offset_ms(&self) -> Option<f64> {
        Some(self.video.get()? - self.audio.get()?)
    }

    /// The same over the last second or so, for following it during a call.
    pub fn recent_offset_ms(&self) -> Option<f64> {
        Some(self.video.recent? - self.audio.recent?)
    }
}

/// Within this, audio and video count as together: no stream is held back (browsers leave
/// differences under 30 ms alone too).
const IN_SYNC_MS: f64 = 30.0;
/// Video may run this far ahead of audio before it is held: sound after the picture is seen
/// far later than sound before it (ITU-R BT.1359: +45 ms for sound early, -125 ms for sound
/// late), and on a jittery path audio's buffer is deeper than video's, so holding video to
/// within 30 ms gave back the video buffer's savings (40 ms of video delay on the 30±10 ms path
/// for a difference nobody sees). A held video stream is brought back to 30 ms early, not to 0.
const VIDEO_EARLY_OK_MS: f64 = 45.0;
/// The most one update moves a stream, so that a wrong reading does not make a jump.
const MAX_STEP_MS: f64 = 40.0;
/// The most a stream is held back for the other.
const MAX_HOLD_MS: f64 = 500.0;

/// Holds back whichever stream runs ahead, as browsers' stream synchronisation does: fed the
/// measured offset (video minus audio, with the holds already in force), it says how long each
/// stream's playout is to wait beyond what its own jitter needs.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct SyncHolds {
    /// Extra delay for video, ms.
    pub video_ms: f64,
    /// Extra delay for audio, ms.
    pub audio_ms: f64,
}

impl SyncHolds {
    /// Moves the holds towards an offset of zero; `offset_ms` > 0 means video late.
    pub fn update(&mut self, offset_ms: f64) {
        if (-VIDEO_EARLY_OK_MS..=IN_SYNC_MS).contains(&offset_ms) {
            // Together enough: nothing more is held, but a hold the offset no longer needs is
            // let go. Without this, a hold set while the machine was loaded (video 50 ms early
            // for a moment) stayed for the rest of the call: 31 ms of video delay for nothing,
            // and lip sync 16 ms worse than without it (a 30-minute call, measured).
            if offset_ms > 0.0 {
                self.video_ms -= offset_ms.min(self.video_ms);
            } else {
                self.audio_ms -= (-offset_ms).min(self.audio_ms);
            }
            return;
        }
        if offset_ms < 0.0 {
            // Video early: first release audio's hold, then hold video (to 30 ms early).
            let mut step = offset_ms.abs().min(MAX_STEP_MS);
            let release = step.min(self.audio_ms);
            self.audio_ms -= release;
            step = (step - release).min(-offset_ms - IN_SYNC_MS).max(0.0);
            self.video_ms = (self.video_ms + step).min(MAX_HOLD_MS);
        } else {
            let mut step = offset_ms.abs().min(MAX_STEP_MS);
            let release = step.min(self.video_ms);
            self.video_ms -= release;
            step -= release;
            self.audio_ms = (self.audio_ms + step).min(MAX_HOLD_MS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_timestamps_to_the_senders_clock() {
        // 1.5 s after the NTP epoch's second 100.
        let c = SenderClock::from_report((100u64 << 32) | (1u64 << 31), 1000);
        assert_eq!(c.ntp_ms, 100_500.0);
        assert_eq!(c.sender_ms(1000 + 48_000, 48_000), 101_500.0);
        assert_eq!(c.sender_ms(1000u32.wrapping_sub(9_000), 90_000), 100_400.0);
        // Across the RTP wrap.
        let c = SenderClock::from_report(100u64 << 32, u32::MAX - 479);
        assert_eq!(c.sender_ms(480, 48_000), 100_020.0);
    }

    #[test]
    fn the_offset_is_video_delay_minus_audio_delay_whatever_the_clocks() {
        let mut s = AvSync::default();
        assert_eq!(s.offset_ms(), None);
        // The sender's clock is 5 s off ours; audio takes 30 ms, video 50 ms.
        let off = 5000.0;
        for i in 0..10 {
            let sent = f64::from(i) * 20.0;
            s.audio(sent + off + 30.0, sent);
            s.video(sent + off + 50.0, sent);
        }
        assert_eq!(s.offset_ms(), Some(20.0));
        assert_eq!(s.recent_offset_ms(), Some(20.0));
    }

    #[test]
    fn the_stream_ahead_is_held_back_in_steps_and_released_first() {
        let mut h = SyncHolds::default();
        h.update(25.0);
        assert_eq!(h, SyncHolds::default(), "under 30 ms: together enough");
        // Video 100 ms late: audio waits, 40 ms at a time.
        h.update(100.0);
        assert_eq!((h.video_ms, h.audio_ms), (0.0, 40.0));
        h.update(60.0);
        assert_eq!((h.video_ms, h.audio_ms), (0.0, 80.0));
        // Then video runs 50 ms early: audio's hold goes first.
        h.update(-50.0);
        assert_eq!((h.video_ms, h.audio_ms), (0.0, 40.0));
        h.update(-50.0);
        assert_eq!((h.video_ms, h.audio_ms), (0.0, 0.0));
        // Video 45 ms early is left alone (sound late is seen far later than sound early);
        // 80 ms early, video is held back to 30 ms early, 40 ms at a time.
        h.update(-45.0);
        assert_eq!((h.video_ms, h.audio_ms), (0.0, 0.0));
        h.update(-50.0);
        assert_eq!((h.video_ms, h.audio_ms), (20.0, 0.0));
        h.update(-80.0);
        assert_eq!((h.video_ms, h.audio_ms), (60.0, 0.0));
        // Never beyond half a second.
        for _ in 0..100 {
            h.update(-1000.0);
        }
        assert_eq!(h.video_ms, 500.0);
    }

    #[test]
    fn a_hold_no_longer_needed_is_let_go_within_the_deadband() {
        // A moment of video 70 ms early (a loaded machine) left video held 40 ms.
        let mut h = SyncHolds::default();
        h.update(-70.0);
        assert_eq!((h.video_ms, h.audio_ms), (40.0, 0.0));
        // Now, with that hold, video is 16 ms late: the hold goes down by that much...
        h.update(16.0);
        assert_eq!((h.video_ms, h.audio_ms), (24.0, 0.0));
        // ...and on to nothing while video stays late; audio is never held inside the band.
        h.update(20.0);
        h.update(20.0);
        assert_eq!((h.video_ms, h.audio_ms), (0.0, 0.0));
        // Video 18 ms early with no hold: together enough, nothing is held.
        h.update(-18.0);
        assert_eq!(h, SyncHolds::default());
        // The same for audio's hold.
        let mut h = SyncHolds::default();
        h.update(45.0);
        h.update(-10.0);
        assert_eq!((h.video_ms, h.audio_ms), (0.0, 30.0));
    }
}
