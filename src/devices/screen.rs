//! Screens and windows through X11: x11rb's pure-Rust connection (nothing to install beside
//! the X server), RandR for a screen's monitors, MIT-SHM where the server offers it (a frame
//! is then read from shared memory, not copied through the socket), GetImage otherwise. The
//! capture runs on a thread of its own at the sharing rate, converts to I420 there and keeps
//! the newest picture, like a camera.
//!
//! Inside a network namespace the X server's abstract socket is out of reach (abstract
//! sockets belong to the network namespace); x11rb then connects through the socket file.

use crate::media::bgrx::{BgrxToI420, fit_within};
use crate::media::controls::ScreenChoice;
use crate::media::frame::I420Frame;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::ConnectionExt as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

/// Why a screen or window cannot be shared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScreenError {
    /// No X server to ask.
    #[error(
        "cannot share the screen: no X display ($DISPLAY is not set) and no Wayland session ($WAYLAND_DISPLAY is not set)"
    )]
    NoDisplay,
    /// The desktop portal could not be asked, or refused.
    #[error(
        "the desktop's screen-cast portal failed: {0} (on Wayland, sharing needs xdg-desktop-portal and the backend for this desktop running)"
    )]
    Portal(String),
    /// The user closed the desktop's dialog without choosing.
    #[error("the screen cast was cancelled in the desktop's dialog: nothing is shared")]
    PortalCancelled,
    /// The portal's PipeWire stream failed.
    #[error("the screen cast's PipeWire stream failed: {0}")]
    PipeWire(String),
    /// The desktop granted a stream but sent no picture.
    #[error("the desktop sent no picture of the screen")]
    NoPicture,
    /// The X server could not be reached.
    #[error("cannot connect to the X display {display:?}: {detail}")]
    Connect {
        /// `$DISPLAY`.
        display: String,
        /// What x11rb said.
        detail: String,
    },
    /// The screen has fewer monitors.
    #[error("there is no monitor {index}: the screen has {count} (numbered from 0)")]
    NoMonitor {
        /// The one asked for.
        index: usize,
        /// How many there are.
        count: usize,
    },
    /// No window has that title.
    #[error("no window's title contains {title:?}; windows: {known}")]
    NoWindow {
        /// What was looked for.
        title: String,
        /// The titles there are.
        known: String,
    },
    /// The screen's pixels are not 32-bit BGRX.
    #[error(
        "the X screen stores pixels as depth {depth} in {bits} bits, which roompeer cannot read"
    )]
    PixelFormat {
        /// Bits that carry colour.
        depth: u8,
        /// Bits per pixel.
        bits: u8,
    },
    /// A request failed.
    #[error("the X server refused {request}: {detail}")]
    Request {
        /// What was asked.
        request: &'static str,
        /// What it said.
        detail: String,
    },
    /// The capture thread could not start.
    #[error("cannot start the screen capture thread: {0}")]
    Thread(String),
}

fn request<E: std::fmt::Display>(request: &'static str) -> impl Fn(E) -> ScreenError {
    move |e| ScreenError::Request {
        request,
        detail: e.to_string(),
    }
}

/// What a capture reads: a window, or an area of the root window.
#[derive(Debug, Clone, Copy)]
enum Target {
    Area {
        root: xproto::Window,
        x: i16,
        y: i16,
        width: u16,
        height: u16,
    },
    Window(xproto::Window),
}

/// How a capture thread is told to stop.
pub(crate) enum Stop {
    /// The X11 thread looks at a flag between pictures.
    Flag(Arc<AtomicBool>),
    /// The portal's thread sleeps in PipeWire's loop, which a message wakes.
    PipeWire(pipewire::channel::Sender<()>),
}

/// A running screen or window capture.
pub struct ScreenCapture {
    latest: Arc<Mutex<Option<I420Frame>>>,
    stop: Stop,
    /// Why the capture ended by itself (the window closed, the X server went), once it has.
    ended: Arc<Mutex<Option<String>>>,
    /// What is shared, as `--video` names it (`screen`, `screen:1`, `window:TITLE`).
    pub name: String,
    /// The size it is sent at.
    pub size: (usize, usize),
}

impl ScreenCapture {
    pub(crate) fn from_parts(
        latest: Arc<Mutex<Option<I420Frame>>>,
        ended: Arc<Mutex<Option<String>>>,
        stop: Stop,
        name: String,
        size: (usize, usize),
    ) -> Self {
        Self {
            latest,
            stop,
            ended,
            name,
            size,
        }
    }

