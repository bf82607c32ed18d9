//! The desktop window (eframe/egui): the seed's page, natively. Server, room and ICE server
//! fields; Connect and Leave enabled as the seed enables them; the local and remote video; the
//! Offer and Answer SDP panes with Copy and Save; the call state and any error in words.
//!
//! The window owns no protocol or call logic: Connect starts the same session the headless
//! mode runs ([`crate::session::run`]) on a background runtime, the window reads its
//! [`LiveView`], and Leave cancels it as Ctrl-C does.

mod certificate;
pub mod devices;
pub mod fonts;
pub mod i18n;
mod share;
pub mod tester;
pub mod video;

pub use certificate::CertQuestion;

use crate::cli::Cli;
use crate::live::{LiveState, LiveView, ShownStatus};
use crate::media::controls::MediaControls;
use crate::report::Report;
use crate::settings::{Settings, SettingsStore, server_key};
use eframe::egui;
use i18n::Lang;
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

/// What building the window's frames cost over a stretch of time.
#[derive(Debug, Default)]
struct FrameTimes {
    /// Frames built.
    frames: u64,
    /// Time spent building them.
    sum: std::time::Duration,
    /// The slowest one.
    worst: std::time::Duration,
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
    /// Time spent building frames since `frame_times_since`; logged every
    /// 10 s, so a tester sees what the window costs during a call.
    frame_times: FrameTimes,
    frame_times_since: std::time::Instant,
    /// The window's language.
    pub lang: Lang,
    /// Where settings are kept (none when the platform has no config directory).
    store: Option<SettingsStore>,
    settings: Settings,
    /// Devices, mute and processing, shared with the running session's media threads.
    pub controls: Arc<MediaControls>,
    scan: devices::DeviceScan,
    share: share::SharePanel,
    /// The refused certificate being asked about.
    pub cert_question: Option<CertQuestion>,
    /// The session whose refused certificate was already asked about.
    asked: bool,
}

impl RoompeerApp {
    /// A window for these options, running sessions on `runtime`.
    pub fn new(cli: Cli, runtime: tokio::runtime::Handle) -> Self {
        Self::with_store(cli, runtime, SettingsStore::default_location())
    }

