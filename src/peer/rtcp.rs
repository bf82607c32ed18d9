//! Hands the RTCP a sender must act on to the application.
//!
//! In webrtc 0.21 inbound RTCP ends at the interceptor chain unless an interceptor marks it for
//! the application. A sending roompeer must see PLI and FIR (to send a keyframe). It must also
//! see the reception reports about its streams: webrtc 0.21's `remote-inbound-rtp` stats read
//! only standalone receiver reports, and a peer that also sends puts its reports inside its
//! sender reports, so those stats stay at zero in every two-way call. The peer's sender
//! reports also say how its streams' RTP clocks map to its wall clock: kept for lip sync.

use crate::media::lipsync::{SenderClock, SenderClocks};
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the peer's reception reports say about one of our streams.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Reception {
    /// The sequence number of the first RTP packet we sent on it.
    pub first_sent_seq: Option<u16>,
    /// Reports received.
    pub reports: u64,
    /// Extended highest sequence number in the latest report.
    pub highest_seq: u32,
    /// Cumulative packets lost in the latest report.
    pub total_lost: u32,
    /// The share lost since the previous report, out of 256.
    pub fraction_lost: u8,
    /// Round-trip time from the latest report that echoed one of our sender reports.
    pub rtt_ms: Option<f64>,
    /// The most packets any report so far has acknowledged: a later report can say less (the
    /// peer's receive statistics start again after an ICE restart renegotiates), but what was
    /// acknowledged once stays acknowledged.
    pub acknowledged: u64,
}

/// The middle 32 bits of the current NTP time (16.16 fixed point), as RTCP's LSR uses.
fn ntp_middle_now() -> u32 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // NTP counts from 1900.
    let secs = d.as_secs() + 2_208_988_800;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (((secs & 0xffff) << 16) | (frac >> 16)) as u32
}

/// The round-trip time a reception report gives (RFC 3550 6.4.1): arrival minus the echoed
/// sender report time minus the peer's delay, or `None` if it echoes no sender report.
pub fn rtt_ms(arrival_ntp_middle: u32, lsr: u32, dlsr: u32) -> Option<f64> {
    if lsr == 0 {
        return None;
    }
    let rtt = arrival_ntp_middle.wrapping_sub(lsr).wrapping_sub(dlsr);
    // A negative (wrapped) value means clocks or reports are off: no figure.
    (rtt < 0x8000_0000).then(|| f64::from(rtt) * 1000.0 / 65536.0)
}

impl Reception {
    /// Packets the peer says it received: from our first packet to the highest it saw, less
    /// those it counts as lost; the most any report has said.
    pub fn packets_received(&self) -> u64 {
        self.acknowledged.max(self.latest_received())
    }

    /// What the latest report alone says.
    fn latest_received(&self) -> u64 {
        let Some(first) = self.first_sent_seq else {
            return 0;
        };
        if self.reports == 0 {
            return 0;
        }
        let first = u64::from(first);
        // The peer counts wrap-arounds from its own first packet; statistics that started again
        // mid-call (after a renegotiation) may have missed one, so a highest sequence number
        // below our first is read as one wrap later.
        let mut highest = u64::from(self.highest_seq);
        if highest < first {
            highest += 1 << 16;
        }
        // Cumulative loss is a signed 24-bit count: duplicates can make it negative.
        let lost = if self.total_lost & 0x80_0000 != 0 {
            0
        } else {
            u64::from(self.total_lost)
        };
        (highest - first + 1).saturating_sub(lost)
    }
}

/// Reception reports by the SSRC they are about, shared with the peer adapter; and the peer's
/// sender reports on its own streams, for lip sync.
#[derive(Debug, Default)]
pub struct ReceptionReports {
    about_ours: Mutex<HashMap<u32, Reception>>,
    /// The peer's streams' RTP ↔ wall-clock mappings.
    pub senders: Arc<SenderClocks>,
}

impl ReceptionReports {
    /// Reports recorded here, the peer's sender clocks into `senders`.
    pub fn new(senders: Arc<SenderClocks>) -> Self {
        Self {
            about_ours: Mutex::default(),
            senders,
        }
    }

    /// Reads the reports in a compound RTCP packet from the peer: reception reports about our
    /// streams, and the sender reports' clocks of theirs.
    pub fn observe(&self, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        for p in packets {
            let any = p.as_any();
            if let Some(sr) = any.downcast_ref::<SenderReport>() {
                self.record(&sr.reports);
                tracing::debug!(
                    ssrc = sr.ssrc,
                    ntp = sr.ntp_time,
                    rtp = sr.rtp_time,
                    "sender report"
                );
                self.senders
                    .record(sr.ssrc, SenderClock::from_report(sr.ntp_time, sr.rtp_time));
            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                self.record(&rr.reports);
            }
        }
    }

