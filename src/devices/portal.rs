//! Screens on Wayland, where a program cannot read the screen itself: the desktop portal's
//! ScreenCast (ashpd, over D-Bus) asks the compositor, which lets the user pick a screen or a
//! window in its own dialog and then sends the pictures as a PipeWire stream. A thread of its
//! own asks the portal, runs PipeWire's loop, converts each picture to I420 there (at most at
//! the sharing rate) and keeps the newest, as the X11 capture does.

use super::screen::{ScreenCapture, ScreenError, Stop};
use crate::media::bgrx::{BgrxToI420, fit_within};
use crate::media::frame::I420Frame;
use ashpd::desktop::PersistMode;
use ashpd::desktop::screencast::{CursorMode, Screencast, SelectSourcesOptions, SourceType};
use pipewire as pw;
use pw::spa;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the user may take in the desktop's dialog.
const CHOOSE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the first picture may take once the stream is granted.
const FIRST_PICTURE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `--video screen` goes through the portal: a Wayland session without an X display
/// (with one, XWayland's screen holds only X windows, so `screen:portal` asks explicitly).
pub fn preferred() -> bool {
    std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_some()
}

/// Whether sharing `choice` means asking the portal.
pub fn wanted(choice: &crate::media::controls::ScreenChoice) -> bool {
    use crate::media::controls::ScreenChoice;
    *choice == ScreenChoice::Portal || (*choice == ScreenChoice::Whole && preferred())
}

/// What the portal granted: the PipeWire node to read and the connection to read it through.
struct Granted {
    node: u32,
    fd: OwnedFd,
    /// The portal's session, closed when the capture ends (the desktop then stops showing
    /// that the screen is shared).
    session: ashpd::desktop::Session<Screencast>,
}

/// Asks the portal for one screen or window, pointer drawn in where the desktop can.
async fn ask_portal() -> Result<Granted, ScreenError> {
    let refused = |e: ashpd::Error| match e {
        ashpd::Error::Response(ashpd::desktop::ResponseError::Cancelled) => {
            ScreenError::PortalCancelled
        }
        e => ScreenError::Portal(e.to_string()),
    };
    let proxy = Screencast::new().await.map_err(refused)?;
    let cursors = proxy.available_cursor_modes().await.unwrap_or_default();
    let cursor = if cursors.contains(CursorMode::Embedded) {
        CursorMode::Embedded
    } else {
        CursorMode::Hidden
    };
    let session = proxy
        .create_session(Default::default())
        .await
        .map_err(refused)?;
    proxy
        .select_sources(
            &session,
            SelectSourcesOptions::default()
                .set_cursor_mode(cursor)
                .set_sources(SourceType::Monitor | SourceType::Window)
                .set_multiple(false)
                .set_persist_mode(PersistMode::DoNot),
        )
        .await
        .map_err(refused)?;
    let streams = proxy
        .start(&session, None, Default::default())
        .await
        .map_err(refused)?
        .response()
        .map_err(refused)?;
    let node = streams
        .streams()
        .first()
        .ok_or(ScreenError::Portal("it granted no stream".into()))?
        .pipe_wire_node_id();
    let fd = proxy
        .open_pipe_wire_remote(&session, Default::default())
        .await
        .map_err(refused)?;
    Ok(Granted { node, fd, session })
}

/// One PipeWire buffer's picture into I420 at `limit`, or `None` when it holds none (a
/// corrupted or empty buffer, which compositors send when nothing changed).
pub(crate) fn picture(
    convert: &mut BgrxToI420,
    bytes: &[u8],
    (offset, stride): (usize, usize),
    size: (usize, usize),
    limit: (usize, usize),
) -> Option<I420Frame> {
    let stride = if stride == 0 { size.0 * 4 } else { stride };
    convert.convert(bytes.get(offset..)?, stride, size, fit_within(size, limit))
}

/// The formats asked of the compositor: 32-bit pixels in BGRX order (what SHM screen copies
/// are; alpha, where present, is ignored), any size, around `fps`.
fn format_params(fps: u32) -> Result<Vec<u8>, ScreenError> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    use spa::param::video::VideoFormat;
    use spa::utils::{Fraction, Rectangle};
    let object = spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::BGRx,
            VideoFormat::BGRx,
            VideoFormat::BGRA
        ),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Choice,
            Range,
            Rectangle,
            Rectangle {
                width: 1920,
                height: 1080
            },
            Rectangle {
                width: 2,
                height: 2
            },
            Rectangle {
                width: 8192,
                height: 8192
            }
        ),
        spa::pod::property!(
            FormatProperties::VideoFramerate,
            Choice,
            Range,
            Fraction,
            Fraction { num: fps, denom: 1 },
            Fraction { num: 0, denom: 1 },
            Fraction {
                num: 1000,
                denom: 1
            }
        ),
    );
    spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &spa::pod::Value::Object(object),
    )
    .map(|(cursor, _)| cursor.into_inner())
    .map_err(|e| ScreenError::PipeWire(format!("cannot build the format request: {e:?}")))
}

