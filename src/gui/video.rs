//! Pictures on screen: I420 frames from the session become egui textures, uploaded only when a
//! new frame has come, and drawn at the frame's aspect ratio.

use crate::media::frame::I420Frame;
use eframe::egui;
use std::sync::Arc;

/// One video area (local or remote).
pub struct VideoTexture {
    name: &'static str,
    texture: Option<egui::TextureHandle>,
    /// The frame count last uploaded.
    seen: u64,
    size: Option<(usize, usize)>,
    /// Shown pixel for pixel (scrollable) rather than fitted: a shared screen's text.
    actual_size: std::cell::Cell<bool>,
}

impl VideoTexture {
    /// An empty area.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            texture: None,
            seen: 0,
            size: None,
            actual_size: std::cell::Cell::new(false),
        }
    }

    /// The size of the picture shown, if any.
    pub fn size(&self) -> Option<(usize, usize)> {
        self.size
    }

    /// Uploads `frame` if `count` says it is new.
    pub fn update(&mut self, ctx: &egui::Context, frame: &Option<Arc<I420Frame>>, count: u64) {
        let Some(frame) = frame else {
            return;
        };
        if count == self.seen && self.texture.is_some() {
            return;
        }
        self.seen = count;
        let image = to_color_image(frame);
        self.size = Some((frame.width, frame.height));
        match &mut self.texture {
            Some(t) => t.set(image, egui::TextureOptions::LINEAR),
            None => {
                self.texture =
                    Some(ctx.load_texture(self.name, image, egui::TextureOptions::LINEAR))
            }
        }
    }

    /// Draws the picture fitted `width` wide (or a placeholder of 4:3); a picture larger than
    /// that (a shared screen) can be switched to its actual size, in a scrolled area.
    pub fn show(&self, ui: &mut egui::Ui, width: f32, lang: super::i18n::Lang) {
        let (w, h) = self.size.unwrap_or((4, 3));
        let size = egui::vec2(width, width * h as f32 / w as f32);
        if let Some(t) = self.texture.as_ref().filter(|_| w as f32 > width) {
            let mut actual = self.actual_size.get();
            let label = format!("{} ({w}x{h})", lang.tr("Actual size"));
            ui.checkbox(&mut actual, label);
            self.actual_size.set(actual);
            if actual {
                let native = egui::vec2(w as f32, h as f32);
                egui::ScrollArea::both()
                    .id_salt(self.name)
                    .max_width(width)
                    .max_height(width * 0.75)
                    .show(ui, |ui| {
                        ui.add(egui::Image::new(egui::load::SizedTexture::new(
                            t.id(),
                            native,
                        )))
                    });
                return;
            }
        }
        match &self.texture {
            Some(t) => {
                ui.add(egui::Image::new(egui::load::SizedTexture::new(
                    t.id(),
                    size,
                )))
                .on_hover_text(format!("{} {}x{}", self.name, w, h));
            }
            None => {
                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, 4.0, egui::Color32::from_gray(24));
                ui.painter().text(
                    rect.center(),
                    egui::Align2::CENTER_CENTER,
                    format!("no {}", self.name),
                    egui::FontId::proportional(14.0),
                    egui::Color32::GRAY,
                );
            }
        }
    }
}

/// BT.601 limited-range YUV to RGB, as decoders and browsers show WebRTC video. Fixed-point
/// (coefficients times 256), two rows per chroma row: it runs for every new frame on the UI
/// thread.
pub fn to_color_image(f: &I420Frame) -> egui::ColorImage {
    let (w, h) = (f.width, f.height);
    let mut pixels = vec![egui::Color32::BLACK; w * h];
    let cw = w / 2;
    for row in 0..h {
        let y_row = &f.y[row * w..(row + 1) * w];
        let c_row = (row / 2) * cw;
        let out = &mut pixels[row * w..(row + 1) * w];
        for (col, px) in out.iter_mut().enumerate() {
            let c = (i32::from(y_row[col]) - 16) * 298;
            let d = i32::from(f.u[c_row + col / 2]) - 128;
            let e = i32::from(f.v[c_row + col / 2]) - 128;
            let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
            *px = egui::Color32::from_rgb(
                clamp(c + 409 * e),
                clamp(c - 100 * d - 208 * e),
                clamp(c + 516 * d),
            );
        }
    }
    egui::ColorImage::new([w, h], pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_and_white_convert_to_rgb() {
        let mut f = I420Frame::black(4, 2);
        f.y[1] = 235;
        let img = to_color_image(&f);
        assert_eq!(img.size, [4, 2]);
        assert_eq!(img.pixels[0], egui::Color32::from_rgb(0, 0, 0));
        assert_eq!(img.pixels[1], egui::Color32::from_rgb(255, 255, 255));
    }
}
