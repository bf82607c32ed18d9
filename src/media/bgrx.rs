//! Screen pictures (32-bit BGRX, as X11 hands them out) into I420: scaled to fit a size,
//! keeping the aspect ratio, by averaging the source pixels each output pixel covers (text
//! stays legible where nearest-neighbour would drop strokes).

use super::frame::I420Frame;

/// The largest size a screen is sent at.
pub const SCREEN_LIMIT: (usize, usize) = (1920, 1080);

/// `width`x`height` scaled down (never up) to fit `limit`, keeping the aspect ratio, with even
/// sides (I420 needs them) of at least 2.
pub fn fit_within((width, height): (usize, usize), limit: (usize, usize)) -> (usize, usize) {
    let (w, h) = (width.max(2) as f64, height.max(2) as f64);
    let scale = (limit.0 as f64 / w).min(limit.1 as f64 / h).min(1.0);
    let even = |v: f64| ((v.round() as usize) & !1).max(2);
    (even(w * scale), even(h * scale))
}

/// Converts BGRX rows of `stride` bytes into an I420 frame of `dst` (even sides), BT.601
/// limited range as WebRTC's encoders expect. Scratch space is kept between frames.
#[derive(Debug, Default)]
pub struct BgrxToI420 {
    /// The scaled picture, RGB per pixel.
    rgb: Vec<[u8; 3]>,
    /// Per output column: the source columns it covers.
    columns: Vec<(usize, usize)>,
}

impl BgrxToI420 {
    /// `None` when `src` is too short for `size` and `stride`, or `dst` is not even.
    pub fn convert(
        &mut self,
        src: &[u8],
        stride: usize,
        (sw, sh): (usize, usize),
        (dw, dh): (usize, usize),
    ) -> Option<I420Frame> {
        if sw == 0 || sh == 0 || dw < 2 || dh < 2 || dw % 2 == 1 || dh % 2 == 1 {
            return None;
        }
        if stride < sw * 4 || src.len() < stride * (sh - 1) + sw * 4 {
            return None;
        }
        if (sw, sh) == (dw, dh) {
            return Some(same_size(src, stride, (dw, dh)));
        }
        Some(self.scaled(src, stride, (sw, sh), (dw, dh)))
    }

