//! The peer connection adapter: executes the call state machine's actions on a `webrtc` 0.21
//! peer connection and reports back what it does as [`Input`]s.
//!
//! [`connection`] builds the connection, [`codecs`] says what it offers and reads offers,
//! [`stats`] reads what it knows, [`congestion`] passes its estimate to the encoder, and
//! The media pipelines ([`crate::pipeline`]) start once the call connects.

mod codecs;
mod congestion;
mod connection;
mod dtls_role;
mod error;
mod interfaces;
pub mod rtcp;
mod stats;
pub mod turn_check;
pub mod turn_stream;

pub use codecs::check_common_video_codec;
pub use connection::{AUDIO_RESERVE_BPS, MIN_VIDEO_BPS};
pub use error::PeerError;
pub use interfaces::host_addresses;
pub use stats::{RemoteCandidates, RemoteReceipt, SelectedPair, SendingCodecs};

use crate::call::{CallId, Input, PeerState};
use crate::media::video::VideoCodec;
use crate::pipeline::{self, CallMedia, MediaSettings};
use crate::signaling::room::{CandidateMessage, SignalMessage};
use codecs::{opus_codec, video_codec_parameters};
use connection::build_connection;
use error::err;
use interfaces::multicast_available;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceServer, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription,
};
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
    pub turn_trust: crate::tls::TrustMode,
    /// The local stand-ins for TCP and TLS TURN servers, started by the run
    /// ([`turn_stream::TurnBridges::start`]); empty until then.
    pub turn_bridges: Arc<turn_stream::TurnBridges>,
    /// How long received video waits in the jitter buffer.
    pub jitter: crate::media::jitter::JitterTarget,
    /// What to send.
    pub media: MediaSettings,
    /// The video codecs to negotiate, in order of preference (an offer lists them so; an
    /// answer follows the offer's order).
    pub video_codecs: Vec<VideoCodec>,
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
            tokio::spawn(pipeline::receive_track(track, media));
        }
    }
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
    /// Congestion control's estimate, bit/s (see `congestion::PacedGcc`).
    estimate: Arc<std::sync::atomic::AtomicU64>,
    settings: PeerSettings,
    media_started: bool,
}

