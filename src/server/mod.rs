//! `roompeer serve`: a room server with the seed server's protocol, and the room page.
//!
//! The room rules live in [`rooms`]; this is the adapter around them. socketioxide speaks
//! socket.io to 3.x/4.x clients and, with its `v4` feature, to 2.x clients such as the seed page's
//! 2.0.3 (Engine.IO v3), on one endpoint; axum serves the page from `assets/web`, built into the
//! binary, over http and https.

pub mod limits;
pub mod rooms;
mod tls;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::connect_info::Connected;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::IncomingStream;
use limits::{AddressCounts, MessageBudget, ServeLimits, Verdict};
use rooms::{Emit, Rooms};
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use std::collections::HashMap;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
use tls::{TlsListener, tls_config};
use tokio_util::sync::CancellationToken;

/// Largest Engine.IO packet accepted: an SDP is ~10 KB; the seed's server allows 1 MB.
const MAX_PAYLOAD: u64 = 256 * 1024;

/// Where and how to serve.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Plain-http address (page and signaling).
    pub http: Option<SocketAddr>,
    /// https address; needs `cert` and `key`.
    pub https: Option<SocketAddr>,
    /// PEM certificate chain for https.
    pub cert: Option<PathBuf>,
    /// PEM private key for https (RSA of 2048 bits or more, or ECDSA/Ed25519).
    pub key: Option<PathBuf>,
    /// Serve this file as the page's `/js/socket.io.js` instead of the built-in client (e.g.
    /// the seed page's socket.io-client 2.0.3 `dist/socket.io.js`).
    pub client_script: Option<PathBuf>,
    /// What one client may cost.
    pub limits: ServeLimits,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate or key is missing or unusable.
    #[error("https: {0}")]
    Tls(String),
    /// A file to serve could not be read.
    #[error("{0}")]
    File(String),
    /// Nothing to listen on.
    #[error("nothing to serve: give an http or https address")]
    NoListener,
}

impl ServeError {
    /// Whether the address is taken (by another roompeer's server, perhaps).
    pub fn is_address_in_use(&self) -> bool {
        matches!(self, ServeError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse)
    }
}

/// A running room server; it stops when dropped.
pub struct RoomServer {
    /// The bound http address.
    pub http: Option<SocketAddr>,
    /// The bound https address.
    pub https: Option<SocketAddr>,
    stop: CancellationToken,
}

impl Drop for RoomServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The page's files, built in.
struct Page {
    client_script: Arc<[u8]>,
}

const INDEX_HTML: &str = include_str!("../../assets/web/index.html");
const MAIN_JS: &str = include_str!("../../assets/web/js/main.js");
const MAIN_CSS: &str = include_str!("../../assets/web/css/main.css");
/// A small socket.io client written for this project (the page's `io.connect()`, `on`, `emit`
/// and `disconnect` over a websocket), so the page works with nothing but roompeer.
const BUILTIN_CLIENT: &str = include_str!("../../assets/web/js/roompeer-socketio.js");

impl RoomServer {
    /// Binds the listeners and starts serving in the background.
    pub async fn start(opts: &ServeOptions) -> Result<RoomServer, ServeError> {
        if opts.http.is_none() && opts.https.is_none() {
            return Err(ServeError::NoListener);
        }
        let tls = match opts.https {
            Some(_) => Some(tls_config(opts)?),
            None => None,
        };
        let client_script: Arc<[u8]> = match &opts.client_script {
            Some(p) => std::fs::read(p)
                .map_err(|e| {
                    ServeError::File(format!(
                        "cannot read the client script {}: {e}",
                        p.display()
                    ))
                })?
                .into(),
            None => BUILTIN_CLIENT.as_bytes().into(),
        };
        let app = app(Arc::new(Page { client_script }), opts.limits.clone());
        let stop = CancellationToken::new();
        let mut server = RoomServer {
            http: None,
            https: None,
            stop: stop.clone(),
        };
        if let Some(addr) = opts.http {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?;
            server.http = listener.local_addr().ok();
            let (app, stop) = (app.clone(), stop.clone());
            let listener = PlainListener(listener);
            tokio::spawn(async move {
                let app = app.into_make_service_with_connect_info::<ClientAddr>();
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!("the http server stopped: {e}");
                }
            });
        }
        if let (Some(addr), Some(tls)) = (opts.https, tls) {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?;
            server.https = listener.local_addr().ok();
            let listener = TlsListener::start(listener, tls, stop.clone());
            tokio::spawn(async move {
                let app = app.into_make_service_with_connect_info::<ClientAddr>();
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!("the https server stopped: {e}");
                }
            });
        }
        Ok(server)
    }
}

/// The address a request came from, for the per-address limit.
#[derive(Debug, Clone, Copy)]
struct ClientAddr(SocketAddr);

impl Connected<IncomingStream<'_, PlainListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, PlainListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// Plain http's listener: TCP connections with Nagle off (see [`no_delay`]).
struct PlainListener(tokio::net::TcpListener);

