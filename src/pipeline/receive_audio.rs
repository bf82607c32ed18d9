//! Receiving audio: Opus decoded, played on the chosen speaker (feeding the echo canceller
//! what it plays), measured and recorded.

use super::CallMedia;
use super::receive::next_packet;
use crate::devices::audio::Speaker;
use crate::media::controls::AudioOut;
use crate::media::opus_codec::OpusDecoder;
use crate::media::processing::APM_FRAME;
use crate::media::record::WavWriter;
use crate::media::tone::SAMPLE_RATE;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use webrtc::media_stream::track_remote::TrackRemote;

/// Audio the speaker's playout buffer holds before it plays: enough for the network's and the
/// sound server's jitter, little enough not to be heard as delay.
const PLAYOUT_TARGET: Duration = Duration::from_millis(60);

/// Plays received audio on the chosen speaker, reopening it when the choice changes.
struct Playback {
    speaker: Option<Speaker>,
    generation: u64,
    scratch: Vec<f32>,
}

impl Playback {
    fn new() -> Self {
        Self {
            speaker: None,
            generation: u64::MAX,
            scratch: Vec::new(),
        }
    }

    fn play(&mut self, pcm: &[i16], media: &CallMedia) {
        let g = media.controls.generation();
        if g != self.generation {
            self.generation = g;
            self.speaker = None;
            if let AudioOut::Speaker(name) = media.controls.devices().0.audio_out {
                // Opening a device blocks for a moment; this task may.
                match tokio::task::block_in_place(|| Speaker::open(name.as_deref(), PLAYOUT_TARGET))
                {
                    Ok(s) => self.speaker = Some(s),
                    Err(e) => media.device_notice(format!("{e}: not playing the audio")),
                }
            }
            let name = self.speaker.as_ref().map(|s| s.name.clone());
            if let Ok(mut r) = media.received.lock() {
                r.speaker = name;
            }
        }
        let Some(speaker) = self.speaker.as_mut() else {
            return;
        };
        self.scratch.clear();
        self.scratch
            .extend(pcm.iter().map(|&s| f32::from(s) / f32::from(i16::MAX)));
        if let Ok(mut r) = media.render_analyzer.lock()
            && let Some(r) = r.as_mut()
        {
            for frame in self.scratch.chunks(APM_FRAME) {
                r.analyze(frame);
            }
        }
        speaker.play(&self.scratch);
    }

    fn underruns(&self) -> u64 {
        self.speaker.as_ref().map_or(0, |s| s.stats().underruns)
    }
}

pub(super) async fn receive_opus(track: Arc<dyn TrackRemote>, media: Arc<CallMedia>) {
    let mut decoder = match OpusDecoder::new() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}");
            return;
        }
    };
    let mut recorder = media.record_dir.as_ref().and_then(|d| {
        WavWriter::create(&d.join("remote-audio.wav"))
            .inspect_err(|e| tracing::error!("cannot record audio: {e}"))
            .ok()
    });
    const TAIL: usize = 2 * SAMPLE_RATE as usize;
    let mut playback = Playback::new();
    while let Some(packet) = next_packet(&track, &media).await {
        media
            .bytes_received
            .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
        let decoded = decoder.decode(&packet.payload);
        if let Ok(pcm) = &decoded {
            playback.play(pcm, &media);
        }
        let Ok(mut r) = media.received.lock() else {
            break;
        };
        r.audio_packets += 1;
        match decoded {
            Ok(pcm) => {
                r.playout_underruns = playback.underruns();
                r.audio_tail.extend_from_slice(pcm);
                let excess = r.audio_tail.len().saturating_sub(TAIL);
                r.audio_tail.drain(..excess);
                if let Some(w) = recorder.as_mut()
                    && let Err(e) = w.write(pcm)
                {
                    tracing::error!("cannot record audio: {e}");
                    recorder = None;
                }
            }
            Err(e) => {
                r.audio_decode_errors += 1;
                tracing::debug!("{e}");
            }
        }
        drop(r);
    }
    if let Some(w) = recorder
        && let Err(e) = w.finish()
    {
        tracing::error!("cannot finish the audio recording: {e}");
    }
}
