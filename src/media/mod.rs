//! Media: synthetic sources, codecs and file sinks. Devices and the network are elsewhere.

pub mod frame;
pub mod h264;
pub mod opus_codec;
pub mod record;
pub mod testsrc;
pub mod tone;
pub mod video;
pub mod vp8;
