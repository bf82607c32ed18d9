//! The desktop window (eframe/egui): the seed's page, natively. Server, room and ICE server
//! fields; Connect and Leave enabled as the seed enables them; the local and remote video; the
//! Offer and Answer SDP panes with Copy and Save; the call state and any error in words.
//!
//! The window owns no protocol or call logic: Connect starts the same session the headless
//! mode runs ([`crate::headless::run`]) on a background runtime, the window reads its
//! [`LiveView`], and Leave cancels it as Ctrl-C does.

pub mod fonts;
pub mod i18n;
pub mod video;

use crate::cli::Cli;
use crate::live::{LiveState, LiveView};
use crate::report::Report;
use eframe::egui;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What the user types in, as the seed page's fields.
#[derive(Debug, Clone, Default)]
pub struct Form {
    /// Signaling server URL; empty for the built-in room server.
    pub server: String,
    /// Room name; empty for the seed page's room `null`.
    pub room: String,
    /// One STUN or TURN URL, or empty.
    pub ice_url: String,
    /// TURN user.
    pub ice_user: String,
    /// TURN password (never logged).
    pub ice_pass: String,
}

/// A session started by Connect.
struct Running {
    view: Arc<LiveView>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<Report>>,
}

/// The window's state.
pub struct RoompeerApp {
    /// The command line the window was started with; the form overrides its server, room and
    /// ICE server, every other option applies as in the headless mode.
    cli: Cli,
    /// The fields.
    pub form: Form,
    runtime: tokio::runtime::Handle,
    session: Option<Running>,
    /// A message from the window itself (a bad option, a saved file).
    notice: Option<String>,
    local: video::VideoTexture,
    remote: video::VideoTexture,
    /// The last state read from the session (kept after it ends, for the panes and errors).
    shown: LiveState,
    /// When Connect was pressed, until the first remote picture is on screen.
    connect_pressed: Option<std::time::Instant>,
    /// Time spent building frames (count, sum, worst) since `frame_times_since`; logged every
    /// 10 s, so a tester sees what the window costs during a call.
    frame_times: (u64, std::time::Duration, std::time::Duration),
    frame_times_since: std::time::Instant,
}

impl RoompeerApp {
    /// A window for these options, running sessions on `runtime`.
    pub fn new(cli: Cli, runtime: tokio::runtime::Handle) -> Self {
        let form = Form {
            server: cli.server.clone().unwrap_or_default(),
            room: cli.room.clone().unwrap_or_default(),
            ice_url: cli.ice.first().cloned().unwrap_or_default(),
            ice_user: cli.ice_user.clone().unwrap_or_default(),
            ice_pass: cli.ice_pass.clone().unwrap_or_default(),
        };
        Self {
            cli,
            form,
            runtime,
            session: None,
            notice: None,
            local: video::VideoTexture::new("local video"),
            remote: video::VideoTexture::new("remote video"),
            shown: LiveState::default(),
            connect_pressed: None,
            frame_times: Default::default(),
            frame_times_since: std::time::Instant::now(),
        }
    }

    /// The window as eframe creates it: with a CJK font, so Chinese room names render.
    pub fn create(
        cc: &eframe::CreationContext<'_>,
        cli: Cli,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        fonts::install_cjk_font(&cc.egui_ctx);
        Self::new(cli, runtime)
    }

    /// The session's state as last shown.
    pub fn state(&self) -> &LiveState {
        &self.shown
    }

    /// Whether a session runs (Connect disabled, Leave enabled).
    pub fn connected(&self) -> bool {
        self.session.is_some() && !self.shown.finished
    }

    /// Connect: start a session with the form's values.
    pub fn connect(&mut self) {
        let mut cli = self.cli.clone();
        let trimmed = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        cli.server = trimmed(&self.form.server);
        cli.room = trimmed(&self.form.room);
        cli.ice = trimmed(&self.form.ice_url).into_iter().collect();
        cli.ice_user = trimmed(&self.form.ice_user);
        cli.ice_pass = Some(self.form.ice_pass.clone()).filter(|p| !p.is_empty());
        let mut opts = match cli.run_options() {
            Ok(o) => o,
            Err(e) => {
                self.notice = Some(e);
                return;
            }
        };
        let view = LiveView::new();
        let stop = CancellationToken::new();
        opts.view = Some(view.clone());
        opts.stop = Some(stop.clone());
        self.notice = None;
        self.shown = LiveState {
            status: "connecting to the signaling server".into(),
            ..Default::default()
        };
        self.connect_pressed = Some(std::time::Instant::now());
        let task = self.runtime.spawn(crate::headless::run(opts));
        self.session = Some(Running {
            view,
            stop,
            task: Some(task),
        });
    }

    /// Leave: leave the room and end the session.
    pub fn leave(&mut self) {
        if let Some(s) = &self.session {
            s.stop.cancel();
        }
    }

    /// Reads the session's state (called every frame).
    fn refresh(&mut self) {
        if let Some(s) = &mut self.session {
            self.shown = s.view.snapshot();
            if self.shown.finished
                && let Some(task) = s.task.take()
            {
                task.abort();
            }
        }
    }

