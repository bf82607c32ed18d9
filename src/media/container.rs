//! Received media written as it came, into a standard container: VP8 and Opus into WebM
//! (libwebm's muxer, through the `webm` crate), H.264 and Opus into MP4 (the pure-Rust `muxide`;
//! libwebm has no H.264). Nothing is decoded or encoded again.

use crate::media::h264::nal_units;
use crate::media::video::VideoCodec;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Why a recording could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// The file could not be created.
    #[error("cannot create {0}: {1}")]
    Create(PathBuf, std::io::Error),
    /// libwebm refused a step.
    #[error("the WebM muxer failed to {0}")]
    WebM(&'static str),
    /// muxide refused a sample or the file.
    #[error("the MP4 muxer failed: {0:?}")]
    Mp4(muxide::api::MuxerError),
}

/// The Opus stream's identification header (RFC 7845 §5.1), which both containers carry as the
/// codec's private data: version 1, 2 channels (what WebRTC's Opus signals), no pre-skip, 48 kHz.
fn opus_head() -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1);
    h.push(2);
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0);
    h
}

/// One call direction's audio and video in one file.
pub struct ContainerWriter {
    inner: Inner,
    path: PathBuf,
}

enum Inner {
    WebM {
        segment: webm::mux::Segment<BufWriter<File>>,
        video: webm::mux::VideoTrack,
        audio: webm::mux::AudioTrack,
    },
    Mp4(Box<muxide::api::Muxer<BufWriter<File>>>),
}

impl ContainerWriter {
    /// Creates `stem.webm` (VP8) or `stem.mp4` (H.264) for video of `width`x`height` and Opus.
    pub fn create(
        stem: &Path,
        codec: VideoCodec,
        width: u32,
        height: u32,
    ) -> Result<Self, ContainerError> {
        let path = stem.with_extension(Self::extension(codec));
        let file = File::create(&path).map_err(|e| ContainerError::Create(path.clone(), e))?;
        let out = BufWriter::new(file);
        let inner = match codec {
            VideoCodec::Vp8 => {
                use webm::mux::{AudioCodecId, SegmentBuilder, VideoCodecId, Writer};
                let step = |what| move |_| ContainerError::WebM(what);
                let builder = SegmentBuilder::new(Writer::new(out)).map_err(step("start"))?;
                let builder = builder
                    .set_writing_app("roompeer")
                    .map_err(step("name the app"))?;
                let (builder, video) = builder
                    .add_video_track(width, height, VideoCodecId::VP8, None)
                    .map_err(step("add the video track"))?;
                let (builder, audio) = builder
                    .add_audio_track(48_000, 2, AudioCodecId::Opus, None)
                    .map_err(step("add the audio track"))?;
                let builder = builder
                    .set_codec_private(audio, &opus_head())
                    .map_err(step("describe the audio"))?;
                Inner::WebM {
                    segment: builder.build(),
                    video,
                    audio,
                }
            }
            VideoCodec::H264 => {
                use muxide::api::{AudioCodec, MuxerBuilder, VideoCodec as Mp4Video};
                let muxer = MuxerBuilder::new(out)
                    .video(Mp4Video::H264, width, height, 30.0)
                    .audio(AudioCodec::Opus, 48_000, 2)
                    .build()
                    .map_err(ContainerError::Mp4)?;
                Inner::Mp4(Box::new(muxer))
            }
        };
        Ok(Self { inner, path })
    }

    /// The file's extension for a video codec.
    pub fn extension(codec: VideoCodec) -> &'static str {
        match codec {
            VideoCodec::Vp8 => "webm",
            VideoCodec::H264 => "mp4",
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A coded video frame presented at `secs` (strictly after the previous one).
    pub fn video(&mut self, secs: f64, data: &[u8], keyframe: bool) -> Result<(), ContainerError> {
        match &mut self.inner {
            Inner::WebM { segment, video, .. } => segment
                .add_frame(*video, data, nanos(secs), keyframe)
                .map_err(|_| ContainerError::WebM("add a video frame")),
            Inner::Mp4(m) => m
                .write_video(secs, data, keyframe)
                .map_err(ContainerError::Mp4),
        }
    }

    /// An Opus packet presented at `secs` (not before the first video frame).
    pub fn audio(&mut self, secs: f64, data: &[u8]) -> Result<(), ContainerError> {
        match &mut self.inner {
            Inner::WebM { segment, audio, .. } => segment
                .add_frame(*audio, data, nanos(secs), true)
                .map_err(|_| ContainerError::WebM("add an audio packet")),
            Inner::Mp4(m) => m.write_audio(secs, data).map_err(ContainerError::Mp4),
        }
    }

    /// Writes the index (cues, sample tables) and closes the file.
    pub fn finish(self) -> Result<(), ContainerError> {
        match self.inner {
            Inner::WebM { segment, .. } => segment
                .finalize(None)
                .map(|_| ())
                .map_err(|_| ContainerError::WebM("finish the file")),
            Inner::Mp4(m) => m.finish().map_err(ContainerError::Mp4),
        }
    }
}

fn nanos(secs: f64) -> u64 {
    (secs.max(0.0) * 1e9).round() as u64
}

/// Whether a coded frame can be decoded on its own (a player can start or seek there).
pub fn is_keyframe(codec: VideoCodec, data: &[u8]) -> bool {
    match codec {
        // The frame tag's first bit is 0 for a key frame (RFC 6386 §9.1).
        VideoCodec::Vp8 => data.first().is_some_and(|b| b & 1 == 0),
        VideoCodec::H264 => crate::media::h264::is_keyframe(data),
    }
}

/// Whether an H.264 access unit carries its parameter sets (SPS 7 and PPS 8).
pub fn has_parameter_sets(data: &[u8]) -> bool {
    let types: Vec<u8> = nal_units(data)
        .filter_map(|u| u.first().map(|b| b & 0x1f))
        .collect();
    types.contains(&7) && types.contains(&8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_and_parameter_sets_are_told_from_the_bitstream() {
        let idr = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9, 9,
        ];
        let p = [0, 0, 0, 1, 0x41, 7, 7];
        assert!(is_keyframe(VideoCodec::H264, &idr));
        assert!(has_parameter_sets(&idr));
        assert!(!is_keyframe(VideoCodec::H264, &p));
        assert!(!has_parameter_sets(&p));
        assert!(is_keyframe(VideoCodec::Vp8, &[0x50, 0x2a]));
        assert!(!is_keyframe(VideoCodec::Vp8, &[0x51, 0x2a]));
        assert!(!is_keyframe(VideoCodec::Vp8, &[]));
    }

    #[test]
    fn the_opus_head_is_19_bytes() {
        let h = opus_head();
        assert_eq!(h.len(), 19);
        assert_eq!(&h[..8], b"OpusHead");
        assert_eq!(h[9], 2);
    }
}
