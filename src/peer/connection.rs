//! Building a call's `webrtc` peer connection: codecs, interceptors (NACK, RTCP reports,
//! congestion control, the jitter buffer), ICE servers and pacing, host addresses.

use super::codecs::{OPUS_PT, opus_codec, video_codec_parameters};
use super::error::err;
use super::interfaces::host_addresses;
use super::{PeerError, PeerSettings, rtcp};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackResponderBuilder, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers,
};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodecParameters, RtpCodecKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy, Registry, SettingEngineBuilder,
};

/// What congestion control keeps for audio, RTCP and headers above the video's rate.
pub const AUDIO_RESERVE_BPS: f64 = 64_000.0;
/// The lowest video rate congestion control asks for.
pub const MIN_VIDEO_BPS: f64 = 100_000.0;

/// Time between ICE connectivity checks.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Browsers learn their server-reflexive address from a TURN server's allocation answer; webrtc
/// 0.21 asks only `stun:` urls for it. So each UDP `turn:` url also serves as a `stun:` url (a
/// TURN server answers STUN binding requests on the same port), and the seed's configuration,
/// a single `turn:` url, yields srflx candidates as it does in a browser.
fn with_stun_twins(servers: &[RTCIceServer]) -> Vec<RTCIceServer> {
    let mut out = servers.to_vec();
    for url in servers.iter().flat_map(|s| &s.urls) {
        let Some(rest) = url.strip_prefix("turn:") else {
            continue;
        };
        let (host_port, query) = rest.split_once('?').unwrap_or((rest, ""));
        if query.contains("transport=tcp") {
            continue;
        }
        let stun = format!("stun:{host_port}");
        if !out.iter().any(|s| s.urls.contains(&stun)) {
            out.push(RTCIceServer {
                urls: vec![stun],
                ..Default::default()
            });
        }
    }
    out
}

/// The ICE keepalive interval: short when a TURN server may relay (see `build_connection`).
fn relay_keepalive(servers: &[RTCIceServer]) -> Option<Duration> {
    servers
        .iter()
        .any(|s| s.urls.iter().any(|u| u.starts_with("turn")))
        .then_some(Duration::from_millis(50))
}

