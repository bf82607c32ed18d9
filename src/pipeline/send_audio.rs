//! Sending audio: the chosen source (a tone, a microphone with echo cancellation, silence),
//! Opus, the track.

use super::{CallMedia, PipelineError};
use crate::devices::audio::Microphone;
use crate::media::controls::AudioIn;
use crate::media::opus_codec::OpusEncoder;
use crate::media::processing::{APM_FRAME, AudioProcessor};
use crate::media::tone::{FRAME_SAMPLES, Tone};
use rtc::media::Sample;
use rtc::rtp_transceiver::{PayloadType, SSRC};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;

/// What the audio sender sends.
enum AudioSource {
    Tone(Tone),
    /// A microphone, its processing, and whether it is delivering (false until its first
    /// audio, and while it stalls).
    Mic(Box<Microphone>, AudioProcessor, bool),
    Silence,
}

impl AudioSource {
    /// Opens the chosen source; without a microphone, silence (and a notice).
    fn open(media: &CallMedia) -> Self {
        let (devices, _) = media.controls.devices();
        if let Ok(mut r) = media.render_analyzer.lock() {
            *r = None;
        }
        let source = match devices.audio_in.clone() {
            AudioIn::Tone(hz) => Self::Tone(Tone::new(hz)),
            AudioIn::Silence => Self::Silence,
            AudioIn::Mic(name) => {
                let opened = Microphone::open(name.as_deref()).and_then(|mic| {
                    let apm = AudioProcessor::new(media.controls.switches())?;
                    Ok((mic, apm))
                });
                match opened {
                    Ok((mic, apm)) => {
                        if let Ok(mut r) = media.render_analyzer.lock() {
                            *r = Some(apm.render_analyzer());
                        }
                        Self::Mic(Box::new(mic), apm, false)
                    }
                    Err(e) => {
                        media.device_notice(format!("{e}: sending silence instead"));
                        Self::Silence
                    }
                }
            }
        };
        let what = match &source {
            Self::Tone(_) => match devices.audio_in {
                AudioIn::Tone(hz) => format!("tone {hz} Hz"),
                _ => "tone".into(),
            },
            Self::Mic(m, ..) => format!("microphone {:?}", m.name),
            Self::Silence => "silence".into(),
        };
        media.set_source(&media.audio_source, what);
        source
    }

    /// The next 20 ms frame. Synthetic sources are paced by `next`; a microphone by its own
    /// clock. `Err` when the microphone went away (the caller falls back to silence).
    fn read(
        &mut self,
        pcm: &mut [i16],
        scratch: &mut [f32],
        next: &mut Instant,
        media: &CallMedia,
    ) -> Result<(), crate::devices::DeviceError> {
        let pace = |next: &mut Instant| {
            let now = Instant::now();
            if *next > now {
                std::thread::sleep(*next - now);
            } else if now - *next > Duration::from_millis(100) {
                *next = now;
            }
            *next += Duration::from_millis(20);
        };
        match self {
            Self::Tone(t) => {
                pace(next);
                t.fill_marked(pcm, (super::unix_ms_f64() * 1000.0) as u64);
            }
            Self::Silence => {
                pace(next);
                pcm.fill(0);
            }
            Self::Mic(mic, apm, live) => {
                // A delivering microphone paces the stream; one that has not started or has
                // stalled gets a frame's time, and silence keeps the 20 ms cadence meanwhile
                // (the receiver reads a gap in that cadence as network jitter).
                let wait = if *live {
                    Duration::from_millis(200)
                } else {
                    next.saturating_duration_since(Instant::now())
                };
                *live = mic.read(scratch, wait)?;
                if *live {
                    *next = Instant::now() + Duration::from_millis(20);
                } else {
                    scratch.fill(0.0);
                    pace(next);
                }
                apm.set_switches(media.controls.switches());
                for half in scratch.chunks_mut(APM_FRAME) {
                    apm.process_capture(half);
                }
                for (o, s) in pcm.iter_mut().zip(scratch.iter()) {
                    *o = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16;
                }
            }
        }
        Ok(())
    }
}

/// Starts sending audio on `track`, one 20 ms Opus packet at a time, from the chosen source,
/// on a thread of its own.
pub fn start_audio_sender(
    track: Arc<TrackLocalStaticSample>,
    ssrc: SSRC,
    payload_type: PayloadType,
    media: Arc<CallMedia>,
) -> Result<(), PipelineError> {
    let runtime = tokio::runtime::Handle::current();
    let mut encoder = OpusEncoder::new()?;
    let thread_media = media.clone();
    let handle = std::thread::Builder::new()
        .name("audio-send".into())
        .spawn(move || {
            let media = thread_media;
            let period = Duration::from_millis(20);
            // The local recording's clock: 48 kHz ticks from our wall clock at the start, one
            // packet's worth each (the source keeps the 20 ms cadence, silence included).
            let local_clock =
                crate::media::lipsync::SenderClock::from_unix_ms(super::unix_ms_f64(), 0);
            let mut local_ticks: u32 = 0;
            let mut pcm = vec![0i16; FRAME_SAMPLES];
            let mut scratch = vec![0f32; FRAME_SAMPLES];
            let mut next = Instant::now();
            let mut source = AudioSource::Silence;
            let mut generation = u64::MAX;
            let mut told_loss = 0;
            while !media.stopped() {
                let g = media.controls.generation();
                if g != generation {
                    generation = g;
                    source = AudioSource::open(&media);
                }
                if let Err(e) = source.read(&mut pcm, &mut scratch, &mut next, &media) {
                    media.device_notice(format!("{e}: sending silence instead"));
                    media.set_source(&media.audio_source, "silence".into());
                    source = AudioSource::Silence;
                    continue;
                }
                if media.controls.mic_muted() {
                    pcm.fill(0);
                }
                let loss = media.peer_loss_percent.load(Ordering::Relaxed);
                if loss != told_loss {
                    told_loss = loss;
                    encoder.expect_loss(loss);
                }
                let packet = match encoder.encode(&pcm) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!("{e}");
                        break;
                    }
                };
                media
                    .bytes_sent
                    .fetch_add(packet.len() as u64, Ordering::Relaxed);
                if media.records_local() {
                    let sample = super::record_call::Sample::Audio {
                        ssrc: 1,
                        rtp: local_ticks,
                        data: packet.clone(),
                    };
                    media.record_local(sample, local_clock);
                }
                local_ticks = local_ticks.wrapping_add(FRAME_SAMPLES as u32);
                let sample = Sample {
                    data: packet.into(),
                    duration: period,
                    ..Sample::new(Instant::now())
                };
                runtime.block_on(async {
                    if let Err(e) = track
                        .sample_writer(ssrc, payload_type)
                        .write_sample(&sample)
                        .await
                    {
                        tracing::debug!("audio track write failed: {e}");
                    }
                });
                media.audio_sent.fetch_add(1, Ordering::Relaxed);
            }
        })
        .map_err(|e| PipelineError::Thread("audio", e.to_string()))?;
    media.keep_thread(handle);
    Ok(())
}
