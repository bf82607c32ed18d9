//! How much a frame's arrival varies, from the frames that came: the idea of libwebrtc's jitter
//! estimator (a Kalman filter that separates the delay a frame's size explains, at the link's
//! rate, from the noise around it), written here from that idea.
//!
//! Each pair of consecutive complete frames gives a delay variation `dd` (how much later the
//! second came than its timestamp says) and a size difference `ds`. The filter estimates
//! `dd = slope · ds + offset`; the jitter to allow for is what the largest frames cost over an
//! average one, plus a multiple of the noise's spread.

/// Frames sized like the largest recent ones take this much longer than average to arrive.
const NOISE_STD_DEVS: f64 = 2.33;

/// A Kalman filter on frame delay variation against frame size.
#[derive(Debug, Clone)]
pub struct DelayEstimator {
    /// ms per byte (the inverse of the link's rate) and the constant part, ms.
    theta: [f64; 2],
    /// The estimate's covariance.
    p: [[f64; 2]; 2],
    /// Mean and variance of the residual noise, ms and ms².
    noise_mean: f64,
    noise_var: f64,
    avg_frame_size: f64,
    max_frame_size: f64,
    samples: u64,
}

impl Default for DelayEstimator {
    fn default() -> Self {
        Self {
            // 512 kbit/s: 8 bits a byte in ms.
            theta: [8.0 / 512.0, 0.0],
            p: [[1e-4, 0.0], [0.0, 1e2]],
            noise_mean: 0.0,
            noise_var: 1.0,
            avg_frame_size: 0.0,
            max_frame_size: 0.0,
            samples: 0,
        }
    }
}

impl DelayEstimator {
    /// One frame pair: the second came `dd_ms` later than its timestamp says (negative:
    /// earlier), and is `size` bytes against the first's `prev_size`.
    pub fn update(&mut self, dd_ms: f64, size: usize, prev_size: usize) {
        let size = size as f64;
        let ds = size - prev_size as f64;
        self.samples += 1;
        // Frame sizes: a slow average, and a maximum that decays slowly (keyframes).
        self.avg_frame_size = if self.samples == 1 {
            size
        } else {
            0.97 * self.avg_frame_size + 0.03 * size
        };
        self.max_frame_size = (0.9999 * self.max_frame_size).max(size);

        // An outlier (a stall, a burst after a loss) counts at most as three deviations;
        // a frame much larger or smaller than average is what teaches the slope, and counts
        // in full.
        let std = self.noise_var.sqrt();
        let predicted = self.theta[0] * ds + self.theta[1];
        let bound = 3.0 * std.max(1.0);
        let residual = if ds.abs() > self.avg_frame_size {
            dd_ms - predicted
        } else {
            (dd_ms - predicted).clamp(-bound, bound)
        };

        // The noise: fast at the start, then slow.
        let alpha = if self.samples < 30 { 0.8 } else { 0.97 };
        let noise = residual.clamp(-bound, bound);
        self.noise_mean = alpha * self.noise_mean + (1.0 - alpha) * noise;
        let dev = noise - self.noise_mean;
        self.noise_var = (alpha * self.noise_var + (1.0 - alpha) * dev * dev).max(0.04);

        // The Kalman update for h = [ds, 1].
        let h = [ds, 1.0];
        let ph = [
            self.p[0][0] * h[0] + self.p[0][1] * h[1],
            self.p[1][0] * h[0] + self.p[1][1] * h[1],
        ];
        let denom = h[0] * ph[0] + h[1] * ph[1] + self.noise_var;
        if denom <= f64::EPSILON {
            return;
        }
        let k = [ph[0] / denom, ph[1] / denom];
        self.theta[0] += k[0] * residual;
        self.theta[1] += k[1] * residual;
        // A negative slope would mean larger frames come sooner: not physical.
        self.theta[0] = self.theta[0].max(1e-6);
        let p = self.p;
        for (i, row) in self.p.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = p[i][j] - k[i] * (h[0] * p[0][j] + h[1] * p[1][j]);
            }
        }
        // Process noise: the link's rate may change.
        self.p[0][0] += 2.5e-10;
        self.p[1][1] += 1e-10;
    }

    /// The delay to allow for, ms: what the largest frames cost over an average one at the
    /// estimated rate, plus the noise.
    pub fn jitter_ms(&self) -> f64 {
        if self.samples < 2 {
            return 0.0;
        }
        let size_part = self.theta[0] * (self.max_frame_size - self.avg_frame_size).max(0.0);
        (size_part + NOISE_STD_DEVS * self.noise_var.sqrt()).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: &mut u64) -> f64 {
        // A small deterministic generator, uniform in [-1, 1].
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
    }

    #[test]
    fn a_clean_link_needs_almost_no_buffer() {
        let mut e = DelayEstimator::default();
        let mut seed = 1;
        for _ in 0..300 {
            e.update(0.3 * noise(&mut seed), 4000, 4000);
        }
        assert!(e.jitter_ms() < 2.0, "{}", e.jitter_ms());
    }

    #[test]
    fn jittery_arrival_asks_for_more() {
        let mut e = DelayEstimator::default();
        let mut seed = 7;
        // ±10 ms uniform: a standard deviation of 5.8 ms.
        for _ in 0..600 {
            e.update(10.0 * noise(&mut seed), 4000, 4000);
        }
        let j = e.jitter_ms();
        assert!((8.0..30.0).contains(&j), "{j}");
    }

    #[test]
    fn large_frames_on_a_slow_link_are_allowed_for() {
        let mut e = DelayEstimator::default();
        // 1 Mbit/s: 8 µs a byte; every 30th frame is a 40 kB keyframe among 3 kB frames.
        let mut prev = 3000;
        for i in 0..900 {
            let size = if i % 30 == 0 { 40_000 } else { 3000 };
            let dd = 0.008 * (size as f64 - prev as f64);
            e.update(dd, size, prev);
            prev = size;
        }
        let j = e.jitter_ms();
        // A keyframe takes ~300 ms more than an average frame at that rate.
        assert!(j > 150.0, "{j}");
    }
}
