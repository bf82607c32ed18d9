//! Congestion control: rtc's GCC estimate, with the pacer running ahead of it, passed on to the
//! video encoder.

use crate::pipeline::CallMedia;
use rtc::interceptor::{
    BandwidthEstimator, CongestionControlBuilder, EstimatorStats, Gcc, PacerBuilder, PacketReport,
    Registry, Slot, TwccReceiverBuilder, TwccSenderBuilder,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpHeaderExtensionCapability, RtpCodecKind, TYPE_RTCP_FB_TRANSPORT_CC,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How much faster than the estimate the pacer sends, as libwebrtc's pacing factor: a keyframe
/// or a burst of retransmissions leaves within a few frame intervals. rtc's pacer paces at the
/// estimate itself, so every keyframe queued for seconds behind it, retransmissions came after
/// the NACK timer (asked again, sent twice) and audio waited behind both: on a 5% loss path
/// the estimate fell from 1 Mbit/s to 170 kbit/s in 10 s while video froze for 1.5 s at a
/// time and 40% of the audio was still queued when the call ended.
pub const PACING_FACTOR: f64 = 2.5;

/// The estimate: GCC's delay-based half and [`LossBasedRate`], the lower of the two, which the
/// encoder follows (through `estimate`, shared with [`follow_estimate`]) while the pacer it
/// drives sends at [`PACING_FACTOR`] times it.
pub struct PacedGcc {
    gcc: Gcc,
    loss: LossBasedRate,
    min: f64,
    max: f64,
    estimate: Arc<AtomicU64>,
}

impl PacedGcc {
    /// Starting at `initial` bit/s within `min..=max`; the estimate is kept in `estimate`.
    pub fn new(initial: f64, min: f64, max: f64, estimate: Arc<AtomicU64>) -> PacedGcc {
        let gcc = Gcc::new(initial, min, max);
        let loss = LossBasedRate::new(initial, min, max);
        estimate.store(initial as u64, Ordering::Relaxed);
        PacedGcc {
            gcc,
            loss,
            min,
            max,
            estimate,
        }
    }

    fn target(&self) -> f64 {
        self.gcc
            .delay_based_bitrate()
            .min(self.loss.target())
            .clamp(self.min, self.max)
    }
}

impl BandwidthEstimator for PacedGcc {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
        let lost = reports.iter().filter(|r| !r.arrived).count();
        self.loss.update(now, lost, reports.len());
        self.estimate.store(self.target() as u64, Ordering::Relaxed);
    }

    /// What the pacer paces at (rtc's pacer reads nothing else).
    fn target_bitrate(&self) -> f64 {
        self.target() * PACING_FACTOR
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.gcc.handle_timeout(now);
        self.estimate.store(self.target() as u64, Ordering::Relaxed);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.gcc.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.gcc.stats()
    }
}

/// Adds send-side congestion control to `registry`: `gcc` on transport-wide feedback (which
/// `engine` then offers and asks for), the pacer it drives, and the TWCC recorder that serves
/// the peer's estimator. As rtc's `configure_congestion_control`, except that the pacer starts
/// at `gcc`'s pacing rate: rtc's starts at its default 1 Mbit/s and hears of the estimate only
/// when the estimate first changes, so a 1 Mbit/s call (1.1 with audio and headers) queued
/// ~50 ms more every second in its sender, audio and video alike, until GCC first moved, 1–3 s
/// into a jittery call (seen at the impaired relay: packets reached it up to 58 ms late).
pub fn configure(
    registry: Registry,
    gcc: PacedGcc,
    engine: &mut MediaEngine,
) -> Result<Registry, rtc::shared::error::Error> {
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        engine.register_feedback(
            RTCPFeedback {
                typ: TYPE_RTCP_FB_TRANSPORT_CC.to_owned(),
                parameter: String::new(),
            },
            kind,
        );
        engine.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned(),
            },
            kind,
            None,
        )?;
    }
    let pacer = PacerBuilder::new().with_target_bitrate(gcc.target_bitrate());
    Ok(registry
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(gcc).build(),
        )
        .with(Slot::Pacer, pacer.build())
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build()))
}

