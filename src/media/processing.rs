//! Echo cancellation, noise suppression and automatic gain for the microphone: what the seed
//! page asks the browser for (`echoCancellation`, `noiseSuppression`, `autoGainControl`).
//!
//! This is WebRTC's own audio processing module, as PulseAudio packages it (Debian's
//! `libwebrtc-audio-processing`, through the `webrtc-audio-processing` crate): the same code
//! browsers run, not a hand-written filter. It works on 10 ms frames at 48 kHz. The capture side
//! cleans the microphone; the render side is shown what the speakers play, which is the echo
//! to remove.

use webrtc_audio_processing as apm;

/// Samples in one 10 ms frame at 48 kHz, the unit the processor works on.
pub const APM_FRAME: usize = apm::NUM_SAMPLES_PER_FRAME as usize;

/// Which processing is on; each can be switched during a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    /// Remove the far end's voice coming back through the microphone.
    pub echo_cancellation: bool,
    /// Remove steady background noise.
    pub noise_suppression: bool,
    /// Bring the voice to a steady level.
    pub auto_gain: bool,
}

impl Default for Switches {
    /// All on, as the seed page asks.
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            auto_gain: true,
        }
    }
}

impl Switches {
    fn config(self) -> apm::Config {
        apm::Config {
            echo_cancellation: self.echo_cancellation.then_some(apm::EchoCancellation {
                suppression_level: apm::EchoCancellationSuppressionLevel::Moderate,
                // The delay between playing and hearing is unknown on a desktop: let the AEC
                // find it.
                enable_extended_filter: true,
                enable_delay_agnostic: true,
                stream_delay_ms: None,
            }),
            gain_control: self.auto_gain.then_some(apm::GainControl {
                mode: apm::GainControlMode::AdaptiveDigital,
                target_level_dbfs: 3,
                compression_gain_db: 9,
                enable_limiter: true,
            }),
            noise_suppression: self.noise_suppression.then_some(apm::NoiseSuppression {
                suppression_level: apm::NoiseSuppressionLevel::Moderate,
            }),
            voice_detection: None,
            enable_transient_suppressor: false,
            enable_high_pass_filter: self.echo_cancellation
                || self.noise_suppression
                || self.auto_gain,
        }
    }
}

/// The capture side of one processor.
pub struct AudioProcessor {
    processor: apm::Processor,
    switches: Switches,
}

/// The render side: shown what the speakers play.
#[derive(Clone)]
pub struct RenderAnalyzer(apm::Processor);

impl std::fmt::Debug for RenderAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderAnalyzer")
    }
}

impl AudioProcessor {
    /// A mono processor with these switches.
    pub fn new(switches: Switches) -> Result<Self, crate::devices::DeviceError> {
        let mut processor = apm::Processor::new(&apm::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..Default::default()
        })
        .map_err(|e| crate::devices::DeviceError::Processing(e.to_string()))?;
        processor.set_config(switches.config());
        Ok(Self {
            processor,
            switches,
        })
    }

    /// The render side of this processor, for the playback path.
    pub fn render_analyzer(&self) -> RenderAnalyzer {
        RenderAnalyzer(self.processor.clone())
    }

    /// Applies new switches (cheap when nothing changed).
    pub fn set_switches(&mut self, switches: Switches) {
        if switches != self.switches {
            tracing::info!(?switches, "audio processing changed");
            self.switches = switches;
            self.processor.set_config(switches.config());
        }
    }

    /// Processes one 10 ms microphone frame in place ([`APM_FRAME`] samples, -1..1).
    pub fn process_capture(&mut self, frame: &mut [f32]) {
        if frame.len() != APM_FRAME {
            return;
        }
        if let Err(e) = self.processor.process_capture_frame(frame) {
            tracing::debug!("audio processing failed on a frame: {e}");
        }
    }
}

impl RenderAnalyzer {
    /// Shows the processor one 10 ms frame that the speakers play ([`APM_FRAME`] samples).
    pub fn analyze(&mut self, frame: &[f32]) {
        if frame.len() != APM_FRAME {
            return;
        }
        let mut copy = [0f32; APM_FRAME];
        copy.copy_from_slice(frame);
        if let Err(e) = self.0.process_render_frame(&mut copy) {
            tracing::debug!("audio processing failed on a played frame: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Speech-like test signal: noise in bursts (deterministic).
    fn far_end(n: usize) -> Vec<f32> {
        let mut x = 0x1234_5678u32;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let burst = if (i / 4800) % 3 == 2 { 0.0 } else { 1.0 };
                (x as f32 / u32::MAX as f32 - 0.5) * 0.4 * burst
            })
            .collect()
    }

    fn energy(s: &[f32]) -> f32 {
        s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32
    }

    /// Plays `far` and hears it back 30 ms later at half strength; returns the energy of what
    /// the microphone sends in the last two seconds, relative to the echo's.
    fn echo_left(switches: Switches) -> f32 {
        let mut p = AudioProcessor::new(switches).unwrap();
        let mut render = p.render_analyzer();
        let far = far_end(48_000 * 8);
        let delay = 48 * 30;
        let mut sent = Vec::new();
        let mut heard = Vec::new();
        for (i, frame) in far.chunks(APM_FRAME).enumerate() {
            render.analyze(frame);
            let start = i * APM_FRAME;
            let mut mic: Vec<f32> = (start..start + APM_FRAME)
                .map(|j| {
                    if j >= delay {
                        far[j - delay] * 0.5
                    } else {
                        0.0
                    }
                })
                .collect();
            heard.extend_from_slice(&mic);
            p.process_capture(&mut mic);
            sent.extend_from_slice(&mic);
        }
        let tail = 48_000 * 2;
        energy(&sent[sent.len() - tail..]) / energy(&heard[heard.len() - tail..])
    }

    #[test]
    fn echo_cancellation_removes_the_echo() {
        let off = Switches {
            echo_cancellation: false,
            noise_suppression: false,
            auto_gain: false,
        };
        let with_aec = Switches {
            echo_cancellation: true,
            ..off
        };
        let untouched = echo_left(off);
        let cancelled = echo_left(with_aec);
        // High-pass filtering is off too: the signal goes through as it came.
        assert!(
            untouched > 0.5,
            "without processing the echo stays ({untouched})"
        );
        // At least 10 dB less echo.
        assert!(cancelled < 0.1, "echo left with AEC: {cancelled}");
    }
}
