//! A refused server certificate: the question the window asks, and what trusting or
//! forgetting it does (a pin kept in the settings).

use super::RoompeerApp;
use crate::settings::server_key;
use crate::tls;
use eframe::egui;

/// A refused certificate the window asks about.
#[derive(Debug, Clone)]
pub struct CertQuestion {
    /// `host:port` of the server.
    pub server: String,
    /// The certificate (DER).
    pub der: Vec<u8>,
    /// What the user checks.
    pub info: tls::CertificateInfo,
    /// The fingerprint of the certificate trusted before for this server: the certificate
    /// changed, which is refused loudly and cannot be accepted with one click.
    pub changed_from: Option<String>,
}

/// What the user answered about a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CertChoice {
    /// Pin this certificate for its server and connect.
    Trust,
    /// Forget the certificate trusted before (it changed; nothing is trusted instead).
    Forget,
    /// Trust nothing; close the question.
    Refuse,
}

impl RoompeerApp {
    /// Trusts the certificate asked about: pins it for its server, remembers it, connects.
    pub fn trust_certificate(&mut self) {
        let Some(q) = self.cert_question.take() else {
            return;
        };
        let Some(store) = &self.store else {
            self.notice = Some("no config directory to keep the certificate in".into());
            return;
        };
        match store.save_pin(&q.server, &tls::to_pem(&q.der)) {
            Ok(path) => {
                tracing::info!(server = %q.server, fingerprint = %q.info.fingerprint, "certificate trusted and pinned");
                self.settings.pins.insert(q.server, path);
                self.save_settings();
                self.connect();
            }
            Err(e) => self.notice = Some(e.to_string()),
        }
    }

    /// Forgets the certificate trusted for the server asked about (after it changed).
    pub fn forget_certificate(&mut self) {
        if let Some(q) = self.cert_question.take() {
            self.settings.pins.remove(&q.server);
            self.save_settings();
        }
    }

    /// After a refusal: asks about the certificate once per session.
    pub(super) fn ask_about_certificate(&mut self) {
        if self.asked || self.cert_question.is_some() {
            return;
        }
        let (Some(der), Some(server)) = (
            self.shown.untrusted_certificate.clone(),
            server_key(&self.form.server),
        ) else {
            return;
        };
        self.asked = true;
        let changed_from = self.settings.pins.get(&server).map(|path| {
            tls::read_certificate(path)
                .map(|c| tls::fingerprint(&c))
                .unwrap_or_else(|e| format!("(unreadable: {e})"))
        });
        self.cert_question = Some(CertQuestion {
            server,
            info: tls::describe(&der),
            der,
            changed_from,
        });
    }

    /// Asks whether to trust a refused certificate, as a browser's warning page does, but
    /// with the details in view; a changed certificate is refused without that choice.
    pub(super) fn certificate_dialog(&mut self, ctx: &egui::Context) {
        let Some(q) = self.cert_question.clone() else {
            return;
        };
        let lang = self.lang;
        let t = |s| lang.tr(s);
        let mut choice: Option<CertChoice> = None;
        egui::Window::new(t("The server's certificate is not trusted"))
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                ui.label(format!("{} {}", t("Server"), q.server));
                egui::Grid::new("certificate").num_columns(2).show(ui, |ui| {
                    ui.label(t("Fingerprint (SHA-256)"));
                    ui.monospace(&q.info.fingerprint);
                    ui.end_row();
                    ui.label(t("Subject"));
                    ui.label(&q.info.subject);
                    ui.end_row();
                    ui.label(t("Valid from"));
                    ui.label(&q.info.not_before);
                    ui.end_row();
                    ui.label(t("Valid until"));
                    ui.label(&q.info.not_after);
                    ui.end_row();
                });
                match &q.changed_from {
                    Some(old) => {
                        ui.colored_label(
                            ui.visuals().error_fg_color,
                            format!(
                                "THE CERTIFICATE OF {} HAS CHANGED since you trusted it (trusted: {old}). \
                                 Someone may be intercepting the connection: roompeer refuses it. \
                                 Only if the server's owner confirms the new fingerprint, forget \
                                 the old certificate and connect again.",
                                q.server
                            ),
                        );
                        ui.horizontal(|ui| {
                            if ui.button("Forget the trusted certificate").clicked() {
                                choice = Some(CertChoice::Forget);
                            }
                            if ui.button(t("Do not trust")).clicked() {
                                choice = Some(CertChoice::Refuse);
                            }
                        });
                    }
                    None => {
                        ui.label(
                            "Check the fingerprint with the server's owner. Trusting pins exactly \
                             this certificate for this server; any other is refused.",
                        );
                        ui.horizontal(|ui| {
                            if ui.button(t("Trust this certificate")).clicked() {
                                choice = Some(CertChoice::Trust);
                            }
                            if ui.button(t("Do not trust")).clicked() {
                                choice = Some(CertChoice::Refuse);
                            }
                        });
                    }
                }
            });
        match choice {
            Some(CertChoice::Trust) => self.trust_certificate(),
            Some(CertChoice::Forget) => self.forget_certificate(),
            Some(CertChoice::Refuse) => self.cert_question = None,
            None => {}
        }
    }
}