/// Packets a loss figure is taken over, at least.
const LOSS_MIN_PACKETS: usize = 100;
/// And the time, at least.
const LOSS_MIN_INTERVAL: Duration = Duration::from_millis(500);

/// The loss-based half of congestion control, as libwebrtc's (below 2% loss the rate climbs
/// 8% a step, above 10% it falls by half the loss, between them it holds), on loss counted over
/// [`LOSS_MIN_PACKETS`] packets and [`LOSS_MIN_INTERVAL`]. rtc's GCC judges each transport-wide
/// feedback on its own: 7–18 packets, where one loss is 6–14% and a climb needs a batch and its
/// running average both under 2%, so on a 5% loss path its rate only ever fell (1 Mbit/s to
/// 250 kbit/s in 10 s), and every keyframe then took a quarter second to cross.
#[derive(Debug, Clone)]
pub struct LossBasedRate {
    target: f64,
    min: f64,
    max: f64,
    lost: usize,
    total: usize,
    since: Option<Instant>,
}

impl LossBasedRate {
    /// Starting at `initial` bit/s, within `min..=max`.
    pub fn new(initial: f64, min: f64, max: f64) -> LossBasedRate {
        LossBasedRate {
            target: initial.clamp(min, max),
            min,
            max,
            lost: 0,
            total: 0,
            since: None,
        }
    }

    /// The rate, bit/s.
    pub fn target(&self) -> f64 {
        self.target
    }

    /// Feedback at `now`: `lost` of `total` packets did not arrive.
    pub fn update(&mut self, now: Instant, lost: usize, total: usize) {
        self.lost += lost;
        self.total += total;
        let since = *self.since.get_or_insert(now);
        if self.total < LOSS_MIN_PACKETS || now.saturating_duration_since(since) < LOSS_MIN_INTERVAL
        {
            return;
        }
        let loss = self.lost as f64 / self.total as f64;
        if loss < 0.02 {
            self.target *= 1.08;
        } else if loss > 0.10 {
            self.target *= 1.0 - 0.5 * loss;
        }
        self.target = self.target.clamp(self.min, self.max);
        (self.lost, self.total, self.since) = (0, 0, Some(now));
    }
}

