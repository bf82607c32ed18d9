//! Sending video: the chosen source (the test picture, a camera, a screen or a window), the
//! encoder following congestion control (made anew when the picture's size or kind changes),
//! the packetizer, the track; keyframes on the peer's request.

use super::{CallMedia, MediaSettings, PipelineError, unix_ms};
use crate::devices::camera::CameraCapture;
use crate::devices::portal::{self, PortalRequest};
use crate::devices::screen::ScreenCapture;
use crate::media::controls::VideoIn;
use crate::media::frame::I420Frame;
use crate::media::marker;
use crate::media::testsrc::{Stamp, TestPattern};
use crate::media::video::{Content, VideoCodec, VideoEncoder};
use rtc::rtp::packetizer::Packetizer;
use rtc::rtp_transceiver::SSRC;
use rtc::rtp_transceiver::rtp_sender::RTCRtpCodecParameters;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

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
) -> Result<(), PipelineError> {
    let runtime = tokio::runtime::Handle::current();
    let settings = settings.clone();
    let fps = settings.fps.max(1);
    let video_codec = VideoCodec::from_mime(&codec.rtp_codec.mime_type)
        .ok_or_else(|| PipelineError::CannotEncode(codec.rtp_codec.mime_type.clone()))?;
    tracing::info!(codec = %video_codec, pt = codec.payload_type, "sending video");
    // Keyframes on request (the peer's PLI after a loss it could not recover), and otherwise
    // only every 100 s, as libwebrtc: a keyframe is many frames' worth of bits, and each one
    // held the picture back while it crossed a slow link (a keyframe every 2 s kept the peer's
    // jitter buffer 200 ms deep at 450 kbit/s).
    // Made here too, so a codec that cannot start fails the call's set-up.
    let mut encoder = VideoEncoder::new(
        video_codec,
        (settings.width, settings.height),
        Content::Motion,
        fps,
        settings.bitrate_bps,
        fps * 100,
    )?;
    let mut encoding = ((settings.width, settings.height), Content::Motion);
    let payloader = codec
        .rtp_codec
        .payloader()
        .map_err(|e| PipelineError::NoPayloader {
            codec: video_codec,
            detail: e.to_string(),
        })?;
    let mut packetizer = rtc::rtp::packetizer::new_packetizer(
        Instant::now(),
        RTP_MTU,
        codec.payload_type,
        ssrc,
        payloader,
        Box::new(rtc::rtp::sequence::new_random_sequencer()),
        codec.rtp_codec.clock_rate,
    );
    let clock_rate = f64::from(codec.rtp_codec.clock_rate);
    let clock_ticks = codec.rtp_codec.clock_rate;
    let pattern = TestPattern::new(settings.width, settings.height);

    follow_schedule(&settings, &media);
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
            let mut frame = I420Frame::black(settings.width, settings.height);
            let mut next = Instant::now();
            // RTP time follows the capture schedule, skipped frames and stalls included, as a
            // browser's does: receivers time jitter and lip sync by it.
            let clock_start = next;
            // The local recording times frames by the same RTP clock, started on our wall clock.
            let local_clock =
                crate::media::lipsync::SenderClock::from_unix_ms(super::unix_ms_f64(), 0);
            let mut rtp_ticks: u64 = 0;
            let mut counter = 0u32;
            let mut source = VideoSource::TestPattern;
            let mut generation = u64::MAX;
            let mut rate = RateFollower::new(settings.bitrate_bps);
            let mut flash = marker::FlashSchedule::default();
            media.encoder_rate(settings.bitrate_bps);
            media
                .encoder_bitrate_min_bps
                .store(u64::from(settings.bitrate_bps), Ordering::Relaxed);
            while !media.stopped() {
                let g = media.controls.generation();
                if g != generation {
                    generation = g;
                    let previous = std::mem::replace(&mut source, VideoSource::TestPattern);
                    source = VideoSource::open(&media, &settings, previous);
                }
                source.settle(&media);
                let fps = source.fps(&settings);
                let frame_time = Duration::from_secs(1) / fps;
                let samples_per_frame = clock_ticks / fps;
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
                if let VideoSource::Screen(screen) = &source
                    && let Some(why) = screen.ended()
                {
                    // A picture that never moves again would pass for a frozen call.
                    media.device_notice(format!(
                        "sharing {} ended ({why}): sending the test picture instead",
                        screen.name
                    ));
                    source = VideoSource::TestPattern;
                    media.set_source(&media.video_source, "test picture".into());
                }
                if media.controls.camera_off() {
                    frame = I420Frame::black(frame.width, frame.height);
                } else {
                    match source.showing() {
                        VideoSource::TestPattern => {
                            pattern.render(stamp, &mut frame);
                            if flash.due(stamp.sent_ms) {
                                marker::paint_flash(&mut frame);
                            }
                        }
                        VideoSource::Camera(cam) => {
                            // The newest picture, or the last one again until it comes.
                            if let Some(f) = cam.take() {
                                frame = f;
                            }
                        }
                        VideoSource::Screen(screen) => {
                            if let Some(f) = screen.take() {
                                frame = f;
                            }
                        }
                        VideoSource::Asking { .. } => {}
                    }
                }
                let wanted = ((frame.width, frame.height), source.content());
                if wanted != encoding {
                    // A new size or kind of picture: a new encoder, starting with a keyframe.
                    let made = VideoEncoder::new(
                        video_codec,
                        wanted.0,
                        wanted.1,
                        fps,
                        rate.current,
                        fps * 100,
                    );
                    match made {
                        Ok(e) => {
                            tracing::info!(size = ?wanted.0, content = ?wanted.1, "video encoder");
                            (encoder, encoding) = (e, wanted);
                            media.keyframe_wanted.store(true, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::error!("{e}");
                            break;
                        }
                    }
                }
                if let Some(o) = &media.observer {
                    o.local_frame(&frame);
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
                let due =
                    (next.saturating_duration_since(clock_start).as_secs_f64() * clock_rate) as u64;
                if due > rtp_ticks {
                    packetizer.skip_samples((due - rtp_ticks) as u32);
                    rtp_ticks = due;
                }
                if media.records_local() {
                    let sample = super::record_call::Sample::Video {
                        codec: video_codec,
                        ssrc: 0,
                        rtp: rtp_ticks as u32,
                        data: encoded.data.clone(),
                        size: (frame.width as u32, frame.height as u32),
                    };
                    media.record_local(sample, local_clock);
                }
                rtp_ticks += u64::from(samples_per_frame);
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
                let _ = media.first_video_sent.set(Instant::now());
                counter = counter.wrapping_add(1);
                next += frame_time;
            }
        })
        .map_err(|e| PipelineError::Thread("video", e.to_string()))?;
    media.keep_thread(handle);
    Ok(())
}

