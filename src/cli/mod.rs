//! Command-line options, and how they become run options.

mod values;

pub use values::{
    UsageError, ValueError, parse_audio, parse_size, parse_video, parse_video_schedule,
};
use values::{parse_eio, parse_lang, seconds};

use crate::call::RoomSettings;
use crate::config::FileConfig;
use crate::media::controls::{AudioIn, AudioOut, Devices, MediaControls, VideoIn, VideoSchedule};
use crate::media::jitter::JitterTarget;
use crate::media::processing::Switches;
use crate::media::video::VideoCodec;
use crate::peer::PeerSettings;
use crate::pipeline::MediaSettings;
use crate::server::ServeOptions;
use crate::session::RunOptions;
use crate::signaling::room::Room;
use crate::signaling::{EioVersion, TransportOptions};
use crate::tls::TrustMode;
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use webrtc::peer_connection::RTCIceServer;

/// roompeer: joins a room on a socket.io signaling server and holds a WebRTC call.
/// `--video-size`'s default (a camera's).
pub const DEFAULT_VIDEO_SIZE: (usize, usize) = (640, 480);
/// `--fps`'s default (a camera's).
pub const DEFAULT_FPS: u32 = 30;
/// A shared screen's frames per second unless `--fps` says otherwise.
pub const SCREEN_FPS: u32 = 15;

