//! Video codecs as one choice: H.264 (openh264) or VP8 (libvpx), the encoder and decoder for
//! whichever was negotiated, and RTP frame reassembly with loss handling for both.

use super::frame::I420Frame;
use super::h264::{self, EncodedFrame, H264Decoder, H264Encoder};
use super::vp8::{Vp8Decoder, Vp8Encoder};
use crate::media::CodecError;
use bytes::Bytes;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;

/// A video codec roompeer can send and receive.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 constrained baseline, packetization-mode 1.
    H264,
    /// VP8.
    Vp8,
}

impl VideoCodec {
    /// In the order roompeer offers them.
    pub const ALL: [VideoCodec; 2] = [VideoCodec::H264, VideoCodec::Vp8];

    /// The codec of an RTP mime type such as `video/VP8`.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let name = mime.rsplit('/').next().unwrap_or(mime);
        if name.eq_ignore_ascii_case("h264") {
            Some(Self::H264)
        } else if name.eq_ignore_ascii_case("vp8") {
            Some(Self::Vp8)
        } else {
            None
        }
    }

    /// The name as SDP writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::H264 => "H264",
            Self::Vp8 => "VP8",
        }
    }

    fn depacketizer(self) -> Box<dyn Depacketizer + Send> {
        match self {
            Self::H264 => Box::<H264Packet>::default(),
            Self::Vp8 => Box::<Vp8Packet>::default(),
        }
    }

    /// Whether an RTP payload surely begins a frame: a VP8 frame's first partition (RFC 7741
    /// 4.2: S set, partition 0), an H.264 access unit's parameter sets or delimiter (what
    /// libwebrtc and roompeer put before a keyframe's slices). A slice's start is not enough: the
    /// parameter sets before it may still be on the way, and a keyframe without them cannot be
    /// decoded.
    pub fn starts_frame(self, payload: &[u8]) -> bool {
        match self {
            Self::H264 => h264::payload_starts_access_unit(payload),
            Self::Vp8 => payload
                .first()
                .is_some_and(|b| b & 0x10 != 0 && b & 0x0f == 0),
        }
    }

    /// Whether a reassembled frame can be decoded on its own.
    pub fn is_keyframe(self, frame: &[u8]) -> bool {
        match self {
            Self::H264 => h264::is_keyframe(frame),
            // RFC 6386 9.1: the frame tag's lowest bit is 0 on a key frame.
            Self::Vp8 => frame.first().is_some_and(|b| b & 1 == 0),
        }
    }
}

impl std::fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a picture shows, as a track's content hint says it: the encoder keeps motion smooth
/// for a camera, and detail sharp for a screen (text must stay readable; frames may drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A camera or the test picture.
    Motion,
    /// A screen or a window.
    Detail,
}

/// The highest quantizer a screen is encoded with (of 51 in H.264, scaled to VP8's 63): rate
/// control then skips frames rather than blur text.
pub const DETAIL_MAX_QP: u8 = 38;

/// An encoder for the negotiated codec.
pub enum VideoEncoder {
    /// openh264 (boxed: its state is large, and the encoder lives on its own thread anyway).
    H264(Box<H264Encoder>),
    /// libvpx.
    Vp8(Vp8Encoder),
}

impl VideoEncoder {
    /// A real-time encoder for `width`x`height` `content` at `fps`, with a keyframe at least
    /// every `keyframe_interval` frames.
    pub fn new(
        codec: VideoCodec,
        (width, height): (usize, usize),
        content: Content,
        fps: u32,
        bitrate_bps: u32,
        keyframe_interval: u32,
    ) -> Result<Self, CodecError> {
        Ok(match codec {
            VideoCodec::H264 => Self::H264(Box::new(H264Encoder::new(
                (width, height),
                content,
                fps as f32,
                bitrate_bps,
                keyframe_interval,
            )?)),
            VideoCodec::Vp8 => Self::Vp8(Vp8Encoder::new(
                (width, height),
                content,
                fps,
                bitrate_bps,
                keyframe_interval,
            )?),
        })
    }

