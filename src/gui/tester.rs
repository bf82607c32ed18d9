//! What a tester looks at during a call: the ICE candidates as they trickle in (as the WebRTC
//! trickle-ICE sample page lists them), the selected pair, and live plots of bit rate, frame
//! rate, round-trip time and loss.

use super::i18n::Lang;
use crate::live::LiveState;
use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

/// The candidate table.
pub fn candidates(ui: &mut egui::Ui, lang: Lang, state: &LiveState) {
    let t = |s| lang.tr(s);
    if let Some(pair) = &state.selected_pair {
        ui.label(format!("{}: {pair}", t("Selected pair")));
    }
    egui::ScrollArea::vertical()
        .id_salt("candidates")
        .max_height(160.0)
        .show(ui, |ui| {
            egui::Grid::new("candidate-table")
                .striped(true)
                .num_columns(6)
                .show(ui, |ui| {
                    for h in ["", "type", "protocol", "address", "port", "priority"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for c in &state.candidates {
                        ui.label(t(c.side));
                        ui.label(&c.kind);
                        ui.label(&c.protocol);
                        ui.label(&c.address).on_hover_text(&c.raw);
                        ui.label(c.port.to_string());
                        ui.label(c.priority.to_string());
                        ui.end_row();
                    }
                });
        });
}

fn line(name: &str, points: Vec<[f64; 2]>) -> Line<'static> {
    Line::new(name.to_owned(), PlotPoints::from(points))
}

/// The five plots, one above the other.
pub fn plots(ui: &mut egui::Ui, lang: Lang, state: &LiveState) {
    let t = |s| lang.tr(s);
    let series = |f: &dyn Fn(&crate::live::StatsSample) -> Option<f64>| -> Vec<[f64; 2]> {
        state
            .stats
            .iter()
            .filter_map(|s| f(s).map(|v| [s.t, v]))
            .collect()
    };
    let width = ui.available_width().max(150.0);
    ui.vertical(|ui| {
        let charts: [(&str, Vec<Line<'static>>); 5] = [
            (
                "Bitrate (kbit/s)",
                vec![
                    line(t("sent"), series(&|s| Some(s.kbps_out))),
                    line(t("received"), series(&|s| Some(s.kbps_in))),
                ],
            ),
            (
                "Frames per second",
                vec![
                    line(t("sent"), series(&|s| Some(s.fps_out))),
                    line(t("received"), series(&|s| Some(s.fps_in))),
                ],
            ),
            (
                "Round-trip time (ms)",
                vec![line("RTT", series(&|s| s.rtt_ms))],
            ),
            (
                "Packet loss (%)",
                vec![line(t("sent"), series(&|s| Some(s.loss_pct)))],
            ),
            (
                "Delay (ms)",
                vec![
                    line(t("video buffer"), series(&|s| s.video_buffer_ms)),
                    line(t("audio buffer"), series(&|s| s.audio_buffer_ms)),
                    line(t("video - audio"), series(&|s| s.av_sync_ms)),
                ],
            ),
        ];
        for (title, lines) in charts {
            ui.vertical(|ui| {
                ui.label(t(title));
                Plot::new(title)
                    .width(width)
                    .height(110.0)
                    .legend(Legend::default())
                    .include_y(0.0)
                    .allow_scroll(false)
                    .show(ui, |p| {
                        for l in lines {
                            p.line(l);
                        }
                    });
            });
        }
    });
}