#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// `serve`: run only the room server.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Run without a window (from scripts, or where there is no display).
    #[arg(long)]
    pub headless: bool,

    /// In the window: press Connect at start (a shortcut that joins a room straight away).
    #[arg(long, conflicts_with = "headless")]
    pub connect: bool,

    /// Signaling server, `https://host:port` or `http://host:port` (socket.io path `/socket.io/`).
    /// Without one, roompeer hosts its own room server on `--listen` (or joins the one another
    /// roompeer hosts there).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,

    /// Where the built-in room server listens when no `--server` is given.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Room to join; without it roompeer joins room `null`, as the seed's page does.
    #[arg(long, value_name = "NAME")]
    pub room: Option<String>,

    /// Force the Engine.IO protocol version (3: socket.io 2.x, 4: socket.io 3.x/4.x).
    #[arg(long, value_name = "3|4", value_parser = parse_eio)]
    pub eio: Option<EioVersion>,

    /// Trust this CA certificate (PEM) in addition to the system's.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["pin_cert", "insecure"])]
    pub ca_cert: Option<PathBuf>,

    /// Trust exactly this server certificate (PEM or DER); the handshake is still verified.
    #[arg(long, value_name = "PATH", conflicts_with = "insecure")]
    pub pin_cert: Option<PathBuf>,

    /// Do not verify the server's certificate at all (warns on every connection).
    #[arg(long)]
    pub insecure: bool,

    /// A STUN or TURN server URL; repeat for several.
    #[arg(long = "ice", value_name = "URL", value_parser = values::parse_ice_url)]
    pub ice: Vec<String>,

    /// User name for every TURN url given with --ice.
    #[arg(long, value_name = "USER")]
    pub ice_user: Option<String>,

    /// Password for every TURN url given with --ice (prefer the environment variable).
    #[arg(
        long,
        value_name = "PASS",
        env = "ROOMPEER_ICE_PASS",
        hide_env_values = true
    )]
    pub ice_pass: Option<String>,

    /// Trust exactly this certificate (PEM or DER) for `turns:` servers. Without it, a
    /// `turns:` server is verified as the signaling server is (--ca-cert, --pin-cert,
    /// --insecure, or the system's roots).
    #[arg(long, value_name = "PATH")]
    pub turn_pin_cert: Option<PathBuf>,

    /// Use relayed (TURN) candidates only.
    #[arg(long)]
    pub relay_only: bool,

    /// mDNS host candidates (`.local`, as browsers send): `resolve` them (where multicast
    /// works; skipped elsewhere), also `hide` our own addresses behind them, or `off`.
    #[arg(long, value_name = "MODE", value_enum, default_value = "resolve")]
    pub mdns: crate::peer::MdnsPolicy,

    /// A TOML file with server, room and ICE servers with per-server credentials.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Video source: `testsrc` (a moving picture that carries a stamp), `camera` (the first
    /// camera), `camera:NAME` (a camera by index or part of its name), `screen` (the whole X
    /// screen of $DISPLAY), `screen:N` (its N-th monitor, from 0) or `window:TITLE` (the first
    /// window whose title contains TITLE). Default: `testsrc` headless, `camera` in the window
    /// (the test picture when there is no camera).
    #[arg(long, value_name = "SOURCE", value_parser = parse_video)]
    pub video: Option<VideoIn>,

    /// Switch the video source during each call: `SOURCE@SECONDS,…`, times from the call's
    /// start, e.g. `screen@5,testsrc@10` (the `--video` source for 5 s, then the screen, then
    /// the test picture again). The window's Share and Stop do the same by hand.
    #[arg(long, value_name = "SCHEDULE", value_parser = parse_video_schedule)]
    pub video_schedule: Option<VideoSchedule>,

    /// The window's language: `en` or `zh` (Simplified Chinese). Default: the system's.
    #[arg(long, value_name = "LANG", value_parser = parse_lang)]
    pub lang: Option<crate::gui::i18n::Lang>,

    /// List cameras, microphones and speakers (JSON) and exit.
    #[arg(long)]
    pub list_devices: bool,

    /// Video size, WIDTHxHEIGHT. A shared screen goes at its own size, scaled down to fit
    /// 1920x1080 (or this, when given).
    #[arg(long, value_name = "WxH", default_value = "640x480", value_parser = parse_size)]
    pub video_size: (usize, usize),

    /// Video frames per second (a shared screen: 15, or this when given).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FPS, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,

    /// Video bit rate in kbit/s.
    #[arg(long, value_name = "KBPS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(50..=20000))]
    pub video_kbps: u32,

    /// Fix the video jitter buffer's target delay at MS (0: frames go on as soon as they are
    /// complete). Unset, the target adapts to the measured jitter and retransmissions.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=2000))]
    pub jitter_ms: Option<u64>,

    /// Video codec: `h264` or `vp8`. Unset, roompeer offers H.264 then VP8, and as answerer
    /// takes the first of them in the offer.
    #[arg(long, value_name = "CODEC", value_enum)]
    pub video_codec: Option<VideoCodec>,

    /// Audio source: `tone` or `tone:HZ` (default 440 Hz), `mic` (the default microphone),
    /// `mic:NAME` (a microphone by name, see --list-devices) or `none` (silence). Default:
    /// `tone` headless, `mic` in the window (silence when there is none).
    #[arg(long, value_name = "SOURCE", value_parser = parse_audio)]
    pub audio: Option<AudioIn>,

    /// Play the received audio: `default` (the default speaker), a speaker's name, or `none`.
    /// Default: `none` headless, `default` in the window (not played when there is none).
    #[arg(long, value_name = "DEVICE")]
    pub audio_out: Option<String>,

    /// Start with the microphone muted (silence is sent until unmuted in the window).
    #[arg(long)]
    pub mute: bool,

    /// Start with the camera off (black pictures are sent, as a browser does).
    #[arg(long)]
    pub camera_off: bool,

    /// Turn off echo cancellation of the microphone.
    #[arg(long)]
    pub no_echo_cancellation: bool,

    /// Turn off noise suppression of the microphone.
    #[arg(long)]
    pub no_noise_suppression: bool,

    /// Turn off automatic gain control of the microphone.
    #[arg(long)]
    pub no_auto_gain: bool,

    /// Sender id written into the video (default: from the process id).
    #[arg(long, value_name = "N")]
    pub id: Option<u16>,

    /// Seconds to wait for a peer (at the start, and after each call).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub wait: f64,

    /// Hold each call this many seconds after it connects, then leave and exit.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Leave after this many calls that connected have ended (attempts that never connected,
    /// such as one a peer's bad offer ended, do not count).
    #[arg(long, value_name = "N")]
    pub calls: Option<u32>,

    /// Record each call into DIR/call-N/: its SDP and candidates, and the peer's video and
    /// audio as they came in one file (`remote.webm` for VP8, `remote.mp4` for H.264; Opus).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,

    /// With --record: also the decoded pictures and sound, frame-exact, as
    /// `remote-video.y4m` and `remote-audio.wav` (large: about 8 GB for ten minutes at 640x480;
    /// each change of the picture's size starts `remote-video-2.y4m`, `-3`, ...).
    #[arg(long, requires = "record")]
    pub record_raw: bool,

    /// With --record: also what roompeer sends, as sent, in `local.webm`/`local.mp4` (to view
    /// beside the peer's).
    #[arg(long, requires = "record")]
    pub record_local: bool,

    /// Write a JSON report here, whatever the outcome.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// More log on stderr: `-v` what roompeer does, `-vv` its details (the default is
    /// warnings only; `ROOMPEER_LOG`, e.g. `roompeer=debug,rtc_ice=info`, overrides both).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Headless: no live status line on the terminal, only the final summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Write each event (joined, call_connected, ice_restart, picture_back, …) as a JSON line
    /// here the moment it happens; `-` writes them to stdout. The report's `events`, live.
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,

    /// Write the connected call's figures once a second as JSON lines here (`-`: stdout): the
    /// window's plots (kbit/s, fps, RTT, loss, buffers, lip sync) and the process's RSS, for a
    /// long run's trends.
    #[arg(long, value_name = "PATH")]
    pub stats: Option<PathBuf>,

    /// Profile where the run's CPU time goes: at the end DIR holds a flame graph
    /// (flamegraph.svg), the folded stacks, and the shares per thread and per function
    /// (profile.txt, profile.json). Sampling costs about a tenth more CPU.
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
}

