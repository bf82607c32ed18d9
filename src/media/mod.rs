//! Media: synthetic sources, codecs, processing and file sinks. Devices are in
//! [`crate::devices`]; the network is elsewhere.

pub mod controls;
pub mod frame;
pub mod h264;
pub mod opus_codec;
pub mod playout;
pub mod processing;
pub mod record;
pub mod resample;
pub mod testsrc;
pub mod tone;
pub mod video;
pub mod vp8;