    /// Starts capturing `choice` through X11 at `fps`, sent at its own size scaled down to fit
    /// `limit` (the desktop portal's captures come from [`super::portal::PortalRequest`]).
    pub fn open(
        choice: &ScreenChoice,
        limit: (usize, usize),
        fps: u32,
    ) -> Result<Self, ScreenError> {
        let (conn, screen_num) = connect()?;
        let target = resolve(&conn, screen_num, choice)?;
        let (width, height) = target_size(&conn, target)?;
        let size = fit_within((width, height), limit);
        let latest = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let name = choice.to_string();
        let mut first = Grabber::new(target, limit);
        // The first picture before returning: a sender never starts on a black frame, and a
        // screen that cannot be read fails here, where the user sees it.
        *latest
            .lock()
            .map_err(|_| ScreenError::Thread("poisoned".into()))? = Some(first.grab(&conn)?);
        let ended = Arc::new(Mutex::new(None));
        let (t_latest, t_stop, t_ended) = (latest.clone(), stop.clone(), ended.clone());
        std::thread::Builder::new()
            .name("screen".into())
            .spawn(move || {
                let interval = Duration::from_secs(1) / fps.max(1);
                let mut next = Instant::now() + interval;
                while !t_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                    next = (next + interval).max(Instant::now());
                    match first.grab(&conn) {
                        Ok(frame) => {
                            if let Ok(mut l) = t_latest.lock() {
                                *l = Some(frame);
                            }
                        }
                        Err(e) => {
                            // The window closed, or the server went: the sender is told.
                            if let Ok(mut why) = t_ended.lock() {
                                *why = Some(e.to_string());
                            }
                            break;
                        }
                    }
                }
            })
            .map_err(|e| ScreenError::Thread(e.to_string()))?;
        tracing::info!(source = %name, from = ?(width, height), sent = ?size, fps, "sharing the screen");
        Ok(Self::from_parts(
            latest,
            ended,
            Stop::Flag(stop),
            name,
            size,
        ))
    }

    /// The newest picture not yet taken.
    pub fn take(&self) -> Option<I420Frame> {
        self.latest.lock().ok().and_then(|mut l| l.take())
    }

    /// Why the capture ended by itself, if it has (no more pictures will come).
    pub fn ended(&self) -> Option<String> {
        self.ended.lock().ok().and_then(|e| e.clone())
    }
}

impl Drop for ScreenCapture {
    fn drop(&mut self) {
        match &self.stop {
            Stop::Flag(stop) => stop.store(true, Ordering::Relaxed),
            Stop::PipeWire(quit) => {
                let _ = quit.send(());
            }
        }
    }
}

/// Connects to `$DISPLAY`, whose screen must hand out pixels roompeer reads.
fn connect() -> Result<(RustConnection, usize), ScreenError> {
    let display = std::env::var("DISPLAY").map_err(|_| ScreenError::NoDisplay)?;
    let (conn, screen_num) = x11rb::connect(Some(&display)).map_err(|e| ScreenError::Connect {
        display: display.clone(),
        detail: e.to_string(),
    })?;
    check_pixels(&conn, &conn.setup().roots[screen_num])?;
    Ok((conn, screen_num))
}

/// The RandR monitors of the screen, in RandR's order.
fn monitors(
    conn: &RustConnection,
    root: xproto::Window,
) -> Result<Vec<x11rb::protocol::randr::MonitorInfo>, ScreenError> {
    Ok(conn
        .randr_get_monitors(root, true)
        .map_err(request("RandR monitors"))?
        .reply()
        .map_err(request("RandR monitors"))?
        .monitors)
}