/// What the stream's callbacks share.
struct Receiving {
    format: spa::param::video::VideoInfoRaw,
    convert: BgrxToI420,
    limit: (usize, usize),
    interval: Duration,
    last: Option<Instant>,
    latest: Arc<Mutex<Option<I420Frame>>>,
    ended: Arc<Mutex<Option<String>>>,
    /// Told once: the first picture, or why there will be none.
    first: Option<mpsc::Sender<Result<(usize, usize), ScreenError>>>,
}

impl Receiving {
    fn end(&mut self, why: String) {
        if let Some(first) = self.first.take() {
            let _ = first.send(Err(ScreenError::PipeWire(why.clone())));
        }
        if let Ok(mut e) = self.ended.lock() {
            e.get_or_insert(why);
        }
    }
}

/// A screen asked of the desktop, not yet granted: the desktop's dialog takes as long as the
/// user does, so the sender keeps sending what it sent before until [`PortalRequest::poll`]
/// gives the capture (or why there is none).
pub struct PortalRequest {
    first: mpsc::Receiver<Result<(usize, usize), ScreenError>>,
    latest: Arc<Mutex<Option<I420Frame>>>,
    ended: Arc<Mutex<Option<String>>>,
    /// Taken by the capture once granted; until then, dropping the request stops the thread.
    quit: Option<pw::channel::Sender<()>>,
    abandoned: Arc<AtomicBool>,
    deadline: Instant,
}

impl PortalRequest {
    /// Asks the desktop for what to share, sent at its own size scaled down to fit `limit`, at
    /// most at `fps`. Returns at once; the asking goes on on a thread of its own.
    pub fn start(limit: (usize, usize), fps: u32) -> Result<Self, ScreenError> {
        let latest = Arc::new(Mutex::new(None));
        let ended = Arc::new(Mutex::new(None));
        let abandoned = Arc::new(AtomicBool::new(false));
        let (first_tx, first) = mpsc::channel();
        let (quit, quit_rx) = pw::channel::channel::<()>();
        let receiving = Receiving {
            format: Default::default(),
            convert: BgrxToI420::default(),
            limit,
            interval: Duration::from_secs(1) / fps.max(1),
            last: None,
            latest: latest.clone(),
            ended: ended.clone(),
            first: Some(first_tx.clone()),
        };
        let thread_abandoned = abandoned.clone();
        std::thread::Builder::new()
            .name("screen-portal".into())
            .spawn(move || {
                if let Err(e) = run(receiving, quit_rx, fps, &thread_abandoned) {
                    let _ = first_tx.send(Err(e));
                }
            })
            .map_err(|e| ScreenError::Thread(e.to_string()))?;
        Ok(Self {
            first,
            latest,
            ended,
            quit: Some(quit),
            abandoned,
            deadline: Instant::now() + CHOOSE_TIMEOUT + FIRST_PICTURE_TIMEOUT,
        })
    }

    /// The capture once its first picture came, or why none will; `None` while waiting.
    pub fn poll(&mut self) -> Option<Result<ScreenCapture, ScreenError>> {
        let result = match self.first.try_recv() {
            Ok(result) => result,
            Err(mpsc::TryRecvError::Empty) if Instant::now() < self.deadline => return None,
            Err(_) => Err(ScreenError::NoPicture),
        };
        Some(result.and_then(|size| {
            let quit = self.quit.take().ok_or(ScreenError::NoPicture)?;
            tracing::info!(sent = ?size, "sharing the screen through the desktop portal");
            Ok(ScreenCapture::from_parts(
                self.latest.clone(),
                self.ended.clone(),
                Stop::PipeWire(quit),
                "screen:portal".into(),
                size,
            ))
        }))
    }
}

impl Drop for PortalRequest {
    fn drop(&mut self) {
        if let Some(quit) = self.quit.take() {
            // Not granted yet (or never taken): the thread closes the session when it can.
            self.abandoned.store(true, Ordering::Relaxed);
            let _ = quit.send(());
        }
    }
}