impl axum::serve::Listener for PlainListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((mut tcp, addr)) => {
                    no_delay(&mut tcp);
                    return (tcp, addr);
                }
                // Out of descriptors and the like: wait, as axum's own listener does.
                Err(e) => {
                    tracing::debug!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// Nagle off: a room's messages are small and come in bursts (an offer, then candidates); with
/// it on, one written while the previous is unacknowledged waits for the peer's delayed ACK
/// (40 ms on Linux).
fn no_delay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// The limits, and what each connection has spent of them.
struct Guard {
    limits: ServeLimits,
    state: Mutex<GuardState>,
}

#[derive(Default)]
struct GuardState {
    addresses: AddressCounts,
    /// Per admitted socket: its message budget and the address it counts against.
    sockets: HashMap<String, (MessageBudget, Option<IpAddr>)>,
}

impl Guard {
    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A socket asks to connect: counted against its address, or refused.
    fn admit(&self, s: &SocketRef) -> Result<(), limits::ConnectionRefused> {
        let address = client_ip(s);
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(ip) = address
            && let Err((refused, log)) = state.addresses.admit(ip, now)
        {
            if log {
                tracing::warn!("refused a connection: {refused}");
            }
            return Err(refused);
        }
        let budget = MessageBudget::new(&self.limits, now);
        state.sockets.insert(s.id.to_string(), (budget, address));
        Ok(())
    }

    /// Whether a socket's message goes on; a client over its budget by another whole burst is
    /// disconnected.
    fn allow(&self, s: &SocketRef, event: &str) -> bool {
        let verdict = match self.lock().sockets.get_mut(&s.id.to_string()) {
            Some((budget, _)) => budget.spend(Instant::now()),
            None => Verdict::Pass,
        };
        match verdict {
            Verdict::Pass => true,
            Verdict::Drop { first } => {
                if first {
                    tracing::warn!(
                        id = %s.id,
                        "a client sends more than {} messages a second: its `{event}` and what \
                         follows are dropped until it slows down (--max-messages-per-second)",
                        self.limits.messages_per_second
                    );
                }
                false
            }
            Verdict::Disconnect => {
                tracing::warn!(id = %s.id, "a client kept flooding after its messages were dropped: disconnected");
                let _ = s.clone().disconnect();
                false
            }
        }
    }

    /// A socket left: its address holds one connection fewer.
    fn release(&self, s: &SocketRef) {
        let mut state = self.lock();
        if let Some((budget, address)) = state.sockets.remove(&s.id.to_string()) {
            if let Some(ip) = address {
                state.addresses.release(ip);
            }
            if budget.dropped > 0 {
                tracing::info!(id = %s.id, dropped = budget.dropped, "a flooding client left");
            }
        }
    }
}

/// The IP address a socket connected from (none if the server was not told).
fn client_ip(s: &SocketRef) -> Option<IpAddr> {
    s.req_parts()
        .extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0.0.ip())
}

