//! Moves media between the codecs and the peer connection's tracks, and counts what happened.
//!
//! Encoding and decoding video run on their own threads so that neither the signaling loop nor
//! the peer connection's driver ever waits for a codec.

use crate::devices::audio::{Microphone, Speaker};
use crate::devices::camera::CameraCapture;
use crate::media::controls::{AudioIn, AudioOut, MediaControls, VideoIn};
use crate::media::frame::I420Frame;
use crate::media::opus_codec::{OpusDecoder, OpusEncoder};
use crate::media::processing::{APM_FRAME, AudioProcessor, RenderAnalyzer};
use crate::media::record::{WavWriter, Y4mWriter};
use crate::media::testsrc::{Stamp, TestPattern, read_stamp};
use crate::media::tone::{FRAME_SAMPLES, SAMPLE_RATE, Tone, dominant_hz};
use crate::media::video::{Assembled, FrameAssembler, VideoCodec, VideoDecoder, VideoEncoder};
use rtc::media::Sample;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::packetizer::Packetizer;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodecParameters;
use rtc::rtp_transceiver::{PayloadType, SSRC};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

/// What roompeer sends.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Video width.
    pub width: usize,
    /// Video height.
    pub height: usize,
    /// Frames per second.
    pub fps: u32,
    /// Video bit rate.
    pub bitrate_bps: u32,
    /// Written into every video frame, so the receiver knows whose picture it sees.
    pub sender_id: u16,
    /// Sources, sinks, mute and processing, changeable during a call.
    pub controls: Arc<MediaControls>,
}

/// What was received and decoded in a call.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// Frames decoded.
    pub decoded_frames: u64,
    /// Size of the last decoded frame.
    pub size: Option<(usize, usize)>,
    /// Frames whose stamp could be read.
    pub stamped_frames: u64,
    /// The sender id read from the frames.
    pub peer_sender_id: Option<u16>,
    /// The last frame counter read.
    pub last_counter: Option<u32>,
    /// Times a counter did not follow the previous one (a frame was lost or skipped).
    pub counter_gaps: u64,
    /// Times a counter went backwards (frames out of order).
    pub counter_reversals: u64,
    /// When the first frame was decoded.
    pub first_frame_at: Option<Instant>,
    /// When the last frame was decoded.
    pub last_frame_at: Option<Instant>,
    /// The longest time between two decoded frames (a freeze), in ms.
    pub longest_freeze_ms: u64,
    /// Sum of stamp-to-decode delays (sender clock), in ms.
    pub latency_sum_ms: u64,
    /// Keyframe requests sent.
    pub keyframe_requests_sent: u64,
    /// Frames the decoder rejected.
    pub video_decode_errors: u64,
    /// Video codec of the incoming track.
    pub video_codec: Option<String>,
    /// Audio codec of the incoming track.
    pub audio_codec: Option<String>,
    /// Opus packets received.
    pub audio_packets: u64,
    /// Opus packets that failed to decode.
    pub audio_decode_errors: u64,
    /// The most recent decoded audio (up to two seconds), for the tone measurement.
    pub audio_tail: Vec<i16>,
    /// The speaker playing the received audio, if any.
    pub speaker: Option<String>,
    /// Times the speaker's playout buffer ran dry.
    pub playout_underruns: u64,
}

impl Received {
    /// The frequency heard in the most recent second of audio.
    pub fn dominant_hz(&self) -> Option<f64> {
        let n = self.audio_tail.len().min(SAMPLE_RATE as usize);
        dominant_hz(&self.audio_tail[self.audio_tail.len() - n..])
    }
}

