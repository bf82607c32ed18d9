//! The peer connection adapter: executes the call state machine's actions on a `webrtc` 0.21
//! peer connection and reports back what it does as [`Input`]s.

pub mod media_io;
pub mod rtcp;
pub mod turn_check;
pub mod turn_stream;

use crate::call::{CallId, Input, PeerState};
use crate::media::video::VideoCodec;
use crate::signaling::room::{CandidateMessage, SignalMessage};
use media_io::{CallMedia, MediaSettings};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Gcc;
use rtc::interceptor::{JitterBufferBuilder, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    CongestionFeedback, configure_congestion_control, configure_nack, configure_rtcp_reports,
    configure_simulcast_extension_headers,
};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
};

/// What congestion control keeps for audio, RTCP and headers above the video's rate.
pub const AUDIO_RESERVE_BPS: f64 = 64_000.0;
/// The lowest video rate congestion control asks for.
pub const MIN_VIDEO_BPS: f64 = 100_000.0;
use webrtc::rtp_transceiver::RtpSender;

/// What roompeer does with mDNS (`.local`) host candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MdnsPolicy {
    /// Resolve the peer's `.local` candidates where multicast works; skip them where not.
    #[default]
    Resolve,
    /// Also hide our own host addresses behind `.local` names, as browsers do.
    Hide,
    /// Skip `.local` candidates; offer plain addresses.
    Off,
}

/// How every call's peer connection is built.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    /// What to do with mDNS candidates.
    pub mdns: MdnsPolicy,
    /// STUN/TURN servers.
    pub ice_servers: Vec<RTCIceServer>,
    /// Use relay candidates only.
    pub relay_only: bool,
    /// Which certificates a `turns:` server may present.
    pub turn_trust: crate::signaling::tls::TrustMode,
    /// The local stand-ins for TCP and TLS TURN servers, started by the run
    /// ([`turn_stream::TurnBridges::start`]); empty until then.
    pub turn_bridges: Arc<turn_stream::TurnBridges>,
    /// Playout delay of the receive jitter buffer; zero turns it off.
    pub jitter_depth: std::time::Duration,
    /// What to send.
    pub media: MediaSettings,
    /// The video codecs to negotiate, in order of preference (an offer lists them so; an
    /// answer follows the offer's order).
    pub video_codecs: Vec<VideoCodec>,
}

/// The H.264 payload type roompeer offers: packetization-mode 1, constrained baseline 3.1, as
/// Chrome's matching entry.
const H264_PT: u8 = 102;
/// VP8's payload type, as Chrome's.
const VP8_PT: u8 = 96;
const OPUS_PT: u8 = 111;

/// Time between ICE connectivity checks.
const ICE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("goog-remb", ""),
        ("ccm", "fir"),
        ("nack", ""),
        ("nack", "pli"),
    ]
    .into_iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    })
    .collect()
}

fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
            .to_owned(),
        rtcp_feedback: video_feedback(),
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: video_feedback(),
    }
}

/// The RTP codec entry and payload type roompeer registers for `codec`.
fn video_codec_parameters(codec: VideoCodec) -> RTCRtpCodecParameters {
    match codec {
        VideoCodec::H264 => RTCRtpCodecParameters {
            rtp_codec: h264_codec(),
            payload_type: H264_PT,
        },
        VideoCodec::Vp8 => RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PT,
        },
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// The local addresses to gather host candidates on: every address of every interface that is
/// up, IPv4 and IPv6, as a browser does; loopback only when there is nothing else (a network
/// namespace whose only interface is `lo`).
pub fn host_addresses() -> Vec<IpAddr> {
    let all: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .filter(|i| i.is_oper_up())
                .map(|i| i.ip())
                .collect()
        })
        .unwrap_or_default();
    // IPv6 link-local addresses need a scope id to bind; browsers skip them too.
    let usable = |ip: &IpAddr| !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    let external: Vec<IpAddr> = all
        .iter()
        .copied()
        .filter(|ip| usable(ip) && !ip.is_loopback())
        .collect();
    if external.is_empty() {
        all.into_iter().filter(|ip| ip.is_loopback()).collect()
    } else {
        external
    }
}

