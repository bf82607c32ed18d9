//! Media: synthetic sources, codecs, processing and file sinks. Devices are in
//! [`crate::devices`]; the network is elsewhere.

pub mod audio_jitter;
pub mod bgrx;
pub mod container;
pub mod controls;
pub mod frame;
pub mod h264;
pub mod jitter;
pub mod lipsync;
pub mod marker;
pub mod opus_codec;
pub mod playout;
pub mod processing;
pub mod record;
pub mod resample;
pub mod testsrc;
pub mod tone;
pub mod video;
pub mod vp8;

/// Why a codec could not start, encode, decode or change its rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The encoder or decoder could not be created.
    #[error("cannot start the {codec} {part}: {detail}")]
    Start {
        /// `H.264`, `VP8`, `Opus`.
        codec: &'static str,
        /// `encoder` or `decoder`.
        part: &'static str,
        /// What the library said.
        detail: String,
    },
    /// A frame could not be encoded.
    #[error("{codec} encoding failed: {detail}")]
    Encode {
        /// The codec.
        codec: &'static str,
        /// What the library said.
        detail: String,
    },
    /// A frame or packet could not be decoded.
    #[error("{codec} decoding failed: {detail}")]
    Decode {
        /// The codec.
        codec: &'static str,
        /// What the library said.
        detail: String,
    },
    /// The encoder refused a new bit rate.
    #[error("the {codec} encoder refused a bit rate of {bps} b/s ({detail})")]
    Bitrate {
        /// The codec.
        codec: &'static str,
        /// The rate asked for.
        bps: u32,
        /// What the library said.
        detail: String,
    },
    /// A libvpx call failed.
    #[error("VP8 {step} failed: {status}")]
    Libvpx {
        /// What was being done.
        step: &'static str,
        /// libvpx's status.
        status: String,
    },
    /// A frame of another size than the encoder was set up for.
    #[error("the {codec} encoder set up for {expected} got a {got} frame")]
    FrameSize {
        /// The codec.
        codec: &'static str,
        /// `WxH` it was set up for.
        expected: String,
        /// `WxH` it got.
        got: String,
    },
}