    fn save(&mut self, name: &str, sdp: &str) {
        let dir = self
            .cli
            .record
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        let path = dir.join(format!(
            "{name}-{}.sdp",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        ));
        self.notice = Some(
            match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, sdp)) {
                Ok(()) => format!("saved the {name} SDP to {}", path.display()),
                Err(e) => format!("cannot save the {name} SDP to {}: {e}", path.display()),
            },
        );
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        let editable = !self.connected();
        egui::Grid::new("connection").num_columns(2).show(ui, |ui| {
            let field = |ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str| {
                let l = ui.label(label);
                ui.add_enabled(
                    editable,
                    egui::TextEdit::singleline(value)
                        .hint_text(hint)
                        .desired_width(360.0),
                )
                .labelled_by(l.id);
                ui.end_row();
            };
            field(
                ui,
                "Server",
                &mut self.form.server,
                "https://host:port (empty: host a room server here)",
            );
            field(
                ui,
                "Room",
                &mut self.form.room,
                "empty: the seed page's room",
            );
            field(
                ui,
                "ICE server",
                &mut self.form.ice_url,
                "turn:host:3478 or stun:host:3478",
            );
            field(ui, "User", &mut self.form.ice_user, "TURN user");
            let l = ui.label("Password");
            ui.add_enabled(
                editable,
                egui::TextEdit::singleline(&mut self.form.ice_pass)
                    .password(true)
                    .desired_width(360.0),
            )
            .labelled_by(l.id);
            ui.end_row();
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.connected(), egui::Button::new("Connect"))
                .clicked()
            {
                self.connect();
            }
            if ui
                .add_enabled(self.connected(), egui::Button::new("Leave"))
                .clicked()
            {
                self.leave();
            }
            let status = if self.session.is_some() {
                self.shown.status.as_str()
            } else {
                "not connected"
            };
            ui.label(format!("State: {status}"));
        });
        if let Some(e) = &self.shown.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        if let Some(n) = &self.notice {
            ui.label(n);
        }
        if self.shown.video_codec.is_some() || self.shown.selected_pair.is_some() {
            ui.label(format!(
                "Video {} · {}",
                self.shown.video_codec.as_deref().unwrap_or("-"),
                self.shown.selected_pair.as_deref().unwrap_or("-")
            ));
        }
    }

    fn media_and_panes(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.local
            .update(&ctx, &self.shown.local_frame, self.shown.local_frames);
        self.remote
            .update(&ctx, &self.shown.remote_frame, self.shown.remote_frames);
        if self.remote.size().is_some()
            && let Some(t) = self.connect_pressed.take()
        {
            tracing::info!(
                "first remote picture on screen {} ms after Connect",
                t.elapsed().as_millis()
            );
        }
        let offer = self.shown.offer_sdp.clone();
        let answer = self.shown.answer_sdp.clone();
        let column = (ui.available_width() / 2.0 - 12.0).max(200.0);
        let mut save_request: Option<(String, String)> = None;
        ui.horizontal_top(|ui| {
            for (title, texture, pane, sdp) in [
                ("Local:", &self.local, "Offer", offer.as_str()),
                ("Remote:", &self.remote, "Answer", answer.as_str()),
            ] {
                ui.vertical(|ui| {
                    ui.set_width(column);
                    ui.heading(title);
                    texture.show(ui, column);
                    ui.horizontal(|ui| {
                        ui.heading(format!("{pane} SDP:"));
                        if ui
                            .add_enabled(!sdp.is_empty(), egui::Button::new(format!("Copy {pane}")))
                            .clicked()
                        {
                            ui.ctx().copy_text(sdp.to_owned());
                        }
                        if ui
                            .add_enabled(!sdp.is_empty(), egui::Button::new(format!("Save {pane}")))
                            .clicked()
                        {
                            save_request = Some((pane.to_lowercase(), sdp.to_owned()));
                        }
                    });
                    let mut text = sdp;
                    egui::ScrollArea::vertical()
                        .id_salt(pane)
                        .max_height(220.0)
                        .show(ui, |ui| {
                            let l = ui.label(format!("{pane} SDP text"));
                            ui.add(
                                egui::TextEdit::multiline(&mut text)
                                    .code_editor()
                                    .desired_width(column)
                                    .desired_rows(10),
                            )
                            .labelled_by(l.id);
                        });
                });
            }
        });
        if let Some((name, sdp)) = save_request {
            self.save(&name, &sdp);
        }
    }
}

impl eframe::App for RoompeerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let started = std::time::Instant::now();
        self.refresh();
        egui::ScrollArea::vertical().show(ui, |ui| {
            self.controls(ui);
            ui.separator();
            self.media_and_panes(ui);
        });
        if self.connected() {
            // Video and state come from other threads: look again soon.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(33));
        }
        let spent = started.elapsed();
        let (n, sum, worst) = &mut self.frame_times;
        *n += 1;
        *sum += spent;
        *worst = (*worst).max(spent);
        if self.frame_times_since.elapsed() >= std::time::Duration::from_secs(10) {
            let (n, sum, worst) = std::mem::take(&mut self.frame_times);
            tracing::info!(
                "window: {n} frames in {:.0} s, built in {:.2} ms on average, {:.2} ms at worst",
                self.frame_times_since.elapsed().as_secs_f64(),
                sum.as_secs_f64() * 1000.0 / n as f64,
                worst.as_secs_f64() * 1000.0
            );
            self.frame_times_since = std::time::Instant::now();
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.leave();
    }
}

/// Opens the window; returns when it is closed.
pub fn run_window(cli: Cli, runtime: tokio::runtime::Handle) -> Result<(), String> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("roompeer")
            .with_inner_size([1100.0, 800.0]),
        ..Default::default()
    };
    eframe::run_native(
        "roompeer",
        options,
        Box::new(move |cc| {
            let connect = cli.connect;
            let mut app = RoompeerApp::create(cc, cli, runtime);
            if connect {
                app.connect();
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| format!("cannot open the window ({e}); without a display, run with --headless"))
}