/// Refuses socket.io requests whose `Origin` is not on the allowlist (403), before any
/// Engine.IO session or websocket exists.
async fn check_origin(
    axum::extract::State(allowed): axum::extract::State<Arc<Vec<String>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let origin = request
        .headers()
        .get(axum::http::header::ORIGIN)
        .map(|o| o.to_str().unwrap_or("(not text)"));
    if request.uri().path().starts_with("/socket.io") && !limits::origin_allowed(&allowed, origin) {
        tracing::info!(
            origin = %crate::text::quote(origin.unwrap_or_default()),
            "refused a page from an origin not on --allow-origin"
        );
        return (
            axum::http::StatusCode::FORBIDDEN,
            "this page's origin may not use this server (roompeer serve --allow-origin)\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// The router: the page, its scripts, and socket.io on `/socket.io/`.
fn app(page: Arc<Page>, limits: ServeLimits) -> Router {
    let (layer, io) = SocketIo::builder()
        .max_payload(MAX_PAYLOAD)
        .ws_max_message_size(MAX_PAYLOAD as usize)
        .ws_max_frame_size(MAX_PAYLOAD as usize)
        // A little longer than 2.x's own defaults, so a slow client is not dropped.
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .build_layer();
    let rooms = Arc::new(Mutex::new(Rooms::new()));
    let allowed_origins = Arc::new(limits.allowed_origins.clone());
    let guard = Arc::new(Guard {
        state: Mutex::new(GuardState {
            addresses: AddressCounts::new(limits.connections_per_address),
            sockets: HashMap::new(),
        }),
        limits,
    });
    // Not an async closure: socketioxide sends CONNECT and then calls this handler, spawning
    // what it returns. Wiring the events synchronously here means they are in place before
    // the client can answer CONNECT with its `join` (an async body ran later and lost joins).
    // The address limit is a connect middleware: a refused client gets a connect error that
    // names the limit, and never joins.
    let admit = {
        let guard = guard.clone();
        move |s: SocketRef| std::future::ready(guard.admit(&s))
    };
    io.ns(
        "/",
        {
            let io = io.clone();
            move |socket: SocketRef| {
                on_connect(socket, io, rooms, guard);
                std::future::ready(())
            }
        }
        .with(admit),
    );
    let file = |body: &'static str, kind: &'static str| {
        get(async move || ([(CONTENT_TYPE, kind), (CACHE_CONTROL, "no-cache")], body))
    };
    Router::new()
        .route("/", file(INDEX_HTML, "text/html; charset=utf-8"))
        .route("/index.html", file(INDEX_HTML, "text/html; charset=utf-8"))
        .route(
            "/js/main.js",
            file(MAIN_JS, "text/javascript; charset=utf-8"),
        )
        .route("/css/main.css", file(MAIN_CSS, "text/css; charset=utf-8"))
        // The page loads webrtc-adapter; current browsers need no shim, so it is empty here.
        .route(
            "/js/adapter.js",
            file("/* no shim needed */\n", "text/javascript"),
        )
        .route(
            "/js/socket.io.js",
            get(async move || {
                (
                    [
                        (CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (CACHE_CONTROL, "no-cache"),
                    ],
                    page.client_script.to_vec(),
                )
                    .into_response()
            }),
        )
        .layer(layer)
        .layer(axum::middleware::from_fn_with_state(
            allowed_origins,
            check_origin,
        ))
}

/// A client connected: wire its events to the room rules.
///
/// The handlers do their work when called and return a finished future: socketioxide calls a
/// handler as its packet is read, in the order the client sent them, but spawns the future
/// it returns, so work done inside an async body could overtake an earlier event (a
/// `message` handled before the `join` in front of it).
fn on_connect(socket: SocketRef, io: SocketIo, rooms: Arc<Mutex<Rooms>>, guard: Arc<Guard>) {
    tracing::debug!(id = %socket.id, "client connected");
    socket.on("join", {
        let (io, rooms, guard) = (io.clone(), rooms.clone(), guard.clone());
        move |s: SocketRef, TryData(room): TryData<Value>| {
            if !guard.allow(&s, "join") {
                return std::future::ready(());
            }
            match room {
                Ok(room) => {
                    let result = lock(&rooms).join(&s.id.to_string(), &room);
                    deliver(&io, &s, "join", result);
                }
                Err(e) => bad_input(&s, "join", &e),
            }
            std::future::ready(())
        }
    });
    socket.on("message", {
        let (io, rooms, guard) = (io.clone(), rooms.clone(), guard.clone());
        move |s: SocketRef, TryData(args): TryData<(Value, Value)>| {
            if !guard.allow(&s, "message") {
                return std::future::ready(());
            }
            match args {
                Ok((room, data)) => {
                    let result = lock(&rooms).message(&s.id.to_string(), &room, data);
                    deliver(&io, &s, "message", result);
                }
                Err(e) => bad_input(&s, "message", &e),
            }
            std::future::ready(())
        }
    });
    socket.on("leave", {
        let (io, rooms, guard) = (io.clone(), rooms.clone(), guard.clone());
        move |s: SocketRef, TryData(room): TryData<Value>| {
            if !guard.allow(&s, "leave") {
                return std::future::ready(());
            }
            match room {
                Ok(room) => {
                    let result = lock(&rooms).leave(&s.id.to_string(), &room);
                    deliver(&io, &s, "leave", result);
                }
                Err(e) => bad_input(&s, "leave", &e),
            }
            std::future::ready(())
        }
    });
    socket.on_disconnect(move |s: SocketRef| {
        tracing::debug!(id = %s.id, "client disconnected");
        lock(&rooms).disconnect(&s.id.to_string());
        guard.release(&s);
        std::future::ready(())
    });
}

/// The rooms, even if a handler panicked while holding them (the state stays consistent:
/// every method finishes its changes before it returns).
fn lock(rooms: &Mutex<Rooms>) -> std::sync::MutexGuard<'_, Rooms> {
    rooms.lock().unwrap_or_else(|p| p.into_inner())
}

/// Logs a malformed event without its content: what a client sends is its own business (the
/// parser's reason, which may quote it, only at debug level and bounded).
fn bad_input(s: &SocketRef, event: &str, e: &impl std::fmt::Display) {
    tracing::info!(id = %s.id, "ignored a malformed `{event}` (its arguments are not what the protocol says)");
    tracing::debug!(id = %s.id, "why: {}", crate::text::quote(&e.to_string()));
}

/// Emits what the room rules decided.
fn deliver(
    io: &SocketIo,
    from: &SocketRef,
    event: &str,
    result: Result<Vec<Emit>, rooms::Refused>,
) {
    let emits = match result {
        Ok(e) => e,
        Err(refused) => {
            tracing::info!(id = %from.id, "refused {event}: {refused}");
            return;
        }
    };
    for e in emits {
        let target = e.to.parse().ok().and_then(|sid| io.get_socket(sid));
        let Some(target) = target else {
            tracing::debug!("{} is gone; {} not delivered", e.to, e.event);
            continue;
        };
        if let Err(err) = target.emit(e.event, &(e.room, e.arg)) {
            tracing::info!(to = %e.to, "cannot emit {}: {err}", e.event);
        }
    }
}
