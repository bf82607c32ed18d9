//! H.264 with openh264: constrained baseline for WebRTC.

use super::frame::I420Frame;
use super::video::{Content, DETAIL_MAX_QP};
use crate::media::CodecError;
use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Level, Profile,
    QpRange, RateControlMode, UsageType, VuiConfig,
};

/// H.264 NAL unit types that matter here.
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// An encoded access unit (Annex B); empty when rate control skipped the frame.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// NAL units with start codes.
    pub data: Vec<u8>,
    /// Whether it is an IDR (starts with SPS and PPS).
    pub keyframe: bool,
}

/// A WebRTC-friendly H.264 encoder: constrained baseline, level 3.1, real-time rate control.
pub struct H264Encoder {
    encoder: Encoder,
    /// The last SPS and PPS, repeated before an IDR that lacks them.
    parameter_sets: Vec<u8>,
}

/// Iterates over the NAL units of an Annex B stream (without start codes).
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // Drop the start code (and a 4-byte start code's extra zero) from the end.
            let mut e = s - 3;
            while e > 0 && data[e - 1] == 0 {
                e -= 1;
            }
            e
        })
        .chain(std::iter::once(data.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .filter(|(s, e)| s < e)
        .map(move |(s, e)| &data[s..e])
}

impl H264Encoder {
    /// An encoder for frames of this size; `intra_period` frames between regular keyframes.
    pub fn new(
        (width, height): (usize, usize),
        content: Content,
        fps: f32,
        bitrate_bps: u32,
        intra_period: u32,
    ) -> Result<Self, CodecError> {
        // Level 3.1 holds 1280x720 (3600 macroblocks); a larger screen needs 4.0 (8192).
        let macroblocks = width.div_ceil(16) * height.div_ceil(16);
        let level = if macroblocks > 3600 {
            Level::Level_4_0
        } else {
            Level::Level_3_1
        };
        let mut config = EncoderConfig::new()
            .profile(Profile::Baseline)
            .level(level)
            .usage_type(match content {
                Content::Motion => UsageType::CameraVideoRealTime,
                Content::Detail => UsageType::ScreenContentRealTime,
            })
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(fps))
            // Rate control needs frame skipping; a skipped frame is reported as empty.
            .skip_frames(true)
            .intra_frame_period(IntraFramePeriod::from_num_frames(intra_period))
            // Say the colours are BT.601 (what roompeer's sources convert to): without it a
            // decoder guesses by size, and Chromium takes a 1080p picture for BT.709 (a red
            // 25 levels green, a green 30 levels dark).
            .vui(VuiConfig::bt601());
        if content == Content::Detail {
            // openh264 turns these two off for screen content anyway, with a warning each.
            config = config
                .qp(QpRange::new(0, DETAIL_MAX_QP))
                .adaptive_quantization(false)
                .background_detection(false);
        }
        let encoder =
            Encoder::with_api_config(OpenH264API::from_source(), config).map_err(|e| {
                CodecError::Start {
                    codec: "H.264",
                    part: "encoder",
                    detail: e.to_string(),
                }
            })?;
        Ok(Self {
            encoder,
            parameter_sets: Vec::new(),
        })
    }

    /// Aims at a new bit rate from the next frame on (congestion control).
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), CodecError> {
        let mut info = openh264_sys2::SBitrateInfo {
            iLayer: openh264_sys2::SPATIAL_LAYER_ALL,
            iBitrate: i32::try_from(bitrate_bps).unwrap_or(i32::MAX),
        };
        // SAFETY: ENCODER_OPTION_BITRATE takes a pointer to an SBitrateInfo, which lives for
        // the call; the encoder is initialised (the crate's constructor did it).
        let rc = unsafe {
            self.encoder.raw_api().set_option(
                openh264_sys2::ENCODER_OPTION_BITRATE,
                (&raw mut info).cast(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(CodecError::Bitrate {
                codec: "H.264",
                bps: bitrate_bps,
                detail: rc.to_string(),
            })
        }
    }

    /// Encodes one frame; `keyframe` forces an IDR (after PLI/FIR).
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        keyframe: bool,
    ) -> Result<EncodedFrame, CodecError> {
        if keyframe {
            self.encoder.force_intra_frame();
        }
        let bitstream = self.encoder.encode(frame).map_err(|e| CodecError::Encode {
            codec: "H.264",
            detail: e.to_string(),
        })?;
        let is_idr = matches!(bitstream.frame_type(), FrameType::IDR);
        if matches!(bitstream.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Ok(EncodedFrame {
                data: Vec::new(),
                keyframe: false,
            });
        }
        let data = bitstream.to_vec();
        let mut has_sps = false;
        let mut sets = Vec::new();
        for nal in nal_units(&data) {
            let kind = nal.first().map_or(0, |b| b & 0x1f);
            if kind == NAL_SPS || kind == NAL_PPS {
                has_sps |= kind == NAL_SPS;
                sets.extend_from_slice(&[0, 0, 0, 1]);
                sets.extend_from_slice(nal);
            }
        }
        if has_sps {
            self.parameter_sets = sets;
        }
        let data = if is_idr && !has_sps && !self.parameter_sets.is_empty() {
            // Every IDR must be decodable on its own by a peer that missed the first one.
            let mut with_sets = self.parameter_sets.clone();
            with_sets.extend_from_slice(&data);
            with_sets
        } else {
            data
        };
        Ok(EncodedFrame {
            data,
            keyframe: is_idr,
        })
    }
}