/// Switches the video source at the times `--video-schedule` gives, counted from now (the
/// call's media start), as the window's source menu would; until the call ends.
fn follow_schedule(settings: &MediaSettings, media: &Arc<CallMedia>) {
    if settings.video_schedule.is_empty() {
        return;
    }
    let (schedule, controls) = (settings.video_schedule.clone(), settings.controls.clone());
    let stop = media.stop.clone();
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for (at, source) in schedule {
            tokio::select! {
                _ = tokio::time::sleep_until(start + at) => {}
                _ = stop.cancelled() => return,
            }
            tracing::info!(source = %source.to_arg(), after = ?at, "video source switched (schedule)");
            let (mut devices, _) = controls.devices();
            devices.video_in = source;
            controls.set_devices(devices);
        }
    });
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
    Screen(ScreenCapture),
    /// The desktop portal is asked for a screen (its dialog may be up): what was sent before
    /// goes on meanwhile.
    Asking {
        request: PortalRequest,
        previous: Box<VideoSource>,
    },
}

impl VideoSource {
    /// Opens the chosen source; without a camera or a screen, the test picture (and a notice).
    /// `previous` goes on while the desktop is asked for a screen.
    fn open(media: &CallMedia, settings: &MediaSettings, previous: VideoSource) -> Self {
        let (devices, _) = media.controls.devices();
        let (width, height, fps) = (settings.width, settings.height, settings.fps);
        let source = match devices.video_in {
            VideoIn::TestPattern => Ok(Self::TestPattern),
            VideoIn::Camera(choice) => CameraCapture::open(choice.as_deref(), width, height, fps)
                .map(Self::Camera)
                .map_err(|e| e.to_string()),
            VideoIn::Screen(choice) if portal::wanted(&choice) => {
                PortalRequest::start(settings.screen_limit, settings.screen_fps)
                    .map(|request| Self::Asking {
                        request,
                        // Only a source that shows something: not one still asking.
                        previous: Box::new(match previous {
                            Self::Asking { previous, .. } => *previous,
                            p => p,
                        }),
                    })
                    .map_err(|e| e.to_string())
            }
            VideoIn::Screen(choice) => {
                ScreenCapture::open(&choice, settings.screen_limit, settings.screen_fps)
                    .map(Self::Screen)
                    .map_err(|e| e.to_string())
            }
        };
        let source = source.unwrap_or_else(|e| {
            media.device_notice(format!("{e}: sending the test picture instead"));
            Self::TestPattern
        });
        media.set_source(&media.video_source, source.describe());
        source
    }

    /// As the report's `video.source` says it.
    fn describe(&self) -> String {
        match self {
            Self::TestPattern => "test picture".to_owned(),
            Self::Camera(c) => format!("camera {:?}", c.name),
            Self::Screen(s) => format!("{} {}x{}", s.name, s.size.0, s.size.1),
            Self::Asking { previous, .. } => previous.describe(),
        }
    }

    /// While the portal is asked: takes its answer once it came (the screen, or the previous
    /// source again with a notice saying why not).
    fn settle(&mut self, media: &CallMedia) {
        let Self::Asking { request, previous } = self else {
            return;
        };
        let next = match request.poll() {
            None => return,
            Some(Ok(capture)) => Self::Screen(capture),
            Some(Err(e)) => {
                let previous = std::mem::replace(previous.as_mut(), Self::TestPattern);
                media.device_notice(format!("{e}: sending the {} instead", previous.describe()));
                previous
            }
        };
        *self = next;
        media.set_source(&media.video_source, self.describe());
    }

    /// What is sent now (while asking, the previous source).
    fn showing(&self) -> &Self {
        match self {
            Self::Asking { previous, .. } => previous,
            s => s,
        }
    }

    /// What the encoder should keep: motion or detail.
    fn content(&self) -> Content {
        match self.showing() {
            Self::Screen(_) => Content::Detail,
            _ => Content::Motion,
        }
    }

    /// Frames per second.
    fn fps(&self, settings: &MediaSettings) -> u32 {
        match self.showing() {
            Self::Screen(_) => settings.screen_fps,
            _ => settings.fps,
        }
        .max(1)
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
