//! VP8 with libvpx: a real-time encoder and a decoder, behind a small safe interface.
//!
//! The raw bindings come from env-libvpx-sys (ready-made for Debian 12's libvpx 1.12); the
//! unsafe code is confined to this file, and every libvpx object is owned by exactly one value.

use super::frame::I420Frame;
use super::video::{Content, DETAIL_MAX_QP};
use crate::media::CodecError;
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use vpx_sys as vpx;

fn check(err: vpx::vpx_codec_err_t, step: &'static str) -> Result<(), CodecError> {
    if err == vpx::vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(CodecError::Libvpx {
            step,
            status: format!("{err:?}"),
        })
    }
}

/// An encoded VP8 frame.
#[derive(Debug, Clone)]
pub struct Vp8Frame {
    /// The frame's bytes (one VP8 frame, ready for the RTP payloader).
    pub data: Vec<u8>,
    /// Whether it is a keyframe.
    pub keyframe: bool,
}

/// A real-time VP8 encoder (CBR, no lag, error resilient, keyframe at least every `kf_max`).
pub struct Vp8Encoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    /// The configuration the encoder runs with (changed for a new bit rate).
    cfg: Box<vpx::vpx_codec_enc_cfg_t>,
    width: usize,
    height: usize,
    pts: i64,
}

/// libvpx's VP8 speed, as libwebrtc sets it on x86: negative, so it is fixed. A positive value
/// (8 before) lets libvpx pick the speed itself so that encoding fills (16 - value)/16 of the
/// frame interval: in a call it slowed down until it spent 17 ms on each 640x480 frame, 3.6
/// CPU-s in a 20 s call plus 3.3 s in its worker thread, against 2 ms at this speed.
const SPEED: c_int = -6;

/// Encoder threads for a frame size, as libwebrtc picks them: more threads only for large
/// frames on machines with cores to spare, since libvpx's VP8 threads wait for each other by
/// spinning, which burns a shared core instead of encoding faster.
fn encoder_threads(width: usize, height: usize, cores: usize) -> u32 {
    let pixels = width * height;
    if pixels >= 1920 * 1080 && cores > 8 {
        8
    } else if pixels >= 1280 * 960 && cores > 6 {
        3
    } else if pixels >= 640 * 480 && cores > 3 {
        2
    } else {
        1
    }
}

fn cpu_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