/// Copies the estimate twice a second into `media.target_bitrate_bps`, which the video sender
/// follows, and the round trip the peer's reports on our video (`ssrc`) give into
/// `media.rtt_us`, which the jitter buffer's NACK timing follows, and their loss into
/// `media.peer_loss_percent`, which the audio encoder's FEC follows; until the call's media
/// stops.
pub fn follow_estimate(
    estimate: Arc<AtomicU64>,
    media: Arc<CallMedia>,
    reports: Arc<super::rtcp::ReceptionReports>,
    ssrc: u32,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        while !media.stopped() {
            tick.tick().await;
            let target = estimate.load(Ordering::Relaxed);
            tracing::debug!(target, "congestion control estimate");
            let reception = reports.get(ssrc);
            // The audio encoder adds FEC for the loss the path shows on our video.
            let loss = (u32::from(reception.fraction_lost) * 100 / 256) as u8;
            media.peer_loss_percent.store(loss, Ordering::Relaxed);
            if let Some(rtt) = reception.rtt_ms {
                media
                    .rtt_us
                    .store((rtt * 1000.0).max(1.0) as u64, Ordering::Relaxed);
            }
            if target > 0 {
                media.target_bitrate_bps.store(target, Ordering::Relaxed);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 s of feedback, 10 packets every 100 ms, every `one_in`th lost (0: none).
    fn after_10s(one_in: usize) -> f64 {
        let t = Instant::now();
        let mut rate = LossBasedRate::new(1e6, 1e5, 2e6);
        let mut sent = 0;
        for step in 0..100 {
            let lost = (0..10)
                .filter(|_| {
                    sent += 1;
                    one_in > 0 && sent % one_in == 0
                })
                .count();
            rate.update(t + Duration::from_millis(100 * step), lost, 10);
        }
        rate.target()
    }

    #[test]
    fn five_percent_loss_holds_the_rate() {
        assert_eq!(after_10s(20), 1e6);
    }

    /// The longest a packet waits in the sender's interceptors over 3 s of a 1 Mbit/s call's
    /// video (30 frames of 4 × 1200 bytes a second) and audio (50 × 160 bytes), with no
    /// feedback yet, as in the first seconds of a call.
    fn longest_wait_without_feedback(registry: Registry) -> Duration {
        use rtc::interceptor::{AttributedPacket, Packet, TaggedPacket};
        use rtc::sansio::Protocol;
        let mut chain = registry.build();
        let start = Instant::now();
        let mut sent_at = std::collections::HashMap::new();
        let mut longest = Duration::ZERO;
        let mut seq = 0u16;
        // Every millisecond: what is due is sent, the chain's timers run, what left is drained.
        for ms in 0..3000u64 {
            let now = start + Duration::from_millis(ms);
            let audio = usize::from(ms % 20 == 0);
            let video = if ms * 30 % 1000 < 30 { 4 } else { 0 };
            let sizes = std::iter::repeat_n(160, audio).chain(std::iter::repeat_n(1200, video));
            for bytes in sizes {
                let mut rtp = rtc::rtp::Packet::default();
                rtp.header.version = 2;
                rtp.header.sequence_number = seq;
                rtp.payload = bytes::Bytes::from(vec![0u8; bytes]);
                sent_at.insert(seq, now);
                seq = seq.wrapping_add(1);
                let message = AttributedPacket::new(Packet::Rtp(rtp));
                let transport = Default::default();
                chain
                    .handle_write(TaggedPacket {
                        now,
                        transport,
                        message,
                    })
                    .unwrap();
            }
            if chain.poll_timeout().is_some_and(|t| t <= now) {
                chain.handle_timeout(now).unwrap();
            }
            while let Some(out) = chain.poll_write() {
                if let Packet::Rtp(rtp) = &out.message.packet {
                    longest = longest.max(out.now - sent_at[&rtp.header.sequence_number]);
                }
            }
        }
        longest
    }

    fn a_call_at_1_mbit(engine: &mut MediaEngine) -> Registry {
        let gcc = PacedGcc::new(1.064e6, 1.64e5, 1.314e6, Arc::new(AtomicU64::new(0)));
        configure(Registry::new(), gcc, engine).unwrap()
    }

    /// rtc's own set-up (pacer at 1 Mbit/s until the estimate first changes) queues a 1 Mbit/s
    /// call's packets more and more; ours lets them through within a few milliseconds.
    #[test]
    fn the_pacer_starts_at_the_estimate_not_at_rtc_default() {
        use rtc::peer_connection::configuration::interceptor_registry::{
            CongestionFeedback, configure_congestion_control,
        };
        let ours = longest_wait_without_feedback(a_call_at_1_mbit(&mut MediaEngine::default()));
        assert!(ours <= Duration::from_millis(10), "{ours:?}");
        let gcc = PacedGcc::new(1.064e6, 1.64e5, 1.314e6, Arc::new(AtomicU64::new(0)));
        let rtc_default = configure_congestion_control(
            Registry::new(),
            gcc,
            CongestionFeedback::Twcc,
            &mut MediaEngine::default(),
        )
        .unwrap();
        let theirs = longest_wait_without_feedback(rtc_default);
        assert!(theirs >= Duration::from_millis(100), "{theirs:?}");
    }

    #[test]
    fn a_clean_path_climbs_and_heavy_loss_falls() {
        assert!(after_10s(0) > 1.5e6);
        assert!(after_10s(5) < 5e5);
    }
}
