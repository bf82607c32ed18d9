//! A private PulseAudio daemon per test: a null sink as the speakers (its monitor can be
//! recorded) and a sine played into another null sink's monitor as the microphone. cpal reaches it through ALSA's pulse plugin,
//! so capture and playback run through real devices on a machine without a sound card.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Pulse {
    child: Child,
    /// The daemon's `XDG_RUNTIME_DIR`: processes given it use this daemon.
    pub runtime_dir: PathBuf,
}

/// The speakers' sink name.
pub const SINK: &str = "roompeer_speakers";
/// The sink the microphone's sine plays into.
pub const MIC_SINK: &str = "roompeer_mic";
/// The microphone's source name: that sink's monitor.
pub const SOURCE: &str = "roompeer_mic.monitor";

impl Pulse {
    /// Starts a daemon whose default source plays a `mic_hz` sine.
    pub fn start(dir: &Path, mic_hz: u32) -> Pulse {
        let runtime_dir = dir.join("pulse-runtime");
        std::fs::create_dir_all(&runtime_dir).unwrap();
        let child = Command::new("pulseaudio")
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .env("HOME", &runtime_dir)
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "-L",
                "module-native-protocol-unix",
                "-L",
                &format!("module-null-sink sink_name={SINK} rate=48000"),
                // The microphone: a sine played into a second null sink, captured from its
                // monitor. (module-sine-source hands its audio over in 2 s blocks, which no real
                // microphone does; a null sink keeps time with its clients' latency.)
                "-L",
                &format!("module-null-sink sink_name={MIC_SINK} rate=48000"),
                "-L",
                &format!("module-sine sink={MIC_SINK} frequency={mic_hz}"),
                "-L",
                "module-always-sink",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("pulseaudio.log")).unwrap())
            .spawn()
            .expect("pulseaudio (Debian package pulseaudio; .ci/run installs it)");
        let pulse = Pulse { child, runtime_dir };
        // Ready when it answers; each try waits for the daemon's reply, up to 10 s in all.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !pulse.pactl(&["info"]) {
            assert!(
                std::time::Instant::now() < deadline,
                "pulseaudio did not start; see {}",
                dir.join("pulseaudio.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(pulse.pactl(&["set-default-sink", SINK]));
        assert!(pulse.pactl(&["set-default-source", SOURCE]));
        pulse
    }

    fn pactl(&self, args: &[&str]) -> bool {
        Command::new("pactl")
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("HOME", &self.runtime_dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The environment a process needs to use this daemon.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let d = self.runtime_dir.display().to_string();
        vec![("XDG_RUNTIME_DIR", d.clone()), ("HOME", d)]
    }

    /// Starts recording what the speakers play (mono, 48 kHz, s16le) into `path`.
    pub fn record_speakers(&self, path: &Path) -> Child {
        Command::new("parec")
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("HOME", &self.runtime_dir)
            .args([
                &format!("--device={SINK}.monitor"),
                "--raw",
                "--format=s16le",
                "--rate=48000",
                "--channels=1",
            ])
            .stdout(std::fs::File::create(path).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("parec (Debian package pulseaudio-utils)")
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
