//! `roompeer serve`: a room server with the seed server's protocol, and the room page.
//!
//! The room rules live in [`rooms`]; this is the adapter around them. socketioxide speaks
//! socket.io to 3.x/4.x clients and, with its `v4` feature, to 2.x clients such as the seed page's
//! 2.0.3 (Engine.IO v3), on one endpoint; axum serves the page from `assets/web`, built into the
//! binary, over http and https.

pub mod rooms;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use rooms::{Emit, Rooms};
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
        let app = app(Arc::new(Page { client_script }));
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
            tokio::spawn(async move {
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

/// The router: the page, its scripts, and socket.io on `/socket.io/`.
fn app(page: Arc<Page>) -> Router {
    let (layer, io) = SocketIo::builder()
        .max_payload(MAX_PAYLOAD)
        .ws_max_message_size(MAX_PAYLOAD as usize)
        .ws_max_frame_size(MAX_PAYLOAD as usize)
        // A little longer than 2.x's own defaults, so a slow client is not dropped.
        .ping_interval(Duration::from_secs(25))
        .ping_timeout(Duration::from_secs(20))
        .build_layer();
    let rooms = Arc::new(Mutex::new(Rooms::new()));
    // Not an async closure: socketioxide sends CONNECT and then calls this handler, spawning
    // what it returns. Wiring the events synchronously here means they are in place before
    // the client can answer CONNECT with its `join` (an async body ran later and lost joins).
    io.ns("/", {
        let io = io.clone();
        move |socket: SocketRef| {
            on_connect(socket, io, rooms);
            std::future::ready(())
        }
    });
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
}

/// A client connected: wire its events to the room rules.
///
/// The handlers do their work when called and return a finished future: socketioxide calls a
/// handler as its packet is read, in the order the client sent them, but spawns the future
/// it returns, so work done inside an async body could overtake an earlier event (a
/// `message` handled before the `join` in front of it).
fn on_connect(socket: SocketRef, io: SocketIo, rooms: Arc<Mutex<Rooms>>) {
    tracing::debug!(id = %socket.id, "client connected");
    socket.on("join", {
        let (io, rooms) = (io.clone(), rooms.clone());
        move |s: SocketRef, TryData(room): TryData<Value>| {
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
        let (io, rooms) = (io.clone(), rooms.clone());
        move |s: SocketRef, TryData(args): TryData<(Value, Value)>| {
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
        let (io, rooms) = (io.clone(), rooms.clone());
        move |s: SocketRef, TryData(room): TryData<Value>| {
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
        std::future::ready(())
    });
}

/// The rooms, even if a handler panicked while holding them (the state stays consistent:
/// every method finishes its changes before it returns).
fn lock(rooms: &Mutex<Rooms>) -> std::sync::MutexGuard<'_, Rooms> {
    rooms.lock().unwrap_or_else(|p| p.into_inner())
}

fn bad_input(s: &SocketRef, event: &str, e: &impl std::fmt::Display) {
    tracing::info!(id = %s.id, "ignored a malformed {event}: {e}");
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

/// Reads the certificate chain and key for https.
fn tls_config(opts: &ServeOptions) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&opts.cert, &opts.key) else {
        return Err(ServeError::Tls(
            "give --cert and --key (PEM) to serve https".into(),
        ));
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect())
        .map_err(|e| ServeError::Tls(format!("cannot read {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(ServeError::Tls(format!(
            "no certificate in {}",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServeError::Tls(format!("cannot read the key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            ServeError::Tls(format!(
                "the key cannot sign ({e}); rustls needs RSA of 2048 bits or more, ECDSA or Ed25519 \
                 (the seed's 1024-bit certificate can only be used by its Node server)"
            ))
        })?;
    Ok(Arc::new(config))
}

/// Accepts TCP connections and hands over those whose TLS handshake finished. Handshakes run
/// in tasks of their own, bounded in time, so a client that stalls one holds up nobody else.
struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

/// How long a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    fn start(
        listener: tokio::net::TcpListener,
        config: Arc<rustls::ServerConfig>,
        stop: CancellationToken,
    ) -> TlsListener {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    _ = stop.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::debug!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { ready, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ended (shutdown): wait for the graceful shutdown to finish.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
