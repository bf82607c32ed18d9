//! Microphones and speakers through cpal. The microphone delivers mono 48 kHz samples; the
//! speaker takes mono 48 kHz samples into a playout buffer that its callback drains at the
//! device's own rate and channel count.

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

fn find_device(name: Option<&str>, input: bool) -> Result<cpal::Device, String> {
    let host = cpal::default_host();
    let what = if input { "microphone" } else { "speaker" };
    match name {
        None => if input {
            host.default_input_device()
        } else {
            host.default_output_device()
        }
        .ok_or_else(|| {
            format!("there is no default {what}; choose one (roompeer --list-devices) or none")
        }),
        Some(n) => {
            let devices = if input {
                host.input_devices().map(|d| d.collect::<Vec<_>>())
            } else {
                host.output_devices().map(|d| d.collect::<Vec<_>>())
            }
            .map_err(|e| format!("cannot list the {what}s: {e}"))?;
            devices
                .into_iter()
                .find(|d| d.name().is_ok_and(|dn| dn == n))
                .ok_or_else(|| format!("no {what} is named {n:?} (roompeer --list-devices)"))
        }
    }
}

/// Opens a device on a thread that keeps its stream alive until the returned sender is
/// dropped. `build` makes and starts the stream; its error comes back here.
fn hold_stream(
    thread_name: &str,
    build: impl FnOnce() -> Result<cpal::Stream, String> + Send + 'static,
) -> Result<SyncSender<()>, String> {
    let (ready_tx, ready_rx) = sync_channel::<Result<(), String>>(1);
    let (stop_tx, stop_rx) = sync_channel::<()>(1);
    std::thread::Builder::new()
        .name(thread_name.into())
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
        .map_err(|e| format!("cannot start the {thread_name} thread: {e}"))?;
    ready_rx
        .recv()
        .map_err(|_| format!("the {thread_name} thread ended while opening the device"))??;
    Ok(stop_tx)
}

/// An open microphone.
pub struct Microphone {
    /// Mono samples at the device's rate, as the callback delivers them.
    chunks: Receiver<Vec<f32>>,
    resampler: Resampler,
    /// 48 kHz mono samples not yet taken.
    ready: Vec<f32>,
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
    pub fn open(name: Option<&str>) -> Result<Self, String> {
        let device = find_device(name, true)?;
        let dev_name = device.name().unwrap_or_else(|_| "microphone".into());
        let supported = device
            .default_input_config()
            .map_err(|e| format!("cannot use the microphone {dev_name:?}: {e}"))?;
        let rate = supported.sample_rate().0;
        let format = supported.sample_format();
        let config: cpal::StreamConfig = supported.into();
        let (tx, chunks) = sync_channel::<Vec<f32>>(64);
        let label = dev_name.clone();
        let stop = hold_stream("microphone", move || {
            let stream = match format {
                SampleFormat::F32 => input_stream::<f32>(&device, &config, tx),
                SampleFormat::I16 => input_stream::<i16>(&device, &config, tx),
                SampleFormat::I32 => input_stream::<i32>(&device, &config, tx),
                SampleFormat::U16 => input_stream::<u16>(&device, &config, tx),
                other => {
                    return Err(format!(
                        "the microphone {label:?} delivers {other} samples, which roompeer cannot read"
                    ));
                }
            }
            .map_err(|e| format!("cannot open the microphone {label:?}: {e}"))?;
            stream
                .play()
                .map_err(|e| format!("cannot start the microphone {label:?}: {e}"))?;
            Ok(stream)
        })?;
        tracing::info!(device = %dev_name, rate, ?format, "microphone open");
        Ok(Self {
            chunks,
            resampler: Resampler::new(rate, SAMPLE_RATE)?,
            ready: Vec::new(),
            name: dev_name,
            _stop: stop,
        })
    }

    /// Fills `out` with the next 48 kHz samples. Waits up to `timeout`; false if the device
    /// delivered too little in that time (it stalled or went away).
    pub fn read(&mut self, out: &mut [f32], timeout: Duration) -> Result<bool, String> {
        let deadline = std::time::Instant::now() + timeout;
        while self.ready.len() < out.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.resampler.process(&chunk, &mut self.ready),
                Err(RecvTimeoutError::Timeout) => return Ok(false),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("the microphone {:?} went away", self.name));
                }
            }
        }
        out.copy_from_slice(&self.ready[..out.len()]);
        self.ready.drain(..out.len());
        Ok(true)
    }
}

/// An open speaker.
pub struct Speaker {
    buffer: Arc<Mutex<PlayoutBuffer>>,
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
    pub fn open(name: Option<&str>, target: Duration) -> Result<Self, String> {
        let device = find_device(name, false)?;
        let dev_name = device.name().unwrap_or_else(|_| "speaker".into());
        let supported = device
            .default_output_config()
            .map_err(|e| format!("cannot use the speaker {dev_name:?}: {e}"))?;
        let rate = supported.sample_rate().0;
        let format = supported.sample_format();
        let config: cpal::StreamConfig = supported.into();
        let per_ms = rate as usize / 1000;
        let target_samples = per_ms * target.as_millis() as usize;
        // Up to three times the target, then back to it.
        let buffer = Arc::new(Mutex::new(PlayoutBuffer::new(
            target_samples,
            target_samples * 3 + per_ms * 40,
        )));
        let cb_buffer = buffer.clone();
        let label = dev_name.clone();
        let stop = hold_stream("speaker", move || {
            let stream = match format {
                SampleFormat::F32 => output_stream::<f32>(&device, &config, cb_buffer),
                SampleFormat::I16 => output_stream::<i16>(&device, &config, cb_buffer),
                SampleFormat::I32 => output_stream::<i32>(&device, &config, cb_buffer),
                SampleFormat::U16 => output_stream::<u16>(&device, &config, cb_buffer),
                other => {
                    return Err(format!(
                        "the speaker {label:?} takes {other} samples, which roompeer cannot write"
                    ));
                }
            }
            .map_err(|e| format!("cannot open the speaker {label:?}: {e}"))?;
            stream
                .play()
                .map_err(|e| format!("cannot start the speaker {label:?}: {e}"))?;
            Ok(stream)
        })?;
        tracing::info!(device = %dev_name, rate, ?format, "speaker open");
        Ok(Self {
            buffer,
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

    /// What the playout buffer did so far.
    pub fn stats(&self) -> PlayoutStats {
        self.buffer.lock().map(|b| b.stats()).unwrap_or_default()
    }
}
