//! The test sources' shared marker: once a second, on the wall clock, the test picture flashes
//! (a white band at its foot, one frame) and the tone beeps (50 ms at 2.4 kHz) in the same
//! instant. The receiver times both as they are handed to screen and speaker, which confirms
//! the lip-sync figure (`av_sync_ms`, computed from RTCP) from what a user would see and hear;
//! a recording shows the same flashes and beeps.

use super::frame::I420Frame;
use super::tone::SAMPLE_RATE;
use std::collections::VecDeque;

/// Markers come this often, at whole multiples of it on the wall clock.
pub const PERIOD_MS: u64 = 1000;
/// How long a beep lasts.
pub const BEEP_MS: u64 = 50;
/// The beep's pitch: far from the test tones (440, 660 Hz) and kept by Opus.
pub const BEEP_HZ: f64 = 2400.0;
/// The flash: the lowest sixth of the picture, white.
const FLASH_LUMA: u8 = 235;
/// Samples per beep-detection window (2.5 ms).
const WINDOW: usize = 120;
/// A flash and a beep further apart than this are not the same marker.
const PAIR_WINDOW_MS: f64 = PERIOD_MS as f64 / 2.0;

/// Picks the frames that flash: the first captured in each period. It remembers the last
/// period flashed, because a rule on the capture time alone (within a frame interval after the
/// whole second) misses a second whenever the capture runs a little late, and a short call
/// then has too few markers to pair.
#[derive(Debug, Clone, Default)]
pub struct FlashSchedule {
    last_period: Option<u64>,
}

impl FlashSchedule {
    /// Whether the frame captured at `unix_ms` flashes. Only a frame in the first half of a
    /// period may: one later is nearer the next beep than this one.
    pub fn due(&mut self, unix_ms: u64) -> bool {
        let period = unix_ms / PERIOD_MS;
        if self.last_period == Some(period) || unix_ms % PERIOD_MS >= PERIOD_MS / 2 {
            return false;
        }
        self.last_period = Some(period);
        true
    }
}

/// Whether audio at `unix_us` beeps.
pub fn beeps(unix_us: u64) -> bool {
    (unix_us / 1000) % PERIOD_MS < BEEP_MS
}

/// The rows that flash in a picture `height` rows high.
fn flash_rows(height: usize) -> std::ops::Range<usize> {
    height - height / 6..height
}

/// Paints the flash into a frame.
pub fn paint_flash(frame: &mut I420Frame) {
    let (w, h) = (frame.width, frame.height);
    let rows = flash_rows(h);
    frame.y[rows.start * w..rows.end * w].fill(FLASH_LUMA);
    let cw = w / 2;
    for row in rows.start / 2..h / 2 {
        frame.u[row * cw..(row + 1) * cw].fill(128);
        frame.v[row * cw..(row + 1) * cw].fill(128);
    }
}

/// Whether a decoded frame shows the flash (its band is nearly all white; the test picture's
/// moving gradient there averages mid-grey).
pub fn shows_flash(frame: &I420Frame) -> bool {
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h < 6 || frame.y.len() < w * h {
        return false;
    }
    let rows = flash_rows(h);
    let band = &frame.y[rows.start * w..rows.end * w];
    // Every 7th pixel is plenty and cheap.
    let (sum, n) = band
        .iter()
        .step_by(7)
        .fold((0u64, 0u64), |(s, n), &p| (s + u64::from(p), n + 1));
    n > 0 && sum / n >= 215
}

/// The power at [`BEEP_HZ`] in `samples` against their whole power (Goertzel), 0..1.
fn beep_share(samples: &[i16]) -> f64 {
    let k = std::f64::consts::TAU * BEEP_HZ / f64::from(SAMPLE_RATE);
    let coeff = 2.0 * k.cos();
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for &x in samples {
        let x = f64::from(x);
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
        energy += x * x;
    }
    if energy < 1e3 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // A pure tone at the bin's frequency gives power = energy · N / 2.
    (power / (energy * samples.len() as f64 / 2.0)).min(1.0)
}

/// Pairs the flashes the screen got with the beeps the speaker got.
#[derive(Debug, Clone, Default)]
pub struct MarkerSync {
    /// Whether the last frame flashed, and the last audio window beeped.
    flashing: bool,
    beeping: bool,
    /// Onsets not yet paired, Unix ms.
    flashes: VecDeque<f64>,
    beeps: VecDeque<f64>,
    /// Video minus audio for each pair, ms.
    offsets: Vec<f64>,
}

