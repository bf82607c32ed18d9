//! File sinks for what was received: Y4M video and 16-bit WAV audio.

use super::frame::I420Frame;
use super::tone::SAMPLE_RATE;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes decoded frames to a YUV4MPEG2 file (the first frame fixes the size).
pub struct Y4mWriter {
    out: BufWriter<File>,
    size: Option<(usize, usize)>,
    fps: u32,
    skipped: u64,
}

impl Y4mWriter {
    /// Creates the file.
    pub fn create(path: &Path, fps: u32) -> std::io::Result<Self> {
        Ok(Self {
            out: BufWriter::new(File::create(path)?),
            size: None,
            fps,
            skipped: 0,
        })
    }

    /// Appends a frame; frames of another size than the first are counted and skipped, since
    /// Y4M cannot change size mid-stream.
    pub fn write(&mut self, f: &I420Frame) -> std::io::Result<()> {
        match self.size {
            None => {
                writeln!(
                    self.out,
                    "YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg",
                    f.width, f.height, self.fps
                )?;
                self.size = Some((f.width, f.height));
            }
            Some(s) if s != (f.width, f.height) => {
                self.skipped += 1;
                return Ok(());
            }
            Some(_) => {}
        }
        self.out.write_all(b"FRAME\n")?;
        self.out.write_all(&f.y)?;
        self.out.write_all(&f.u)?;
        self.out.write_all(&f.v)
    }

    /// Flushes the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        if self.skipped > 0 {
            tracing::warn!(
                "{} frames of a different size were not recorded",
                self.skipped
            );
        }
        self.out.flush()
    }
}

/// Writes mono 48 kHz 16-bit PCM to a WAV file.
pub struct WavWriter(hound::WavWriter<BufWriter<File>>);

impl WavWriter {
    /// Creates the file.
    pub fn create(path: &Path) -> Result<Self, hound::Error> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(Self(hound::WavWriter::create(path, spec)?))
    }

    /// Appends samples.
    pub fn write(&mut self, samples: &[i16]) -> Result<(), hound::Error> {
        for &s in samples {
            self.0.write_sample(s)?;
        }
        Ok(())
    }

    /// Finalises the header.
    pub fn finish(self) -> Result<(), hound::Error> {
        self.0.finalize()
    }
}
