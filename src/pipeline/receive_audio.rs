//! Receiving audio: Opus packets into the adaptive jitter buffer, pulled out at the sink's pace
//! (the chosen speaker, or the wall clock when nothing plays), fed to the echo canceller,
//! measured (wait, concealment, lip sync) and recorded.

use super::receive::next_packet;
use super::{CallMedia, unix_ms_f64};
use crate::devices::audio::Speaker;
use crate::devices::{DeviceError, DeviceKind};
use crate::media::CodecError;
use crate::media::audio_jitter::{AudioDecoder, AudioJitterBuffer, AudioPacket, PER_MS};
use crate::media::controls::AudioOut;
use crate::media::opus_codec::OpusDecoder;
use crate::media::processing::APM_FRAME;
use crate::media::record::WavWriter;
use crate::media::tone::SAMPLE_RATE;
use crate::timer::sleep_until_opt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use webrtc::media_stream::track_remote::TrackRemote;

/// Audio is pulled from the jitter buffer in blocks this long.
const BLOCK: usize = 10 * PER_MS;
/// How often the sink is asked whether it wants more.
const TICK: Duration = Duration::from_millis(5);
/// What the speaker's own queue starts with: enough for the sound server's period.
const SPEAKER_QUEUE: Duration = Duration::from_millis(20);
/// The speaker's queue grows by this after each underrun, up to `SPEAKER_QUEUE_MAX`.
const SPEAKER_QUEUE_STEP: Duration = Duration::from_millis(10);
const SPEAKER_QUEUE_MAX: Duration = Duration::from_millis(200);
/// How often the lip-sync holds are reconsidered.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// The decoded audio kept for the tone measurement.
const TAIL: usize = 2 * SAMPLE_RATE as usize;

impl AudioDecoder for OpusDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        out.extend_from_slice(OpusDecoder::decode(self, payload)?);
        Ok(())
    }

    fn decode_fec(&mut self, next: &[u8], samples: usize, out: &mut Vec<i16>) -> bool {
        match self.decode_redundancy(next, samples) {
            Ok(pcm) => {
                out.extend_from_slice(pcm);
                true
            }
            Err(_) => false,
        }
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        match self.decode_missing(samples) {
            Ok(pcm) => out.extend_from_slice(pcm),
            Err(_) => out.resize(out.len() + samples, 0),
        }
    }
}

/// Audio taken at the wall clock's pace, as a sound card would take it.
#[derive(Debug, Default)]
struct WallClock {
    started: Option<Instant>,
    taken: u64,
}

impl WallClock {
    /// Samples the clock is behind real time at `now` (negative: ahead).
    fn behind(&mut self, now: Instant) -> f64 {
        let started = *self.started.get_or_insert(now);
        now.saturating_duration_since(started).as_secs_f64() * f64::from(SAMPLE_RATE)
            - self.taken as f64
    }

    /// Never more than `most` samples behind: what a device took late is not owed later.
    fn catch_up(&mut self, now: Instant, most: f64) {
        let behind = self.behind(now);
        if behind > most {
            self.taken += (behind - most) as u64;
        }
    }
}

/// What the sink wants now.
enum Want {
    /// A block to play, after what it holds (that long).
    Play(Duration),
    /// The speaker stalled: a block's moment passed without it, and goes unheard, so that the
    /// call's audio does not pile up behind a device that is not taking it.
    Pass,
}

/// A speaker that takes nothing for this long has stalled.
const STALL: Duration = Duration::from_millis(100);

/// Where the pulled audio goes, and when it wants more.
enum Sink {
    /// The chosen speaker: fed to keep its queue at `queue`.
    Speaker {
        speaker: Box<Speaker>,
        queue: Duration,
        underruns: u64,
        clock: WallClock,
    },
    /// Nothing plays (headless without a speaker): the wall clock takes the audio at the pace
    /// a sound card would, so delays and lip sync are measured all the same.
    Clock(WallClock),
}