/// What `choice` reads on the connected screen.
fn resolve(
    conn: &RustConnection,
    screen_num: usize,
    choice: &ScreenChoice,
) -> Result<Target, ScreenError> {
    let screen = &conn.setup().roots[screen_num];
    let root = screen.root;
    Ok(match choice {
        // The desktop picks it; X11 has nothing to resolve.
        ScreenChoice::Portal => return Err(ScreenError::NoPicture),
        ScreenChoice::Whole => Target::Area {
            root,
            x: 0,
            y: 0,
            width: screen.width_in_pixels,
            height: screen.height_in_pixels,
        },
        ScreenChoice::Monitor(index) => {
            let monitors = monitors(conn, root)?;
            let m = monitors.get(*index).ok_or(ScreenError::NoMonitor {
                index: *index,
                count: monitors.len(),
            })?;
            Target::Area {
                root,
                x: m.x,
                y: m.y,
                width: m.width,
                height: m.height,
            }
        }
        ScreenChoice::Window(title) => {
            let windows = windows(conn, root)?;
            match windows.iter().find(|(_, t)| t.contains(title.as_str())) {
                Some((w, _)) => Target::Window(*w),
                None => {
                    return Err(ScreenError::NoWindow {
                        title: title.clone(),
                        known: windows
                            .iter()
                            .map(|(_, t)| format!("{t:?}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
    })
}

/// Something the user can share, as a picker lists it.
#[derive(Debug, Clone)]
pub struct ScreenSource {
    /// What sharing it means.
    pub choice: ScreenChoice,
    /// Its size on screen.
    pub size: (usize, usize),
    /// A small picture of it (fitted to the asked size), if it could be read.
    pub thumbnail: Option<I420Frame>,
}

/// The whole screen, each monitor (when there are several) and each titled window, with
/// thumbnails fitted to `thumb`. Takes a moment: run it off the UI thread.
pub fn list_sources(thumb: (usize, usize)) -> Result<Vec<ScreenSource>, ScreenError> {
    if super::portal::preferred() {
        // On Wayland only the desktop's own dialog can list what there is.
        return Ok(vec![ScreenSource {
            choice: ScreenChoice::Portal,
            size: (0, 0),
            thumbnail: None,
        }]);
    }
    let (conn, screen_num) = connect()?;
    let root = conn.setup().roots[screen_num].root;
    let mut choices = vec![ScreenChoice::Whole];
    let monitors = monitors(&conn, root).unwrap_or_default();
    if monitors.len() > 1 {
        choices.extend((0..monitors.len()).map(ScreenChoice::Monitor));
    }
    choices.extend(
        windows(&conn, root)?
            .into_iter()
            .map(|(_, title)| ScreenChoice::Window(title)),
    );
    let mut grabber = Grabber::new(Target::Window(root), thumb);
    // One picture each, read through the socket (no shared memory for a one-off).
    grabber.no_shm = true;
    let mut sources = Vec::new();
    for choice in choices {
        let Ok(target) = resolve(&conn, screen_num, &choice) else {
            continue;
        };
        let Ok(size) = target_size(&conn, target) else {
            continue;
        };
        grabber.target = target;
        sources.push(ScreenSource {
            choice,
            size,
            thumbnail: grabber.grab(&conn).ok(),
        });
    }
    Ok(sources)
}

/// The screen must hand out 32-bit little-endian pixels with 8-bit red, green and blue.
fn check_pixels(conn: &RustConnection, screen: &xproto::Screen) -> Result<(), ScreenError> {
    let depth = screen.root_depth;
    let bits = conn
        .setup()
        .pixmap_formats
        .iter()
        .find(|f| f.depth == depth)
        .map_or(0, |f| f.bits_per_pixel);
    let visual = screen
        .allowed_depths
        .iter()
        .flat_map(|d| &d.visuals)
        .find(|v| v.visual_id == screen.root_visual);
    let bgrx =
        visual.is_some_and(|v| (v.red_mask, v.green_mask, v.blue_mask) == (0xff0000, 0xff00, 0xff));
    if bits != 32 || depth < 24 || !bgrx || conn.setup().image_byte_order != ImageOrder::LSB_FIRST {
        return Err(ScreenError::PixelFormat { depth, bits });
    }
    Ok(())
}

/// The size of what `target` covers now.
fn target_size(conn: &RustConnection, target: Target) -> Result<(usize, usize), ScreenError> {
    match target {
        Target::Area { width, height, .. } => Ok((width.into(), height.into())),
        Target::Window(w) => {
            let g = conn
                .get_geometry(w)
                .map_err(request("window geometry"))?
                .reply()
                .map_err(request("window geometry"))?;
            Ok((g.width.into(), g.height.into()))
        }
    }
}

/// Every viewable window with a title, with its title (`_NET_WM_NAME`, else `WM_NAME`),
/// top-level first. Walks the tree, so it works without a window manager too.
pub fn windows(
    conn: &RustConnection,
    root: xproto::Window,
) -> Result<Vec<(xproto::Window, String)>, ScreenError> {
    let atom = |name: &[u8]| -> Result<u32, ScreenError> {
        Ok(conn
            .intern_atom(false, name)
            .map_err(request("an atom"))?
            .reply()
            .map_err(request("an atom"))?
            .atom)
    };
    let (net_wm_name, utf8) = (atom(b"_NET_WM_NAME")?, atom(b"UTF8_STRING")?);
    let title = |w: xproto::Window| -> Option<String> {
        for (property, kind) in [
            (net_wm_name, utf8),
            (
                xproto::AtomEnum::WM_NAME.into(),
                xproto::AtomEnum::STRING.into(),
            ),
        ] {
            let reply = conn
                .get_property(false, w, property, kind, 0, 1024)
                .ok()?
                .reply()
                .ok()?;
            if !reply.value.is_empty() {
                return Some(String::from_utf8_lossy(&reply.value).into_owned());
            }
        }
        None
    };
    let mut found = Vec::new();
    let mut queue = std::collections::VecDeque::from([root]);
    while let Some(w) = queue.pop_front() {
        let children = conn
            .query_tree(w)
            .map_err(request("the window tree"))?
            .reply()
            .map_err(request("the window tree"))?
            .children;
        for child in children {
            let viewable = conn
                .get_window_attributes(child)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|a| a.map_state == xproto::MapState::VIEWABLE);
            if !viewable {
                continue;
            }
            if let Some(t) = title(child) {
                found.push((child, t));
            }
            queue.push_back(child);
        }
    }
    Ok(found)
}

/// Shared memory the X server writes a picture into (MIT-SHM 1.2, a memfd passed over the
/// socket).
struct SharedImage {
    segment: u32,
    ptr: *mut libc::c_void,
    len: usize,
}

impl SharedImage {
    fn new(conn: &RustConnection, len: usize) -> Option<SharedImage> {
        let version = conn.shm_query_version().ok()?.reply().ok()?;
        if (version.major_version, version.minor_version) < (1, 2) {
            return None;
        }
        // SAFETY: a fresh anonymous file; its descriptor is owned by the OwnedFd below.
        let fd = unsafe { libc::memfd_create(c"roompeer-screen".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` was just opened and is owned from here on.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        // SAFETY: sizing and mapping a file we own; the mapping is checked below.
        let ptr = unsafe {
            if libc::ftruncate(raw, len as libc::off_t) != 0 {
                return None;
            }
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        let segment = conn.generate_id().ok()?;
        let image = SharedImage { segment, ptr, len };
        conn.shm_attach_fd(segment, fd, true).ok()?.check().ok()?;
        Some(image)
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for SharedImage {
    fn drop(&mut self) {
        // SAFETY: unmapping what `new` mapped, once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Reads pictures of one target and converts them.
struct Grabber {
    target: Target,
    limit: (usize, usize),
    shared: Option<SharedImage>,
    /// MIT-SHM failed once: GetImage from then on.
    no_shm: bool,
    convert: BgrxToI420,
}

// SAFETY: the shared mapping is only touched by the thread that owns the grabber.
unsafe impl Send for Grabber {}

impl Grabber {
    fn new(target: Target, limit: (usize, usize)) -> Grabber {
        Grabber {
            target,
            limit,
            shared: None,
            no_shm: false,
            convert: BgrxToI420::default(),
        }
    }

    /// One picture, converted.
    fn grab(&mut self, conn: &RustConnection) -> Result<I420Frame, ScreenError> {
        let (drawable, x, y) = match self.target {
            Target::Area { root, x, y, .. } => (root, x, y),
            Target::Window(w) => (w, 0, 0),
        };
        let (w, h) = target_size(conn, self.target)?;
        let len = w * h * 4;
        let dst = fit_within((w, h), self.limit);
        if !self.no_shm && self.shared.as_ref().is_none_or(|s| s.len < len) {
            self.shared = SharedImage::new(conn, len);
            self.no_shm = self.shared.is_none();
        }
        if let Some(shared) = &self.shared {
            let got = conn
                .shm_get_image(
                    drawable,
                    x,
                    y,
                    w as u16,
                    h as u16,
                    !0,
                    ImageFormat::Z_PIXMAP.into(),
                    shared.segment,
                    0,
                )
                .map_err(request("a shared-memory picture"))?
                .reply();
            if got.is_ok() {
                return self
                    .convert
                    .convert(shared.bytes(), w * 4, (w, h), dst)
                    .ok_or_else(|| request("a picture")("short picture"));
            }
            // Some servers refuse MIT-SHM for some drawables: the socket from now on.
            tracing::debug!("MIT-SHM picture refused; reading pictures through the socket");
            self.shared = None;
            self.no_shm = true;
        }
        let reply = conn
            .get_image(
                ImageFormat::Z_PIXMAP,
                drawable,
                x,
                y,
                w as u16,
                h as u16,
                !0,
            )
            .map_err(request("a picture"))?
            .reply()
            .map_err(request("a picture"))?;
        self.convert
            .convert(&reply.data, w * 4, (w, h), dst)
            .ok_or_else(|| request("a picture")("short picture"))
    }
}