    /// Aims at a new bit rate from the next frame on.
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), CodecError> {
        match self {
            Self::H264(e) => e.set_bitrate(bitrate_bps),
            Self::Vp8(e) => e.set_bitrate(bitrate_bps),
        }
    }

    /// Encodes one frame (a keyframe if asked); empty when rate control dropped it.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        keyframe: bool,
    ) -> Result<EncodedFrame, CodecError> {
        match self {
            Self::H264(e) => e.encode(frame, keyframe),
            Self::Vp8(e) => e.encode(frame, keyframe).map(|f| EncodedFrame {
                data: f.data,
                keyframe: f.keyframe,
            }),
        }
    }
}

/// A decoder for the negotiated codec.
pub enum VideoDecoder {
    /// openh264.
    H264(H264Decoder),
    /// libvpx.
    Vp8(Vp8Decoder),
}

impl VideoDecoder {
    /// A decoder for `codec`.
    pub fn new(codec: VideoCodec) -> Result<Self, CodecError> {
        Ok(match codec {
            VideoCodec::H264 => Self::H264(H264Decoder::new()?),
            VideoCodec::Vp8 => Self::Vp8(Vp8Decoder::new()?),
        })
    }

    /// Decodes one frame; `Ok(None)` when it produced no picture yet.
    pub fn decode(&mut self, frame: &[u8]) -> Result<Option<I420Frame>, CodecError> {
        match self {
            Self::H264(d) => d.decode(frame),
            Self::Vp8(d) => d.decode(frame),
        }
    }
}

/// What the assembler made of one RTP packet.
#[derive(Debug, PartialEq)]
pub enum Assembled {
    /// Nothing complete yet.
    Pending,
    /// A whole frame, ready for the decoder.
    Frame(Vec<u8>),
    /// Packets were lost: frames are skipped until the next keyframe, which should be requested.
    NeedKeyframe,
}

/// Reassembles frames from RTP packets (H.264: RFC 6184 single NAL, STAP-A, FU-A; VP8: RFC
/// 7741), and drops what cannot be decoded after a loss until a keyframe arrives: a decoder
/// fed a frame that refers to a lost one shows garbage or fails.
pub struct FrameAssembler {
    codec: VideoCodec,
    depacketizer: Box<dyn Depacketizer + Send>,
    buffer: Vec<u8>,
    timestamp: Option<u32>,
    last_seq: Option<u16>,
    /// A packet of the current frame was lost.
    broken: bool,
    /// Waiting for a keyframe after a loss (or at the start).
    need_keyframe: bool,
    /// A keyframe request has been made for the current gap.
    requested: bool,
}

impl FrameAssembler {
    /// A new assembler for `codec`, waiting for the first keyframe.
    pub fn new(codec: VideoCodec) -> Self {
        Self {
            codec,
            depacketizer: codec.depacketizer(),
            buffer: Vec::new(),
            timestamp: None,
            last_seq: None,
            broken: false,
            need_keyframe: true,
            requested: false,
        }
    }

    /// Feeds one RTP packet.
    pub fn push(&mut self, seq: u16, timestamp: u32, marker: bool, payload: &Bytes) -> Assembled {
        let mut lost = false;
        if let Some(last) = self.last_seq {
            let step = seq.wrapping_sub(last);
            if step == 0 || step > 0x8000 {
                return Assembled::Pending; // duplicate or late
            }
            lost = step != 1;
        }
        self.last_seq = Some(seq);
        if self.timestamp != Some(timestamp) {
            // A new frame began (whatever was buffered without its marker is dropped). It is
            // whole only if nothing before it was lost and it starts at a partition's start:
            // the stream's very first packets may have been lost with nothing to show a gap.
            self.buffer.clear();
            self.depacketizer = self.codec.depacketizer();
            self.broken = lost || !self.depacketizer.is_partition_head(payload);
            self.timestamp = Some(timestamp);
        } else if lost {
            self.broken = true;
        }
        match self.depacketizer.depacketize(payload) {
            Ok(data) => self.buffer.extend_from_slice(&data),
            Err(_) => self.broken = true,
        }
        if !marker {
            return Assembled::Pending;
        }
        let frame = std::mem::take(&mut self.buffer);
        self.timestamp = None;
        let broken = std::mem::replace(&mut self.broken, false);
        if broken || frame.is_empty() {
            self.need_keyframe = true;
        } else if self.need_keyframe && self.codec.is_keyframe(&frame) {
            self.need_keyframe = false;
            self.requested = false;
        }
        if self.need_keyframe {
            if self.requested {
                return Assembled::Pending;
            }
            self.requested = true;
            return Assembled::NeedKeyframe;
        }
        Assembled::Frame(frame)
    }