impl MarkerSync {
    /// A frame was handed to the screen at `unix_ms`; its stamp says it was captured at
    /// `captured_ms` on the sender's clock (the flash frame is the first captured after the
    /// whole second, up to a frame interval after the beep began: that lead is taken off).
    pub fn frame(&mut self, unix_ms: f64, frame: &I420Frame, captured_ms: Option<u64>) {
        let flash = captured_ms.is_some() && shows_flash(frame);
        if flash && !self.flashing {
            let lead = captured_ms.map_or(0, |c| c % PERIOD_MS) as f64;
            self.flashes.push_back(unix_ms - lead);
            self.pair();
        }
        self.flashing = flash;
    }

    /// Audio was handed to the speaker, its first sample at `unix_ms`.
    pub fn audio(&mut self, unix_ms: f64, block: &[i16]) {
        for (i, window) in block.chunks(WINDOW).enumerate() {
            let beep = window.len() == WINDOW && beep_share(window) > 0.5;
            if beep && !self.beeping {
                let at = unix_ms + (i * WINDOW) as f64 * 1000.0 / f64::from(SAMPLE_RATE);
                self.beeps.push_back(at);
                self.pair();
            }
            self.beeping = beep;
        }
    }

    fn pair(&mut self) {
        while let (Some(&f), Some(&b)) = (self.flashes.front(), self.beeps.front()) {
            if f - b > PAIR_WINDOW_MS {
                self.beeps.pop_front();
            } else if b - f > PAIR_WINDOW_MS {
                self.flashes.pop_front();
            } else {
                self.offsets.push(f - b);
                self.flashes.pop_front();
                self.beeps.pop_front();
            }
        }
    }

    /// The median of the pairs' offsets, ms (+: video late), once a pair was seen.
    pub fn offset_ms(&self) -> Option<f64> {
        let mut v = self.offsets.clone();
        v.sort_unstable_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }

    /// How many marker pairs were seen.
    pub fn pairs(&self) -> usize {
        self.offsets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testsrc::{Stamp, TestPattern};
    use crate::media::tone::Tone;

    #[test]
    fn one_frame_a_second_flashes_and_50_ms_beep() {
        let mut schedule = FlashSchedule::default();
        let flashing: Vec<u64> = (0..3000).step_by(33).filter(|&t| schedule.due(t)).collect();
        assert_eq!(flashing, [0, 1023, 2013]);
        // A capture running late still flashes once in each second, and never twice.
        let mut schedule = FlashSchedule::default();
        let late = [980, 1034, 1067, 1999, 2040, 2073, 2600, 3700];
        let flashing: Vec<u64> = late.into_iter().filter(|&t| schedule.due(t)).collect();
        assert_eq!(flashing, [1034, 2040]);
        let beeping = (0..3_000_000u64)
            .step_by(1000)
            .filter(|&t| beeps(t))
            .count();
        assert_eq!(beeping, 150);
    }

    #[test]
    fn the_flash_is_seen_and_the_test_picture_is_not_taken_for_one() {
        let p = TestPattern::new(320, 240);
        let mut f = I420Frame::black(320, 240);
        for counter in 0..200 {
            let stamp = Stamp {
                sender_id: 1,
                counter,
                sent_ms: 0,
            };
            p.render(stamp, &mut f);
            assert!(!shows_flash(&f), "frame {counter}");
        }
        paint_flash(&mut f);
        assert!(shows_flash(&f));
    }

    #[test]
    fn beeps_are_found_in_the_tone_and_paired_with_flashes() {
        let mut sync = MarkerSync::default();
        let mut tone = Tone::new(660.0);
        let mut block = vec![0i16; 480];
        let (w, h) = (64, 48);
        let flash = {
            let mut f = I420Frame::black(w, h);
            paint_flash(&mut f);
            f
        };
        let plain = I420Frame::black(w, h);
        let mut schedule = FlashSchedule::default();
        // 3 s of 10 ms blocks from Unix time 10 s; video 40 ms behind audio.
        for step in 0..300u64 {
            let start_us = 10_000_000 + step * 10_000;
            tone.fill_marked(&mut block, start_us);
            sync.audio(start_us as f64 / 1000.0, &block);
            for frame_at in (start_us / 1000..start_us / 1000 + 10).filter(|t| t % 33 == 0) {
                let f = if schedule.due(frame_at) {
                    &flash
                } else {
                    &plain
                };
                sync.frame(frame_at as f64 + 40.0, f, Some(frame_at));
            }
        }
        assert!(sync.pairs() >= 2, "{sync:?}");
        let offset = sync.offset_ms().unwrap();
        assert!((39.0..=43.0).contains(&offset), "{offset}");
    }
}