    fn record(&self, blocks: &[ReceptionReport]) {
        let Ok(mut map) = self.about_ours.lock() else {
            return;
        };
        for b in blocks {
            let r = map.entry(b.ssrc).or_default();
            r.reports += 1;
            tracing::trace!(
                ssrc = b.ssrc,
                highest = b.last_sequence_number,
                lost = b.total_lost,
                "reception report"
            );
            r.highest_seq = b.last_sequence_number;
            r.total_lost = b.total_lost;
            r.fraction_lost = b.fraction_lost;
            if let Some(rtt) = rtt_ms(ntp_middle_now(), b.last_sender_report, b.delay) {
                r.rtt_ms = Some(rtt);
            }
            r.acknowledged = r.acknowledged.max(r.latest_received());
        }
    }

    fn sent(&self, ssrc: u32, seq: u16) {
        if let Ok(mut map) = self.about_ours.lock() {
            map.entry(ssrc)
                .or_default()
                .first_sent_seq
                .get_or_insert(seq);
        }
    }

    /// What is known about one of our streams.
    pub fn get(&self, ssrc: u32) -> Reception {
        self.about_ours
            .lock()
            .ok()
            .and_then(|m| m.get(&ssrc).copied())
            .unwrap_or_default()
    }
}

/// Where in the chain it sits: application-most, after every interceptor has read the RTCP.
pub const SLOT: usize = 14_000;

/// Marks inbound PLI and FIR for delivery to the sending track and records reception reports;
/// other RTCP ends here, but for congestion control's estimate, which goes on to the stats.
pub struct KeyframeRequestForwarder {
    reports: Arc<ReceptionReports>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl KeyframeRequestForwarder {
    /// A forwarder that records reception reports into `reports`.
    pub fn new(reports: Arc<ReceptionReports>) -> Self {
        Self {
            reports,
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

fn is_keyframe_request(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            self.reports.observe(packets);
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            let carries_estimate = msg.message.has(&Attribute::TargetBitrateChanged {
                bits_per_second: 0.0,
            });
            if requests.is_empty() {
                if carries_estimate {
                    // Congestion control's new estimate rides on this packet: pass it on, empty,
                    // so it reaches the connection's stats (`target_bitrate`).
                    msg.message.packet = Packet::Rtcp(Vec::new());
                    self.read.push_back(msg);
                }
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        if let Packet::Rtp(rtp) = &msg.message.packet {
            self.reports
                .sent(rtp.header.ssrc, rtp.header.sequence_number);
        }
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, highest: u32, lost: u32) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            last_sequence_number: highest,
            total_lost: lost,
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_time_from_a_report() {
        // Sent at 10.0 s, held 0.25 s by the peer, back at 10.5 s: 250 ms.
        let at = |secs: f64| (secs * 65536.0) as u32;
        let rtt = rtt_ms(at(10.5), at(10.0), at(0.25)).unwrap();
        assert!((rtt - 250.0).abs() < 0.1, "{rtt}");
        assert_eq!(rtt_ms(at(10.5), 0, 0), None, "no sender report echoed");
        assert_eq!(rtt_ms(at(10.0), at(10.5), 0), None, "from the future");
    }

    #[test]
    fn counts_what_the_peer_acknowledges() {
        let r = ReceptionReports::default();
        assert_eq!(r.get(7).packets_received(), 0);
        r.sent(7, 65_530);
        r.sent(7, 65_531);
        assert_eq!(r.get(7).packets_received(), 0, "no report yet");
        // The peer saw 65530..=65535 and 0..=9 (one wrap), and lost 2.
        r.record(&[block(7, (1 << 16) | 9, 2)]);
        assert_eq!(r.get(7).packets_received(), 16 - 2);
        // The peer's statistics start again (after an ICE restart) and it now knows only
        // 3..=20 of the next cycle, none lost: what it acknowledged before still stands...
        r.record(&[block(7, 20, 0)]);
        assert_eq!(r.get(7).packets_received(), 16 + 11);
        // ...and a negative cumulative loss (duplicates, 24-bit two's complement) is no loss.
        r.record(&[block(7, (1 << 16) | 9, 0xFF_FFFE)]);
        assert_eq!(
            r.get(7).packets_received(),
            27,
            "never less than acknowledged"
        );
        // A report about a stream we never sent on counts nothing.
        r.record(&[block(8, 100, 0)]);
        assert_eq!(r.get(8).packets_received(), 0);
    }
}