/// Whether some interface other than loopback is up and multicast-capable, so the mDNS socket
/// can be opened (Linux; elsewhere assume yes and fall back if it fails).
fn multicast_available() -> bool {
    const IFF_UP: u32 = 0x1;
    const IFF_LOOPBACK: u32 = 0x8;
    const IFF_MULTICAST: u32 = 0x1000;
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return true;
    };
    dir.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("flags"))
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & IFF_UP != 0 && f & IFF_MULTICAST != 0 && f & IFF_LOOPBACK == 0)
    })
}

/// Forwards peer-connection events to the call state machine.
struct EventForwarder {
    call: CallId,
    inputs: UnboundedSender<Input>,
    /// Weak: webrtc 0.21 never drops the handler of a closed connection (webrtc#906), and a
    /// call's media state must not live on with it.
    media: std::sync::Weak<CallMedia>,
    /// The mid of the first m-line, sent as the candidate's `id` as the page does.
    first_mid: Arc<std::sync::Mutex<Option<String>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for EventForwarder {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let init = match event.candidate.to_json() {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("cannot serialise a local candidate: {e}");
                return;
            }
        };
        let mid = self.first_mid.lock().ok().and_then(|m| m.clone());
        let message = CandidateMessage {
            label: Some(0),
            mid,
            candidate: init.candidate,
        };
        let _ = self.inputs.send(Input::LocalCandidate(self.call, message));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::info!(call = self.call.0, %state, "peer connection state");
        let mapped = match state {
            RTCPeerConnectionState::Connected => Some(PeerState::Connected),
            RTCPeerConnectionState::Disconnected => Some(PeerState::Disconnected),
            RTCPeerConnectionState::Failed => Some(PeerState::Failed),
            _ => None,
        };
        if let Some(s) = mapped {
            let _ = self.inputs.send(Input::Peer(self.call, s));
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(media) = self.media.upgrade() {
            tokio::spawn(media_io::receive_track(track, media));
        }
    }
}

