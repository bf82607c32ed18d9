//! Raw I420 video frames, as sources produce them and decoders return them.

/// One I420 (YUV 4:2:0 planar) frame with tightly packed planes.
#[derive(Debug, Clone, PartialEq)]
pub struct I420Frame {
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
    /// Y plane, `width * height` bytes.
    pub y: Vec<u8>,
    /// U plane, `width/2 * height/2` bytes.
    pub u: Vec<u8>,
    /// V plane, `width/2 * height/2` bytes.
    pub v: Vec<u8>,
}

impl I420Frame {
    /// A black frame.
    pub fn black(width: usize, height: usize) -> Self {
        let c = (width / 2) * (height / 2);
        Self {
            width,
            height,
            y: vec![16; width * height],
            u: vec![128; c],
            v: vec![128; c],
        }
    }

    /// Copies planes with arbitrary strides into a packed frame.
    pub fn from_planes(
        (width, height): (usize, usize),
        (y, u, v): (&[u8], &[u8], &[u8]),
        (sy, su, sv): (usize, usize, usize),
    ) -> Self {
        let (cw, ch) = (width / 2, height / 2);
        let mut f = Self::black(width, height);
        for row in 0..height {
            f.y[row * width..(row + 1) * width].copy_from_slice(&y[row * sy..row * sy + width]);
        }
        for row in 0..ch {
            f.u[row * cw..(row + 1) * cw].copy_from_slice(&u[row * su..row * su + cw]);
            f.v[row * cw..(row + 1) * cw].copy_from_slice(&v[row * sv..row * sv + cw]);
        }
        f
    }
}

impl openh264::formats::YUVSource for I420Frame {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.width, self.width / 2, self.width / 2)
    }

    fn y(&self) -> &[u8] {
        &self.y
    }

    fn u(&self) -> &[u8] {
        &self.u
    }

    fn v(&self) -> &[u8] {
        &self.v
    }
}