    /// Any sizes: each output pixel the mean of the source pixels it covers.
    fn scaled(
        &mut self,
        src: &[u8],
        stride: usize,
        (sw, sh): (usize, usize),
        (dw, dh): (usize, usize),
    ) -> I420Frame {
        let span = |i: usize, s: usize, d: usize| (i * s / d, ((i + 1) * s / d).max(i * s / d + 1));
        self.columns.clear();
        self.columns.extend((0..dw).map(|x| span(x, sw, dw)));
        self.rgb.resize(dw * dh, [0; 3]);
        for y in 0..dh {
            let (y0, y1) = span(y, sh, dh);
            for (x, &(x0, x1)) in self.columns.iter().enumerate() {
                let mut sum = [0u32; 3];
                for row in y0..y1 {
                    let line = &src[row * stride + x0 * 4..row * stride + x1 * 4];
                    for px in line.chunks_exact(4) {
                        sum[0] += u32::from(px[2]);
                        sum[1] += u32::from(px[1]);
                        sum[2] += u32::from(px[0]);
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as u32;
                self.rgb[y * dw + x] = sum.map(|c| ((c + n / 2) / n) as u8);
            }
        }
        let mut f = I420Frame::black(dw, dh);
        for (luma, rgb) in f.y.iter_mut().zip(&self.rgb) {
            *luma = y_of(*rgb);
        }
        let cw = dw / 2;
        for cy in 0..dh / 2 {
            for cx in 0..cw {
                let mut sum = [0u32; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = self.rgb[(cy * 2 + dy) * dw + cx * 2 + dx];
                    for c in 0..3 {
                        sum[c] += u32::from(p[c]);
                    }
                }
                let (u, v) = uv_of(sum.map(|c| ((c + 2) / 4) as u8));
                f.u[cy * cw + cx] = u;
                f.v[cy * cw + cx] = v;
            }
        }
        f
    }
}

/// The common case, a screen sent at its size: no scaling, straight from the rows (a third
/// of the time of the scaling path at 1920x1080).
fn same_size(src: &[u8], stride: usize, (w, h): (usize, usize)) -> I420Frame {
    let mut f = I420Frame::black(w, h);
    let rgb = |px: &[u8]| [px[2], px[1], px[0]];
    for (row, luma) in f.y.chunks_exact_mut(w).enumerate() {
        let line = &src[row * stride..row * stride + w * 4];
        for (l, px) in luma.iter_mut().zip(line.chunks_exact(4)) {
            *l = y_of(rgb(px));
        }
    }
    let cw = w / 2;
    for cy in 0..h / 2 {
        let top = &src[cy * 2 * stride..cy * 2 * stride + w * 4];
        let bottom = &src[(cy * 2 + 1) * stride..(cy * 2 + 1) * stride + w * 4];
        for cx in 0..cw {
            let mut sum = [0u32; 3];
            for px in [
                &top[cx * 8..],
                &top[cx * 8 + 4..],
                &bottom[cx * 8..],
                &bottom[cx * 8 + 4..],
            ] {
                let p = rgb(px);
                for c in 0..3 {
                    sum[c] += u32::from(p[c]);
                }
            }
            let (u, v) = uv_of(sum.map(|c| ((c + 2) / 4) as u8));
            f.u[cy * cw + cx] = u;
            f.v[cy * cw + cx] = v;
        }
    }
    f
}

/// BT.601 limited-range luma of an RGB pixel.
pub fn y_of([r, g, b]: [u8; 3]) -> u8 {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

/// BT.601 limited-range chroma (U, V) of an RGB pixel.
pub fn uv_of([r, g, b]: [u8; 3]) -> (u8, u8) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    (u.clamp(0, 255) as u8, v.clamp(0, 255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screens_fit_1920x1080_keeping_their_shape() {
        assert_eq!(fit_within((1280, 720), SCREEN_LIMIT), (1280, 720));
        assert_eq!(fit_within((2560, 1440), SCREEN_LIMIT), (1920, 1080));
        assert_eq!(fit_within((3840, 1200), SCREEN_LIMIT), (1920, 600));
        assert_eq!(fit_within((1366, 768), SCREEN_LIMIT), (1366, 768));
        assert_eq!(
            fit_within((801, 601), SCREEN_LIMIT),
            (800, 600),
            "even sides"
        );
        assert_eq!(fit_within((1000, 3000), SCREEN_LIMIT), (360, 1080));
    }

    /// A `w`x`h` BGRX picture: left half red, right half blue, with a stride padded by 8.
    fn halves(w: usize, h: usize) -> (Vec<u8>, usize) {
        let stride = w * 4 + 8;
        let mut px = vec![0u8; stride * h];
        for y in 0..h {
            for x in 0..w {
                let bgrx = if x < w / 2 {
                    [0, 0, 255, 0]
                } else {
                    [255, 0, 0, 0]
                };
                px[y * stride + x * 4..][..4].copy_from_slice(&bgrx);
            }
        }
        (px, stride)
    }

    #[test]
    fn colours_and_layout_survive_conversion_at_size_and_scaled() {
        let (px, stride) = halves(8, 4);
        let mut conv = BgrxToI420::default();
        let f = conv.convert(&px, stride, (8, 4), (8, 4)).unwrap();
        let red = (y_of([255, 0, 0]), uv_of([255, 0, 0]));
        let blue = (y_of([0, 0, 255]), uv_of([0, 0, 255]));
        assert_eq!((f.y[0], (f.u[0], f.v[0])), red);
        assert_eq!((f.y[7], (f.u[3], f.v[3])), blue);
        assert_eq!(red, (82, (90, 240)), "BT.601 limited range");
        // Halved: still red on the left, blue on the right.
        let f = conv.convert(&px, stride, (8, 4), (4, 2)).unwrap();
        assert_eq!((f.y[0], f.y[3]), (red.0, blue.0));
        // Averaged where an output pixel covers both: red, red, blue into 2 columns.
        let row = [[0, 0, 255, 0], [0, 0, 255, 0], [255, 0, 0, 0]].concat();
        let px = [row.clone(), row].concat();
        let f = conv.convert(&px, 12, (3, 2), (2, 2)).unwrap();
        assert_eq!(
            f.y[..2],
            [red.0, y_of([128, 0, 128])],
            "red; red and blue averaged"
        );
    }

    /// The unscaled path gives what the general one gives.
    #[test]
    fn the_fast_path_matches_the_general_one() {
        let (w, h) = (16, 6);
        let stride = w * 4;
        let px: Vec<u8> = (0..stride * h).map(|i| (i * 37 % 251) as u8).collect();
        let mut conv = BgrxToI420::default();
        let fast = conv.convert(&px, stride, (w, h), (w, h)).unwrap();
        assert_eq!(fast, conv.scaled(&px, stride, (w, h), (w, h)));
    }

    #[test]
    fn short_or_odd_input_is_refused() {
        let (px, stride) = halves(8, 4);
        let mut conv = BgrxToI420::default();
        assert!(
            conv.convert(&px[..px.len() - 20], stride, (8, 4), (8, 4))
                .is_none()
        );
        assert!(conv.convert(&px, stride, (8, 4), (7, 4)).is_none());
        assert!(conv.convert(&px, 16, (8, 4), (8, 4)).is_none());
    }
}
