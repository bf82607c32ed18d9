//! Moves media between the codecs and the peer connection's tracks, and counts what happened.
//!
//! Encoding and decoding video run on their own threads so that neither the signaling loop nor
//! the peer connection's driver ever waits for a codec.

use crate::media::frame::I420Frame;
use crate::media::opus_codec::{OpusDecoder, OpusEncoder};
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
    /// Frequency of the test tone.
    pub tone_hz: f64,
    /// Written into every video frame, so the receiver knows whose picture it sees.
    pub sender_id: u16,
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
}

impl CallMedia {
    /// Shared state for a call recorded to `record_dir` (if given) and shown in `view` (if
    /// given).
    pub fn new(record_dir: Option<PathBuf>, view: Option<Arc<crate::live::LiveView>>) -> Arc<Self> {
        Arc::new(Self {
            record_dir,
            view,
            ..Default::default()
        })
    }

    /// A copy of what was received so far.
    pub fn received(&self) -> Received {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn stopped(&self) -> bool {
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
            while !media.stopped() {
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
                pattern.render(stamp, &mut frame);
                if let Some(v) = &media.view {
                    v.local_frame(&frame);
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

/// Starts sending the test tone on `track`, one 20 ms Opus packet at a time.
pub fn start_audio_sender(
    track: Arc<TrackLocalStaticSample>,
    ssrc: SSRC,
    payload_type: PayloadType,
    settings: &MediaSettings,
    media: Arc<CallMedia>,
) -> Result<(), String> {
    let mut encoder = OpusEncoder::new()?;
    let mut tone = Tone::new(settings.tone_hz);
    tokio::spawn(async move {
        let period = Duration::from_millis(20);
        let mut ticker = tokio::time::interval(period);
        let mut pcm = vec![0i16; FRAME_SAMPLES];
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = media.stop.cancelled() => break,
            }
            tone.fill(&mut pcm);
            let packet = match encoder.encode(&pcm) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("{e}");
                    break;
                }
            };
            let sample = Sample {
                data: packet.into(),
                duration: period,
                ..Sample::new(Instant::now())
            };
            if let Err(e) = track
                .sample_writer(ssrc, payload_type)
                .write_sample(&sample)
                .await
            {
                tracing::debug!("audio track write failed: {e}");
            }
            media.audio_sent.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(())
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
                Some(codec) => receive_video(track, codec, media).await,
                None => tracing::warn!("cannot decode video codec {codec_name:?}"),
            }
        }
        RtpCodecKind::Audio => {
            if let Ok(mut r) = media.received.lock() {
                r.audio_codec = codec_name.clone();
            }
            receive_opus(track, media).await;
        }
        _ => {}
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
    while let Some(event) = next_event(&track, &media).await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let h = &packet.header;
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

/// The next event of a remote track, or `None` once the call has ended.
async fn next_event(track: &Arc<dyn TrackRemote>, media: &CallMedia) -> Option<TrackRemoteEvent> {
    tokio::select! {
        e = track.poll() => e,
        _ = media.stop.cancelled() => None,
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
            r.first_frame_at.get_or_insert_with(Instant::now);
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
    while let Some(event) = next_event(&track, &media).await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let decoded = decoder.decode(&packet.payload);
        let Ok(mut r) = media.received.lock() else {
            break;
        };
        r.audio_packets += 1;
        match decoded {
            Ok(pcm) => {
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
