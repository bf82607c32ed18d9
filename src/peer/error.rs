//! Why a peer-connection operation failed.

/// A peer-connection operation that failed; the call it belongs to cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The `webrtc` stack refused a step.
    #[error("{context}: {source}")]
    Webrtc {
        /// What roompeer was doing.
        context: String,
        /// What webrtc said.
        source: webrtc::error::Error,
    },
    /// No interface to gather candidates on.
    #[error("no network interface is up: cannot gather ICE candidates")]
    NoInterface,
    /// `--video-codec` left nothing to offer.
    #[error("no video codec is enabled")]
    NoVideoCodec,
    /// The peer's offer has video in codecs roompeer is not set to use.
    #[error(
        "no common video codec: the peer offers {theirs} and roompeer is set to {ours}; drop --video-codec or choose one the peer offers"
    )]
    NoCommonVideoCodec {
        /// The codecs the peer offers.
        theirs: String,
        /// The codecs roompeer is set to.
        ours: String,
    },
    /// webrtc lost what it was just given or made.
    #[error("{0}")]
    Missing(&'static str),
    /// The media pipelines could not start.
    #[error("{0}")]
    Media(#[from] crate::pipeline::PipelineError),
}

/// Wraps a webrtc error with what roompeer was doing.
pub(crate) fn err(context: &str) -> impl Fn(webrtc::error::Error) -> PeerError + '_ {
    move |source| PeerError::Webrtc {
        context: context.to_owned(),
        source,
    }
}