// SAFETY: the codec context is used from one thread at a time (`&mut self`), and libvpx keeps no
// thread-local state for it.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    /// An encoder for `width`x`height` at `fps`, aiming at `bitrate_bps`.
    pub fn new(
        (width, height): (usize, usize),
        content: Content,
        fps: u32,
        bitrate_bps: u32,
        kf_max: u32,
    ) -> Result<Self, CodecError> {
        // SAFETY: the config is filled in by libvpx before it is read; the context is boxed so
        // its address stays fixed for libvpx, and it is destroyed once, in Drop.
        unsafe {
            let iface = vpx::vpx_codec_vp8_cx();
            let mut cfg = MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::zeroed().assume_init();
            check(
                vpx::vpx_codec_enc_config_default(iface, &mut cfg, 0),
                "configuration",
            )?;
            cfg.g_w = width as u32;
            cfg.g_h = height as u32;
            cfg.g_timebase.num = 1;
            cfg.g_timebase.den = fps.max(1) as c_int;
            cfg.rc_target_bitrate = (bitrate_bps / 1000).max(50);
            cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
            cfg.g_lag_in_frames = 0;
            cfg.g_error_resilient = 1;
            cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
            cfg.kf_max_dist = kf_max;
            cfg.g_threads = encoder_threads(width, height, cpu_cores());
            if content == Content::Detail {
                cfg.rc_max_quantizer = u32::from(DETAIL_MAX_QP) * 63 / 51;
            }
            let mut ctx = Box::new(MaybeUninit::<vpx::vpx_codec_ctx_t>::zeroed().assume_init());
            check(
                vpx::vpx_codec_enc_init_ver(
                    &mut *ctx,
                    iface,
                    &cfg,
                    0,
                    vpx::VPX_ENCODER_ABI_VERSION as c_int,
                ),
                "encoder start",
            )?;
            let mut encoder = Self {
                ctx,
                cfg: Box::new(cfg),
                width,
                height,
                pts: 0,
            };
            let speed = vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int;
            check(
                vpx::vpx_codec_control_(&mut *encoder.ctx, speed, SPEED),
                "speed setting",
            )?;
            let static_threshold = vpx::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD as c_int;
            check(
                vpx::vpx_codec_control_(&mut *encoder.ctx, static_threshold, 1 as c_int),
                "static threshold",
            )?;
            if content == Content::Detail {
                let screen = vpx::vp8e_enc_control_id::VP8E_SET_SCREEN_CONTENT_MODE as c_int;
                check(
                    vpx::vpx_codec_control_(&mut *encoder.ctx, screen, 1 as c_int),
                    "screen content mode",
                )?;
            }
            Ok(encoder)
        }
    }

    /// Aims at a new bit rate from the next frame on (congestion control).
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), CodecError> {
        self.cfg.rc_target_bitrate = (bitrate_bps / 1000).max(50);
        // SAFETY: the context was initialised in `new` and the configuration is a valid one
        // libvpx filled in, with only the target changed.
        unsafe {
            check(
                vpx::vpx_codec_enc_config_set(&mut *self.ctx, &*self.cfg),
                "bit rate change",
            )
        }
    }

    /// Encodes one frame; `keyframe` forces a keyframe (after PLI/FIR). The result is empty
    /// when the rate control dropped the frame.
    pub fn encode(&mut self, frame: &I420Frame, keyframe: bool) -> Result<Vp8Frame, CodecError> {
        if frame.width != self.width || frame.height != self.height {
            return Err(CodecError::FrameSize {
                codec: "VP8",
                expected: format!("{}x{}", self.width, self.height),
                got: format!("{}x{}", frame.width, frame.height),
            });
        }
        let flags = if keyframe {
            vpx::VPX_EFLAG_FORCE_KF as i64
        } else {
            0
        };
        let mut out = Vp8Frame {
            data: Vec::new(),
            keyframe: false,
        };
        // SAFETY: the image points at the frame's three planes (libvpx only reads them), which
        // outlive the encode call; packets returned by get_cx_data are valid until the next
        // encode call and are copied out before it.
        unsafe {
            let mut img = MaybeUninit::<vpx::vpx_image_t>::zeroed().assume_init();
            let wrapped = vpx::vpx_img_wrap(
                &mut img,
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                self.width as u32,
                self.height as u32,
                1,
                frame.y.as_ptr().cast_mut(),
            );
            // The planes as they are, not packed into one buffer (a copy of each frame).
            img.planes[1] = frame.u.as_ptr().cast_mut();
            img.planes[2] = frame.v.as_ptr().cast_mut();
            img.stride[0] = self.width as c_int;
            img.stride[1] = (self.width / 2) as c_int;
            img.stride[2] = (self.width / 2) as c_int;
            if wrapped.is_null() {
                return Err(CodecError::Libvpx {
                    step: "image wrapping",
                    status: "no image".into(),
                });
            }
            check(
                vpx::vpx_codec_encode(
                    &mut *self.ctx,
                    &img,
                    self.pts,
                    1,
                    flags,
                    vpx::VPX_DL_REALTIME as _,
                ),
                "encoding",
            )?;
            self.pts += 1;
            let mut iter: vpx::vpx_codec_iter_t = std::ptr::null();
            loop {
                let pkt = vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter);
                if pkt.is_null() {
                    break;
                }
                if (*pkt).kind == vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    let f = (*pkt).data.frame;
                    out.data.extend_from_slice(std::slice::from_raw_parts(
                        f.buf as *const u8,
                        f.sz as usize,
                    ));
                    out.keyframe |= f.flags & vpx::VPX_FRAME_IS_KEY != 0;
                }
            }
        }
        Ok(out)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed only here.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A VP8 decoder.
pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
}

