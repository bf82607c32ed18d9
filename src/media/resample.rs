//! Sample-rate conversion between a device's rate and Opus' 48 kHz, on rubato's FFT
//! resampler (a synchronous ratio: the device clocks' drift is absorbed by the playout buffer).

use rubato::{FftFixedIn, Resampler as _};

/// A mono stream resampler that takes input of any length.
pub struct Resampler {
    inner: Option<FftFixedIn<f32>>,
    chunk: usize,
    pending: Vec<f32>,
}

impl Resampler {
    /// Converts from `from` Hz to `to` Hz (a pass-through when they are equal).
    pub fn new(from: u32, to: u32) -> Result<Self, crate::devices::DeviceError> {
        // 10 ms chunks: small enough to add little delay.
        let chunk = (from as usize / 100).max(1);
        let inner = if from == to {
            None
        } else {
            Some(
                FftFixedIn::new(from as usize, to as usize, chunk, 1, 1).map_err(|e| {
                    crate::devices::DeviceError::Resample {
                        from,
                        to,
                        detail: e.to_string(),
                    }
                })?,
            )
        };
        Ok(Self {
            inner,
            chunk,
            pending: Vec::with_capacity(chunk * 2),
        })
    }

    /// Converts `input`, appending what is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(r) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return;
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= self.chunk {
            let chunk = &self.pending[start..start + self.chunk];
            match r.process(&[chunk], None) {
                Ok(mut v) => out.append(&mut v[0]),
                Err(e) => tracing::warn!("resampling failed: {e}"),
            }
            start += self.chunk;
        }
        self.pending.drain(..start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn keeps_the_pitch_and_the_length() {
        for (from, to) in [
            (44_100, 48_000),
            (48_000, 44_100),
            (16_000, 48_000),
            (48_000, 48_000),
        ] {
            let mut r = Resampler::new(from, to).unwrap();
            let input = tone(from, 1000.0, from as usize);
            let mut out = Vec::new();
            // Odd-sized pieces, as a device delivers them.
            for piece in input.chunks(333) {
                r.process(piece, &mut out);
            }
            let expected = to as usize;
            assert!(
                out.len().abs_diff(expected) <= expected / 50,
                "{from}->{to}: {} samples",
                out.len()
            );
            let pcm: Vec<i16> = out.iter().map(|s| (s * 32767.0) as i16).collect();
            let tail = &pcm[pcm.len() - 24_000.min(pcm.len() / 2)..];
            // dominant_hz assumes 48 kHz; scale to the output rate.
            let hz = crate::media::tone::dominant_hz(tail).unwrap() * f64::from(to) / 48_000.0;
            assert!((hz - 1000.0).abs() < 10.0, "{from}->{to}: {hz} Hz");
        }
    }
}