/// Where the built-in room server listens by default: loopback only, since a browser on this
/// machine may use plain http (a secure context), and others need https anyway.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Run a room server with the seed server's protocol (2 peers a room), for socket.io 2.x
    /// and 3.x/4.x clients, serving the room page; prints `{"listening":…}` on stdout.
    Serve(ServeArgs),
    /// Print a shell's completion script for roompeer on stdout, e.g.
    /// `roompeer completions bash > ~/.local/share/bash-completion/completions/roompeer`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print roompeer's manual page (roff) on stdout, made from these options (for packages).
    #[command(hide = true)]
    Man {
        /// The page of `roompeer serve` (roompeer-serve(1)) instead.
        #[arg(long)]
        serve: bool,
    },
}

impl Cli {
    /// Writes the completion script for `shell`.
    pub fn write_completions(
        shell: clap_complete::Shell,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        use clap::CommandFactory;
        // clap_complete panics on a write error (a closed pipe): it writes to memory here.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "roompeer", &mut script);
        out.write_all(&script)
    }

    /// Writes the manual page roompeer(1), or roompeer-serve(1) when `serve`.
    pub fn write_man_page(serve: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        use clap::CommandFactory;
        let mut command = Cli::command();
        if serve {
            // The page's name is the command's, as man(1) looks it up.
            command = command
                .find_subcommand("serve")
                .cloned()
                .unwrap_or_default()
                .name("roompeer-serve")
                .version(env!("CARGO_PKG_VERSION"));
        }
        clap_mangen::Man::new(command).render(out)
    }
}

