//! The synthetic camera: a moving picture that carries a stamp (sender id, frame counter, send
//! time) in large blocks of its pixels, so the receiver can read it back after lossy coding.
//!
//! A stamp is only taken when a 16-bit sync word and a CRC-32 over it all agree: a frame that
//! is not ours reads as a stamp by chance once in 2^48 frames. (An 8-bit CRC alone let 8 of 294
//! frames of another stack's test picture pass, with absurd latencies.) The receiver adds a
//! plausibility test on the time.

use super::frame::I420Frame;

/// What each test-source frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Identifies the sending roompeer (`--id`).
    pub sender_id: u16,
    /// Frame number, from 0.
    pub counter: u32,
    /// Send time, milliseconds since the Unix epoch (48 bits kept).
    pub sent_ms: u64,
}

/// Bits: 16 sync, 16 sender id, 32 counter, 48 time, 32 CRC.
const BITS: usize = 144;
/// Stamp blocks per row; 4 rows of 36 blocks hold the 144 bits.
const COLUMNS: usize = 36;
/// Opens every stamp.
const SYNC: [u8; 2] = [0xB5, 0x3C];
/// Bytes of a stamp.
const BYTES: usize = BITS / 8;
const ROWS: usize = BITS / COLUMNS;
const DARK: u8 = 32;
const LIGHT: u8 = 224;

/// Side of one stamp block in pixels for a frame width: as large as fits, even.
fn block_size(width: usize) -> usize {
    ((width / COLUMNS) & !1).max(2)
}

impl Stamp {
    fn to_bits(self) -> [bool; BITS] {
        let mut bytes = Vec::with_capacity(BYTES);
        bytes.extend_from_slice(&SYNC);
        bytes.extend_from_slice(&self.sender_id.to_be_bytes());
        bytes.extend_from_slice(&self.counter.to_be_bytes());
        bytes.extend_from_slice(&(self.sent_ms & 0xFFFF_FFFF_FFFF).to_be_bytes()[2..]);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        let mut bits = [false; BITS];
        for (i, bit) in bits.iter_mut().enumerate() {
            *bit = bytes[i / 8] & (0x80 >> (i % 8)) != 0;
        }
        bits
    }

    fn from_bits(bits: &[bool; BITS]) -> Option<Stamp> {
        let mut bytes = [0u8; BYTES];
        for (i, &bit) in bits.iter().enumerate() {
            if bit {
                bytes[i / 8] |= 0x80 >> (i % 8);
            }
        }
        let (body, crc) = bytes.split_at(BYTES - 4);
        if body[..2] != SYNC || crc32fast::hash(body).to_be_bytes() != crc {
            return None;
        }
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&body[8..14]);
        Some(Stamp {
            sender_id: u16::from_be_bytes([body[2], body[3]]),
            counter: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
            sent_ms: u64::from_be_bytes(ms),
        })
    }
}

/// Renders test-source frames.
#[derive(Debug, Clone)]
pub struct TestPattern {
    width: usize,
    height: usize,
    /// The luma gradient's values from any start, so a row is one copy: `ramp[i]` is
    /// `i % 200 + 28` (a per-pixel modulo cost 0.4 ms a 640x480 frame).
    ramp: Vec<u8>,
}

impl TestPattern {
    /// A pattern for frames of this size (even dimensions; from 72x8 up it carries the stamp).
    pub fn new(width: usize, height: usize) -> Self {
        let ramp = (0..width + 200).map(|i| (i % 200) as u8 + 28).collect();
        Self {
            width,
            height,
            ramp,
        }
    }

    /// Draws frame `stamp.counter`: a moving colour gradient with a sweeping bar, and the stamp
    /// in the top rows.
    pub fn render(&self, stamp: Stamp, frame: &mut I420Frame) {
        let (w, h) = (self.width, self.height);
        if frame.width != w || frame.height != h {
            *frame = I420Frame::black(w, h);
        }
        let t = stamp.counter as usize;
        let b = block_size(w);
        let band = b * ROWS;
        let bar = (t * 4) % w;
        // Luma: the gradient shifted by row and time, and the bar (within 7 px of `bar`).
        let bar_span = bar.saturating_sub(7)..(bar + 8).min(w);
        for row in band.min(h)..h {
            let line = &mut frame.y[row * w..(row + 1) * w];
            let start = (row + t * 2) % 200;
            line.copy_from_slice(&self.ramp[start..start + w]);
            line[bar_span.clone()].fill(235);
        }
        // Chroma: U varies along a row only, V down the rows only; grey beside the stamp band.
        let (cw, ch) = (w / 2, h / 2);
        let u_row: Vec<u8> = (0..cw).map(|x| ((x + t) % 256) as u8).collect();
        for row in 0..ch {
            let (u, v) = (
                &mut frame.u[row * cw..(row + 1) * cw],
                &mut frame.v[row * cw..(row + 1) * cw],
            );
            if row * 2 < band {
                u.fill(128);
                v.fill(128);
            } else {
                u.copy_from_slice(&u_row);
                v.fill(((row + t / 2) % 256) as u8);
            }
        }
        if b * COLUMNS > w || band > h {
            // Too small a picture for the stamp's blocks: no stamp.
            return;
        }
        let bits = stamp.to_bits();
        for (i, &bit) in bits.iter().enumerate() {
            let (bx, by) = ((i % COLUMNS) * b, (i / COLUMNS) * b);
            let value = if bit { LIGHT } else { DARK };
            for row in by..by + b {
                frame.y[row * w + bx..row * w + bx + b].fill(value);
            }
        }
        // Right of the stamp blocks, the band stays mid-grey.
        for row in 0..band.min(h) {
            frame.y[row * w + COLUMNS * b..(row + 1) * w].fill(128);
        }
    }
}

