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
}

impl VideoTexture {
    /// An empty area.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            texture: None,
            seen: 0,
            size: None,
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

    /// Draws the picture `width` wide (or a placeholder of 4:3).
    pub fn show(&self, ui: &mut egui::Ui, width: f32) {
        let (w, h) = self.size.unwrap_or((4, 3));
        let size = egui::vec2(width, width * h as f32 / w as f32);
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

/// BT.601 limited-range YUV to RGB, as decoders and browsers show WebRTC video.
pub fn to_color_image(f: &I420Frame) -> egui::ColorImage {
    let mut rgb = Vec::with_capacity(f.width * f.height * 3);
    let cw = f.width / 2;
    for row in 0..f.height {
        for col in 0..f.width {
            let y = f32::from(f.y[row * f.width + col]) - 16.0;
            let c = (row / 2) * cw + col / 2;
            let u = f32::from(f.u[c]) - 128.0;
            let v = f32::from(f.v[c]) - 128.0;
            let clamp = |x: f32| x.round().clamp(0.0, 255.0) as u8;
            rgb.push(clamp(1.164 * y + 1.596 * v));
            rgb.push(clamp(1.164 * y - 0.392 * u - 0.813 * v));
            rgb.push(clamp(1.164 * y + 2.017 * u));
        }
    }
    egui::ColorImage::from_rgb([f.width, f.height], &rgb)
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