/// Builds a peer connection with roompeer's codecs and interceptors.
pub(super) async fn build_connection(
    settings: &PeerSettings,
    handler: Arc<dyn PeerConnectionEventHandler>,
    mdns: MulticastDnsMode,
    reports: Arc<rtcp::ReceptionReports>,
    estimate: Arc<std::sync::atomic::AtomicU64>,
) -> Result<Arc<dyn PeerConnection>, PeerError> {
    let mut engine = MediaEngine::default();
    for &codec in &settings.video_codecs {
        engine
            .register_codec(video_codec_parameters(codec), RtpCodecKind::Video)
            .map_err(|source| PeerError::Webrtc {
                context: format!("cannot register {codec}"),
                source,
            })?;
    }
    engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PT,
            },
            RtpCodecKind::Audio,
        )
        .map_err(err("cannot register Opus"))?;
    // The default interceptors (NACK, RTCP reports, simulcast header extensions) and, instead
    // of their receive-only TWCC, send-side congestion control: GCC on transport-wide feedback,
    // with a pacer (ahead of the estimate, see `PacedGcc`). Its estimate reaches the encoder
    // through `estimate` (see `start_media`). The TWCC recorder it adds serves the peer's
    // estimator.
    // NACKs are answered here (the responder resends from its buffer); they are asked for by
    // the receive pipeline's jitter buffer the moment a hole shows, not on rtc's 100 ms tick.
    let registry = Registry::new().with(Slot::NackResponder, NackResponderBuilder::new().build());
    configure_simulcast_extension_headers(&mut engine)
        .map_err(err("cannot set up interceptors"))?;
    let registry = configure_rtcp_reports(registry);
    let video_bps = f64::from(settings.media.bitrate_bps);
    let gcc = super::congestion::PacedGcc::new(
        video_bps + AUDIO_RESERVE_BPS,
        MIN_VIDEO_BPS + AUDIO_RESERVE_BPS,
        video_bps * 1.25 + AUDIO_RESERVE_BPS,
        estimate,
    );
    let registry = super::congestion::configure(registry, gcc, &mut engine)
        .map_err(err("cannot set up congestion control"))?
        .with(
            Slot::from(rtcp::SLOT),
            rtcp::KeyframeRequestForwarder::new(reports),
        );
    let config = RTCConfigurationBuilder::new()
        // Twins first: a bridged url's stand-in must not get a STUN twin (its mapped address
        // would be the TCP connection's, useless for UDP).
        .with_ice_servers(
            settings
                .turn_bridges
                .rewrite(with_stun_twins(&settings.ice_servers)),
        )
        .with_ice_transport_policy(if settings.relay_only {
            RTCIceTransportPolicy::Relay
        } else {
            RTCIceTransportPolicy::All
        })
        .build();
    let addrs: Vec<SocketAddr> = host_addresses()
        .into_iter()
        .map(|ip| SocketAddr::new(ip, 0))
        .collect();
    if addrs.is_empty() {
        return Err(PeerError::NoInterface);
    }
    tracing::debug!(?addrs, "gathering host candidates");
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(
            SettingEngineBuilder::new()
                .with_multicast_dns_mode(mdns)
                // What a `.local` name stands for when we hide our address (one IPv4 address,
                // as rtc's agent supports).
                .with_multicast_dns_local_ip(
                    (mdns == MulticastDnsMode::QueryAndGather)
                        .then(|| addrs.iter().map(|a| a.ip()).find(|ip| ip.is_ipv4()))
                        .flatten(),
                )
                // RFC 8445's pacing (Ta = 50 ms) instead of 200 ms between checks, as browsers
                // do. 100 attempts keep a pair alive 5 s before it fails: as long as the wait
                // between two ICE restarts in an outage, so the restarted checks are still
                // running whenever the path comes back (with 1.5 s, a path back 2 s after a
                // restart waited for the next one).
                .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(100))
                // The agent waits 2 s before it settles for a relay pair, in case a direct one
                // comes; with relay only, nothing better can come.
                .with_relay_acceptance_min_wait(settings.relay_only.then_some(Duration::ZERO))
                // The peer's checks often come before its trickled candidates (as offerer we
                // start ICE when its answer is applied, and its checks are already on the way):
                // the pair is then peer-reflexive, which rtc would not nominate for 1 s after
                // ICE started, a stall of the whole setup. Browsers do not wait on them either.
                .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
                // On relayed paths some of the driver's work still waits for its next timer
                // (the vendored webrtc now handles relayed data's events and answers at once,
                // but without these keepalives the relayed benchmark paths' first picture
                // still came 100-500 ms later, measured twice). Keepalives every 50 ms bound
                // those waits; without a TURN server the default (2 s) stays.
                .with_ice_timeouts(None, None, relay_keepalive(&settings.ice_servers))
                .build(),
        )
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(addrs)
        .build()
        .await
        .map_err(err("cannot create the peer connection"))?;
    Ok(Arc::new(pc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_turn_urls_also_serve_as_stun_urls() {
        let turn = |u: &str| RTCIceServer {
            urls: vec![u.into()],
            username: "aaaa".into(),
            credential: "aaaa".into(),
        };
        let out = with_stun_twins(&[
            turn("turn:203.0.113.1:3478"),
            turn("turn:turn.example:3478?transport=udp"),
            turn("turn:turn.example:443?transport=tcp"),
        ]);
        let urls: Vec<&str> = out
            .iter()
            .flat_map(|s| s.urls.iter().map(String::as_str))
            .collect();
        assert_eq!(
            urls,
            [
                "turn:203.0.113.1:3478",
                "turn:turn.example:3478?transport=udp",
                "turn:turn.example:443?transport=tcp",
                "stun:203.0.113.1:3478",
                "stun:turn.example:3478",
            ]
        );
        assert_eq!(out[3].credential, "", "STUN needs no credentials");
        assert_eq!(with_stun_twins(&[]).len(), 0);
    }
}