    /// A window whose settings live in `store`. What the command line gives wins over them.
    pub fn with_store(
        mut cli: Cli,
        runtime: tokio::runtime::Handle,
        store: Option<SettingsStore>,
    ) -> Self {
        let settings = store.as_ref().map(SettingsStore::load).unwrap_or_default();
        let saved = |v: &String| Some(v.clone()).filter(|v| !v.is_empty());
        cli.server = cli.server.clone().or_else(|| saved(&settings.server));
        cli.room = cli.room.clone().or_else(|| saved(&settings.room));
        if cli.ice.is_empty()
            && let Some(u) = saved(&settings.ice_url)
        {
            cli.ice = vec![u];
        }
        cli.ice_user = cli.ice_user.clone().or_else(|| saved(&settings.ice_user));
        cli.ice_pass = cli
            .ice_pass
            .clone()
            .or_else(|| store.as_ref().and_then(SettingsStore::password));
        if cli.video.is_none() {
            cli.video = settings
                .video
                .as_deref()
                .and_then(|v| crate::cli::parse_video(v).ok());
        }
        if cli.audio.is_none() {
            cli.audio = settings
                .audio
                .as_deref()
                .and_then(|v| crate::cli::parse_audio(v).ok());
        }
        if cli.audio_out.is_none() {
            cli.audio_out = settings.audio_out.clone();
        }
        if let Some(size) = settings
            .video_size
            .as_deref()
            .and_then(|s| crate::cli::parse_size(s).ok())
            && cli.video_size == (640, 480)
        {
            cli.video_size = size;
        }
        if let Some(fps) = settings.fps.filter(|f| (1..=60).contains(f))
            && cli.fps == 30
        {
            cli.fps = fps;
        }
        cli.no_echo_cancellation |= settings.echo_cancellation == Some(false);
        cli.no_noise_suppression |= settings.noise_suppression == Some(false);
        cli.no_auto_gain |= settings.auto_gain == Some(false);
        let lang = cli.lang.or(settings.lang).unwrap_or_else(Lang::from_system);
        let form = Form {
            server: cli.server.clone().unwrap_or_default(),
            room: cli.room.clone().unwrap_or_default(),
            ice_url: cli.ice.first().cloned().unwrap_or_default(),
            ice_user: cli.ice_user.clone().unwrap_or_default(),
            ice_pass: cli.ice_pass.clone().unwrap_or_default(),
        };
        let controls = Arc::new(cli.media_controls());
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
            lang,
            store,
            settings,
            controls,
            scan: devices::DeviceScan::start(),
            share: Default::default(),
            cert_question: None,
            asked: false,
        }
    }

    /// Keeps the fields, devices and language for the next run.
    pub fn save_settings(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        let (devices, _) = self.controls.devices();
        let (video, audio, audio_out) = devices::as_args(&devices);
        let sw = self.controls.switches();
        let s = &mut self.settings;
        s.server = self.form.server.trim().to_owned();
        s.room = self.form.room.clone();
        s.ice_url = self.form.ice_url.trim().to_owned();
        s.ice_user = self.form.ice_user.trim().to_owned();
        s.video = Some(video);
        s.audio = Some(audio);
        s.audio_out = Some(audio_out);
        s.video_size = Some(format!(
            "{}x{}",
            self.cli.video_size.0, self.cli.video_size.1
        ));
        s.fps = Some(self.cli.fps);
        s.echo_cancellation = Some(sw.echo_cancellation);
        s.noise_suppression = Some(sw.noise_suppression);
        s.auto_gain = Some(sw.auto_gain);
        s.lang = Some(self.lang);
        let result = store
            .save(&self.settings)
            .and_then(|()| store.save_password(&self.form.ice_pass));
        if let Err(e) = result {
            tracing::warn!("{e}");
            self.notice = Some(e.to_string());
        }
    }

    /// The window as eframe creates it: with a CJK font, so Chinese room names render.
    pub fn create(
        cc: &eframe::CreationContext<'_>,
        cli: Cli,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self::create_with_store(cc, cli, runtime, SettingsStore::default_location())
    }

    /// As [`RoompeerApp::create`], with the settings kept in `store`.
    pub fn create_with_store(
        cc: &eframe::CreationContext<'_>,
        cli: Cli,
        runtime: tokio::runtime::Handle,
        store: Option<SettingsStore>,
    ) -> Self {
        fonts::install_cjk_font(&cc.egui_ctx);
        Self::with_store(cli, runtime, store)
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
        // A certificate the user trusted for this server, unless the command line says how
        // to trust it.
        if cli.ca_cert.is_none()
            && cli.pin_cert.is_none()
            && !cli.insecure
            && let Some(pin) =
                server_key(&self.form.server).and_then(|k| self.settings.pins.get(&k))
        {
            cli.pin_cert = Some(pin.clone());
        }
        let mut opts = match cli.run_options() {
            Ok(o) => o,
            Err(e) => {
                self.notice = Some(e.to_string());
                return;
            }
        };
        let view = LiveView::new();
        let stop = CancellationToken::new();
        let link = crate::session::WindowLink {
            view: view.clone(),
            stop: stop.clone(),
        };
        opts.peer.media.controls = self.controls.clone();
        self.notice = None;
        self.asked = false;
        self.cert_question = None;
        self.save_settings();
        self.shown = LiveState {
            status: ShownStatus::Session(crate::call::Status::Connecting),
            ..Default::default()
        };
        self.connect_pressed = Some(std::time::Instant::now());
        let task = self.runtime.spawn(crate::session::run(opts, Some(link)));
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
        if self.shown.finished {
            self.ask_about_certificate();
        }
    }

    /// Saves an SDP beside the recordings (or here), named by kind and time.
    fn save(&mut self, name: &str, sdp: &str) {
        let dir = self.cli.record.clone().unwrap_or_default();
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let secs = since_epoch.map_or(0, |d| d.as_secs());
        let path = dir.join(format!("{name}-{secs}.sdp"));
        self.notice = Some(
            match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, sdp)) {
                Ok(()) => format!("saved the {name} SDP to {}", path.display()),
                Err(e) => format!("cannot save the {name} SDP to {}: {e}", path.display()),
            },
        );
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        let editable = !self.connected();
        let lang = self.lang;
        let t = |s| lang.tr(s);
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
                t("Server"),
                &mut self.form.server,
                "https://host:port (empty: host a room server here)",
            );
            field(
                ui,
                t("Room"),
                &mut self.form.room,
                "empty: the seed page's room",
            );
            field(
                ui,
                t("ICE server"),
                &mut self.form.ice_url,
                "turn:host:3478 or stun:host:3478",
            );
            field(ui, t("User"), &mut self.form.ice_user, "TURN user");
            let l = ui.label(t("Password"));
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
                .add_enabled(!self.connected(), egui::Button::new(t("Connect")))
                .clicked()
            {
                self.connect();
            }
            if ui
                .add_enabled(self.connected(), egui::Button::new(t("Leave")))
                .clicked()
            {
                self.leave();
            }
            let status = match self.session {
                Some(_) => self.shown.status,
                None => ShownStatus::NotConnected,
            };
            let status = lang.status(status);
            ui.label(format!("{}: {status}", t("State")));
            ui.separator();
            let label = ui.label(t("Language"));
            egui::ComboBox::from_id_salt("language")
                .selected_text(self.lang.name())
                .show_ui(ui, |ui| {
                    for l in [Lang::En, Lang::Zh] {
                        ui.selectable_value(&mut self.lang, l, l.name());
                    }
                })
                .response
                .labelled_by(label.id);
        });
        egui::CollapsingHeader::new(t("Devices"))
            .default_open(true)
            .show(ui, |ui| {
                let size_fps = editable.then_some((&mut self.cli.video_size, &mut self.cli.fps));
                devices::show(ui, lang, &self.controls, &self.scan, size_fps);
                ui.horizontal(|ui| self.share.button(ui, lang, &self.controls));
            });
        for n in &self.shown.notices {
            ui.colored_label(ui.visuals().warn_fg_color, n);
        }
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
                self.shown
                    .selected_pair
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string)
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
        let lang = self.lang;
        let t = |s| lang.tr(s);
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
                    ui.heading(t(title));
                    // The video at most 400 pixels wide, so the panes, candidates and plots fit below.
                    texture.show(ui, column.min(400.0), lang);
                    ui.horizontal(|ui| {
                        ui.heading(format!("{pane} SDP:"));
                        if ui
                            .add_enabled(
                                !sdp.is_empty(),
                                egui::Button::new(format!("{} {pane}", t("Copy"))),
                            )
                            .clicked()
                        {
                            ui.ctx().copy_text(sdp.to_owned());
                        }
                        if ui
                            .add_enabled(
                                !sdp.is_empty(),
                                egui::Button::new(format!("{} {pane}", t("Save"))),
                            )
                            .clicked()
                        {
                            save_request = Some((pane.to_lowercase(), sdp.to_owned()));
                        }
                    });
                    let mut text = sdp;
                    egui::ScrollArea::vertical()
                        .id_salt(pane)
                        .max_height(300.0)
                        .show(ui, |ui| {
                            let l = ui.label(format!("{pane} SDP text"));
                            ui.add(
                                egui::TextEdit::multiline(&mut text)
                                    .code_editor()
                                    .desired_width(column)
                                    .desired_rows(16),
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
        self.certificate_dialog(ui.ctx());
        self.share.picker(ui.ctx(), self.lang, &self.controls);
        let lang = self.lang;
        // What a tester looks at, beside the call: the candidates and the plots.
        egui::Panel::right("tester")
            .resizable(true)
            .default_size(420.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("tester-scroll")
                    .show(ui, |ui| {
                        egui::CollapsingHeader::new(lang.tr("Candidates"))
                            .default_open(true)
                            .show(ui, |ui| tester::candidates(ui, lang, &self.shown));
                        egui::CollapsingHeader::new(lang.tr("Statistics"))
                            .default_open(true)
                            .show(ui, |ui| tester::plots(ui, lang, &self.shown));
                    });
            });
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
        let t = &mut self.frame_times;
        t.frames += 1;
        t.sum += spent;
        t.worst = t.worst.max(spent);
        if self.frame_times_since.elapsed() >= std::time::Duration::from_secs(10) {
            let t = std::mem::take(&mut self.frame_times);
            tracing::info!(
                "window: {} frames in {:.0} s, built in {:.2} ms on average, {:.2} ms at worst",
                t.frames,
                self.frame_times_since.elapsed().as_secs_f64(),
                t.sum.as_secs_f64() * 1000.0 / t.frames as f64,
                t.worst.as_secs_f64() * 1000.0
            );
            self.frame_times_since = std::time::Instant::now();
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.save_settings();
        self.leave();
    }
}

/// The window could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the window ({0}); without a display, run with --headless")]
pub struct WindowError(#[from] eframe::Error);

/// Opens the window; returns when it is closed.
pub fn run_window(cli: Cli, runtime: tokio::runtime::Handle) -> Result<(), WindowError> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("roompeer")
            // The desktop entry's name: Wayland's app_id and X11's WM_CLASS match it to its icon.
            .with_app_id("roompeer")
            .with_inner_size([1240.0, 980.0]),
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
    .map_err(WindowError)
}
