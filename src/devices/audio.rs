//! Microphones and speakers through cpal. The microphone delivers mono 48 kHz samples; the
//! speaker takes mono 48 kHz samples into a playout buffer that its callback drains at the
//! device's own rate and channel count.

use super::{DeviceError, DeviceKind};
use crate::media::playout::{PlayoutBuffer, PlayoutStats};
use crate::media::resample::Resampler;
use crate::media::tone::SAMPLE_RATE;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn names(devices: Result<impl Iterator<Item = cpal::Device>, cpal::DevicesError>) -> Vec<String> {
    match devices {
        Ok(d) => d.filter_map(|d| d.name().ok()).collect(),
        Err(e) => {
            tracing::debug!("cannot list audio devices: {e}");
            Vec::new()
        }
    }
}

/// The names of the audio inputs.
pub fn input_names() -> Vec<String> {
    names(cpal::default_host().input_devices())
}

/// The names of the audio outputs.
pub fn output_names() -> Vec<String> {
    names(cpal::default_host().output_devices())
}

fn find_device(name: Option<&str>, input: bool) -> Result<cpal::Device, DeviceError> {
    let host = cpal::default_host();
    let kind = if input {
        DeviceKind::Microphone
    } else {
        DeviceKind::Speaker
    };
    match name {
        None => if input {
            host.default_input_device()
        } else {
            host.default_output_device()
        }
        .ok_or(DeviceError::NoDefault(kind)),
        Some(n) => {
            let devices = if input {
                host.input_devices().map(|d| d.collect::<Vec<_>>())
            } else {
                host.output_devices().map(|d| d.collect::<Vec<_>>())
            }
            .map_err(|e| DeviceError::List {
                kind,
                detail: e.to_string(),
            })?;
            let known = devices
                .iter()
                .filter_map(|d| d.name().ok())
                .collect::<Vec<_>>()
                .join(", ");
            devices
                .into_iter()
                .find(|d| d.name().is_ok_and(|dn| dn == n))
                .ok_or_else(|| DeviceError::NotFound {
                    kind,
                    name: n.to_owned(),
                    known,
                })
        }
    }
}

/// Opens a device on a thread that keeps its stream alive until the returned sender is
/// dropped. `build` makes and starts the stream; its error comes back here.
fn hold_stream(
    kind: DeviceKind,
    build: impl FnOnce() -> Result<cpal::Stream, DeviceError> + Send + 'static,
) -> Result<SyncSender<()>, DeviceError> {
    let (ready_tx, ready_rx) = sync_channel::<Result<(), DeviceError>>(1);
    let (stop_tx, stop_rx) = sync_channel::<()>(1);
    std::thread::Builder::new()
        .name(kind.to_string())
        .spawn(move || {
            let stream = match build() {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            // Until the owner goes away (recv fails) or says stop.
            let _ = stop_rx.recv();
            drop(stream);
        })
        .map_err(|e| DeviceError::Thread(kind, e.to_string()))?;
    ready_rx
        .recv()
        .map_err(|_| DeviceError::Thread(kind, "it ended while opening the device".into()))??;
    Ok(stop_tx)
}

fn open_error(
    step: &'static str,
    kind: DeviceKind,
    name: &str,
    e: impl std::fmt::Display,
) -> DeviceError {
    DeviceError::Open {
        step,
        kind,
        name: name.to_owned(),
        detail: e.to_string(),
    }
}

/// A device period this long keeps the device's own buffer from adding more delay than the
/// call's audio path is allowed in all (the default can be a quarter second or more).
const DEVICE_PERIOD_MS: u32 = 10;

/// The device's config with a 10 ms buffer, where the device says it takes one; the default
/// config is tried after it.
fn small_buffer(supported: &cpal::SupportedStreamConfig) -> Option<cpal::StreamConfig> {
    let frames = supported.sample_rate().0 * DEVICE_PERIOD_MS / 1000;
    match supported.buffer_size() {
        cpal::SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&frames) => {
            let mut config: cpal::StreamConfig = supported.clone().into();
            config.buffer_size = cpal::BufferSize::Fixed(frames);
            Some(config)
        }
        _ => None,
    }
}

/// Builds a stream for one sample type; [`start_stream`] picks the type from the device's
/// format, for microphones and speakers alike.
trait BuildStream {
    fn build<T>(self) -> Result<cpal::Stream, cpal::BuildStreamError>
    where
        T: SizedSample + FromSample<f32> + Send + 'static,
        f32: FromSample<T>;
}

