//! Devices: microphones and speakers (cpal) and cameras (nokhwa). Thin adapters: each opens a
//! device on a thread of its own (device handles are not `Send` everywhere) and exchanges plain
//! samples or frames with the media threads. What they carry is processed elsewhere.

pub mod audio;
pub mod camera;

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
