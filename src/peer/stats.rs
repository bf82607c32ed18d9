//! What a call's peer connection can tell about itself: the selected pair, the codecs sent,
//! and what the peer's RTCP reports say (round trip, loss, packets received).

use super::Peer;
use super::interfaces::address;
use std::sync::Arc;
use webrtc::media_stream::Track;
use webrtc::rtp_transceiver::RtpSender;

/// The selected candidate pair's types, e.g. `("host", "host")`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelectedPair {
    /// Local candidate type.
    pub local_type: String,
    /// Remote candidate type.
    pub remote_type: String,
    /// Local address:port.
    pub local_address: String,
    /// Remote address:port.
    pub remote_address: String,
    /// Transport protocol.
    pub protocol: String,
}

/// The peer's candidates that the ICE agent took, by type. An mDNS (`.local`) host candidate is
/// taken only once its name resolves, so `mdns_resolved` counts the names that did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoteCandidates {
    /// Host candidates, resolved mDNS names included.
    pub host: u32,
    /// Server-reflexive candidates.
    pub srflx: u32,
    /// Peer-reflexive candidates (learnt from the peer's checks).
    pub prflx: u32,
    /// Relayed candidates.
    pub relay: u32,
    /// Host candidates given as `.local` names that resolved over mDNS.
    pub mdns_resolved: u32,
}

/// What the peer's receiver reports say it got from us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteReceipt {
    /// Video packets the peer reports having received.
    pub video_packets: u64,
    /// Audio packets the peer reports having received.
    pub audio_packets: u64,
    /// Reports the peer sent about our audio. Browsers report on audio every ~5 s (RFC 3550's
    /// interval at audio's bit rate), so a short call, or one an outage cut into, may have none.
    pub audio_reports: u64,
}

impl std::fmt::Display for SelectedPair {
    /// `host 127.0.0.1:5000 <-> host 127.0.0.1:6000 (udp)`, as the window shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} <-> {} {} ({})",
            self.local_type,
            self.local_address,
            self.remote_type,
            self.remote_address,
            self.protocol
        )
    }
}

/// The codecs we send, once negotiated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendingCodecs {
    /// The video codec's name, e.g. `H264`, `VP8`.
    pub video: Option<String>,
    /// The audio codec's name (`opus`).
    pub audio: Option<String>,
}

impl Peer {
    /// The candidate pair ICE selected, once connected.
    pub async fn selected_pair(&self) -> Option<SelectedPair> {
        let transport = self.video_sender.transport().await.ok().flatten()?;
        let pair = transport
            .ice_transport()
            .get_selected_candidate_pair()
            .await
            .ok()
            .flatten()?;
        let (l, r) = (pair.local(), pair.remote());
        Some(SelectedPair {
            local_type: l.typ.to_string(),
            remote_type: r.typ.to_string(),
            local_address: address(&l.address, l.port),
            remote_address: address(&r.address, r.port),
            protocol: l.protocol.to_string(),
        })
    }

    /// The peer's candidates the ICE agent holds now.
    pub async fn remote_candidates(&self) -> Option<RemoteCandidates> {
        let transport = self.video_sender.transport().await.ok().flatten()?;
        let candidates = transport
            .ice_transport()
            .get_remote_candidates()
            .await
            .ok()?;
        let mut counts = RemoteCandidates::default();
        for c in candidates {
            let slot = match c.typ.to_string().as_str() {
                "host" => &mut counts.host,
                "srflx" => &mut counts.srflx,
                "prflx" => &mut counts.prflx,
                "relay" => &mut counts.relay,
                _ => continue,
            };
            *slot += 1;
            if c.address.ends_with(".local") {
                counts.mdns_resolved += 1;
            }
        }
        Some(counts)
    }

    /// The latest round-trip time and video loss (%) from the peer's reception reports.
    pub async fn link_stats(&self) -> (Option<f64>, f64) {
        let (mut rtt, mut loss) = (None, 0.0);
        for ssrc in self.video.ssrcs().await {
            let r = self.reports.get(ssrc);
            rtt = r.rtt_ms.or(rtt);
            loss = f64::from(r.fraction_lost) * 100.0 / 256.0;
        }
        if rtt.is_none() {
            for ssrc in self.audio.ssrcs().await {
                rtt = self.reports.get(ssrc).rtt_ms.or(rtt);
            }
        }
        (rtt, loss)
    }

    /// What the peer's RTCP reception reports say it received from us.
    pub async fn remote_receipt(&self) -> RemoteReceipt {
        let mut receipt = RemoteReceipt::default();
        for ssrc in self.video.ssrcs().await {
            receipt.video_packets += self.reports.get(ssrc).packets_received();
        }
        for ssrc in self.audio.ssrcs().await {
            let r = self.reports.get(ssrc);
            receipt.audio_packets += r.packets_received();
            receipt.audio_reports += r.reports;
        }
        receipt
    }

    /// The negotiated codec names we send, e.g. `H264` and `opus`.
    pub async fn sending_codecs(&self) -> SendingCodecs {
        SendingCodecs {
            video: codec_name(&self.video_sender).await,
            audio: codec_name(&self.audio_sender).await,
        }
    }
}

async fn codec_name(sender: &Arc<dyn RtpSender>) -> Option<String> {
    let params = sender.get_parameters().await.ok()?;
    let c = params.rtp_parameters.codecs.first()?;
    Some(
        c.rtp_codec
            .mime_type
            .split('/')
            .nth(1)
            .unwrap_or(&c.rtp_codec.mime_type)
            .to_owned(),
    )
}