/// Reads the stamp from a decoded frame's luma, sampling the centre of each block.
pub fn read_stamp(frame: &I420Frame) -> Option<Stamp> {
    let (w, h) = (frame.width, frame.height);
    let b = block_size(w);
    if b * COLUMNS > w || b * ROWS > h {
        return None;
    }
    let mut bits = [false; BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        let (bx, by) = ((i % COLUMNS) * b, (i / COLUMNS) * b);
        // Average the inner half of the block: edges blur under compression.
        let (lo, hi) = (b / 4, b - b / 4);
        let mut sum = 0u32;
        let mut n = 0u32;
        for row in by + lo..by + hi.max(lo + 1) {
            for x in bx + lo..bx + hi.max(lo + 1) {
                sum += u32::from(frame.y[row * w + x]);
                n += 1;
            }
        }
        *bit = sum / n.max(1) > (u32::from(DARK) + u32::from(LIGHT)) / 2;
    }
    Stamp::from_bits(&bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_is_the_moving_gradient_and_bar_pixel_for_pixel() {
        for (w, h, t) in [
            (640, 480, 0u32),
            (320, 240, 77),
            (1280, 720, 1001),
            (160, 120, 3),
        ] {
            let mut f = I420Frame::black(w, h);
            let stamp = Stamp {
                sender_id: 9,
                counter: t,
                sent_ms: 0,
            };
            TestPattern::new(w, h).render(stamp, &mut f);
            let (t, band) = (t as usize, block_size(w) * ROWS);
            let bar = (t * 4) % w;
            for row in band..h {
                for x in 0..w {
                    let base = ((x + row + t * 2) % 200) as u8 + 28;
                    let want = if x.abs_diff(bar) < 8 { 235 } else { base };
                    assert_eq!(f.y[row * w + x], want, "luma at {x},{row} of {w}x{h}");
                }
            }
            for row in band / 2..h / 2 {
                for x in 0..w / 2 {
                    assert_eq!(f.u[row * w / 2 + x], ((x + t) % 256) as u8);
                    assert_eq!(f.v[row * w / 2 + x], ((row + t / 2) % 256) as u8);
                }
            }
        }
    }

    #[test]
    fn stamps_survive_a_round_trip_through_pixels() {
        for (w, h) in [(640, 480), (320, 240), (1280, 720), (160, 120)] {
            let p = TestPattern::new(w, h);
            let mut f = I420Frame::black(w, h);
            let s = Stamp {
                sender_id: 4242,
                counter: 123_456,
                sent_ms: 1_790_000_000_123,
            };
            p.render(s, &mut f);
            assert_eq!(read_stamp(&f), Some(s), "{w}x{h}");
        }
    }

    #[test]
    fn a_damaged_stamp_is_refused() {
        let p = TestPattern::new(640, 480);
        let mut f = I420Frame::black(640, 480);
        p.render(
            Stamp {
                sender_id: 1,
                counter: 2,
                sent_ms: 3,
            },
            &mut f,
        );
        // Flip one block.
        let b = block_size(640);
        for row in 0..b {
            for x in b * 3..b * 4 {
                f.y[row * 640 + x] = 255 - f.y[row * 640 + x];
            }
        }
        assert_eq!(read_stamp(&f), None);
        assert_eq!(read_stamp(&I420Frame::black(640, 480)), None);
    }

    #[test]
    fn a_picture_too_small_for_the_stamp_has_none() {
        let mut f = I420Frame::black(64, 48);
        let s = Stamp {
            sender_id: 1,
            counter: 2,
            sent_ms: 3,
        };
        TestPattern::new(64, 48).render(s, &mut f);
        assert_eq!(read_stamp(&f), None);
    }

    /// 10,000 frames that are not ours (noise, gradients, random blocks where the stamp would
    /// be, the moving boxes of a browser's fake camera): not one reads as a stamp.
    #[test]
    fn foreign_pictures_never_pass_for_stamps() {
        let (w, h) = (160, 120);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let b = block_size(w);
        let mut false_stamps = 0;
        for i in 0..10_000u64 {
            let mut f = I420Frame::black(w, h);
            match i % 4 {
                0 => f.y.iter_mut().for_each(|p| *p = next() as u8),
                1 => {
                    let (dx, dy) = (next() % 7, next() % 5);
                    for (n, p) in f.y.iter_mut().enumerate() {
                        let (x, y) = ((n % w) as u64, (n / w) as u64);
                        *p = ((x * dx + y * dy + i) % 256) as u8;
                    }
                }
                2 => {
                    // Blocks of exactly the stamp's size and levels, at random.
                    for block in 0..BITS {
                        let v = if next() & 1 == 1 { LIGHT } else { DARK };
                        let (bx, by) = ((block % COLUMNS) * b, (block / COLUMNS) * b);
                        for row in by..by + b {
                            f.y[row * w + bx..row * w + bx + b].fill(v);
                        }
                    }
                }
                _ => {
                    // A fake camera: a flat background and a few moving boxes.
                    f.y.fill(96);
                    for k in 0..4 {
                        let (bx, by) = (
                            (i * (k + 3)) as usize % (w - 20),
                            (i * (k + 1)) as usize % (h - 20),
                        );
                        for row in by..by + 20 {
                            f.y[row * w + bx..row * w + bx + 20].fill(200 - 30 * k as u8);
                        }
                    }
                }
            }
            false_stamps += usize::from(read_stamp(&f).is_some());
        }
        assert_eq!(false_stamps, 0);
    }
}