impl Sink {
    /// What the sink wants at `now`, if anything.
    fn wants(&mut self, now: Instant) -> Option<Want> {
        let per_sample = 1.0 / f64::from(SAMPLE_RATE);
        match self {
            Sink::Speaker {
                speaker,
                queue,
                underruns,
                clock,
            } => {
                let dry = speaker.stats().underruns;
                if dry > *underruns {
                    *underruns = dry;
                    *queue = (*queue + SPEAKER_QUEUE_STEP).min(SPEAKER_QUEUE_MAX);
                }
                let queued = speaker.queued();
                if queued < *queue {
                    // The device takes audio: the clock follows it.
                    clock.catch_up(now, (STALL / 2).as_secs_f64() * f64::from(SAMPLE_RATE));
                    return Some(Want::Play(queued));
                }
                let stalled = clock.behind(now) * per_sample > STALL.as_secs_f64();
                stalled.then_some(Want::Pass)
            }
            Sink::Clock(clock) => {
                let ahead = -clock.behind(now);
                (ahead < BLOCK as f64 / 2.0)
                    .then(|| Want::Play(Duration::from_secs_f64(ahead.max(0.0) * per_sample)))
            }
        }
    }

    fn take(&mut self, pcm: &[i16], want: &Want, scratch: &mut Vec<f32>) {
        match self {
            Sink::Speaker { speaker, clock, .. } => {
                clock.taken += pcm.len() as u64;
                if let Want::Play(_) = want {
                    scratch.clear();
                    scratch.extend(pcm.iter().map(|&s| f32::from(s) / f32::from(i16::MAX)));
                    speaker.play(scratch);
                }
            }
            Sink::Clock(clock) => clock.taken += pcm.len() as u64,
        }
    }

    fn underruns(&self) -> u64 {
        match self {
            Sink::Speaker { speaker, .. } => speaker.stats().underruns,
            Sink::Clock(_) => 0,
        }
    }
}

/// The sink the controls choose, reopened when the choice changes. A speaker opens on a
/// blocking thread (it can take a second) while packets keep arriving and the clock plays.
struct Output {
    sink: Sink,
    generation: u64,
    opening: Option<tokio::task::JoinHandle<Result<Speaker, DeviceError>>>,
    scratch: Vec<f32>,
}

impl Output {
    fn new() -> Self {
        Self {
            sink: Sink::Clock(WallClock::default()),
            generation: u64::MAX,
            opening: None,
            scratch: Vec::new(),
        }
    }

    /// Starts opening the chosen speaker when the choice changed.
    fn follow_controls(&mut self, media: &CallMedia) {
        let g = media.controls.generation();
        if g == self.generation {
            return;
        }
        self.generation = g;
        if let Some(h) = self.opening.take() {
            h.abort();
        }
        self.sink = Sink::Clock(WallClock::default());
        if let AudioOut::Speaker(name) = media.controls.devices().0.audio_out {
            // The speaker's own queue only starts it; how much it keeps is this pipeline's.
            self.opening = Some(tokio::task::spawn_blocking(move || {
                Speaker::open(name.as_deref(), Duration::from_millis(10))
            }));
        }
        self.tell_speaker(media);
    }

    /// The speaker opened (or could not be).
    fn opened(&mut self, result: Result<Speaker, DeviceError>, media: &CallMedia) {
        match result {
            Ok(speaker) => {
                self.sink = Sink::Speaker {
                    speaker: Box::new(speaker),
                    queue: SPEAKER_QUEUE,
                    underruns: 0,
                    clock: WallClock::default(),
                }
            }
            Err(e) => media.device_notice(format!("{e}: not playing the audio")),
        }
        self.tell_speaker(media);
    }

    fn tell_speaker(&self, media: &CallMedia) {
        let name = match &self.sink {
            Sink::Speaker { speaker, .. } => Some(speaker.name.clone()),
            Sink::Clock(_) => None,
        };
        if let Ok(mut r) = media.received.lock() {
            r.speaker = name;
        }
    }
}

/// Waits for the speaker being opened, if one is.
async fn speaker_opened(
    opening: &mut Option<tokio::task::JoinHandle<Result<Speaker, DeviceError>>>,
) -> Result<Speaker, DeviceError> {
    let Some(handle) = opening.as_mut() else {
        return std::future::pending().await;
    };
    let result = handle.await;
    *opening = None;
    result.unwrap_or_else(|e| Err(DeviceError::Thread(DeviceKind::Speaker, e.to_string())))
}

