//! The devices panel: camera, microphone and speakers, mute, camera off and the audio
//! processing switches. Every change goes to the shared [`MediaControls`]: during a call the
//! media threads switch devices without hanging up.

use super::i18n::Lang;
use crate::devices::DeviceList;
use crate::media::controls::{AudioIn, AudioOut, Devices, MediaControls, VideoIn};
use eframe::egui;
use std::sync::{Arc, Mutex};

/// The devices the system offers, asked for on a thread (ALSA takes a moment).
#[derive(Clone, Default)]
pub struct DeviceScan(Arc<Mutex<Option<DeviceList>>>);

impl DeviceScan {
    /// Starts asking.
    pub fn start() -> Self {
        let scan = Self::default();
        scan.refresh();
        scan
    }

    /// Asks again (a device was plugged in).
    pub fn refresh(&self) {
        let slot = self.0.clone();
        let _ = std::thread::Builder::new()
            .name("device-scan".into())
            .spawn(move || {
                let list = DeviceList::query();
                if let Ok(mut s) = slot.lock() {
                    *s = Some(list);
                }
            });
    }

    fn get(&self) -> DeviceList {
        self.0
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .unwrap_or_default()
    }
}

/// Video sizes offered (the encoder takes any even size; these are the common ones).
pub const SIZES: [(usize, usize); 4] = [(320, 240), (640, 480), (1280, 720), (1920, 1080)];

/// Shows the panel. `size` and `fps` can change only between calls.
pub fn show(
    ui: &mut egui::Ui,
    lang: Lang,
    controls: &MediaControls,
    scan: &DeviceScan,
    size_fps: Option<(&mut (usize, usize), &mut u32)>,
) {
    let t = |s| lang.tr(s);
    let list = scan.get();
    let (mut devices, _) = controls.devices();
    let before = devices.clone();
    egui::Grid::new("devices").num_columns(2).show(ui, |ui| {
        let camera_label = ui.label(t("Camera"));
        ui.horizontal(|ui| {
            let current = match &devices.video_in {
                VideoIn::TestPattern => t("Test picture").to_owned(),
                VideoIn::Camera(None) => list
                    .cameras
                    .first()
                    .cloned()
                    .unwrap_or_else(|| t("Test picture").to_owned()),
                VideoIn::Camera(Some(c)) => c.clone(),
                VideoIn::Screen(choice) => choice.to_string(),
            };
            egui::ComboBox::from_id_salt("camera")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    ui.selectable_value(
                        &mut devices.video_in,
                        VideoIn::TestPattern,
                        t("Test picture"),
                    );
                    for c in &list.cameras {
                        ui.selectable_value(
                            &mut devices.video_in,
                            VideoIn::Camera(Some(c.clone())),
                            c,
                        );
                    }
                })
                .response
                .labelled_by(camera_label.id);
            if list.cameras.is_empty() {
                ui.weak("(no camera found)");
            }
            if let Some((size, fps)) = size_fps {
                let l = ui.label(t("Size"));
                egui::ComboBox::from_id_salt("size")
                    .selected_text(format!("{}x{}", size.0, size.1))
                    .show_ui(ui, |ui| {
                        for s in SIZES {
                            ui.selectable_value(size, s, format!("{}x{}", s.0, s.1));
                        }
                    })
                    .response
                    .labelled_by(l.id);
                let l = ui.label(t("Frames/s"));
                ui.add(egui::DragValue::new(fps).range(1..=60))
                    .labelled_by(l.id);
            }
        });
        ui.end_row();

        let mic_label = ui.label(t("Microphone"));
        ui.horizontal(|ui| {
            let current = match &devices.audio_in {
                AudioIn::Mic(None) => t("Default microphone").to_owned(),
                AudioIn::Mic(Some(n)) => n.clone(),
                AudioIn::Tone(hz) => format!("{} ({hz} Hz)", t("Test tone")),
                AudioIn::Silence => t("None").to_owned(),
            };
            egui::ComboBox::from_id_salt("microphone")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    ui.selectable_value(
                        &mut devices.audio_in,
                        AudioIn::Mic(None),
                        t("Default microphone"),
                    );
                    for m in &list.microphones {
                        ui.selectable_value(
                            &mut devices.audio_in,
                            AudioIn::Mic(Some(m.clone())),
                            m,
                        );
                    }
                    let hz = match devices.audio_in {
                        AudioIn::Tone(hz) => hz,
                        _ => 440.0,
                    };
                    ui.selectable_value(&mut devices.audio_in, AudioIn::Tone(hz), t("Test tone"));
                    ui.selectable_value(&mut devices.audio_in, AudioIn::Silence, t("None"));
                })
                .response
                .labelled_by(mic_label.id);
            let mut muted = controls.mic_muted();
            if ui.checkbox(&mut muted, t("Mute microphone")).changed() {
                controls.set_mic_muted(muted);
            }
        });
        ui.end_row();

        let speaker_label = ui.label(t("Speakers"));
        ui.horizontal(|ui| {
            let current = match &devices.audio_out {
                AudioOut::Speaker(None) => t("Default speakers").to_owned(),
                AudioOut::Speaker(Some(n)) => n.clone(),
                AudioOut::None => t("None").to_owned(),
            };
            egui::ComboBox::from_id_salt("speakers")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    ui.selectable_value(
                        &mut devices.audio_out,
                        AudioOut::Speaker(None),
                        t("Default speakers"),
                    );
                    for s in &list.speakers {
                        ui.selectable_value(
                            &mut devices.audio_out,
                            AudioOut::Speaker(Some(s.clone())),
                            s,
                        );
                    }
                    ui.selectable_value(&mut devices.audio_out, AudioOut::None, t("None"));
                })
                .response
                .labelled_by(speaker_label.id);
            let mut off = controls.camera_off();
            if ui.checkbox(&mut off, t("Camera off")).changed() {
                controls.set_camera_off(off);
            }
            if ui.button(t("Refresh")).clicked() {
                scan.refresh();
            }
        });
        ui.end_row();

        ui.label("");
        ui.horizontal(|ui| {
            let mut sw = controls.switches();
            let before = sw;
            ui.checkbox(&mut sw.echo_cancellation, t("Echo cancellation"));
            ui.checkbox(&mut sw.noise_suppression, t("Noise suppression"));
            ui.checkbox(&mut sw.auto_gain, t("Auto gain"));
            if sw != before {
                controls.set_switches(sw);
            }
        });
        ui.end_row();
    });
    if devices != before {
        controls.set_devices(devices);
    }
}

/// The devices as the settings keep them.
pub fn as_args(d: &Devices) -> (String, String, String) {
    (
        d.video_in.to_arg(),
        d.audio_in.to_arg(),
        d.audio_out.to_arg(),
    )
}