    /// Whether `payload` surely begins a frame (see [`VideoCodec::starts_frame`]).
    pub fn starts_frame(&self, payload: &[u8]) -> bool {
        self.codec.starts_frame(payload)
    }

    /// Allows a new keyframe request for the same gap (e.g. the first one went unanswered).
    pub fn rerequest(&mut self) {
        self.requested = false;
    }

    /// The decoder could not use what it was given: drop frames until a keyframe comes, and
    /// ask for one.
    pub fn decoder_failed(&mut self) {
        if !self.need_keyframe {
            self.need_keyframe = true;
            self.requested = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testsrc::{Stamp, TestPattern, read_stamp};
    use rtc::rtp::packetizer::Payloader;

    #[test]
    fn h264_assembler_waits_for_a_keyframe_after_loss() {
        let idr = Bytes::from_static(&[0x65, 0x88, 0x84]);
        let p = Bytes::from_static(&[0x41, 0x9a, 0x02]);
        let mut a = FrameAssembler::new(VideoCodec::H264);
        // A P frame first: a keyframe is needed.
        assert_eq!(a.push(1, 100, true, &p), Assembled::NeedKeyframe);
        assert_eq!(
            a.push(2, 200, true, &p),
            Assembled::Pending,
            "asked once per gap"
        );
        assert!(matches!(a.push(3, 300, true, &idr), Assembled::Frame(_)));
        assert!(matches!(a.push(4, 400, true, &p), Assembled::Frame(_)));
        // Loss: seq 5 missing.
        assert_eq!(a.push(6, 500, true, &p), Assembled::NeedKeyframe);
        assert_eq!(a.push(6, 500, true, &p), Assembled::Pending, "duplicate");
        assert!(matches!(a.push(7, 600, true, &idr), Assembled::Frame(_)));
        // A frame whose start was lost (the middle of a fragmented NAL unit) is not passed on.
        let mut a = FrameAssembler::new(VideoCodec::H264);
        let fu_middle = Bytes::from_static(&[0x7c, 0x05, 0xaa]);
        assert_eq!(a.push(1, 100, true, &fu_middle), Assembled::NeedKeyframe);
        assert!(matches!(a.push(2, 200, true, &idr), Assembled::Frame(_)));
        // After a decoder failure, frames wait for a keyframe again.
        a.decoder_failed();
        assert_eq!(a.push(3, 300, true, &p), Assembled::NeedKeyframe);
        assert!(matches!(a.push(4, 400, true, &idr), Assembled::Frame(_)));
        // Garbage never panics.
        assert_eq!(
            a.push(8, 700, true, &Bytes::from_static(&[0x1f])),
            Assembled::NeedKeyframe
        );
        let _ = a.push(9, 800, true, &Bytes::from_static(&[0x7c]));
        let _ = a.push(10, 900, true, &Bytes::from_static(&[0x78, 0x00, 0x05]));
    }

    #[test]
    fn a_frame_s_first_payload_is_told_from_the_rest() {
        let h264 = |p: &[u8]| VideoCodec::H264.starts_frame(p);
        // STAP-A holding SPS then PPS; a lone SPS; an access unit delimiter.
        assert!(h264(&[
            0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce
        ]));
        assert!(h264(&[0x67, 0x42]));
        assert!(h264(&[0x09, 0xf0]));
        // An IDR's first fragment, a PPS, a P slice, padding: the frame may have begun before.
        assert!(!h264(&[0x7c, 0x85, 0x88]));
        assert!(!h264(&[0x68, 0xce]));
        assert!(!h264(&[0x41, 0x9a]));
        assert!(!h264(&[]));
        let vp8 = |p: &[u8]| VideoCodec::Vp8.starts_frame(p);
        assert!(vp8(&[0x10, 0x00]));
        assert!(vp8(&[0x90, 0x80, 0x01]), "with extensions");
        assert!(!vp8(&[0x00, 0x00]), "a continuation");
        assert!(!vp8(&[0x11, 0x00]), "partition 1");
        assert!(!vp8(&[]));
    }

    /// Encodes `n` stamped frames in `codec` and packetizes them as RTP payloads per frame.
    fn packetized(codec: VideoCodec, n: u32) -> Vec<(Vec<Bytes>, Stamp)> {
        let (w, h) = (320, 240);
        let mut enc = VideoEncoder::new(codec, (w, h), Content::Motion, 30, 400_000, 1000).unwrap();
        let pattern = TestPattern::new(w, h);
        let mut frame = I420Frame::black(w, h);
        let mut payloader: Box<dyn Payloader> = match codec {
            VideoCodec::H264 => Box::<rtc::rtp::codec::h264::H264Payloader>::default(),
            VideoCodec::Vp8 => Box::<rtc::rtp::codec::vp8::Vp8Payloader>::default(),
        };
        (0..n)
            .map(|counter| {
                let stamp = Stamp {
                    sender_id: 3,
                    counter,
                    sent_ms: 5,
                };
                pattern.render(stamp, &mut frame);
                let e = enc.encode(&frame, counter == 0).unwrap();
                // Small packets, so every frame spans several.
                let payloads = payloader.payload(300, &Bytes::from(e.data)).unwrap();
                (payloads, stamp)
            })
            .collect()
    }

    #[test]
    fn both_codecs_survive_packetizing_and_recover_from_loss_at_a_keyframe() {
        for codec in VideoCodec::ALL {
            let frames = packetized(codec, 6);
            let mut a = FrameAssembler::new(codec);
            let mut dec = VideoDecoder::new(codec).unwrap();
            let mut seq = 0u16;
            let mut decoded = Vec::new();
            for (i, (payloads, stamp)) in frames.iter().enumerate() {
                let last = payloads.len() - 1;
                for (k, p) in payloads.iter().enumerate() {
                    seq = seq.wrapping_add(1);
                    // Frame 2 loses its first packet (a small frame may have only one).
                    if i == 2 && k == 0 {
                        continue;
                    }
                    match a.push(seq, i as u32 * 3000, k == last, p) {
                        Assembled::Frame(f) => {
                            let pic = dec.decode(&f).unwrap().expect("a picture");
                            assert_eq!(read_stamp(&pic), Some(*stamp), "{codec}");
                            decoded.push(stamp.counter);
                        }
                        Assembled::NeedKeyframe => decoded.push(u32::MAX),
                        Assembled::Pending => {}
                    }
                }
            }
            // Frames 0 and 1 decode; the loss asks for a keyframe once; nothing after it is
            // passed to the decoder until one comes.
            assert_eq!(decoded, [0, 1, u32::MAX], "{codec}");
            assert!(codec.is_keyframe(&{
                let mut whole = FrameAssembler::new(codec);
                let mut out = Vec::new();
                for (k, p) in frames[0].0.iter().enumerate() {
                    if let Assembled::Frame(f) =
                        whole.push(k as u16, 0, k == frames[0].0.len() - 1, p)
                    {
                        out = f;
                    }
                }
                out
            }));
        }
    }

    #[test]
    fn codec_names() {
        assert_eq!(VideoCodec::from_mime("video/VP8"), Some(VideoCodec::Vp8));
        assert_eq!(VideoCodec::from_mime("video/h264"), Some(VideoCodec::H264));
        assert_eq!(VideoCodec::from_mime("video/AV1"), None);
        assert_eq!(VideoCodec::Vp8.to_string(), "VP8");
    }
}
