//! A remote track, handed to the pipeline of its kind.

use super::CallMedia;
use super::receive_audio::receive_opus;
use super::receive_video::receive_video;
use crate::media::video::VideoCodec;
use std::sync::Arc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

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

/// The next RTP packet of a remote track, or `None` once the call or the track has ended.
pub(super) async fn next_packet(
    track: &Arc<dyn TrackRemote>,
    media: &CallMedia,
) -> Option<rtc::rtp::Packet> {
    loop {
        let event = tokio::select! {
            e = track.poll() => e?,
            _ = media.stop.cancelled() => return None,
        };
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                media
                    .packets_received
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                media.peer_heard();
                // Lines up with the impaired relay's trace: where a packet's delay was spent.
                tracing::trace!(
                    target: "roompeer::rtp_in",
                    ssrc = packet.header.ssrc,
                    seq = packet.header.sequence_number,
                    ts = packet.header.timestamp,
                    "rtp in"
                );
                return Some(packet);
            }
            // After an ICE restart the track opens again on its first packet; nothing to do.
            TrackRemoteEvent::OnOpen(init) => {
                tracing::debug!(track = %init.track_id, ssrc = init.ssrc, "remote track open");
            }
            _ => {}
        }
    }
}