/// Options of `roompeer serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Plain-http address for the page and signaling.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub http: SocketAddr,

    /// Do not serve plain http (only https).
    #[arg(long, requires = "https")]
    pub no_http: bool,

    /// https address for the page and signaling (needs --cert and --key).
    #[arg(long, value_name = "ADDR", requires_all = ["cert", "key"])]
    pub https: Option<SocketAddr>,

    /// Certificate chain for https (PEM).
    #[arg(long, value_name = "PATH")]
    pub cert: Option<PathBuf>,

    /// Private key for https (PEM; RSA of 2048 bits or more, ECDSA or Ed25519).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,

    /// Serve this file as the page's socket.io client instead of the built-in one, e.g. the
    /// seed page's socket.io-client 2.0.3 `dist/socket.io.js`.
    #[arg(long, value_name = "PATH")]
    pub client_script: Option<PathBuf>,

    /// Messages (join, message, leave) one connection may send a second on average; more are
    /// dropped, and a client that keeps on is disconnected. 0: no limit.
    #[arg(long, value_name = "N", default_value_t = crate::server::limits::DEFAULT_MESSAGES_PER_SECOND)]
    pub max_messages_per_second: u32,

    /// How many messages may come at once above that rate (a call's setup is ~50).
    #[arg(long, value_name = "N", default_value_t = crate::server::limits::DEFAULT_MESSAGE_BURST,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub message_burst: u32,

    /// Socket.io connections one IP address may hold at once. 0: no limit.
    #[arg(long, value_name = "N", default_value_t = crate::server::limits::DEFAULT_CONNECTIONS_PER_ADDRESS)]
    pub max_connections_per_address: u32,

    /// Only pages from this origin (e.g. `https://rooms.example.org`) may connect; repeat for
    /// several. Without it any page may. Clients that send no Origin (not browsers) always may.
    #[arg(long, value_name = "ORIGIN", value_parser = values::parse_origin)]
    pub allow_origin: Vec<String>,
}

impl ServeArgs {
    /// What the server needs.
    pub fn options(&self) -> ServeOptions {
        ServeOptions {
            http: (!self.no_http).then_some(self.http),
            https: self.https,
            cert: self.cert.clone(),
            key: self.key.clone(),
            client_script: self.client_script.clone(),
            limits: crate::server::limits::ServeLimits {
                messages_per_second: self.max_messages_per_second,
                message_burst: self.message_burst,
                connections_per_address: self.max_connections_per_address,
                allowed_origins: self.allow_origin.clone(),
            },
        }
    }
}

impl Cli {
    /// The devices and switches these options choose; the window's defaults are the real
    /// devices, the headless defaults the synthetic ones.
    pub fn devices(&self) -> (Devices, Switches) {
        let window = !self.headless;
        let devices = Devices {
            audio_in: self.audio.clone().unwrap_or(if window {
                AudioIn::Mic(None)
            } else {
                AudioIn::Tone(440.0)
            }),
            audio_out: match self.audio_out.as_deref() {
                Some("none") => AudioOut::None,
                Some("default") => AudioOut::Speaker(None),
                Some(name) => AudioOut::Speaker(Some(name.to_owned())),
                None if window => AudioOut::Speaker(None),
                None => AudioOut::None,
            },
            video_in: self.video.clone().unwrap_or(if window {
                VideoIn::Camera(None)
            } else {
                VideoIn::TestPattern
            }),
        };
        let switches = Switches {
            echo_cancellation: !self.no_echo_cancellation,
            noise_suppression: !self.no_noise_suppression,
            auto_gain: !self.no_auto_gain,
        };
        (devices, switches)
    }

    /// Live controls starting from these options.
    pub fn media_controls(&self) -> MediaControls {
        let (devices, switches) = self.devices();
        let c = MediaControls::new(devices, switches);
        c.set_mic_muted(self.mute);
        c.set_camera_off(self.camera_off);
        c
    }

