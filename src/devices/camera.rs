//! Cameras through nokhwa (V4L2 on Linux). The camera runs on a thread of its own and keeps
//! the latest picture, converted to I420 at the size roompeer sends; the video sender takes it
//! at its own pace. Cameras are asked for YUYV, which every UVC camera offers and which turns
//! into I420 without a JPEG decoder.

use super::{DeviceError, DeviceKind};
use crate::media::frame::I420Frame;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The cameras present, as `INDEX: NAME`.
pub fn camera_names() -> Vec<String> {
    match nokhwa::query(ApiBackend::Auto) {
        Ok(cams) => cams
            .iter()
            .map(|c| format!("{}: {}", c.index(), c.human_name()))
            .collect(),
        Err(e) => {
            tracing::debug!("cannot list cameras: {e}");
            Vec::new()
        }
    }
}

/// Picks a camera: by index, by a name containing `choice`, or the first.
fn choose(choice: Option<&str>) -> Result<(CameraIndex, String), DeviceError> {
    let cams = nokhwa::query(ApiBackend::Auto).map_err(|e| DeviceError::List {
        kind: DeviceKind::Camera,
        detail: e.to_string(),
    })?;
    if cams.is_empty() {
        return Err(DeviceError::NoneFound(DeviceKind::Camera));
    }
    let found = match choice {
        None => cams.first(),
        Some(c) => {
            // "0: Name" as listed, a bare index, or part of the name.
            let index = c
                .split(':')
                .next()
                .and_then(|i| i.trim().parse::<u32>().ok());
            cams.iter().find(|cam| {
                index.is_some_and(|i| matches!(cam.index(), CameraIndex::Index(n) if *n == i))
                    || cam.human_name().contains(c.trim())
            })
        }
    };
    let cam = found.ok_or_else(|| DeviceError::NotFound {
        kind: DeviceKind::Camera,
        name: choice.unwrap_or_default().to_owned(),
        known: cams
            .iter()
            .map(|c| c.human_name())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    Ok((cam.index().clone(), cam.human_name()))
}

/// A running camera.
pub struct CameraCapture {
    latest: Arc<Mutex<Option<I420Frame>>>,
    stop: Arc<AtomicBool>,
    /// The camera's name.
    pub name: String,
}

impl CameraCapture {
    /// Opens a camera and starts capturing at about `width`x`height` and `fps`; pictures are
    /// scaled to exactly `width`x`height`.
    pub fn open(
        choice: Option<&str>,
        width: usize,
        height: usize,
        fps: u32,
    ) -> Result<Self, DeviceError> {
        let (index, name) = choose(choice)?;
        let latest = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), DeviceError>>(1);
        let (t_latest, t_stop, t_name) = (latest.clone(), stop.clone(), name.clone());
        std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || {
                let wanted = CameraFormat::new(
                    Resolution::new(width as u32, height as u32),
                    FrameFormat::YUYV,
                    fps,
                );
                let format = RequestedFormat::with_formats(
                    RequestedFormatType::Closest(wanted),
                    &[FrameFormat::YUYV],
                );
                let opened = nokhwa::Camera::new(index, format).and_then(|mut cam| {
                    cam.open_stream()?;
                    Ok(cam)
                });
                let mut cam = match opened {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(DeviceError::Open {
                            step: "open",
                            kind: DeviceKind::Camera,
                            name: t_name.clone(),
                            detail: e.to_string(),
                        }));
                        return;
                    }
                };
                tracing::info!(camera = %t_name, format = %cam.camera_format(), "camera open");
                let _ = ready_tx.send(Ok(()));
                while !t_stop.load(Ordering::Relaxed) {
                    // Blocks until the camera delivers the next picture.
                    let buffer = match cam.frame() {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!("camera {t_name:?}: {e}");
                            break;
                        }
                    };
                    let res = buffer.resolution();
                    let frame = match buffer.source_frame_format() {
                        FrameFormat::YUYV => yuyv_to_i420(
                            buffer.buffer(),
                            res.width() as usize,
                            res.height() as usize,
                            width,
                            height,
                        ),
                        other => {
                            tracing::warn!("camera {t_name:?} sends {other}, not YUYV");
                            break;
                        }
                    };
                    if let (Some(f), Ok(mut l)) = (frame, t_latest.lock()) {
                        *l = Some(f);
                    }
                }
                let _ = cam.stop_stream();
            })
            .map_err(|e| DeviceError::Thread(DeviceKind::Camera, e.to_string()))?;
        ready_rx.recv().map_err(|_| {
            DeviceError::Thread(
                DeviceKind::Camera,
                "it ended while opening the camera".into(),
            )
        })??;
        Ok(Self { latest, stop, name })
    }

    /// The newest picture not yet taken.
    pub fn take(&self) -> Option<I420Frame> {
        self.latest.lock().ok().and_then(|mut l| l.take())
    }
}

impl Drop for CameraCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Converts packed YUYV (4:2:2) of `sw`x`sh` into I420 of `dw`x`dh`, scaling by nearest
/// neighbour. `None` if the buffer is too short for its size.
pub fn yuyv_to_i420(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Option<I420Frame> {
    if sw < 2 || sh < 2 || src.len() < sw * sh * 2 {
        return None;
    }
    let mut f = I420Frame::black(dw, dh);
    let stride = sw * 2;
    for y in 0..dh {
        let sy = y * sh / dh;
        let row = &src[sy * stride..(sy + 1) * stride];
        for x in 0..dw {
            let sx = x * sw / dw;
            f.y[y * dw + x] = row[sx * 2];
        }
    }
    let (cw, ch) = (dw / 2, dh / 2);
    for y in 0..ch {
        let sy = (y * 2) * sh / dh;
        let row = &src[sy * stride..(sy + 1) * stride];
        for x in 0..cw {
            // The pixel pair holding U and V for this column.
            let sx = ((x * 2) * sw / dw) & !1;
            f.u[y * cw + x] = row[sx * 2 + 1];
            f.v[y * cw + x] = row[sx * 2 + 3];
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_becomes_i420() {
        // 4x2 YUYV: Y ramps, U=100, V=200.
        let src: Vec<u8> = (0..8u8)
            .flat_map(|i| [i * 10, if i % 2 == 0 { 100 } else { 200 }])
            .collect();
        let f = yuyv_to_i420(&src, 4, 2, 4, 2).unwrap();
        assert_eq!(f.y, vec![0, 10, 20, 30, 40, 50, 60, 70]);
        assert_eq!((f.u.clone(), f.v.clone()), (vec![100, 100], vec![200, 200]));
        // Scaled up, and a short buffer is refused.
        assert_eq!(yuyv_to_i420(&src, 4, 2, 8, 4).unwrap().y.len(), 32);
        assert!(yuyv_to_i420(&src[..7], 4, 2, 4, 2).is_none());
    }

    #[test]
    fn no_camera_is_a_clear_error() {
        // This machine has no /dev/video*: the path the tests can reach.
        if camera_names().is_empty() {
            let e = CameraCapture::open(None, 640, 480, 30).err().unwrap();
            assert!(e.to_string().contains("no camera"), "{e}");
        }
    }
}