/// The selected candidate pair's types, e.g. `("host", "host")`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
async fn build_connection(
    settings: &PeerSettings,
    handler: Arc<dyn PeerConnectionEventHandler>,
    mdns: MulticastDnsMode,
    reports: Arc<rtcp::ReceptionReports>,
) -> Result<Arc<dyn PeerConnection>, String> {
    let mut engine = MediaEngine::default();
    for &codec in &settings.video_codecs {
        engine
            .register_codec(video_codec_parameters(codec), RtpCodecKind::Video)
            .map_err(|e| format!("cannot register {codec}: {e}"))?;
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
    // with a pacer. Its estimate reaches the encoder through `target_bitrate` (see
    // `start_media`). The TWCC recorder it adds serves the peer's estimator.
    let registry = configure_nack(Registry::new(), &mut engine);
    configure_simulcast_extension_headers(&mut engine)
        .map_err(err("cannot set up interceptors"))?;
    let registry = configure_rtcp_reports(registry);
    let video_bps = f64::from(settings.media.bitrate_bps);
    let gcc = Gcc::new(
        video_bps + AUDIO_RESERVE_BPS,
        MIN_VIDEO_BPS + AUDIO_RESERVE_BPS,
        video_bps * 1.25 + AUDIO_RESERVE_BPS,
    );
    let mut registry =
        configure_congestion_control(registry, gcc, CongestionFeedback::Twcc, &mut engine)
            .map_err(err("cannot set up congestion control"))?
            .with(
                Slot::from(rtcp::SLOT),
                rtcp::KeyframeRequestForwarder::new(reports),
            );
    if !settings.jitter_depth.is_zero() {
        // Reorders packets and holds a gap open long enough for a NACKed packet to come back
        // (NACK interval 100 ms + round trip), so one lost packet does not cost a keyframe.
        let buffer = JitterBufferBuilder::new()
            .with_depth(settings.jitter_depth)
            .build();
        registry = registry.with(Slot::JitterBuffer, buffer);
    }
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
        return Err("no network interface is up: cannot gather ICE candidates".into());
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
                // webrtc 0.21's driver hands data that arrived through a TURN relay to the
                // connection after it has flushed its writes, so an answer to it (a DTLS
                // flight) waits for the driver's next wake-up: the next timer, up to ~400 ms
                // during the handshake. Keepalives every 50 ms bound that wait; without a TURN
                // server there is no relayed data and the default (2 s) stays.
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

/// One call's peer connection with its local tracks.
pub struct Peer {
    /// The call this peer connection belongs to.
    pub call: CallId,
    pc: Arc<dyn PeerConnection>,
    /// RTP, not samples: the payloader must follow the negotiated codec, which a sample
    /// track fixes when it is made.
    video: Arc<TrackLocalStaticRTP>,
    audio: Arc<TrackLocalStaticSample>,
    video_sender: Arc<dyn RtpSender>,
    audio_sender: Arc<dyn RtpSender>,
    /// Shared counters of this call's media.
    pub media: Arc<CallMedia>,
    first_mid: Arc<std::sync::Mutex<Option<String>>>,
    reports: Arc<rtcp::ReceptionReports>,
    settings: PeerSettings,
    media_started: bool,
}

fn err(context: &str) -> impl Fn(webrtc::error::Error) -> String + '_ {
    move |e| format!("{context}: {e}")
}

impl Peer {
    /// Builds the peer connection and adds the local video and audio tracks (before any
    /// description, so the answer is sendrecv).
    pub async fn start(
        call: CallId,
        settings: &PeerSettings,
        inputs: UnboundedSender<Input>,
        media: Arc<CallMedia>,
    ) -> Result<Peer, String> {
        let first_mid = Arc::new(std::sync::Mutex::new(None));
        let handler: Arc<dyn PeerConnectionEventHandler> = Arc::new(EventForwarder {
            call,
            inputs,
            media: Arc::downgrade(&media),
            first_mid: first_mid.clone(),
        });
        // mDNS resolves browsers' `.local` host candidates; where no multicast route exists (a
        // namespace with only `lo`) its socket cannot be opened, and the call goes on without it.
        let reports = Arc::new(rtcp::ReceptionReports::default());
        let mdns = match settings.mdns {
            _ if !multicast_available() => MulticastDnsMode::Disabled,
            MdnsPolicy::Resolve => MulticastDnsMode::QueryOnly,
            MdnsPolicy::Hide => MulticastDnsMode::QueryAndGather,
            MdnsPolicy::Off => MulticastDnsMode::Disabled,
        };
        let pc = match build_connection(settings, handler.clone(), mdns, reports.clone()).await {
            Ok(pc) => pc,
            Err(first) => {
                tracing::info!(
                    "mDNS is not available ({first}); `.local` candidates will be skipped"
                );
                build_connection(
                    settings,
                    handler,
                    MulticastDnsMode::Disabled,
                    reports.clone(),
                )
                .await?
            }
        };

        let stream = format!("roompeer-{}", settings.media.sender_id);
        let make_track = |kind: RtpCodecKind, codec: RTCRtpCodec| {
            MediaStreamTrack::new(
                stream.clone(),
                format!("{stream}-{kind}"),
                format!("{kind}"),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(rand_ssrc()),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            )
        };
        let first_video = *settings
            .video_codecs
            .first()
            .ok_or("no video codec is enabled")?;
        let video = Arc::new(TrackLocalStaticRTP::new(make_track(
            RtpCodecKind::Video,
            video_codec_parameters(first_video).rtp_codec,
        )));
        let audio = TrackLocalStaticSample::new(
            Instant::now(),
            make_track(RtpCodecKind::Audio, opus_codec()),
        )
        .map(Arc::new)
        .map_err(err("cannot create the audio track"))?;
        // A track's codec becomes its transceiver's only preference; the offer must list every
        // enabled codec, in roompeer's order.
        let video_transceiver = pc
            .add_transceiver_from_track(video.clone() as Arc<dyn TrackLocal>, None)
            .await
            .map_err(err("cannot add the video track"))?;
        video_transceiver
            .set_codec_preferences(
                settings
                    .video_codecs
                    .iter()
                    .map(|&c| video_codec_parameters(c))
                    .collect(),
            )
            .await
            .map_err(err("cannot set the video codec preferences"))?;
        let video_sender = video_transceiver
            .sender()
            .await
            .map_err(err("cannot read the video sender"))?
            .ok_or("the video transceiver has no sender")?;
        let audio_sender = pc
            .add_track(audio.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(err("cannot add the audio track"))?;
        Ok(Peer {
            call,
            pc,
            video,
            audio,
            video_sender,
            audio_sender,
            media,
            first_mid,
            reports,
            settings: settings.clone(),
            media_started: false,
        })
    }

    async fn set_local(&self, desc: RTCSessionDescription) -> Result<String, String> {
        self.pc
            .set_local_description(desc)
            .await
            .map_err(err("cannot set the local description"))?;
        let sdp = self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or("the local description vanished")?;
        let mid = sdp
            .lines()
            .find_map(|l| l.strip_prefix("a=mid:"))
            .map(|m| m.trim().to_owned());
        if let Ok(mut slot) = self.first_mid.lock() {
            *slot = mid;
        }
        Ok(sdp)
    }

    /// Creates and sets an offer; returns the message to send.
    pub async fn create_offer(&self) -> Result<SignalMessage, String> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(err("cannot create an offer"))?;
        Ok(SignalMessage::Offer(self.set_local(offer).await?))
    }

    /// Restarts ICE: an offer with fresh ICE credentials (the peer answers it as any offer,
    /// the seed's page included); returns the message to send.
    pub async fn restart_ice(&self) -> Result<SignalMessage, String> {
        self.pc
            .restart_ice()
            .await
            .map_err(err("cannot restart ICE"))?;
        self.create_offer().await
    }

    /// Applies a remote offer, creates and sets the answer; returns the message to send.
    pub async fn accept_offer(&self, sdp: String) -> Result<SignalMessage, String> {
        check_common_video_codec(&sdp, &self.settings.video_codecs)?;
        let offer = RTCSessionDescription::offer(sdp).map_err(err("the offer is not valid SDP"))?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(err("cannot apply the remote offer"))?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(err("cannot create an answer"))?;
        Ok(SignalMessage::Answer(self.set_local(answer).await?))
    }

    /// Applies a remote answer.
    pub async fn accept_answer(&self, sdp: String) -> Result<(), String> {
        let answer =
            RTCSessionDescription::answer(sdp).map_err(err("the answer is not valid SDP"))?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(err("cannot apply the remote answer"))
    }

    /// Adds a remote candidate; a bad one is reported, not fatal.
    pub async fn add_candidate(&self, c: &CandidateMessage) -> Result<(), String> {
        let init = webrtc::peer_connection::RTCIceCandidateInit {
            candidate: c.candidate.clone(),
            sdp_mid: c.mid.clone().filter(|m| !m.is_empty()),
            sdp_mline_index: c.label,
            username_fragment: None,
            ..Default::default()
        };
        self.pc
            .add_ice_candidate(init)
            .await
            .map_err(err("cannot add a remote candidate"))
    }

    /// Starts sending (once the call is connected): the payload types are the negotiated ones.
    pub async fn start_media(&mut self) -> Result<(), String> {
        if self.media_started {
            return Ok(());
        }
        self.media_started = true;
        let (video_codec, video_ssrc) = negotiated(&self.video_sender, &*self.video).await?;
        let (audio_codec, audio_ssrc) = negotiated(&self.audio_sender, &*self.audio).await?;
        media_io::start_video_sender(
            self.video.clone(),
            video_ssrc,
            &video_codec,
            &self.settings.media,
            self.media.clone(),
        )?;
        // Congestion control's estimate, read twice a second for the video encoder.
        let pc = Arc::downgrade(&self.pc);
        let media = self.media.clone();
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
                if target > 0.0 {
                    media
                        .target_bitrate_bps
                        .store(target as u64, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        media_io::start_audio_sender(
            self.audio.clone(),
            audio_ssrc,
            audio_codec.payload_type,
            self.media.clone(),
        )
    }

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

    /// The negotiated codec names we send, e.g. `("H264", "opus")`.
    pub async fn sending_codecs(&self) -> (Option<String>, Option<String>) {
        (
            codec_name(&self.video_sender).await,
            codec_name(&self.audio_sender).await,
        )
    }

    /// Stops the media and closes the peer connection.
    pub async fn close(&self) {
        let media = self.media.clone();
        let _ = tokio::task::spawn_blocking(move || media.stop()).await;
        if let Err(e) = self.pc.close().await {
            tracing::debug!("closing the peer connection: {e}");
        }
    }
}

/// The codec names of an SDP's first video m-line (empty when it has none or rejects video).
fn offered_video_codecs(sdp: &str) -> Option<Vec<String>> {
    let mline = sdp.lines().find(|l| l.starts_with("m=video"))?;
    let mut fields = mline.split_whitespace();
    if fields.nth(1) == Some("0") {
        return Some(Vec::new());
    }
    let pts: Vec<&str> = fields.skip(1).collect();
    Some(
        pts.iter()
            .filter_map(|pt| {
                let prefix = format!("a=rtpmap:{pt} ");
                sdp.lines()
                    .find_map(|l| l.trim_end().strip_prefix(&prefix))
                    .and_then(|c| c.split('/').next())
                    .map(str::to_owned)
            })
            .filter(|c| {
                !c.eq_ignore_ascii_case("rtx")
                    && !c.eq_ignore_ascii_case("red")
                    && !c.eq_ignore_ascii_case("ulpfec")
            })
            .collect(),
    )
}

/// An offer with video must list a codec roompeer is set to use, or the answer cannot be made;
/// say so in words instead of the peer connection's "RTPSender created with no codecs".
fn check_common_video_codec(offer: &str, ours: &[VideoCodec]) -> Result<(), String> {
    let Some(theirs) = offered_video_codecs(offer) else {
        return Ok(());
    };
    if theirs.is_empty()
        || theirs
            .iter()
            .any(|c| VideoCodec::from_mime(c).is_some_and(|c| ours.contains(&c)))
    {
        return Ok(());
    }
    let ours: Vec<&str> = ours.iter().map(|c| c.name()).collect();
    let mut theirs = theirs;
    theirs.dedup();
    Err(format!(
        "no common video codec: the peer offers {} and roompeer is set to {}; drop --video-codec or choose one the peer offers",
        theirs.join(", "),
        ours.join(", ")
    ))
}

/// `host:port`, with IPv6 addresses in brackets.
fn address(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{host}:{port}"),
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

/// The codec the peer accepted first (what we send) and the track's SSRC.
async fn negotiated(
    sender: &Arc<dyn RtpSender>,
    track: &dyn Track,
) -> Result<(RTCRtpCodecParameters, u32), String> {
    let params = sender
        .get_parameters()
        .await
        .map_err(err("cannot read the sender's parameters"))?;
    let codec = params
        .rtp_parameters
        .codecs
        .first()
        .cloned()
        .ok_or("the peer accepted none of our codecs")?;
    let ssrc = *track.ssrcs().await.first().ok_or("the track has no SSRC")?;
    Ok((codec, ssrc))
}

fn rand_ssrc() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (h.finish() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_without_a_common_video_codec_is_refused_in_words() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
                     m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\na=rtpmap:96 VP8/90000\r\n\
                     a=rtpmap:97 rtx/90000\r\na=rtpmap:98 VP9/90000\r\n";
        let err = check_common_video_codec(offer, &[VideoCodec::H264]).unwrap_err();
        assert!(
            err.contains("offers VP8, VP9") && err.contains("set to H264"),
            "{err}"
        );
        assert!(check_common_video_codec(offer, &VideoCodec::ALL).is_ok());
        assert!(
            check_common_video_codec("v=0\r\nm=audio 9 X 111\r\n", &[VideoCodec::H264]).is_ok()
        );
        let rejected = "v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert!(check_common_video_codec(rejected, &[VideoCodec::H264]).is_ok());
    }

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