pub(super) async fn receive_opus(track: Arc<dyn TrackRemote>, media: Arc<CallMedia>) {
    let decoder = match OpusDecoder::new() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}");
            return;
        }
    };
    let mut buffer = AudioJitterBuffer::new(Box::new(decoder));
    let mut recorder = media
        .record_dir
        .as_ref()
        .filter(|_| media.record_raw)
        .and_then(|d| {
            WavWriter::create(&d.join("remote-audio.wav"))
                .inspect_err(|e| tracing::error!("cannot record audio: {e}"))
                .ok()
        });
    let mut output = Output::new();
    let mut block = vec![0i16; BLOCK];
    let mut ssrc = None;
    let mut started = false;
    let mut next_tick = None;
    let mut next_sync = None;
    // The speaker opens while the first packets come.
    output.follow_controls(&media);
    loop {
        tokio::select! {
            p = next_packet(&track, &media) => {
                let Some(packet) = p else { break };
                let h = &packet.header;
                ssrc = Some(h.ssrc);
                media
                    .bytes_received
                    .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
                if let Ok(mut r) = media.received.lock() {
                    r.audio_packets += 1;
                }
                media.record(super::record_call::Sample::Audio {
                    ssrc: h.ssrc,
                    rtp: h.timestamp,
                    data: packet.payload.to_vec(),
                });
                buffer.insert(
                    AudioPacket {
                        seq: h.sequence_number,
                        timestamp: h.timestamp,
                        payload: packet.payload.to_vec(),
                    },
                    Instant::now(),
                );
                // The sink starts asking once there is audio.
                started = true;
            }
            _ = sleep_until_opt(next_tick) => {}
            result = speaker_opened(&mut output.opening) => output.opened(result, &media),
        }
        output.follow_controls(&media);
        if !started {
            continue;
        }
        let now = Instant::now();
        if next_sync.is_none_or(|t| now >= t) {
            next_sync = Some(now + SYNC_EVERY);
            buffer.set_sync_hold(follow_sync(&media));
        }
        next_tick = Some(now + TICK);
        while let Some(want) = output.sink.wants(now) {
            let pulled = buffer.pull(&mut block, now);
            output.sink.take(&block, &want, &mut output.scratch);
            let queued = match want {
                Want::Play(queued) => queued,
                Want::Pass => Duration::ZERO,
            };
            if matches!(output.sink, Sink::Speaker { .. }) && matches!(want, Want::Play(_)) {
                feed_echo_canceller(&media, &block);
            }
            let Ok(mut r) = media.received.lock() else {
                return;
            };
            r.playout_queue_ms_sum += queued.as_secs_f64() * 1000.0;
            r.playout_handovers += 1;
            if let (Some((offset, ts)), Some(clock)) =
                (pulled.anchor, ssrc.and_then(|s| media.sender_clocks.get(s)))
            {
                // The block is handed over now; its samples follow each other at the rate.
                let handed = unix_ms_f64() + (offset / PER_MS) as f64;
                r.av_sync.audio(handed, clock.sender_ms(ts, SAMPLE_RATE));
            }
            r.marker.audio(unix_ms_f64(), &block);
            r.audio_tail.extend(block.iter().copied());
            let excess = r.audio_tail.len().saturating_sub(TAIL);
            r.audio_tail.drain(..excess);
            let stats = buffer.stats();
            r.audio_decode_errors = stats.decode_errors;
            r.audio_buffer = stats;
            r.playout_underruns = output.sink.underruns();
            drop(r);
            if let Some(w) = recorder.as_mut()
                && let Err(e) = w.write(&block)
            {
                tracing::error!("cannot record audio: {e}");
                recorder = None;
            }
        }
    }
    if let Some(w) = recorder
        && let Err(e) = w.finish()
    {
        tracing::error!("cannot finish the audio recording: {e}");
    }
}

/// Moves the lip-sync holds towards audio and video together, from the offset measured
/// lately; returns audio's hold (video's buffer reads its own).
fn follow_sync(media: &CallMedia) -> Duration {
    let offset = media
        .received
        .lock()
        .ok()
        .and_then(|r| r.av_sync.recent_offset_ms());
    let Ok(mut holds) = media.sync_holds.lock() else {
        return Duration::ZERO;
    };
    if let Some(offset) = offset {
        holds.update(offset);
    }
    Duration::from_secs_f64(holds.audio_ms / 1000.0)
}

/// The microphone's echo canceller must hear what the speaker plays.
fn feed_echo_canceller(media: &CallMedia, pcm: &[i16]) {
    let Ok(mut analyzer) = media.render_analyzer.lock() else {
        return;
    };
    let Some(analyzer) = analyzer.as_mut() else {
        return;
    };
    let samples: Vec<f32> = pcm
        .iter()
        .map(|&s| f32::from(s) / f32::from(i16::MAX))
        .collect();
    for frame in samples.chunks(APM_FRAME) {
        analyzer.analyze(frame);
    }
}
