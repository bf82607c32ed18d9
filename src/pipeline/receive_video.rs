//! Receiving video: packets through the adaptive jitter buffer (NACKs the moment a hole shows),
//! frames assembled from them (asking for a keyframe after a loss), decoded on a thread of
//! their own, measured (stamps, freezes), shown and recorded.

use super::receive::next_packet;
use super::{CallMedia, MediaEvent, unix_ms, unix_ms_f64};
use crate::media::jitter::{JitterBuffer, VideoPacket};
use crate::media::record::Y4mWriter;
use crate::media::testsrc::read_stamp;
use crate::media::video::{Assembled, FrameAssembler, VideoCodec, VideoDecoder};
use crate::timer::sleep_until_opt;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    TransportLayerNack, nack_pairs_from_sequence_numbers,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use webrtc::media_stream::track_remote::TrackRemote;

/// Video's RTP clock rate.
const VIDEO_CLOCK: u32 = 90_000;

pub(super) async fn receive_video(
    track: Arc<dyn TrackRemote>,
    codec: VideoCodec,
    media: Arc<CallMedia>,
) {
    tracing::info!(%codec, "receiving video");
    let (tx, rx) = std::sync::mpsc::sync_channel::<AccessUnit>(64);
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
    let mut buffer = JitterBuffer::new(media.jitter);
    let mut last_request: Option<Instant> = None;
    let mut ssrc = None;
    loop {
        let wake = buffer.next_deadline();
        let packet = tokio::select! {
            p = next_packet(&track, &media) => match p {
                Some(p) => Some(p),
                None => break,
            },
            _ = sleep_until_opt(wake) => None,
        };
        let now = Instant::now();
        if let Some(packet) = packet {
            let h = &packet.header;
            if ssrc.is_none()
                && let Ok(mut r) = media.received.lock()
            {
                r.first_packet_at.get_or_insert(now);
            }
            ssrc = Some(h.ssrc);
            media
                .bytes_received
                .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
            buffer.push(
                now,
                VideoPacket {
                    seq: h.sequence_number,
                    timestamp: h.timestamp,
                    marker: h.marker,
                    starts_frame: assembler.starts_frame(&packet.payload),
                    payload: packet.payload,
                },
            );
        }
        if let Some(rtt) = media.rtt() {
            buffer.set_rtt(rtt);
        }
        buffer.set_sync_hold(Duration::from_secs_f64(
            media.sync_holds().video_ms / 1000.0,
        ));
        // A hole is asked for the moment it shows, not on a timer.
        let nacks = buffer.take_nacks(now);
        if let (false, Some(ssrc)) = (nacks.is_empty(), ssrc) {
            let nack = TransportLayerNack {
                sender_ssrc: 0,
                media_ssrc: ssrc,
                nacks: nack_pairs_from_sequence_numbers(&nacks),
            };
            if let Err(e) = track.write_rtcp(vec![Box::new(nack)]).await {
                tracing::debug!("cannot send NACK: {e}");
            }
        }
        if media.decode_failed.swap(false, Ordering::Relaxed) {
            assembler.decoder_failed();
        }
        while let Some(p) = buffer.pop(now) {
            match assembler.push(p.seq, p.timestamp, p.marker, &p.payload) {
                Assembled::Pending => {
                    // An unanswered request is repeated (it, or the keyframe, may have been
                    // lost) after the time a keyframe takes to come: the round trip, and the
                    // sender's pacer letting a keyframe out at a low rate. Once a second left
                    // the picture frozen 1.8 s on a 5% loss path; libwebrtc waits 200 ms.
                    let wait = Duration::from_millis(300) + media.rtt().unwrap_or_default();
                    if last_request.is_some_and(|t| t.elapsed() > wait) {
                        assembler.rerequest();
                        last_request = None;
                    }
                }
                Assembled::Frame(data) => {
                    last_request = None;
                    let au = AccessUnit {
                        data,
                        timestamp: p.timestamp,
                        ssrc,
                    };
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
                        media_ssrc: ssrc.unwrap_or_default(),
                    };
                    if let Err(e) = track.write_rtcp(vec![Box::new(pli)]).await {
                        tracing::debug!("cannot send PLI: {e}");
                    }
                }
            }
        }
        if let Ok(mut r) = media.received.lock() {
            r.jitter_buffer = buffer.stats();
            r.jitter_target = buffer.target();
        }
    }
}

/// A frame's coded data, with what lip sync needs of its packets.
struct AccessUnit {
    data: Vec<u8>,
    /// The RTP timestamp (90 kHz).
    timestamp: u32,
    ssrc: Option<u32>,
}

fn decode_video(
    rx: std::sync::mpsc::Receiver<AccessUnit>,
    codec: VideoCodec,
    media: Arc<CallMedia>,
) {
    let mut decoder = match VideoDecoder::new(codec) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}");
            return;
        }
    };
    let mut recorder = media
        .record_dir
        .as_ref()
        .filter(|_| media.record_raw)
        .and_then(|d| {
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
        let frame = match decoder.decode(&au.data) {
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
        if let Some(o) = &media.observer {
            o.remote_frame(&frame);
        }
        media.record(super::record_call::Sample::Video {
            codec,
            ssrc: au.ssrc.unwrap_or_default(),
            rtp: au.timestamp,
            data: au.data,
            size: (frame.width as u32, frame.height as u32),
        });
        let stamp = read_stamp(&frame);
        let clock = au.ssrc.and_then(|s| media.sender_clocks.get(s));
        let event = media.received.lock().ok().and_then(|mut r| {
            if let Some(clock) = clock {
                r.av_sync
                    .video(unix_ms_f64(), clock.sender_ms(au.timestamp, VIDEO_CLOCK));
            }
            r.marker
                .frame(unix_ms_f64(), &frame, stamp.map(|s| s.sent_ms));
            r.frame_decoded(
                Instant::now(),
                (frame.width, frame.height),
                stamp,
                unix_ms(),
            )
        });
        if let Some(event) = event {
            if let MediaEvent::PictureBack { freeze_ms } = event {
                tracing::info!(freeze_ms, "the remote picture moves again");
            }
            media.event(event);
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
