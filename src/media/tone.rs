//! The synthetic microphone (a sine tone) and the measurement of what was heard.

use rustfft::{FftPlanner, num_complex::Complex};

/// Sample rate of everything audio in roompeer (Opus' native rate).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples per channel in one 20 ms Opus frame.
pub const FRAME_SAMPLES: usize = 960;

/// A continuous sine tone.
#[derive(Debug, Clone)]
pub struct Tone {
    hz: f64,
    phase: f64,
    /// The marker beep's phase (see `marker`).
    beep_phase: f64,
    amplitude: f64,
}

impl Tone {
    /// A tone at `hz` at a third of full scale.
    pub fn new(hz: f64) -> Self {
        Self {
            hz,
            phase: 0.0,
            beep_phase: 0.0,
            amplitude: 0.3 * f64::from(i16::MAX),
        }
    }

    /// Fills the next samples (mono).
    pub fn fill(&mut self, out: &mut [i16]) {
        let step = std::f64::consts::TAU * self.hz / f64::from(SAMPLE_RATE);
        for s in out {
            *s = (self.phase.sin() * self.amplitude) as i16;
            self.phase = (self.phase + step) % std::f64::consts::TAU;
        }
    }
}

impl Tone {
    /// Fills the next samples, the first of which plays at `unix_us` on the wall clock, with
    /// the shared marker's beep where one falls (see [`super::marker`]).
    pub fn fill_marked(&mut self, out: &mut [i16], unix_us: u64) {
        let step = std::f64::consts::TAU * self.hz / f64::from(SAMPLE_RATE);
        let beep_step = std::f64::consts::TAU * super::marker::BEEP_HZ / f64::from(SAMPLE_RATE);
        for (i, s) in out.iter_mut().enumerate() {
            let at = unix_us + i as u64 * 1_000_000 / u64::from(SAMPLE_RATE);
            let phase = if super::marker::beeps(at) {
                self.beep_phase
            } else {
                self.phase
            };
            *s = (phase.sin() * self.amplitude) as i16;
            self.phase = (self.phase + step) % std::f64::consts::TAU;
            self.beep_phase = (self.beep_phase + beep_step) % std::f64::consts::TAU;
        }
    }
}

/// The strongest frequency in a stretch of mono audio, in Hz (resolution: rate / len), or
/// `None` when it is silent.
pub fn dominant_hz(samples: &[i16]) -> Option<f64> {
    if samples.len() < 64 {
        return None;
    }
    let n = samples.len();
    let mut buf: Vec<Complex<f32>> = samples
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            // Hann window, so a tone between bins does not smear.
            let w = 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos();
            Complex::new(f32::from(s) * w, 0.0)
        })
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let (bin, mag) = buf[1..n / 2]
        .iter()
        .enumerate()
        .map(|(i, c)| (i + 1, c.norm()))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    // Silence (or near it) has no dominant tone.
    if mag < n as f32 * 2.0 {
        return None;
    }
    Some(bin as f64 * f64::from(SAMPLE_RATE) / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tone() {
        for hz in [440.0, 660.0, 1000.0] {
            let mut t = Tone::new(hz);
            let mut buf = vec![0i16; SAMPLE_RATE as usize];
            t.fill(&mut buf);
            let got = dominant_hz(&buf).unwrap();
            assert!((got - hz).abs() <= 1.0, "{got} vs {hz}");
        }
        assert_eq!(dominant_hz(&vec![0i16; 48_000]), None);
    }
}
