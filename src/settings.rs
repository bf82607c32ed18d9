//! The window's settings, kept between runs in the platform's config directory
//! (`~/.config/roompeer` on Linux; `ROOMPEER_CONFIG_DIR` overrides it):
//! - `settings.toml`: server, room, ICE server and user, devices (in the command line's own
//!   syntax, so the two say the same things), processing switches, language, and the
//!   certificates the user chose to trust, by server;
//! - `turn-password`: the TURN password, readable by the user alone (mode 0600), never logged;
//! - `pins/HOST_PORT.pem`: each trusted certificate.
//!
//! Options given on the command line win over saved settings. The headless mode does not read
//! them: a script's call depends only on its command line.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the window remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Signaling server URL.
    pub server: String,
    /// Room name.
    pub room: String,
    /// STUN or TURN URL.
    pub ice_url: String,
    /// TURN user.
    pub ice_user: String,
    /// Camera, as `--video` takes it.
    pub video: Option<String>,
    /// Microphone, as `--audio` takes it.
    pub audio: Option<String>,
    /// Speakers, as `--audio-out` takes it.
    pub audio_out: Option<String>,
    /// Video size, `WIDTHxHEIGHT`.
    pub video_size: Option<String>,
    /// Frames per second.
    pub fps: Option<u32>,
    /// Echo cancellation on.
    pub echo_cancellation: Option<bool>,
    /// Noise suppression on.
    pub noise_suppression: Option<bool>,
    /// Automatic gain on.
    pub auto_gain: Option<bool>,
    /// The window's language (`en`, `zh`); unset: the system's.
    pub lang: Option<crate::gui::i18n::Lang>,
    /// Trusted certificates: `host:port` to the PEM file in `pins/`.
    pub pins: BTreeMap<String, PathBuf>,
}

/// Where settings live.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    dir: PathBuf,
}

impl SettingsStore {
    /// The platform's config directory for roompeer (or `ROOMPEER_CONFIG_DIR`).
    pub fn default_location() -> Option<Self> {
        if let Some(d) = std::env::var_os("ROOMPEER_CONFIG_DIR") {
            return Some(Self::at(PathBuf::from(d)));
        }
        directories::ProjectDirs::from("", "", "roompeer").map(|p| Self::at(p.config_dir().into()))
    }

    /// Settings in `dir`.
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn settings_path(&self) -> PathBuf {
        self.dir.join("settings.toml")
    }

    fn password_path(&self) -> PathBuf {
        self.dir.join("turn-password")
    }

    /// The saved settings; defaults if there are none. A broken file is reported and ignored
    /// (it is not overwritten until the next save).
    pub fn load(&self) -> Settings {
        match std::fs::read_to_string(self.settings_path()) {
            Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!("ignoring {}: {e}", self.settings_path().display());
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    /// Saves the settings.
    pub fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        let text = toml::to_string_pretty(settings).map_err(SettingsError::Serialize)?;
        self.write_private(&self.settings_path(), text.as_bytes(), false)
    }

    /// The saved TURN password, if any.
    pub fn password(&self) -> Option<String> {
        std::fs::read_to_string(self.password_path())
            .ok()
            .filter(|p| !p.is_empty())
    }

    /// Saves the TURN password readable by the user alone; an empty one removes the file.
    pub fn save_password(&self, password: &str) -> Result<(), SettingsError> {
        if password.is_empty() {
            let _ = std::fs::remove_file(self.password_path());
            return Ok(());
        }
        self.write_private(&self.password_path(), password.as_bytes(), true)
    }

    /// Saves a trusted certificate for `server` (`host:port`) and returns its path.
    pub fn save_pin(&self, server: &str, pem: &str) -> Result<PathBuf, SettingsError> {
        let name: String = server
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.dir.join("pins").join(format!("{name}.pem"));
        self.write_private(&path, pem.as_bytes(), false)?;
        Ok(path)
    }

    /// Writes a file atomically (a temporary file, then a rename), created with mode 0600
    /// when `secret`, so it is never readable by others even for a moment.
    fn write_private(
        &self,
        path: &Path,
        content: &[u8],
        secret: bool,
    ) -> Result<(), SettingsError> {
        use std::io::Write;
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(|source| SettingsError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if secret { 0o600 } else { 0o644 });
        }
        let written = options
            .open(&tmp)
            .and_then(|mut f| f.write_all(content).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path));
        written.map_err(|source| SettingsError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// The window's settings could not be saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The settings could not be written as TOML.
    #[error("cannot write the settings: {0}")]
    Serialize(toml::ser::Error),
    /// A file or folder could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// `host:port` of a server URL, the key its certificate is pinned under.
pub fn server_key(url: &str) -> Option<String> {
    let u = url::Url::parse(url.trim()).ok()?;
    Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_a_private_password() {
        let dir = std::env::temp_dir().join(format!("roompeer-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SettingsStore::at(dir.clone());
        assert_eq!(store.load(), Settings::default(), "nothing saved yet");
        let mut s = Settings {
            server: "https://example.org:8443".into(),
            room: "房间 1".into(),
            audio: Some("mic:USB".into()),
            echo_cancellation: Some(false),
            ..Default::default()
        };
        let pin = store.save_pin("example.org:8443", "PEM").unwrap();
        s.pins.insert("example.org:8443".into(), pin.clone());
        store.save(&s).unwrap();
        assert_eq!(store.load(), s);
        store.save_password("aaaa").unwrap();
        assert_eq!(store.password().as_deref(), Some("aaaa"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("turn-password"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the password is the user's alone");
        }
        assert!(
            !std::fs::read_to_string(dir.join("settings.toml"))
                .unwrap()
                .contains("aaaa")
        );
        store.save_password("").unwrap();
        assert_eq!(store.password(), None);
        // A broken file is ignored, not fatal.
        std::fs::write(dir.join("settings.toml"), "server = [").unwrap();
        assert_eq!(store.load(), Settings::default());
        assert_eq!(
            server_key("https://example.org:8443/x").as_deref(),
            Some("example.org:8443")
        );
        assert_eq!(
            server_key("https://example.org").as_deref(),
            Some("example.org:443")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