/// Counters and state shared by one call's media tasks.
#[derive(Debug, Default)]
pub struct CallMedia {
    /// Video frames encoded and handed to the track.
    pub video_sent: AtomicU64,
    /// Audio packets handed to the track.
    pub audio_sent: AtomicU64,
    /// RTP payload bytes sent (video and audio).
    pub bytes_sent: AtomicU64,
    /// Congestion control's estimate of what the path carries, b/s (0: none yet).
    pub target_bitrate_bps: AtomicU64,
    /// The rate the video encoder aims at now, b/s.
    pub encoder_bitrate_bps: AtomicU64,
    /// The lowest rate the video encoder was asked for in this call, b/s.
    pub encoder_bitrate_min_bps: AtomicU64,
    /// RTP payload bytes received (video and audio).
    pub bytes_received: AtomicU64,
    /// Keyframe requests (PLI/FIR) received from the peer.
    pub keyframe_requests_received: AtomicU64,
    /// Everything about the received media.
    pub received: Mutex<Received>,
    keyframe_wanted: AtomicBool,
    /// The video decoder failed on a frame: the receiver must get a keyframe.
    decode_failed: AtomicBool,
    /// Cancelled when the call ends: every media task and thread of the call stops on it,
    /// even when the peer connection never closes its track channels (webrtc#906).
    stop: CancellationToken,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Where to record this call, if anywhere.
    pub record_dir: Option<PathBuf>,
    /// Where the window shows the pictures, if there is a window.
    pub view: Option<Arc<crate::live::LiveView>>,
    /// Sources, sinks, mute and processing.
    pub controls: Arc<MediaControls>,
    /// What the microphone's echo canceller must hear of what the speaker plays.
    render_analyzer: Mutex<Option<RenderAnalyzer>>,
    /// What is being sent, in words (`tone 440 Hz`, `microphone "default"`, `silence`).
    pub audio_source: Mutex<String>,
    /// What picture is being sent, in words.
    pub video_source: Mutex<String>,
}

impl CallMedia {
    /// Shared state for a call recorded to `record_dir` (if given) and shown in `view` (if
    /// given).
    pub fn new(
        record_dir: Option<PathBuf>,
        view: Option<Arc<crate::live::LiveView>>,
        controls: Arc<MediaControls>,
    ) -> Arc<Self> {
        Arc::new(Self {
            record_dir,
            view,
            controls,
            ..Default::default()
        })
    }

    /// The video encoder now aims at `bps`.
    fn encoder_rate(&self, bps: u32) {
        self.encoder_bitrate_bps
            .store(u64::from(bps), Ordering::Relaxed);
        self.encoder_bitrate_min_bps
            .fetch_min(u64::from(bps), Ordering::Relaxed);
    }

    /// Tells the window about a device problem (and the log).
    fn device_notice(&self, message: String) {
        tracing::warn!("{message}");
        if let Some(v) = &self.view {
            v.update(|s| {
                if !s.notices.contains(&message) {
                    s.notices.push(message);
                }
            });
        }
    }

    fn set_source(&self, slot: &Mutex<String>, what: String) {
        if let Ok(mut s) = slot.lock() {
            *s = what;
        }
    }