/// The capture thread: the portal's questions, then PipeWire's loop until told to stop or the
/// stream ends.
fn run(
    receiving: Receiving,
    quit: pw::channel::Receiver<()>,
    fps: u32,
    abandoned: &AtomicBool,
) -> Result<(), ScreenError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ScreenError::Thread(e.to_string()))?;
    let granted = runtime.block_on(async {
        tokio::time::timeout(CHOOSE_TIMEOUT, ask_portal())
            .await
            .map_err(|_| ScreenError::PortalCancelled)?
    })?;
    if abandoned.load(Ordering::Relaxed) {
        // The sender moved on while the user chose.
        let _ = runtime.block_on(granted.session.close());
        return Ok(());
    }
    let pipewire =
        |what: &'static str| move |e: pw::Error| ScreenError::PipeWire(format!("{what}: {e}"));
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None).map_err(pipewire("main loop"))?;
    let context =
        pw::context::ContextBox::new(mainloop.loop_(), None).map_err(pipewire("context"))?;
    let core = context
        .connect_fd(granted.fd, None)
        .map_err(pipewire("connecting to the portal's PipeWire"))?;
    let stream = pw::stream::StreamBox::new(
        &core,
        "roompeer-screen",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
        },
    )
    .map_err(pipewire("stream"))?;
    let _listener = stream
        .add_local_listener_with_user_data(receiving)
        .state_changed(|_, r, _, new| match new {
            pw::stream::StreamState::Error(e) => r.end(format!("the screen cast failed: {e}")),
            pw::stream::StreamState::Unconnected => {
                r.end("the desktop stopped the screen cast".into())
            }
            _ => {}
        })
        .param_changed(|_, r, id, param| {
            if id == spa::param::ParamType::Format.as_raw()
                && let Some(param) = param
                && r.format.parse(param).is_err()
            {
                r.end("the desktop offered a picture format roompeer cannot read".into());
            }
        })
        .process(|stream, r| {
            let Some(mut buffer) = stream.dequeue_buffer() else {
                return;
            };
            let now = Instant::now();
            if r.last.is_some_and(|l| now < l + r.interval) {
                return;
            }
            let Some(data) = buffer.datas_mut().first_mut() else {
                return;
            };
            let (offset, stride) = (data.chunk().offset() as usize, data.chunk().stride());
            let size = r.format.size();
            let size = (size.width as usize, size.height as usize);
            let Some(bytes) = data.data() else {
                return;
            };
            let Some(frame) = picture(
                &mut r.convert,
                bytes,
                (offset, stride.max(0) as usize),
                size,
                r.limit,
            ) else {
                return;
            };
            r.last = Some(now);
            if let Some(first) = r.first.take() {
                let _ = first.send(Ok((frame.width, frame.height)));
            }
            if let Ok(mut l) = r.latest.lock() {
                *l = Some(frame);
            }
        })
        .register()
        .map_err(pipewire("stream listener"))?;
    let params = format_params(fps)?;
    let pod = spa::pod::Pod::from_bytes(&params).ok_or(ScreenError::PipeWire(
        "the format request is malformed".into(),
    ))?;
    stream
        .connect(
            spa::utils::Direction::Input,
            Some(granted.node),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut [pod],
        )
        .map_err(pipewire("connecting the stream"))?;
    let _quit = quit.attach(mainloop.loop_(), {
        let mainloop = mainloop.clone();
        move |()| mainloop.quit()
    });
    mainloop.run();
    let _ = stream.disconnect();
    let _ = runtime.block_on(granted.session.close());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BGRX picture with padded rows, after an offset: one colour left, another right.
    fn padded(size: (usize, usize), stride: usize, offset: usize) -> Vec<u8> {
        let mut bytes = vec![0xEE; offset + stride * size.1];
        for y in 0..size.1 {
            for x in 0..size.0 {
                let at = offset + y * stride + x * 4;
                let bgr = if x < size.0 / 2 {
                    [0, 0, 255]
                } else {
                    [255, 0, 0]
                };
                bytes[at..at + 3].copy_from_slice(&bgr);
            }
        }
        bytes
    }

    #[test]
    fn a_buffer_with_an_offset_and_padded_rows_reads_as_its_picture() {
        let mut convert = BgrxToI420::default();
        let bytes = padded((64, 32), 64 * 4 + 48, 128);
        let f = picture(
            &mut convert,
            &bytes,
            (128, 64 * 4 + 48),
            (64, 32),
            (1920, 1080),
        )
        .expect("a picture");
        assert_eq!((f.width, f.height), (64, 32));
        let red = crate::media::bgrx::y_of([255, 0, 0]);
        let blue = crate::media::bgrx::y_of([0, 0, 255]);
        assert_eq!(f.y[16 * 64 + 8], red, "left half red");
        assert_eq!(f.y[16 * 64 + 56], blue, "right half blue");
    }

    #[test]
    fn a_large_screen_is_fitted_and_a_short_buffer_is_no_picture() {
        let mut convert = BgrxToI420::default();
        let bytes = padded((3840, 2160), 3840 * 4, 0);
        let f = picture(&mut convert, &bytes, (0, 0), (3840, 2160), (1920, 1080)).unwrap();
        assert_eq!((f.width, f.height), (1920, 1080));
        assert!(
            picture(
                &mut convert,
                &bytes[..1000],
                (0, 0),
                (3840, 2160),
                (1920, 1080)
            )
            .is_none()
        );
        assert!(picture(&mut convert, &bytes, (bytes.len() + 1, 0), (4, 4), (8, 8)).is_none());
    }

    #[test]
    fn the_format_request_is_a_well_formed_pod() {
        let bytes = format_params(15).unwrap();
        assert!(spa::pod::Pod::from_bytes(&bytes).is_some_and(|p| p.is_object()));
    }
}
