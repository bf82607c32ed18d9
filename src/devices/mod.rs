//! Devices: microphones and speakers (cpal) and cameras (nokhwa). Thin adapters: each opens a
//! device on a thread of its own (device handles are not `Send` everywhere) and exchanges plain
//! samples or frames with the media threads. What they carry is processed elsewhere.

pub mod audio;
pub mod camera;
pub mod portal;
pub mod screen;

/// Every device roompeer can see, for `--list-devices` and the window's choices.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DeviceList {
    /// Cameras, as `INDEX: NAME`.
    pub cameras: Vec<String>,
    /// Audio inputs (microphones).
    pub microphones: Vec<String>,
    /// Audio outputs (speakers).
    pub speakers: Vec<String>,
}

impl DeviceList {
    /// Asks the system (takes a moment: ALSA probes every card).
    pub fn query() -> Self {
        Self {
            cameras: camera::camera_names(),
            microphones: audio::input_names(),
            speakers: audio::output_names(),
        }
    }
}

/// A kind of device, as messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// An audio input.
    Microphone,
    /// An audio output.
    Speaker,
    /// A video input.
    Camera,
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceKind::Microphone => "microphone",
            DeviceKind::Speaker => "speaker",
            DeviceKind::Camera => "camera",
        })
    }
}

/// Why a device could not be used; roompeer says so and carries on without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// No device was named and the system has no default.
    #[error("there is no default {0}; choose one (roompeer --list-devices) or none")]
    NoDefault(DeviceKind),
    /// The system has no device of this kind at all.
    #[error("no {0} found")]
    NoneFound(DeviceKind),
    /// The system could not list its devices.
    #[error("cannot list the {kind}s: {detail}")]
    List {
        /// What was listed.
        kind: DeviceKind,
        /// What the system said.
        detail: String,
    },
    /// No device of that name (or index).
    #[error("no {kind} matches {name:?}; {kind}s: {known} (roompeer --list-devices)")]
    NotFound {
        /// What was looked for.
        kind: DeviceKind,
        /// The name asked for.
        name: String,
        /// The devices there are.
        known: String,
    },
    /// The device is there but could not be opened or started.
    #[error("cannot {step} the {kind} {name:?}: {detail}")]
    Open {
        /// `use`, `open` or `start`.
        step: &'static str,
        /// The device's kind.
        kind: DeviceKind,
        /// The device's name.
        name: String,
        /// What the system said.
        detail: String,
    },
    /// The device delivers or takes samples roompeer does not handle.
    #[error("the {kind} {name:?} uses {format} samples, which roompeer cannot handle")]
    SampleFormat {
        /// The device's kind.
        kind: DeviceKind,
        /// The device's name.
        name: String,
        /// The sample format.
        format: String,
    },
    /// The device stopped delivering for good.
    #[error("the {kind} {name:?} went away")]
    Gone {
        /// The device's kind.
        kind: DeviceKind,
        /// The device's name.
        name: String,
    },
    /// The device's thread could not start or ended while opening it.
    #[error("the {0} thread: {1}")]
    Thread(DeviceKind, String),
    /// Converting the device's sample rate failed to set up.
    #[error("cannot resample {from} Hz to {to} Hz: {detail}")]
    Resample {
        /// The device's rate.
        from: u32,
        /// The rate wanted.
        to: u32,
        /// What the resampler said.
        detail: String,
    },
    /// WebRTC's audio processing could not start.
    #[error("cannot start audio processing: {0}")]
    Processing(String),
}