    /// A copy of what was received so far.
    pub fn received(&self) -> Received {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Whether the call's media has stopped.
    pub fn stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Stops the media threads and waits for them (they notice within one frame).
    pub fn stop(&self) {
        self.stop.cancel();
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }

    fn keep_thread(&self, handle: std::thread::JoinHandle<()>) {
        if let Ok(mut t) = self.threads.lock() {
            t.push(handle);
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The largest RTP packet we send, as webrtc's sample tracks: leaves room for SRTP and
/// TURN framing under a 1280-byte path MTU.
const RTP_MTU: usize = 1200;

/// Starts sending the test picture on `track` in the negotiated `codec`, paced in real time,
/// on a thread of its own.
pub fn start_video_sender(
    track: Arc<TrackLocalStaticRTP>,
    ssrc: SSRC,
    codec: &RTCRtpCodecParameters,
    settings: &MediaSettings,
    media: Arc<CallMedia>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Handle::current();
    let settings = settings.clone();
    let fps = settings.fps.max(1);
    let video_codec = VideoCodec::from_mime(&codec.rtp_codec.mime_type).ok_or_else(|| {
        format!(
            "the peer chose {}, which roompeer cannot encode",
            codec.rtp_codec.mime_type
        )
    })?;
    tracing::info!(codec = %video_codec, pt = codec.payload_type, "sending video");
    // A keyframe every two seconds, and on request.
    let mut encoder = VideoEncoder::new(
        video_codec,
        settings.width,
        settings.height,
        fps,
        settings.bitrate_bps,
        fps * 2,
    )?;
    let payloader = codec
        .rtp_codec
        .payloader()
        .map_err(|e| format!("no RTP payloader for {video_codec}: {e}"))?;
    let mut packetizer = rtc::rtp::packetizer::new_packetizer(
        Instant::now(),
        RTP_MTU,
        codec.payload_type,
        ssrc,
        payloader,
        Box::new(rtc::rtp::sequence::new_random_sequencer()),
        codec.rtp_codec.clock_rate,
    );
    let samples_per_frame = codec.rtp_codec.clock_rate / fps;
    let pattern = TestPattern::new(settings.width, settings.height);

    // Keyframe requests arrive as RTCP on the local track.
    let rtcp_track = track.clone();
    let rtcp_media = media.clone();
    tokio::spawn(async move {
        while let Some(event) = rtcp_track.poll().await {
            let TrackLocalEvent::OnRtcpPacket(_) = event else {
                continue;
            };
            rtcp_media
                .keyframe_requests_received
                .fetch_add(1, Ordering::Relaxed);
            rtcp_media.keyframe_wanted.store(true, Ordering::Relaxed);
        }
    });

    let thread_media = media.clone();
    let handle = std::thread::Builder::new()
        .name("video-send".into())
        .spawn(move || {
            let media = thread_media;
            let frame_time = Duration::from_secs(1) / fps;
            let mut frame = I420Frame::black(settings.width, settings.height);
            let mut next = Instant::now();
            let mut counter = 0u32;
            let mut source = VideoSource::TestPattern;
            let mut generation = u64::MAX;
            let mut rate = RateFollower::new(settings.bitrate_bps);
            media.encoder_rate(settings.bitrate_bps);
            media
                .encoder_bitrate_min_bps
                .store(u64::from(settings.bitrate_bps), Ordering::Relaxed);
            while !media.stopped() {
                let g = media.controls.generation();
                if g != generation {
                    generation = g;
                    source = VideoSource::open(&media, settings.width, settings.height, fps);
                }
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else if now - next > frame_time * 3 {
                    // Too far behind (a stall): start the schedule afresh rather than burst.
                    next = now;
                }
                let stamp = Stamp {
                    sender_id: settings.sender_id,
                    counter,
                    sent_ms: unix_ms(),
                };
                if media.controls.camera_off() {
                    frame = I420Frame::black(settings.width, settings.height);
                } else {
                    match &source {
                        VideoSource::TestPattern => pattern.render(stamp, &mut frame),
                        VideoSource::Camera(cam) => {
                            // The newest picture, or the last one again until it comes.
                            if let Some(f) = cam.take() {
                                frame = f;
                            }
                        }
                    }
                }
                if let Some(v) = &media.view {
                    v.local_frame(&frame);
                }
                if let Some(want) = rate.next(media.target_bitrate_bps.load(Ordering::Relaxed)) {
                    match encoder.set_bitrate(want) {
                        Ok(()) => media.encoder_rate(want),
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
                let keyframe = counter == 0 || media.keyframe_wanted.swap(false, Ordering::Relaxed);
                let encoded = match encoder.encode(&frame, keyframe) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!("{e}");
                        break;
                    }
                };
                if encoded.data.is_empty() {
                    // Skipped by rate control: the next frame reuses this counter, so the
                    // receiver sees no gap for a frame that was never sent.
                    if keyframe {
                        media.keyframe_wanted.store(true, Ordering::Relaxed);
                    }
                    next += frame_time;
                    continue;
                }
                media
                    .bytes_sent
                    .fetch_add(encoded.data.len() as u64, Ordering::Relaxed);
                let packets = match packetizer.packetize(
                    Instant::now(),
                    &encoded.data.into(),
                    samples_per_frame,
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!("cannot packetize a {video_codec} frame: {e}");
                        break;
                    }
                };
                runtime.block_on(async {
                    for packet in packets {
                        if let Err(e) = track.write_rtp(packet).await {
                            tracing::debug!("video track write failed: {e}");
                        }
                    }
                });
                media.video_sent.fetch_add(1, Ordering::Relaxed);
                counter = counter.wrapping_add(1);
                next += frame_time;
            }
        })
        .map_err(|e| format!("cannot start the video thread: {e}"))?;
    media.keep_thread(handle);
    Ok(())
}

/// Follows congestion control's estimate with the video encoder's rate: the estimate less what
/// audio needs, within 100 kbit/s and the configured rate, and only moves of more than 10% (a
/// rate change upsets the encoder's rate control for a moment).
struct RateFollower {
    max: u32,
    current: u32,
}

impl RateFollower {
    fn new(max: u32) -> Self {
        Self { max, current: max }
    }

    /// The rate to set now, if any (`estimate_bps` 0: no estimate yet).
    fn next(&mut self, estimate_bps: u64) -> Option<u32> {
        if estimate_bps == 0 {
            return None;
        }
        let want = (estimate_bps as f64 - crate::peer::AUDIO_RESERVE_BPS)
            .clamp(crate::peer::MIN_VIDEO_BPS, f64::from(self.max)) as u32;
        (want.abs_diff(self.current) > self.current / 10).then(|| {
            tracing::debug!(from = self.current, to = want, "video bit rate");
            self.current = want;
            want
        })
    }
}

/// What the video sender sends.
enum VideoSource {
    TestPattern,
    Camera(CameraCapture),
}

impl VideoSource {
    /// Opens the chosen source; without a camera, the test picture (and a notice).
    fn open(media: &CallMedia, width: usize, height: usize, fps: u32) -> Self {
        let (devices, _) = media.controls.devices();
        let source = match devices.video_in {
            VideoIn::TestPattern => Self::TestPattern,
            VideoIn::Camera(choice) => {
                match CameraCapture::open(choice.as_deref(), width, height, fps) {
                    Ok(cam) => Self::Camera(cam),
                    Err(e) => {
                        media.device_notice(format!("{e}: sending the test picture instead"));
                        Self::TestPattern
                    }
                }
            }
        };
        let what = match &source {
            Self::TestPattern => "test picture".to_owned(),
            Self::Camera(c) => format!("camera {:?}", c.name),
        };
        media.set_source(&media.video_source, what);
        source
    }
}

/// What the audio sender sends.
enum AudioSource {
    Tone(Tone),
    Mic(Box<Microphone>, AudioProcessor),
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
                        Self::Mic(Box::new(mic), apm)
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
            Self::Mic(m, _) => format!("microphone {:?}", m.name),
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
    ) -> Result<(), String> {
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
                t.fill(pcm);
            }
            Self::Silence => {
                pace(next);
                pcm.fill(0);
            }
            Self::Mic(mic, apm) => {
                if !mic.read(scratch, Duration::from_millis(200))? {
                    // The device stalled: keep the stream going with silence.
                    scratch.fill(0.0);
                }
                *next = Instant::now();
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
) -> Result<(), String> {
    let runtime = tokio::runtime::Handle::current();
    let mut encoder = OpusEncoder::new()?;
    let thread_media = media.clone();
    let handle = std::thread::Builder::new()
        .name("audio-send".into())
        .spawn(move || {
            let media = thread_media;
            let period = Duration::from_millis(20);
            let mut pcm = vec![0i16; FRAME_SAMPLES];
            let mut scratch = vec![0f32; FRAME_SAMPLES];
            let mut next = Instant::now();
            let mut source = AudioSource::Silence;
            let mut generation = u64::MAX;
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
        .map_err(|e| format!("cannot start the audio thread: {e}"))?;
    media.keep_thread(handle);
    Ok(())
}

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

/// Receives a remote track: depacketizes, decodes, measures and records it.
pub async fn receive_track(track: Arc<dyn TrackRemote>, media: Arc<CallMedia>) {
    use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
    let kind = track.kind().await;
    let mut codec_name = None;
    for ssrc in track.ssrcs().await {
        if let Some(c) = track.codec(ssrc).await {
            codec_name = Some(
                c.mime_type
                    .split('/')
                    .nth(1)
                    .unwrap_or(&c.mime_type)
                    .to_owned(),
            );
        }
    }
    match kind {
        RtpCodecKind::Video => {
            if let Ok(mut r) = media.received.lock() {
                r.video_codec = codec_name.clone();
            }
            match codec_name.as_deref().and_then(VideoCodec::from_mime) {
                Some(codec) => receive_video(track, codec, media.clone()).await,
                None => tracing::warn!("cannot decode video codec {codec_name:?}"),
            }
        }
        RtpCodecKind::Audio => {
            if let Ok(mut r) = media.received.lock() {
                r.audio_codec = codec_name.clone();
            }
            receive_opus(track, media.clone()).await;
        }
        _ => {}
    }
    if !media.stopped() {
        tracing::info!(?kind, "the remote track ended before the call did");
    }
}

async fn receive_video(track: Arc<dyn TrackRemote>, codec: VideoCodec, media: Arc<CallMedia>) {
    tracing::info!(%codec, "receiving video");
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
    let decode_media = media.clone();
    match std::thread::Builder::new()
        .name("video-decode".into())
        .spawn(move || decode_video(rx, codec, decode_media))
    {
        Ok(h) => media.keep_thread(h),
        Err(e) => {
            tracing::error!("cannot start the video decoder thread: {e}");
            return;
        }
    }
    let mut assembler = FrameAssembler::new(codec);
    let mut last_request: Option<Instant> = None;
    while let Some(packet) = next_packet(&track, &media).await {
        let h = &packet.header;
        media
            .bytes_received
            .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
        if media.decode_failed.swap(false, Ordering::Relaxed) {
            assembler.decoder_failed();
        }
        match assembler.push(h.sequence_number, h.timestamp, h.marker, &packet.payload) {
            Assembled::Pending => {
                // An unanswered request is repeated once a second.
                if last_request.is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
                    assembler.rerequest();
                    last_request = None;
                }
            }
            Assembled::Frame(au) => {
                last_request = None;
                if tx.try_send(au).is_err() {
                    tracing::debug!("video decoder is behind; frame dropped");
                }
            }
            Assembled::NeedKeyframe => {
                last_request = Some(Instant::now());
                if let Ok(mut r) = media.received.lock() {
                    r.keyframe_requests_sent += 1;
                }
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: h.ssrc,
                };
                if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                    tracing::debug!("cannot send PLI: {e}");
                }
            }
        }
    }
}

/// The next RTP packet of a remote track, or `None` once the call or the track has ended.
async fn next_packet(track: &Arc<dyn TrackRemote>, media: &CallMedia) -> Option<rtc::rtp::Packet> {
    loop {
        let event = tokio::select! {
            e = track.poll() => e?,
            _ = media.stop.cancelled() => return None,
        };
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => return Some(packet),
            // After an ICE restart the track opens again on its first packet; nothing to do.
            TrackRemoteEvent::OnOpen(init) => {
                tracing::debug!(track = %init.track_id, ssrc = init.ssrc, "remote track open");
            }
            _ => {}
        }
    }
}

fn decode_video(rx: std::sync::mpsc::Receiver<Vec<u8>>, codec: VideoCodec, media: Arc<CallMedia>) {
    let mut decoder = match VideoDecoder::new(codec) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}");
            return;
        }
    };
    let mut recorder = media.record_dir.as_ref().and_then(|d| {
        Y4mWriter::create(&d.join("remote-video.y4m"), 30)
            .inspect_err(|e| tracing::error!("cannot record video: {e}"))
            .ok()
    });
    loop {
        let au = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(au) => au,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !media.stopped() => continue,
            Err(_) => break,
        };
        let frame = match decoder.decode(&au) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!("{e}");
                media.decode_failed.store(true, Ordering::Relaxed);
                if let Ok(mut r) = media.received.lock() {
                    r.video_decode_errors += 1;
                }
                continue;
            }
        };
        if let Some(v) = &media.view {
            v.remote_frame(&frame);
        }
        let stamp = read_stamp(&frame);
        if let Ok(mut r) = media.received.lock() {
            r.decoded_frames += 1;
            r.size = Some((frame.width, frame.height));
            let now = Instant::now();
            r.first_frame_at.get_or_insert(now);
            if let Some(last) = r.last_frame_at {
                let gap = now.duration_since(last).as_millis() as u64;
                r.longest_freeze_ms = r.longest_freeze_ms.max(gap);
                if gap >= 1000 {
                    tracing::info!(freeze_ms = gap, "the remote picture moves again");
                }
            }
            r.last_frame_at = Some(now);
            if let Some(s) = stamp {
                r.stamped_frames += 1;
                r.peer_sender_id = Some(s.sender_id);
                if let Some(last) = r.last_counter {
                    if s.counter < last {
                        r.counter_reversals += 1;
                    } else if s.counter != last.wrapping_add(1) {
                        r.counter_gaps += 1;
                    }
                }
                r.last_counter = Some(s.counter);
                let delay = unix_ms().saturating_sub(s.sent_ms);
                r.latency_sum_ms += delay;
            }
        }
        if let Some(w) = recorder.as_mut()
            && let Err(e) = w.write(&frame)
        {
            tracing::error!("cannot record video: {e}");
            recorder = None;
        }
    }
    if let Some(w) = recorder
        && let Err(e) = w.finish()
    {
        tracing::error!("cannot finish the video recording: {e}");
    }
}

async fn receive_opus(track: Arc<dyn TrackRemote>, media: Arc<CallMedia>) {
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

#[cfg(test)]
mod tests {
    use super::RateFollower;

    #[test]
    fn the_encoder_follows_the_estimate_within_bounds_and_ignores_small_moves() {
        let mut r = RateFollower::new(1_000_000);
        assert_eq!(r.next(0), None, "no estimate yet");
        assert_eq!(r.next(1_300_000), None, "capped at the configured rate");
        assert_eq!(r.next(564_000), Some(500_000), "less 64 kbit/s for audio");
        assert_eq!(r.next(580_000), None, "a 3% move is not worth it");
        assert_eq!(r.next(100_000), Some(100_000), "never below 100 kbit/s");
        assert_eq!(r.next(2_000_000), Some(1_000_000));
    }
}
