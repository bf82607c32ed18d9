//! A desktop whose screen reaches roompeer the way a Wayland desktop's does, without a
//! compositor: the real xdg-desktop-portal, with a ScreenCast backend of the test's own (the
//! part GNOME, KDE or wlroots provide, which asks the user) granting a PipeWire video node that
//! the test itself produces, showing the known quadrants. So the portal's D-Bus exchange, its
//! restricted PipeWire connection, WirePlumber's linking and roompeer's PipeWire reader are all
//! the real ones; only the compositor's pixels are the test's.
//!
//! The backend runs in the test process on the session bus (zbus, as roompeer's ashpd does),
//! records what roompeer asked, and answers at once, as a desktop whose user picked the first
//! screen would.

use super::desktop_session::DesktopSession;
use super::xvfb::QUADRANTS;
use pipewire as pw;
use pw::spa;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

/// The backend's D-Bus name, named in the `.portal` file the portal reads.
const BACKEND_NAME: &str = "org.freedesktop.impl.portal.desktop.roompeertest";
/// The desktop name the portal matches the `.portal` file's `UseIn` with.
const DESKTOP: &str = "roompeer-test";

/// What roompeer asked of the backend (through the portal).
#[derive(Clone, Debug, Default)]
pub struct Asked {
    /// Sessions created.
    pub sessions: u32,
    /// The source types of the last SelectSources (1 monitor, 2 window, 4 virtual).
    pub source_types: Option<u32>,
    /// The cursor mode of the last SelectSources (1 hidden, 2 embedded, 4 metadata).
    pub cursor_mode: Option<u32>,
    /// Whether it asked for more than one source.
    pub multiple: Option<bool>,
    /// Start calls answered.
    pub started: u32,
    /// Sessions closed.
    pub closed: u32,
}

pub struct FakePortalDesktop {
    // Dropped in this order: the backend, then the stream, then the session under them.
    backend: Backend,
    producer: Producer,
    session: DesktopSession,
    asked: Arc<Mutex<Asked>>,
}

impl FakePortalDesktop {
    /// A desktop with one screen of `width`x`height` showing the quadrants.
    pub fn start(width: u32, height: u32) -> Self {
        let dir = super::scratch("fake-portal-desktop");
        let portals = dir.join("portals");
        std::fs::create_dir_all(&portals).unwrap();
        std::fs::write(
            portals.join("roompeertest.portal"),
            format!(
                "[portal]\nDBusName={BACKEND_NAME}\nInterfaces=org.freedesktop.impl.portal.ScreenCast;\nUseIn={DESKTOP}\n"
            ),
        )
        .unwrap();
        let session = DesktopSession::start(
            &dir,
            &[
                ("XDG_CURRENT_DESKTOP", DESKTOP.to_owned()),
                // The portal reads its backends' files here instead of the system's.
                ("XDG_DESKTOP_PORTAL_DIR", portals.display().to_string()),
            ],
            &[(
                "org.freedesktop.portal.Desktop",
                "/usr/libexec/xdg-desktop-portal --verbose".to_owned(),
            )],
        );
        let (producer, node) =
            Producer::start(&session.runtime.join("pipewire-0"), (width, height))
                .unwrap_or_else(|e| panic!("the test screen's stream: {e}\n{}", session.logs(&[])));
        let asked = Arc::new(Mutex::new(Asked::default()));
        let backend = Backend::start(
            &session.bus,
            ScreenCastBackend {
                node,
                size: (width as i32, height as i32),
                asked: asked.clone(),
            },
        )
        .unwrap_or_else(|e| panic!("the portal backend: {e}\n{}", session.logs(&[])));
        FakePortalDesktop {
            backend,
            producer,
            session,
            asked,
        }
    }

    /// The environment a roompeer on this desktop runs with. roompeer never talks to the
    /// compositor itself: `WAYLAND_DISPLAY` (with no `DISPLAY`) only tells it that a screen is
    /// asked of the portal, as in any Wayland session.
    pub fn env(&self) -> [(&str, &str); 2] {
        [
            ("DBUS_SESSION_BUS_ADDRESS", self.session.bus.as_str()),
            ("WAYLAND_DISPLAY", "wayland-roompeer-test"),
        ]
    }