impl Peer {
    /// Builds the peer connection and adds the local video and audio tracks (before any
    /// description, so the answer is sendrecv).
    pub async fn start(
        call: CallId,
        settings: &PeerSettings,
        inputs: UnboundedSender<Input>,
        media: Arc<CallMedia>,
    ) -> Result<Peer, PeerError> {
        let first_mid = Arc::new(std::sync::Mutex::new(None));
        let handler: Arc<dyn PeerConnectionEventHandler> = Arc::new(EventForwarder {
            call,
            inputs,
            media: Arc::downgrade(&media),
            first_mid: first_mid.clone(),
        });
        // mDNS resolves browsers' `.local` host candidates; where no multicast route exists (a
        // namespace with only `lo`) its socket cannot be opened, and the call goes on without it.
        let reports = Arc::new(rtcp::ReceptionReports::new(media.sender_clocks.clone()));
        let mdns = match settings.mdns {
            _ if !multicast_available() => MulticastDnsMode::Disabled,
            MdnsPolicy::Resolve => MulticastDnsMode::QueryOnly,
            MdnsPolicy::Hide => MulticastDnsMode::QueryAndGather,
            MdnsPolicy::Off => MulticastDnsMode::Disabled,
        };
        let estimate = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let pc = match build_connection(
            settings,
            handler.clone(),
            mdns,
            reports.clone(),
            estimate.clone(),
        )
        .await
        {
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
                    estimate.clone(),
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
            .ok_or(PeerError::NoVideoCodec)?;
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
            .ok_or(PeerError::Missing("the video transceiver has no sender"))?;
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
            estimate,
            settings: settings.clone(),
            media_started: false,
        })
    }

    async fn set_local(&self, desc: RTCSessionDescription) -> Result<String, PeerError> {
        self.pc
            .set_local_description(desc)
            .await
            .map_err(err("cannot set the local description"))?;
        let sdp = self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or(PeerError::Missing("the local description vanished"))?;
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
    pub async fn create_offer(&self) -> Result<SignalMessage, PeerError> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(err("cannot create an offer"))?;
        Ok(SignalMessage::Offer(self.set_local(offer).await?))
    }

    /// Restarts ICE: an offer with fresh ICE credentials (the peer answers it as any offer,
    /// the seed's page included); returns the message to send.
    pub async fn restart_ice(&self) -> Result<SignalMessage, PeerError> {
        self.pc
            .restart_ice()
            .await
            .map_err(err("cannot restart ICE"))?;
        self.create_offer().await
    }

    /// Applies a remote offer, creates and sets the answer; returns the message to send.
    pub async fn accept_offer(&self, sdp: String) -> Result<SignalMessage, PeerError> {
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
        // As our offers do, the answer sent asks a libwebrtc peer to start sending at 1 Mbit/s.
        // rtc takes back only the answer it made, and the parameter concerns only the peer's
        // sender, so it is added to the text sent (and shown, and saved), not to rtc's copy.
        let sdp = self.set_local(answer).await?;
        self.note_dtls_role(&sdp, true);
        Ok(SignalMessage::Answer(codecs::with_start_bitrate(&sdp)))
    }

    /// Applies a remote answer.
    pub async fn accept_answer(&self, sdp: String) -> Result<(), PeerError> {
        self.note_dtls_role(&sdp, false);
        let answer =
            RTCSessionDescription::answer(sdp).map_err(err("the answer is not valid SDP"))?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(err("cannot apply the remote answer"))
    }

    /// Notes whether the answer (`sdp`; `ours` when we made it) makes us the DTLS server.
    fn note_dtls_role(&self, sdp: &str, ours: bool) {
        if dtls_role::answer_makes_us_dtls_server(sdp, ours) {
            self.media
                .keyframe_when_heard
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Adds a remote candidate; a bad one is reported, not fatal.
    pub async fn add_candidate(&self, c: &CandidateMessage) -> Result<(), PeerError> {
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
    pub async fn start_media(&mut self) -> Result<(), PeerError> {
        if self.media_started {
            return Ok(());
        }
        self.media_started = true;
        let (video_codec, video_ssrc) = negotiated(&self.video_sender, &*self.video).await?;
        let (audio_codec, audio_ssrc) = negotiated(&self.audio_sender, &*self.audio).await?;
        pipeline::start_video_sender(
            self.video.clone(),
            video_ssrc,
            &video_codec,
            &self.settings.media,
            self.media.clone(),
        )?;
        congestion::follow_estimate(
            self.estimate.clone(),
            self.media.clone(),
            self.reports.clone(),
            video_ssrc,
        );
        pipeline::start_audio_sender(
            self.audio.clone(),
            audio_ssrc,
            audio_codec.payload_type,
            self.media.clone(),
        )?;
        Ok(())
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

/// The codec the peer accepted first (what we send) and the track's SSRC.
async fn negotiated(
    sender: &Arc<dyn RtpSender>,
    track: &dyn Track,
) -> Result<(RTCRtpCodecParameters, u32), PeerError> {
    let params = sender
        .get_parameters()
        .await
        .map_err(err("cannot read the sender's parameters"))?;
    let codec = params
        .rtp_parameters
        .codecs
        .first()
        .cloned()
        .ok_or(PeerError::Missing("the peer accepted none of our codecs"))?;
    let ssrc = *track
        .ssrcs()
        .await
        .first()
        .ok_or(PeerError::Missing("the track has no SSRC"))?;
    Ok((codec, ssrc))
}

fn rand_ssrc() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (h.finish() as u32).max(1)
}