/// Builds and starts a device's stream in its sample format, with the first of `configs` that
/// the device takes.
fn start_stream<'c, B: BuildStream>(
    kind: DeviceKind,
    name: &str,
    format: SampleFormat,
    configs: &'c [cpal::StreamConfig],
    make: impl Fn(&'c cpal::StreamConfig) -> B,
) -> Result<cpal::Stream, DeviceError> {
    let mut first_error = None;
    for config in configs {
        match start_one(kind, name, format, make(config)) {
            Ok(stream) => return Ok(stream),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    Err(first_error.unwrap_or(DeviceError::Thread(kind, "no stream config".into())))
}

fn start_one(
    kind: DeviceKind,
    name: &str,
    format: SampleFormat,
    build: impl BuildStream,
) -> Result<cpal::Stream, DeviceError> {
    let stream = match format {
        SampleFormat::F32 => build.build::<f32>(),
        SampleFormat::I16 => build.build::<i16>(),
        SampleFormat::I32 => build.build::<i32>(),
        SampleFormat::U16 => build.build::<u16>(),
        other => {
            return Err(DeviceError::SampleFormat {
                kind,
                name: name.to_owned(),
                format: other.to_string(),
            });
        }
    }
    .map_err(|e| open_error("open", kind, name, e))?;
    stream
        .play()
        .map_err(|e| open_error("start", kind, name, e))?;
    Ok(stream)
}

struct InputStream<'a> {
    device: &'a cpal::Device,
    config: &'a cpal::StreamConfig,
    tx: SyncSender<Vec<f32>>,
}

impl BuildStream for InputStream<'_> {
    fn build<T>(self) -> Result<cpal::Stream, cpal::BuildStreamError>
    where
        T: SizedSample + FromSample<f32> + Send + 'static,
        f32: FromSample<T>,
    {
        input_stream::<T>(self.device, self.config, self.tx)
    }
}

struct OutputStream<'a> {
    device: &'a cpal::Device,
    config: &'a cpal::StreamConfig,
    buffer: Arc<Mutex<PlayoutBuffer>>,
}

impl BuildStream for OutputStream<'_> {
    fn build<T>(self) -> Result<cpal::Stream, cpal::BuildStreamError>
    where
        T: SizedSample + FromSample<f32> + Send + 'static,
        f32: FromSample<T>,
    {
        output_stream::<T>(self.device, self.config, self.buffer)
    }
}

/// How many frames' worth of captured audio may wait to be read; older audio is dropped.
const MAX_BACKLOG_FRAMES: usize = 3;

/// An open microphone.
pub struct Microphone {
    /// Mono samples at the device's rate, as the callback delivers them.
    chunks: Receiver<Vec<f32>>,
    resampler: Resampler,
    /// 48 kHz mono samples not yet taken.
    ready: Vec<f32>,
    /// Samples dropped because they had waited too long.
    pub dropped: u64,
    /// The device's rate, and the most it delivered at once (its period).
    rate: u32,
    largest_chunk: usize,
    /// The device's name, for messages.
    pub name: String,
    _stop: SyncSender<()>,
}

fn input_stream<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    tx: SyncSender<Vec<f32>>,
) -> Result<cpal::Stream, cpal::BuildStreamError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    device.build_input_stream(
        config,
        move |data: &[T], _| {
            tracing::trace!(frames = data.len() / channels, "microphone callback");
            let mono: Vec<f32> = data
                .chunks(channels)
                .map(|frame| {
                    frame.iter().map(|&s| s.to_sample::<f32>()).sum::<f32>() / channels as f32
                })
                .collect();
            // Never block the device's thread: a full queue means nobody is reading.
            let _ = tx.try_send(mono);
        },
        |e| tracing::warn!("microphone: {e}"),
        None,
    )
}

impl Microphone {
    /// Opens the default microphone or the one named.
    pub fn open(name: Option<&str>) -> Result<Self, DeviceError> {
        const KIND: DeviceKind = DeviceKind::Microphone;
        let device = find_device(name, true)?;
        let dev_name = device.name().unwrap_or_else(|_| "microphone".into());
        let supported = device
            .default_input_config()
            .map_err(|e| open_error("use", KIND, &dev_name, e))?;
        let rate = supported.sample_rate().0;
        let format = supported.sample_format();
        let small = small_buffer(&supported);
        let period = small.as_ref().map(|c| c.buffer_size);
        let config: cpal::StreamConfig = supported.into();
        let (tx, chunks) = sync_channel::<Vec<f32>>(64);
        let label = dev_name.clone();
        let configs: Vec<_> = small.into_iter().chain([config]).collect();
        let stop = hold_stream(KIND, move || {
            start_stream(KIND, &label, format, &configs, |config| InputStream {
                device: &device,
                config,
                tx: tx.clone(),
            })
        })?;
        tracing::info!(device = %dev_name, rate, ?format, ?period, "microphone open");
        Ok(Self {
            chunks,
            resampler: Resampler::new(rate, SAMPLE_RATE)?,
            ready: Vec::new(),
            dropped: 0,
            rate,
            largest_chunk: 0,
            name: dev_name,
            _stop: stop,
        })
    }