    /// What roompeer asked so far.
    pub fn asked(&self) -> Asked {
        self.asked.lock().unwrap().clone()
    }

    /// Whether the bus has started the portal.
    pub fn portal_running(&self) -> bool {
        self.session.portal_running()
    }

    /// Pictures the test screen's stream has handed to PipeWire.
    pub fn pictures_sent(&self) -> u64 {
        *self.producer.sent.lock().unwrap()
    }

    /// What the desktop's programs said, for a failing test's message.
    pub fn logs(&self) -> String {
        self.session.logs(&[])
    }
}

/// The ScreenCast backend: every request granted at once, with the test's stream.
struct ScreenCastBackend {
    node: u32,
    size: (i32, i32),
    asked: Arc<Mutex<Asked>>,
}

type Vardict = HashMap<String, OwnedValue>;

#[zbus::interface(name = "org.freedesktop.impl.portal.ScreenCast")]
impl ScreenCastBackend {
    async fn create_session(
        &self,
        _handle: OwnedObjectPath,
        session_handle: OwnedObjectPath,
        _app_id: String,
        _options: Vardict,
        #[zbus(object_server)] server: &zbus::ObjectServer,
    ) -> (u32, Vardict) {
        self.asked.lock().unwrap().sessions += 1;
        // The portal closes the backend's session object when its client closes its own.
        let session = BackendSession {
            asked: self.asked.clone(),
        };
        let response = match server.at(session_handle, session).await {
            Ok(_) => 0,
            Err(_) => 2,
        };
        (response, Vardict::new())
    }

    async fn select_sources(
        &self,
        _handle: OwnedObjectPath,
        _session_handle: OwnedObjectPath,
        _app_id: String,
        options: Vardict,
    ) -> (u32, Vardict) {
        let mut asked = self.asked.lock().unwrap();
        asked.source_types = options.get("types").and_then(|v| v.downcast_ref().ok());
        asked.cursor_mode = options
            .get("cursor_mode")
            .and_then(|v| v.downcast_ref().ok());
        asked.multiple = options.get("multiple").and_then(|v| v.downcast_ref().ok());
        (0, Vardict::new())
    }

    async fn start(
        &self,
        _handle: OwnedObjectPath,
        _session_handle: OwnedObjectPath,
        _app_id: String,
        _parent_window: String,
        _options: Vardict,
    ) -> (u32, Vardict) {
        self.asked.lock().unwrap().started += 1;
        // One monitor stream: its node, size and type, as a desktop describes it.
        let stream: HashMap<&str, Value> = HashMap::from([
            ("size", Value::from(self.size)),
            ("position", Value::from((0i32, 0i32))),
            ("source_type", Value::from(1u32)),
        ]);
        let streams = Value::new(vec![(self.node, stream)]);
        let mut results = Vardict::new();
        match OwnedValue::try_from(streams) {
            Ok(streams) => {
                results.insert("streams".into(), streams);
                (0, results)
            }
            Err(_) => (2, results),
        }
    }

    #[zbus(property)]
    fn available_source_types(&self) -> u32 {
        1 | 2
    }

    #[zbus(property)]
    fn available_cursor_modes(&self) -> u32 {
        1 | 2 | 4
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        4
    }
}

/// A session as the backend holds it: closed by the portal.
struct BackendSession {
    asked: Arc<Mutex<Asked>>,
}

#[zbus::interface(name = "org.freedesktop.impl.portal.Session")]
impl BackendSession {
    async fn close(&self) {
        self.asked.lock().unwrap().closed += 1;
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        1
    }
}

