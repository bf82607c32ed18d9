//! A finished call's report, assembled from what its media pipelines counted and what the peer
//! connection knows (pair, codecs, the peer's reception reports).

use super::outcome;
use crate::call::{CallEnd, CallId, Role};
use crate::peer::{RemoteCandidates, RemoteReceipt, SelectedPair};
use crate::pipeline::{CallMedia, Received};
use crate::report::{AudioReport, CallReport, CallSummary, Timings, VideoReport};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// What the peer connection said about a call as it ended.
#[derive(Debug, Default)]
pub struct PeerFacts {
    /// The candidate pair in use.
    pub pair: Option<SelectedPair>,
    /// The peer's candidates ICE took.
    pub remote_candidates: Option<RemoteCandidates>,
    /// What the peer's reception reports acknowledge.
    pub receipt: RemoteReceipt,
    /// The video codec sent, if negotiated.
    pub video_codec: Option<String>,
    /// The audio codec sent, if negotiated.
    pub audio_codec: Option<String>,
}

/// A call as it ended.
pub struct EndedCall<'a> {
    /// Its number.
    pub id: CallId,
    /// Offerer or answerer.
    pub role: Role,
    /// Why it ended.
    pub end: CallEnd,
    /// Its media counters.
    pub media: &'a CallMedia,
    /// What the peer connection said.
    pub peer: PeerFacts,
    /// Its timings so far (the end and the first remote frame are filled in here).
    pub timings: Timings,
    /// When it connected, if it did.
    pub connected_at: Option<Instant>,
    /// When it ended.
    pub ended_at: Instant,
    /// Resident memory after the call's memory was released.
    pub rss_kib_after: Option<u64>,
}

fn video_report(c: &EndedCall, r: &Received) -> VideoReport {
    let m = c.media;
    VideoReport {
        codec: c.peer.video_codec.clone().or(r.video_codec.clone()),
        source: m.video_source.lock().map(|s| s.clone()).unwrap_or_default(),
        received_codec: r.video_codec.clone(),
        decode_errors: r.video_decode_errors,
        sent_frames: m.video_sent.load(Relaxed),
        decoded_frames: r.decoded_frames,
        width: r.size.map(|s| s.0),
        height: r.size.map(|s| s.1),
        sizes: r.sizes.clone(),
        stamped_frames: r.stamped_frames,
        peer_sender_id: r.peer_sender_id,
        counter_gaps: (r.stamped_frames > 0).then_some(r.counter_gaps),
        counter_reversals: (r.stamped_frames > 0).then_some(r.counter_reversals),
        longest_freeze_ms: r.longest_freeze_ms,
        encoder_kbps: m.encoder_bitrate_bps.load(Relaxed) / 1000,
        encoder_kbps_min: m.encoder_bitrate_min_bps.load(Relaxed) / 1000,
        received_fps: r.first_frame_at.filter(|_| r.decoded_frames > 1).map(|t| {
            let secs = c.ended_at.duration_since(t).as_secs_f64().max(0.001);
            (r.decoded_frames as f64 - 1.0) / secs
        }),
        mean_latency_ms: (r.stamped_frames > 0)
            .then(|| r.latency_sum_ms as f64 / r.stamped_frames as f64),
        latency_ms: r.latency_ms.percentiles(),
        jitter_buffer_ms: (r.jitter_buffer.frames > 0)
            .then(|| r.jitter_buffer.waited.as_secs_f64() * 1000.0 / r.jitter_buffer.frames as f64),
        jitter_target_ms: (r.jitter_buffer.frames > 0)
            .then_some(r.jitter_target.as_secs_f64() * 1000.0),
        nacked_packets: r.jitter_buffer.nacked_packets,
        recovered_packets: r.jitter_buffer.recovered_packets,
        lost_packets: r.jitter_buffer.lost_packets,
        keyframe_requests_sent: r.keyframe_requests_sent,
        keyframe_requests_received: m.keyframe_requests_received.load(Relaxed),
        peer_received_packets: c.peer.receipt.video_packets,
    }
}

fn audio_report(c: &EndedCall, r: &Received) -> AudioReport {
    let m = c.media;
    AudioReport {
        codec: c.peer.audio_codec.clone().or(r.audio_codec.clone()),
        sent_packets: m.audio_sent.load(Relaxed),
        received_packets: r.audio_packets,
        decode_errors: r.audio_decode_errors,
        dominant_hz: r.dominant_hz(),
        peer_received_packets: c.peer.receipt.audio_packets,
        source: m.audio_source.lock().map(|s| s.clone()).unwrap_or_default(),
        speaker: r.speaker.clone(),
        playout_underruns: r.playout_underruns,
        jitter_buffer_ms: r.audio_buffer.mean_wait_ms().map(round1),
        jitter_target_ms: (r.audio_packets > 0).then(|| round1(r.audio_buffer.target_ms)),
        playout_ms: (r.playout_handovers > 0)
            .then(|| round1(r.playout_queue_ms_sum / r.playout_handovers as f64)),
        concealed_ms: round1(r.audio_buffer.concealed_ms()),
        cut_ms: round1(r.audio_buffer.cut as f64 / 48.0),
        late_packets: r.audio_buffer.late_packets,
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The call's entry in the report's `calls[]`.
pub fn assemble(c: EndedCall) -> CallReport {
    let r = c.media.received();
    let video = video_report(&c, &r);
    let audio = audio_report(&c, &r);
    let mut timings = c.timings.clone();
    timings.first_remote_frame = r.first_frame_at.map(crate::report::ms_since_start);
    timings.first_remote_video_packet = r.first_packet_at.map(crate::report::ms_since_start);
    timings.first_video_sent = c
        .media
        .first_video_sent
        .get()
        .copied()
        .map(crate::report::ms_since_start);
    timings.ended = Some(crate::report::ms_since_start(c.ended_at));
    let media_ok = outcome::media_ok(&video, &audio, &c.peer.receipt);
    tracing::info!(
        call = c.id.0,
        connected_secs = ?c.connected_at.map(|t| c.ended_at.duration_since(t).as_secs_f64()),
        decoded = video.decoded_frames,
        sent = video.sent_frames,
        audio = audio.received_packets,
        "call ended: {:?}", c.end
    );
    CallReport {
        call: c.id.0,
        role: c.role,
        connected: c.connected_at.is_some(),
        media_ok,
        end: Some(c.end),
        rss_kib_after: c.rss_kib_after,
        summary: CallSummary {
            selected_pair: c.peer.pair,
            remote_candidates: c.peer.remote_candidates,
            video,
            audio,
            timings_ms: timings,
            av_sync_ms: r.av_sync.offset_ms().map(round1),
            // Two pairs at least, so one stray match is not a figure.
            av_marker_ms: (r.marker.pairs() >= 2)
                .then(|| r.marker.offset_ms())
                .flatten()
                .map(round1),
        },
    }
}