    /// Turns the options (and the config file) into what a run needs.
    pub fn run_options(&self) -> Result<RunOptions, UsageError> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        if let Some(dir) = &self.record {
            values::check_record_dir(dir)?;
        }
        let configured = self.server.clone().or(file.server.clone());
        // Nothing configured: host a room server here (the embedded default).
        let host = configured.is_none().then(|| ServeOptions {
            http: Some(self.listen),
            ..Default::default()
        });
        let server = configured.unwrap_or_else(|| format!("http://{}", self.listen));
        let url: url::Url = server.parse().map_err(|reason| UsageError::ServerUrl {
            server: server.clone(),
            reason,
        })?;
        let trust = if self.insecure {
            TrustMode::Insecure
        } else if let Some(p) = &self.pin_cert {
            TrustMode::Pinned(p.clone())
        } else if let Some(p) = &self.ca_cert {
            TrustMode::ExtraCa(p.clone())
        } else {
            TrustMode::System
        };
        let mut ice_servers: Vec<RTCIceServer> = file
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone(),
                credential: s.credential.clone(),
            })
            .collect();
        for u in &self.ice {
            let is_turn = u.starts_with("turn:") || u.starts_with("turns:");
            if is_turn && (self.ice_user.is_none() || self.ice_pass.is_none()) {
                return Err(UsageError::TurnCredentials(u.clone()));
            }
            ice_servers.push(RTCIceServer {
                urls: vec![u.clone()],
                username: if is_turn {
                    self.ice_user.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                credential: if is_turn {
                    self.ice_pass.clone().unwrap_or_default()
                } else {
                    String::new()
                },
            });
        }
        if self.relay_only
            && !ice_servers
                .iter()
                .any(|s| s.urls.iter().any(|u| u.starts_with("turn")))
        {
            return Err(UsageError::RelayOnlyWithoutTurn);
        }
        let (width, height) = self.video_size;
        let sender_id = self.id.unwrap_or((std::process::id() % 65_536) as u16);
        Ok(RunOptions {
            transport: TransportOptions {
                url,
                eio: self.eio,
                trust: trust.clone(),
                connect_timeout: Duration::from_secs(10),
            },
            room: RoomSettings {
                room: Room(self.room.clone().or(file.room.clone())),
                wait: seconds(self.wait, "--wait")?,
                hold: self
                    .duration
                    .map(|d| seconds(d, "--duration"))
                    .transpose()?,
                max_calls: self.calls,
                leave_timeout: Duration::from_secs(2),
                disconnect_grace: Duration::from_secs(5),
                restart_after: Duration::from_secs(1),
            },
            peer: PeerSettings {
                turn_trust: match &self.turn_pin_cert {
                    Some(p) => TrustMode::Pinned(p.clone()),
                    None => trust.clone(),
                },
                turn_bridges: Default::default(),
                ice_servers,
                relay_only: self.relay_only,
                mdns: self.mdns,
                jitter: match self.jitter_ms {
                    Some(ms) => JitterTarget::Fixed(Duration::from_millis(ms)),
                    None => JitterTarget::Adaptive,
                },
                video_codecs: match self.video_codec {
                    Some(c) => vec![c],
                    None => VideoCodec::ALL.to_vec(),
                },
                media: MediaSettings {
                    width,
                    height,
                    fps: self.fps,
                    bitrate_bps: self.video_kbps * 1000,
                    // The defaults are a camera's; a screen goes at its own size and a
                    // screen's rate unless these were asked for.
                    screen_limit: if self.video_size == DEFAULT_VIDEO_SIZE {
                        crate::media::bgrx::SCREEN_LIMIT
                    } else {
                        self.video_size
                    },
                    screen_fps: if self.fps == DEFAULT_FPS {
                        SCREEN_FPS
                    } else {
                        self.fps
                    },
                    video_schedule: self.video_schedule.clone().unwrap_or_default(),
                    sender_id,
                    controls: Arc::new(self.media_controls()),
                },
            },
            record: self.record.clone(),
            record_options: crate::pipeline::RecordOptions {
                raw: self.record_raw,
                local: self.record_local,
            },
            host,
            events: self.events.clone(),
            stats: self.stats.clone(),
        })
    }
}

#[cfg(test)]
mod tests;
