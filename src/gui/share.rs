//! Sharing the screen from the window: "Share screen" opens a picker of the screen, its
//! monitors and its windows, with thumbnails; choosing one switches the sent video to it in
//! the running call (the same track and stream, as a browser's `replaceTrack`: no
//! renegotiation). "Stop sharing" brings back the source used before.

use super::i18n::Lang;
use super::video::to_color_image;
use crate::devices::screen::{ScreenSource, list_sources};
use crate::media::controls::{MediaControls, ScreenChoice, VideoIn};
use eframe::egui;
use std::sync::{Arc, Mutex};

/// Thumbnails fit this.
const THUMB: (usize, usize) = (192, 108);

/// What the picker found, or why it found nothing.
type Found = Result<Vec<ScreenSource>, String>;

/// The Share / Stop sharing button and the picker.
#[derive(Default)]
pub struct SharePanel {
    open: bool,
    found: Arc<Mutex<Option<Found>>>,
    /// The thumbnails as textures, made once per listing.
    thumbs: Option<Vec<Option<egui::TextureHandle>>>,
    /// The source to go back to.
    before: Option<VideoIn>,
}

impl SharePanel {
    /// The button: Share screen, or what is shared and Stop sharing.
    pub fn button(&mut self, ui: &mut egui::Ui, lang: Lang, controls: &MediaControls) {
        let t = |s| lang.tr(s);
        let (mut devices, _) = controls.devices();
        if let VideoIn::Screen(choice) = &devices.video_in {
            ui.label(format!("{} {}", t("Sharing"), describe(choice, lang)));
            if ui.button(t("Stop sharing")).clicked() {
                devices.video_in = self.before.take().unwrap_or(VideoIn::TestPattern);
                controls.set_devices(devices);
            }
        } else if ui.button(t("Share screen")).clicked() {
            self.open = true;
            self.list();
        }
    }

    /// Looks for screens and windows on a thread (X requests take a moment).
    fn list(&mut self) {
        self.thumbs = None;
        let slot = self.found.clone();
        if let Ok(mut s) = slot.lock() {
            *s = None;
        }
        let _ = std::thread::Builder::new()
            .name("screen-list".into())
            .spawn(move || {
                let found = list_sources(THUMB).map_err(|e| e.to_string());
                if let Ok(mut s) = slot.lock() {
                    *s = Some(found);
                }
            });
    }

    /// The picker, while it is open.
    pub fn picker(&mut self, ctx: &egui::Context, lang: Lang, controls: &MediaControls) {
        if !self.open {
            return;
        }
        let t = |s| lang.tr(s);
        let found = self.found.lock().ok().and_then(|f| f.clone());
        let mut chosen = None;
        let mut open = true;
        egui::Window::new(t("Share your screen"))
            .open(&mut open)
            .collapsible(false)
            .show(ctx, |ui| match &found {
                None => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(t("Looking for screens and windows…"));
                    });
                    ctx.request_repaint();
                }
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                Some(Ok(sources)) => {
                    let thumbs = self.thumbs.get_or_insert_with(|| {
                        sources
                            .iter()
                            .enumerate()
                            .map(|(i, s)| {
                                s.thumbnail.as_ref().map(|f| {
                                    let image = to_color_image(f);
                                    let name = format!("screen-thumb-{i}");
                                    ctx.load_texture(name, image, egui::TextureOptions::LINEAR)
                                })
                            })
                            .collect()
                    });
                    egui::ScrollArea::vertical()
                        .max_height(480.0)
                        .show(ui, |ui| {
                            for (source, thumb) in sources.iter().zip(thumbs.iter()) {
                                ui.horizontal(|ui| {
                                    let (w, h) = source
                                        .thumbnail
                                        .as_ref()
                                        .map_or(THUMB, |f| (f.width, f.height));
                                    let size = egui::vec2(w as f32, h as f32);
                                    match thumb {
                                        Some(t) => {
                                            ui.add(egui::Image::new(
                                                egui::load::SizedTexture::new(t.id(), size),
                                            ));
                                        }
                                        None => {
                                            ui.allocate_exact_size(size, egui::Sense::hover());
                                        }
                                    }
                                    let name = describe(&source.choice, lang);
                                    // The desktop's dialog has no size until it is answered.
                                    let label = match source.size {
                                        (0, 0) => name,
                                        (w, h) => format!("{name} ({w}x{h})"),
                                    };
                                    if ui.button(label).clicked() {
                                        chosen = Some(source.choice.clone());
                                    }
                                });
                            }
                        });
                }
            });
        if let Some(choice) = chosen {
            let (mut devices, _) = controls.devices();
            if !matches!(devices.video_in, VideoIn::Screen(_)) {
                self.before = Some(devices.video_in.clone());
            }
            devices.video_in = VideoIn::Screen(choice);
            controls.set_devices(devices);
            open = false;
        }
        self.open = open;
    }
}

/// A source as the window names it.
fn describe(choice: &ScreenChoice, lang: Lang) -> String {
    match choice {
        ScreenChoice::Whole => lang.tr("Whole screen").to_owned(),
        ScreenChoice::Monitor(n) => format!("{} {n}", lang.tr("Monitor")),
        ScreenChoice::Window(title) => format!("{} \"{title}\"", lang.tr("Window")),
        ScreenChoice::Portal => lang.tr("Choose in the desktop's dialog").to_owned(),
    }
}