    /// Fills `out` with the next 48 kHz samples. Waits up to `timeout`; false if the device
    /// delivered too little in that time (it stalled or went away).
    pub fn read(&mut self, out: &mut [f32], timeout: Duration) -> Result<bool, DeviceError> {
        let deadline = std::time::Instant::now() + timeout;
        while self.ready.len() < out.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => {
                    self.largest_chunk = self.largest_chunk.max(chunk.len());
                    self.resampler.process(&chunk, &mut self.ready)
                }
                Err(RecvTimeoutError::Timeout) => return Ok(false),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(DeviceError::Gone {
                        kind: DeviceKind::Microphone,
                        name: self.name.clone(),
                    });
                }
            }
        }
        // Whatever else the device delivered meanwhile, so that the newest is what is sent.
        while let Ok(chunk) = self.chunks.try_recv() {
            self.largest_chunk = self.largest_chunk.max(chunk.len());
            self.resampler.process(&chunk, &mut self.ready);
        }
        // Live audio that waited is of no use: keep a device period and a few frames, no more
        // (a device may hand over what it buffered before the call in one go).
        let period = self.largest_chunk * SAMPLE_RATE as usize / self.rate.max(1) as usize;
        let keep = period + out.len() * MAX_BACKLOG_FRAMES;
        let stale = self.ready.len().saturating_sub(keep);
        if stale > 0 {
            self.ready.drain(..stale);
            self.dropped += stale as u64;
            tracing::debug!(
                stale,
                keep,
                dropped = self.dropped,
                "microphone backlog dropped"
            );
        }
        out.copy_from_slice(&self.ready[..out.len()]);
        self.ready.drain(..out.len());
        Ok(true)
    }
}

/// An open speaker.
pub struct Speaker {
    buffer: Arc<Mutex<PlayoutBuffer>>,
    /// The device's sample rate.
    rate: u32,
    resampler: Resampler,
    scratch: Vec<f32>,
    /// The device's name, for messages.
    pub name: String,
    _stop: SyncSender<()>,
}

fn output_stream<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    buffer: Arc<Mutex<PlayoutBuffer>>,
) -> Result<cpal::Stream, cpal::BuildStreamError>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let mut mono = Vec::new();
    device.build_output_stream(
        config,
        move |data: &mut [T], _| {
            tracing::trace!(frames = data.len() / channels, "speaker callback");
            let frames = data.len() / channels;
            mono.resize(frames, 0.0);
            match buffer.lock() {
                Ok(mut b) => b.pull(&mut mono),
                Err(_) => mono.fill(0.0),
            }
            for (frame, &s) in data.chunks_mut(channels).zip(&mono) {
                frame.fill(T::from_sample(s));
            }
        },
        |e| tracing::warn!("speaker: {e}"),
        None,
    )
}

impl Speaker {
    /// Opens the default speaker or the one named, with a playout buffer that holds
    /// `target` of audio before playing.
    pub fn open(name: Option<&str>, target: Duration) -> Result<Self, DeviceError> {
        const KIND: DeviceKind = DeviceKind::Speaker;
        let device = find_device(name, false)?;
        let dev_name = device.name().unwrap_or_else(|_| "speaker".into());
        let supported = device
            .default_output_config()
            .map_err(|e| open_error("use", KIND, &dev_name, e))?;
        let rate = supported.sample_rate().0;
        let format = supported.sample_format();
        let small = small_buffer(&supported);
        let period = small.as_ref().map(|c| c.buffer_size);
        let config: cpal::StreamConfig = supported.into();
        let per_ms = rate as usize / 1000;
        let target_samples = per_ms * target.as_millis() as usize;
        // Whoever feeds it keeps its level (up to 200 ms after underruns); beyond a quarter
        // second something went wrong, and it falls back to the target.
        let buffer = Arc::new(Mutex::new(PlayoutBuffer::new(
            target_samples,
            target_samples + per_ms * 250,
        )));
        let cb_buffer = buffer.clone();
        let label = dev_name.clone();
        let configs: Vec<_> = small.into_iter().chain([config]).collect();
        let stop = hold_stream(KIND, move || {
            start_stream(KIND, &label, format, &configs, |config| OutputStream {
                device: &device,
                config,
                buffer: cb_buffer.clone(),
            })
        })?;
        tracing::info!(device = %dev_name, rate, ?format, ?period, "speaker open");
        Ok(Self {
            buffer,
            rate,
            resampler: Resampler::new(SAMPLE_RATE, rate)?,
            scratch: Vec::new(),
            name: dev_name,
            _stop: stop,
        })
    }

    /// Queues 48 kHz mono samples for playing.
    pub fn play(&mut self, samples: &[f32]) {
        self.scratch.clear();
        self.resampler.process(samples, &mut self.scratch);
        if let Ok(mut b) = self.buffer.lock() {
            b.push(&self.scratch);
        }
    }

    /// Audio queued for the device, not yet played.
    pub fn queued(&self) -> Duration {
        let samples = self.buffer.lock().map_or(0, |b| b.len());
        Duration::from_secs_f64(samples as f64 / f64::from(self.rate.max(1)))
    }

    /// What the playout buffer did so far.
    pub fn stats(&self) -> PlayoutStats {
        self.buffer.lock().map(|b| b.stats()).unwrap_or_default()
    }
}
