//! Settings from a TOML file (`--config`): the server, the room and per-server ICE credentials.
//! Command-line options override what the file says.

use serde::Deserialize;
use std::path::Path;

/// One STUN/TURN server with its own credentials.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IceServerConfig {
    /// `stun:host:port`, `turn:host:port?transport=udp`, …
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default)]
    pub username: String,
    /// TURN password.
    #[serde(default)]
    pub credential: String,
}

/// The file's contents.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Signaling server URL.
    pub server: Option<String>,
    /// Room name.
    pub room: Option<String>,
    /// ICE servers.
    #[serde(default)]
    pub ice_servers: Vec<IceServerConfig>,
}

impl FileConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

/// The config file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// It could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid TOML of the expected shape.
    #[error("config file {}: {source}", path.display())]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        source: toml::de::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_per_server_credentials() {
        let c: FileConfig = toml::from_str(
            r#"
            server = "https://example.org"
            [[ice_servers]]
            urls = ["turn:127.0.0.1:3478"]
            username = "aaaa"
            credential = "aaaa"
            [[ice_servers]]
            urls = ["stun:127.0.0.1:3478"]
            "#,
        )
        .unwrap();
        assert_eq!(c.ice_servers.len(), 2);
        assert_eq!(c.ice_servers[0].username, "aaaa");
        assert_eq!(c.ice_servers[1].credential, "");
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    }
}
