//! File sinks for what was received: Y4M video and 16-bit WAV audio.

use super::frame::I420Frame;
use super::tone::SAMPLE_RATE;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes decoded frames to YUV4MPEG2 files. Y4M cannot change size mid-stream, and a call's
/// picture does (a peer that shares its screen, a camera that changes mode): each new size
/// starts the next file, `NAME.y4m`, then `NAME-2.y4m`, `NAME-3.y4m`, ...
pub struct Y4mWriter {
    out: Option<BufWriter<File>>,
    path: PathBuf,
    size: Option<(usize, usize)>,
    fps: u32,
    files: u32,
}

impl Y4mWriter {
    /// Creates the first file.
    pub fn create(path: &Path, fps: u32) -> std::io::Result<Self> {
        Ok(Self {
            out: Some(BufWriter::new(File::create(path)?)),
            path: path.to_owned(),
            size: None,
            fps,
            files: 1,
        })
    }

    /// The `n`-th file's path (the first is the path given).
    fn nth(&self, n: u32) -> PathBuf {
        if n == 1 {
            return self.path.clone();
        }
        let stem = self.path.file_stem().unwrap_or_default().to_string_lossy();
        self.path.with_file_name(format!("{stem}-{n}.y4m"))
    }

    /// Appends a frame; a frame of another size than the last starts the next file.
    pub fn write(&mut self, f: &I420Frame) -> std::io::Result<()> {
        let size = (f.width, f.height);
        if self.size.is_some_and(|s| s != size) {
            if let Some(mut out) = self.out.take() {
                out.flush()?;
            }
            self.files += 1;
            let next = self.nth(self.files);
            tracing::info!(
                "the received picture is now {}x{}: recording it in {}",
                f.width,
                f.height,
                next.display()
            );
            self.out = Some(BufWriter::new(File::create(next)?));
            self.size = None;
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        if self.size.is_none() {
            writeln!(
                out,
                "YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg",
                f.width, f.height, self.fps
            )?;
            self.size = Some(size);
        }
        out.write_all(b"FRAME\n")?;
        out.write_all(&f.y)?;
        out.write_all(&f.u)?;
        out.write_all(&f.v)
    }

    /// Flushes the last file.
    pub fn finish(mut self) -> std::io::Result<()> {
        match self.out.take() {
            Some(mut out) => out.flush(),
            None => Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_new_size_goes_to_the_next_file_and_nothing_is_dropped() {
        let dir = std::env::temp_dir().join(format!("roompeer-y4m-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = Y4mWriter::create(&dir.join("remote-video.y4m"), 30).unwrap();
        for (width, height) in [(64, 48), (64, 48), (128, 72), (64, 48), (64, 48)] {
            w.write(&I420Frame::black(width, height)).unwrap();
        }
        w.finish().unwrap();
        let frames = |name: &str| {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let header = bytes.split(|&b| b == b'\n').next().unwrap().to_vec();
            let count = bytes.windows(6).filter(|w| w == b"FRAME\n").count();
            (String::from_utf8(header).unwrap(), count)
        };
        let small = "YUV4MPEG2 W64 H48 F30:1 Ip A1:1 C420jpeg".to_owned();
        let large = "YUV4MPEG2 W128 H72 F30:1 Ip A1:1 C420jpeg".to_owned();
        assert_eq!(frames("remote-video.y4m"), (small.clone(), 2));
        assert_eq!(frames("remote-video-2.y4m"), (large, 1));
        assert_eq!(frames("remote-video-3.y4m"), (small, 2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