/// The backend's connection, on a thread of its own (zbus over tokio, as in roompeer).
struct Backend {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    /// Serves `screen_cast` on `bus` under the backend's name; returns once it owns it.
    fn start(bus: &str, screen_cast: ScreenCastBackend) -> Result<Self, String> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready) = mpsc::channel();
        let bus = bus.to_owned();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let connection = async {
                    zbus::connection::Builder::address(bus.as_str())?
                        .name(BACKEND_NAME)?
                        .serve_at("/org/freedesktop/portal/desktop", screen_cast)?
                        .build()
                        .await
                }
                .await;
                match connection {
                    Ok(connection) => {
                        let _ = ready_tx.send(Ok(()));
                        let _ = stopped.await;
                        drop(connection);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        ready
            .recv_timeout(Duration::from_secs(20))
            .map_err(|e| format!("no answer from its thread: {e}"))??;
        Ok(Backend {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The test screen's PipeWire stream: a video source node that drives itself at 10 pictures/s,
/// each the quadrants in BGRx, as a compositor's screen copy is.
struct Producer {
    quit: Option<pw::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    sent: Arc<Mutex<u64>>,
}

/// What the stream's callbacks share.
struct Producing {
    picture: Vec<u8>,
    stride: usize,
    sent: Arc<Mutex<u64>>,
    node: Option<mpsc::Sender<Result<u32, String>>>,
}

impl Producer {
    /// Connects to PipeWire at `socket` and offers the stream; returns it and its node id.
    fn start(socket: &Path, (width, height): (u32, u32)) -> Result<(Self, u32), String> {
        let connection = std::os::unix::net::UnixStream::connect(socket)
            .map_err(|e| format!("cannot reach PipeWire at {socket:?}: {e}"))?;
        let sent = Arc::new(Mutex::new(0));
        let (node_tx, node) = mpsc::channel();
        let (quit, quit_rx) = pw::channel::channel::<()>();
        let mut picture = Vec::with_capacity(width as usize * height as usize * 4);
        for y in 0..height {
            for x in 0..width {
                let q = usize::from(x >= width / 2) + 2 * usize::from(y >= height / 2);
                let [r, g, b] = QUADRANTS[q];
                picture.extend_from_slice(&[b, g, r, 255]);
            }
        }
        let producing = Producing {
            picture,
            stride: width as usize * 4,
            sent: sent.clone(),
            node: Some(node_tx.clone()),
        };
        let thread = std::thread::spawn(move || {
            if let Err(e) = produce(
                OwnedFd::from(connection),
                producing,
                quit_rx,
                (width, height),
            ) {
                let _ = node_tx.send(Err(e));
            }
        });
        let node = node
            .recv_timeout(Duration::from_secs(20))
            .map_err(|e| format!("no node id: {e}"))??;
        Ok((
            Producer {
                quit: Some(quit),
                thread: Some(thread),
                sent,
            },
            node,
        ))
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Some(quit) = self.quit.take() {
            let _ = quit.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A pod's bytes.
fn pod_bytes(object: spa::pod::Object) -> Result<Vec<u8>, String> {
    spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &spa::pod::Value::Object(object),
    )
    .map(|(cursor, _)| cursor.into_inner())
    .map_err(|e| format!("{e:?}"))
}

/// The stream's one format: BGRx at its size, 10 pictures/s.
fn format((width, height): (u32, u32)) -> Result<Vec<u8>, String> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    use spa::param::video::VideoFormat;
    use spa::utils::{Fraction, Rectangle};
    pod_bytes(spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(FormatProperties::VideoFormat, Id, VideoFormat::BGRx),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Rectangle,
            Rectangle { width, height }
        ),
        spa::pod::property!(
            FormatProperties::VideoFramerate,
            Fraction,
            Fraction { num: 10, denom: 1 }
        ),
    ))
}

/// The buffers the stream fills: one plane of `stride` x `height`, in shareable memory.
fn buffers(stride: usize, height: usize) -> Result<Vec<u8>, String> {
    use spa::pod::{Property, Value};
    use spa::sys;
    pod_bytes(spa::pod::Object {
        type_: sys::SPA_TYPE_OBJECT_ParamBuffers,
        id: sys::SPA_PARAM_Buffers,
        properties: vec![
            Property::new(sys::SPA_PARAM_BUFFERS_buffers, Value::Int(4)),
            Property::new(sys::SPA_PARAM_BUFFERS_blocks, Value::Int(1)),
            Property::new(
                sys::SPA_PARAM_BUFFERS_size,
                Value::Int((stride * height) as i32),
            ),
            Property::new(sys::SPA_PARAM_BUFFERS_stride, Value::Int(stride as i32)),
            Property::new(
                sys::SPA_PARAM_BUFFERS_dataType,
                Value::Int((1 << sys::SPA_DATA_MemFd) | (1 << sys::SPA_DATA_MemPtr)),
            ),
        ],
    })
}

/// The stream's thread: PipeWire's loop until told to quit.
fn produce(
    connection: OwnedFd,
    producing: Producing,
    quit: pw::channel::Receiver<()>,
    size: (u32, u32),
) -> Result<(), String> {
    let pipewire = |what: &'static str| move |e: pw::Error| format!("{what}: {e}");
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None).map_err(pipewire("main loop"))?;
    let context = pw::context::ContextRc::new(&mainloop, None).map_err(pipewire("context"))?;
    let core = context
        .connect_fd_rc(connection, None)
        .map_err(pipewire("connecting"))?;
    let stream = pw::stream::StreamRc::new(
        core,
        "roompeer-test-screen",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
            *pw::keys::MEDIA_CLASS => "Video/Source",
            *pw::keys::NODE_NAME => "roompeer-test-screen",
        },
    )
    .map_err(pipewire("stream"))?;
    let buffer_params = buffers(producing.stride, size.1 as usize)?;
    let _listener = stream
        .add_local_listener_with_user_data(producing)
        .state_changed(|stream, p, _, new| {
            if let pw::stream::StreamState::Error(e) = &new
                && let Some(node) = p.node.take()
            {
                let _ = node.send(Err(format!("the stream failed: {e}")));
            }
            if matches!(new, pw::stream::StreamState::Paused)
                && let Some(node) = p.node.take()
            {
                let _ = node.send(Ok(stream.node_id()));
            }
        })
        .param_changed(move |stream, _, id, param| {
            // Once a reader's format is fixed, say what buffers the pictures need.
            if id == spa::param::ParamType::Format.as_raw()
                && param.is_some()
                && let Some(pod) = spa::pod::Pod::from_bytes(&buffer_params)
            {
                let _ = stream.update_params(&mut [pod]);
            }
        })
        .process(|stream, p| {
            let Some(mut buffer) = stream.dequeue_buffer() else {
                return;
            };
            let Some(data) = buffer.datas_mut().first_mut() else {
                return;
            };
            let written = match data.data() {
                Some(bytes) => {
                    let n = bytes.len().min(p.picture.len());
                    bytes[..n].copy_from_slice(&p.picture[..n]);
                    n
                }
                None => 0,
            };
            let chunk = data.chunk_mut();
            *chunk.offset_mut() = 0;
            *chunk.stride_mut() = p.stride as i32;
            *chunk.size_mut() = written as u32;
            if written > 0 {
                *p.sent.lock().unwrap() += 1;
            }
        })
        .register()
        .map_err(pipewire("listener"))?;
    let format = format(size)?;
    let pod = spa::pod::Pod::from_bytes(&format).ok_or("a malformed format")?;
    stream
        .connect(
            spa::utils::Direction::Output,
            None,
            pw::stream::StreamFlags::DRIVER | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut [pod],
        )
        .map_err(pipewire("connecting the stream"))?;
    // The stream drives its graph: a picture every 100 ms.
    let timer = mainloop.loop_().add_timer({
        let stream = stream.clone();
        move |_| {
            // `StreamRc::trigger_process` needs the crate's `v0_3_34` feature, which roompeer
            // does not turn on (the feature would build the crate twice); the call is the same.
            // SAFETY: the stream is alive (this closure holds it) and used on its loop's thread.
            unsafe {
                pw::sys::pw_stream_trigger_process(stream.as_raw_ptr());
            }
        }
    });
    let _ = timer.update_timer(
        Some(Duration::from_millis(100)),
        Some(Duration::from_millis(100)),
    );
    let _quit = quit.attach(mainloop.loop_(), {
        let mainloop = mainloop.clone();
        move |()| mainloop.quit()
    });
    mainloop.run();
    let _ = stream.disconnect();
    Ok(())
}