/// Decodes Annex B access units.
pub struct H264Decoder {
    decoder: Decoder,
}

impl H264Decoder {
    /// A new decoder.
    pub fn new() -> Result<Self, CodecError> {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| CodecError::Start {
                codec: "H.264",
                part: "decoder",
                detail: e.to_string(),
            })?;
        Ok(Self { decoder })
    }

    /// Decodes one access unit; `Ok(None)` when it produced no picture yet.
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<I420Frame>, CodecError> {
        use openh264::formats::YUVSource;
        match self.decoder.decode(access_unit) {
            Ok(Some(yuv)) => {
                let f = I420Frame::from_planes(
                    yuv.dimensions(),
                    (yuv.y(), yuv.u(), yuv.v()),
                    yuv.strides(),
                );
                Ok(Some(f))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(CodecError::Decode {
                codec: "H.264",
                detail: e.to_string(),
            }),
        }
    }
}

/// Whether an RTP payload (RFC 6184) begins with a sequence parameter set or an access unit
/// delimiter, alone or first in a STAP-A: the start of an access unit.
pub fn payload_starts_access_unit(payload: &[u8]) -> bool {
    const NAL_AUD: u8 = 9;
    const STAP_A: u8 = 24;
    let first_nal = match payload.first().map(|b| b & 0x1f) {
        // STAP-A: one header byte, then each unit's 16-bit size and the unit.
        Some(STAP_A) => payload.get(3).map(|b| b & 0x1f),
        other => other,
    };
    matches!(first_nal, Some(NAL_SPS | NAL_AUD))
}

/// Whether an Annex B access unit holds an IDR slice.
pub fn is_keyframe(access_unit: &[u8]) -> bool {
    nal_units(access_unit).any(|n| n.first().is_some_and(|b| b & 0x1f == NAL_IDR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testsrc::{Stamp, TestPattern, read_stamp};

    #[test]
    fn encode_decode_keeps_the_stamp_and_idr_has_parameter_sets() {
        let (w, h) = (320, 240);
        let mut enc = H264Encoder::new((w, h), Content::Motion, 30.0, 500_000, 60).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let p = TestPattern::new(w, h);
        let mut f = I420Frame::black(w, h);
        for n in 0..10u32 {
            let s = Stamp {
                sender_id: 7,
                counter: n,
                sent_ms: 1000 + u64::from(n),
            };
            p.render(s, &mut f);
            let e = enc.encode(&f, n == 5).unwrap();
            if n == 0 || n == 5 {
                assert!(e.keyframe, "frame {n} should be an IDR");
                let kinds: Vec<u8> = nal_units(&e.data).map(|n| n[0] & 0x1f).collect();
                assert_eq!(&kinds[..2], &[NAL_SPS, NAL_PPS], "{kinds:?}");
            }
            let out = dec.decode(&e.data).unwrap().expect("a picture per frame");
            assert_eq!((out.width, out.height), (w, h));
            assert_eq!(read_stamp(&out), Some(s));
        }
    }

    #[test]
    fn nal_splitting() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
        ];
        let nals: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
    }
}
