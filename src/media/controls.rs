//! What the user can change while a call runs: the sources and sinks, mute, camera off, and the
//! audio processing switches. The window writes these; the media threads read them at every
//! frame, so a change takes effect without hanging up.

use super::processing::Switches;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Where the sent audio comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioIn {
    /// A sine tone at this frequency (the synthetic microphone).
    Tone(f64),
    /// A microphone: the default one, or the one with this name.
    Mic(Option<String>),
    /// Nothing (silence is sent, as a browser does for a muted track).
    Silence,
}

/// Where the received audio goes (besides the recording and the report).
#[derive(Debug, Clone, PartialEq)]
pub enum AudioOut {
    /// Not played.
    None,
    /// Speakers: the default device, or the one with this name.
    Speaker(Option<String>),
}

/// Where the sent video comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoIn {
    /// The moving test picture that carries a stamp.
    TestPattern,
    /// A camera: the first one, or the one whose name contains this (or with this index).
    Camera(Option<String>),
    /// A screen or a window (X11).
    Screen(ScreenChoice),
}

/// Video sources to switch to during each call: (time after the call's media started, source),
/// in time order. `--video-schedule`.
pub type VideoSchedule = Vec<(std::time::Duration, VideoIn)>;

/// Which screen content is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenChoice {
    /// The whole default screen of `$DISPLAY`.
    Whole,
    /// One monitor of it (XRandR's order, from 0).
    Monitor(usize),
    /// The first window whose title contains this.
    Window(String),
    /// What the user picks in the desktop's own dialog (the xdg-desktop-portal ScreenCast, the
    /// only way on Wayland).
    Portal,
}

impl std::fmt::Display for ScreenChoice {
    /// As `--video` takes it, and as the report's `video.source` begins.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Whole => write!(f, "screen"),
            Self::Monitor(n) => write!(f, "screen:{n}"),
            Self::Window(title) => write!(f, "window:{title}"),
            Self::Portal => write!(f, "screen:portal"),
        }
    }
}

impl AudioIn {
    /// As `--audio` takes it.
    pub fn to_arg(&self) -> String {
        match self {
            Self::Tone(hz) => format!("tone:{hz}"),
            Self::Mic(None) => "mic".into(),
            Self::Mic(Some(n)) => format!("mic:{n}"),
            Self::Silence => "none".into(),
        }
    }
}

impl AudioOut {
    /// As `--audio-out` takes it.
    pub fn to_arg(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::Speaker(None) => "default".into(),
            Self::Speaker(Some(n)) => n.clone(),
        }
    }
}

impl VideoIn {
    /// As `--video` takes it.
    pub fn to_arg(&self) -> String {
        match self {
            Self::TestPattern => "testsrc".into(),
            Self::Camera(None) => "camera".into(),
            Self::Camera(Some(c)) => format!("camera:{c}"),
            Self::Screen(choice) => choice.to_string(),
        }
    }
}

/// The chosen sources and sinks.
#[derive(Debug, Clone, PartialEq)]
pub struct Devices {
    /// Sent audio.
    pub audio_in: AudioIn,
    /// Played audio.
    pub audio_out: AudioOut,
    /// Sent video.
    pub video_in: VideoIn,
}

impl Default for Devices {
    fn default() -> Self {
        Self {
            audio_in: AudioIn::Tone(440.0),
            audio_out: AudioOut::None,
            video_in: VideoIn::TestPattern,
        }
    }
}

/// Live controls shared by the window and the media threads.
#[derive(Debug, Default)]
pub struct MediaControls {
    mic_muted: AtomicBool,
    camera_off: AtomicBool,
    switches: Mutex<Option<Switches>>,
    devices: Mutex<Devices>,
    /// Bumped at every device change, so threads notice without comparing.
    generation: AtomicU64,
}

impl MediaControls {
    /// Controls starting with these devices and processing switches.
    pub fn new(devices: Devices, switches: Switches) -> Self {
        Self {
            switches: Mutex::new(Some(switches)),
            devices: Mutex::new(devices),
            ..Default::default()
        }
    }

    /// Whether the microphone is muted (silence is sent).
    pub fn mic_muted(&self) -> bool {
        self.mic_muted.load(Ordering::Relaxed)
    }

    /// Mutes or unmutes the microphone.
    pub fn set_mic_muted(&self, muted: bool) {
        self.mic_muted.store(muted, Ordering::Relaxed);
    }

    /// Whether the camera is off (black frames are sent, as a browser does).
    pub fn camera_off(&self) -> bool {
        self.camera_off.load(Ordering::Relaxed)
    }

    /// Turns the camera off or on.
    pub fn set_camera_off(&self, off: bool) {
        self.camera_off.store(off, Ordering::Relaxed);
    }

    /// The audio processing switches.
    pub fn switches(&self) -> Switches {
        self.switches
            .lock()
            .ok()
            .and_then(|s| *s)
            .unwrap_or_default()
    }

    /// Changes the audio processing switches.
    pub fn set_switches(&self, switches: Switches) {
        if let Ok(mut s) = self.switches.lock() {
            *s = Some(switches);
        }
    }

    /// The chosen devices and the generation they belong to.
    pub fn devices(&self) -> (Devices, u64) {
        let d = self.devices.lock().map(|d| d.clone()).unwrap_or_default();
        (d, self.generation())
    }

    /// The current device generation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Switches devices; running media threads reopen what changed.
    pub fn set_devices(&self, devices: Devices) {
        if let Ok(mut d) = self.devices.lock() {
            if *d == devices {
                return;
            }
            *d = devices;
        }
        self.generation.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_change_is_noticed_once() {
        let c = MediaControls::new(Devices::default(), Switches::default());
        let (d, g) = c.devices();
        c.set_devices(d.clone());
        assert_eq!(c.generation(), g, "the same devices: no change");
        c.set_devices(Devices {
            audio_in: AudioIn::Mic(None),
            ..d
        });
        assert_eq!(c.generation(), g + 1);
        assert_eq!(c.devices().0.audio_in, AudioIn::Mic(None));
        c.set_mic_muted(true);
        assert!(c.mic_muted());
    }
}