// SAFETY: as for the encoder.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    /// A new decoder.
    pub fn new() -> Result<Self, CodecError> {
        // SAFETY: a zeroed context initialised by libvpx, boxed, destroyed once in Drop.
        unsafe {
            let mut ctx = Box::new(MaybeUninit::<vpx::vpx_codec_ctx_t>::zeroed().assume_init());
            check(
                vpx::vpx_codec_dec_init_ver(
                    &mut *ctx,
                    vpx::vpx_codec_vp8_dx(),
                    std::ptr::null(),
                    0,
                    vpx::VPX_DECODER_ABI_VERSION as c_int,
                ),
                "decoder start",
            )?;
            Ok(Self { ctx })
        }
    }

    /// Decodes one frame; `Ok(None)` when it produced no picture.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, CodecError> {
        let len = u32::try_from(data.len()).map_err(|_| CodecError::Decode {
            codec: "VP8",
            detail: format!("a frame of {} bytes is too large", data.len()),
        })?;
        // SAFETY: libvpx reads `len` bytes of `data`; the returned image stays valid until the
        // next decode call and is copied out before this function returns.
        unsafe {
            check(
                vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, std::ptr::null_mut(), 0),
                "decoding",
            )?;
            let mut iter: vpx::vpx_codec_iter_t = std::ptr::null();
            let img = vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter);
            if img.is_null() {
                return Ok(None);
            }
            let img = &*img;
            if img.fmt != vpx::vpx_img_fmt::VPX_IMG_FMT_I420 {
                return Err(CodecError::Decode {
                    codec: "VP8",
                    detail: format!("the decoder produced {:?}, not I420", img.fmt),
                });
            }
            let (w, h) = (img.d_w as usize, img.d_h as usize);
            let ch = h.div_ceil(2);
            let plane = |i: usize, rows: usize| {
                let stride = img.stride[i] as usize;
                std::slice::from_raw_parts(img.planes[i], stride * rows)
            };
            let frame = I420Frame::from_planes(
                (w & !1, h & !1),
                (plane(0, h), plane(1, ch), plane(2, ch)),
                (
                    img.stride[0] as usize,
                    img.stride[1] as usize,
                    img.stride[2] as usize,
                ),
            );
            Ok(Some(frame))
        }
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed only here.
        unsafe {
            vpx::vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::testsrc::{Stamp, TestPattern, read_stamp};

    #[test]
    fn more_encoder_threads_only_for_large_frames_on_many_cores() {
        assert_eq!(encoder_threads(640, 480, 2), 1);
        assert_eq!(encoder_threads(640, 480, 4), 2);
        assert_eq!(encoder_threads(1280, 720, 8), 2);
        assert_eq!(encoder_threads(1920, 1080, 8), 3);
        assert_eq!(encoder_threads(1920, 1080, 16), 8);
        assert_eq!(encoder_threads(320, 240, 16), 1);
    }

    #[test]
    fn encode_decode_keeps_the_stamp_and_keyframes_come_on_request() {
        let (w, h) = (320, 240);
        let mut enc = Vp8Encoder::new((w, h), Content::Motion, 30, 600_000, 60).unwrap();
        let mut dec = Vp8Decoder::new().unwrap();
        let p = TestPattern::new(w, h);
        let mut f = I420Frame::black(w, h);
        let mut decoded = 0;
        for n in 0..30u32 {
            let s = Stamp {
                sender_id: 9,
                counter: n,
                sent_ms: 5000 + u64::from(n),
            };
            p.render(s, &mut f);
            let e = enc.encode(&f, n == 10).unwrap();
            if n == 0 || n == 10 {
                assert!(e.keyframe, "frame {n} should be a keyframe");
            }
            if e.data.is_empty() {
                continue;
            }
            let out = dec.decode(&e.data).unwrap().expect("a picture per frame");
            assert_eq!((out.width, out.height), (w, h));
            assert_eq!(read_stamp(&out), Some(s));
            decoded += 1;
        }
        assert!(decoded >= 25, "{decoded}");
        // Garbage from the network is an error, never a crash.
        assert!(
            Vp8Decoder::new()
                .unwrap()
                .decode(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0, 0])
                .is_err()
        );
        assert!(
            enc.encode(&I420Frame::black(160, 120), false).is_err(),
            "size is checked"
        );
    }
}
