//! Driving the window in tests: the window as a user starts it, typing, and stepping it until
//! the session (on other threads) shows something.

use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use roompeer::gui::RoompeerApp;
use roompeer::settings::SettingsStore;
use std::time::{Duration, Instant};

/// The window, with the options a user would start it with and its settings in `config`.
pub fn window(
    runtime: &tokio::runtime::Runtime,
    config: &std::path::Path,
    args: &[&str],
) -> Harness<'static, RoompeerApp> {
    use clap::Parser;
    let cli = roompeer::cli::Cli::try_parse_from(
        ["roompeer", "--video-size", "320x240", "--wait", "30"]
            .iter()
            .chain(args),
    )
    .unwrap();
    let handle = runtime.handle().clone();
    let store = Some(SettingsStore::at(config.to_owned()));
    Harness::builder()
        .with_size([1100.0, 900.0])
        .build_eframe(move |cc| RoompeerApp::create_with_store(cc, cli, handle, store))
}

pub fn type_into(harness: &mut Harness<'_, RoompeerApp>, field: &str, text: &str) {
    harness
        .get_by_role_and_label(Role::TextInput, field)
        .focus();
    harness.step();
    harness
        .get_by_role_and_label(Role::TextInput, field)
        .type_text(text);
    harness.step();
}

/// Steps the window until `done` holds (the session runs on other threads; the window looks
/// at it every frame, as it does on screen).
pub fn step_until(
    harness: &mut Harness<'_, RoompeerApp>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&RoompeerApp) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        harness.step();
        if done(harness.state()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the window never showed {what}: {:?} {:?}",
            harness.state().state().status,
            harness.state().state().error
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Steps the window until a widget labelled with something containing `label` shows.
pub fn step_until_shown(h: &mut Harness<'_, RoompeerApp>, label: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while h.query_by_label_contains(label).is_none() {
        assert!(
            Instant::now() < deadline,
            "the window never showed {label:?}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}
