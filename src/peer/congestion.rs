//! Congestion control's estimate (GCC, inside the peer connection's interceptors) passed on
//! to the video encoder.

use crate::pipeline::CallMedia;
use std::sync::Arc;
use std::time::Duration;
use webrtc::peer_connection::PeerConnection;

/// Reads the estimate twice a second into `media.target_bitrate_bps`, which the video sender
/// follows, and the round trip the peer's reports on our video (`ssrc`) give into
/// `media.rtt_us`, which the jitter buffer's NACK timing follows, and their loss into
/// `media.peer_loss_percent`, which the audio encoder's FEC follows; until the call's media
/// stops or its connection is gone.
pub fn follow_estimate(
    pc: &Arc<dyn PeerConnection>,
    media: Arc<CallMedia>,
    reports: Arc<super::rtcp::ReceptionReports>,
    ssrc: u32,
) {
    let pc = Arc::downgrade(pc);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        while !media.stopped() {
            tick.tick().await;
            let Some(pc) = pc.upgrade() else { break };
            let report = pc
                .get_stats(
                    std::time::Instant::now(),
                    rtc::statistics::StatsSelector::None,
                )
                .await;
            let target = report
                .outbound_rtp_streams()
                .map(|s| s.target_bitrate)
                .fold(0.0, f64::max);
            tracing::debug!(target, "congestion control estimate");
            let reception = reports.get(ssrc);
            // The audio encoder adds FEC for the loss the path shows on our video.
            let loss = (u32::from(reception.fraction_lost) * 100 / 256) as u8;
            media
                .peer_loss_percent
                .store(loss, std::sync::atomic::Ordering::Relaxed);
            if let Some(rtt) = reception.rtt_ms {
                media.rtt_us.store(
                    (rtt * 1000.0).max(1.0) as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            if target > 0.0 {
                media
                    .target_bitrate_bps
                    .store(target as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
}
