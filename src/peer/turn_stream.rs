//! TURN over TCP and TLS (`turn:…?transport=tcp`, `turns:`) for webrtc 0.21, whose TURN client
//! only speaks UDP.
//!
//! Where UDP is blocked, browsers still reach a TURN server over TCP (coturn listens on TCP 3478
//! and TLS 5349 too). webrtc 0.21 skips such urls, and its relay path is tied to its UDP
//! sockets. So roompeer puts a bridge in front of each such server: a UDP socket on 127.0.0.1
//! that webrtc is told is the TURN server (`turn:127.0.0.1:PORT`), and behind it one TCP (or
//! TLS) connection to the real server per local UDP source. TURN's messages are self-delimiting
//! (RFC 8656 §12.5), so the bridge only splits the stream at message boundaries and pads
//! ChannelData to four bytes, as TCP requires. Authentication stays end to end between webrtc's
//! TURN client and the server; the bridge never reads or changes a message's contents.
//!
//! The framing is plain code ([`StreamFramer`], [`to_stream`]); the tasks are a thin adapter.

use crate::tls::{self, TrustMode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use webrtc::peer_connection::RTCIceServer;

/// How long connecting (TCP and TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection with no message either way for this long is closed: an allocation that is not
/// refreshed within its lifetime (600 s by default) is gone anyway.
const IDLE_TIMEOUT: Duration = Duration::from_secs(660);
/// After a failed connection, datagrams from the same source are dropped this long, so a TURN
/// client's retransmissions do not each open a connection.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Messages queued toward one connection (while it connects); more are dropped, as UDP would.
const QUEUE: usize = 64;
/// The largest message accepted from a server: a STUN message or ChannelData with a 16-bit
/// length, plus its header.
const MAX_MESSAGE: usize = 4 + 65_535 + 3;

/// A TURN url that needs a stream: where it points and whether over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUrl {
    /// Host name or address (an IPv6 literal without brackets).
    pub host: String,
    /// Port (3478 for TCP, 5349 for TLS by default).
    pub port: u16,
    /// `turns:`.
    pub tls: bool,
}

impl StreamUrl {
    /// Reads `turn:HOST[:PORT]?transport=tcp` or `turns:HOST[:PORT][?transport=tcp]`. `Ok(None)`
    /// for urls webrtc handles itself (UDP `turn:`, `stun:`).
    pub fn parse(url: &str) -> Result<Option<StreamUrl>, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("turns:") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("turn:") {
            (false, r)
        } else {
            return Ok(None);
        };
        let (host_port, query) = rest.split_once('?').unwrap_or((rest, ""));
        let transport = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("transport="))
            .unwrap_or(if tls { "tcp" } else { "udp" });
        match (tls, transport) {
            (false, "udp") => return Ok(None),
            (_, "tcp") => {}
            (true, "udp") => {
                return Err(format!(
                    "{url}: TURN over DTLS is not supported; use turns: over TCP or turn: over UDP"
                ));
            }
            (_, other) => return Err(format!("{url}: unknown transport {other:?}")),
        }
        let default_port = if tls { 5349 } else { 3478 };
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url}: unclosed [ in the address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("{url}: bad port {p:?}"))?,
                None if after.is_empty() => default_port,
                None => return Err(format!("{url}: unexpected {after:?} after the address")),
            };
            (h.to_owned(), port)
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| format!("{url}: bad port {p:?}"))?,
                ),
                None => (host_port.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        Ok(Some(StreamUrl { host, port, tls }))
    }

    fn describe(&self) -> String {
        let over = if self.tls { "TLS" } else { "TCP" };
        format!("{}:{} over {over}", self.host, self.port)
    }
}

/// Splits a byte stream from a TURN server into its messages.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

/// The stream holds something that is neither STUN nor ChannelData: it cannot be resynced.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("the TURN server sent bytes that are neither STUN nor ChannelData (first byte {0:#04x})")]
pub struct OutOfSync(u8);

impl StreamFramer {
    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, without the stream's padding, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, OutOfSync> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let length = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
        let (message, padded) = match self.buf[0] >> 6 {
            // STUN: a 20-byte header; its length is a multiple of four already.
            0b00 => (20 + length, 20 + length),
            // ChannelData: a 4-byte header, padded to four bytes on a stream.
            0b01 => (4 + length, (4 + length).next_multiple_of(4)),
            _ => return Err(OutOfSync(self.buf[0])),
        };
        if self.buf.len() < padded {
            return Ok(None);
        }
        let mut rest = self.buf.split_off(padded);
        std::mem::swap(&mut rest, &mut self.buf);
        rest.truncate(message);
        Ok(Some(rest))
    }
}

/// A datagram from webrtc's TURN client as it goes on the stream: ChannelData padded to four
/// bytes (RFC 8656 §12.5); STUN messages are whole words already.
pub fn to_stream(datagram: &[u8]) -> Vec<u8> {
    let mut out = datagram.to_vec();
    if datagram.first().is_some_and(|b| b >> 6 == 0b01) {
        out.resize(datagram.len().next_multiple_of(4), 0);
    }
    out
}

/// The bridges of one run, by the url they stand in for.
#[derive(Default)]
pub struct TurnBridges {
    bridges: Vec<TurnBridge>,
    /// Urls that could not be bridged, and why.
    refused: Vec<(String, String)>,
}

impl std::fmt::Debug for TurnBridges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.bridges.iter().map(|b| (&b.url, b.local)))
            .finish()
    }
}

struct TurnBridge {
    url: String,
    local: SocketAddr,
    last_error: Arc<Mutex<Option<String>>>,
    task: tokio::task::AbortHandle,
}

impl Drop for TurnBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TurnBridges {
    /// Starts a bridge for every TCP or TLS TURN url. `trust` says which certificates a
    /// `turns:` server may present.
    pub async fn start(servers: &[RTCIceServer], trust: &TrustMode) -> TurnBridges {
        let mut out = TurnBridges::default();
        for url in servers.iter().flat_map(|s| &s.urls) {
            let target = match StreamUrl::parse(url) {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(e) => {
                    out.refused.push((url.clone(), e));
                    continue;
                }
            };
            match TurnBridge::start(url, target, trust).await {
                Ok(b) => {
                    tracing::info!(%url, local = %b.local, "TURN over a stream: webrtc reaches it through a local bridge");
                    out.bridges.push(b);
                }
                Err(e) => out.refused.push((url.clone(), e)),
            }
        }
        out
    }

    /// The `turn:` url on 127.0.0.1 that stands in for `url`, if it is bridged.
    pub fn local_url(&self, url: &str) -> Option<String> {
        self.bridges
            .iter()
            .find(|b| b.url == url)
            .map(|b| format!("turn:{}", b.local))
    }

    /// Why `url` cannot be used, if it cannot: it was refused, or its last connection failed.
    pub fn problem(&self, url: &str) -> Option<String> {
        if let Some((_, why)) = self.refused.iter().find(|(u, _)| u == url) {
            return Some(why.clone());
        }
        let bridge = self.bridges.iter().find(|b| b.url == url)?;
        bridge
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The servers as webrtc is to see them: bridged urls replaced by their local stand-ins,
    /// stream urls that could not be bridged left out (webrtc would skip them anyway).
    pub fn rewrite(&self, servers: Vec<RTCIceServer>) -> Vec<RTCIceServer> {
        servers
            .into_iter()
            .filter_map(|mut s| {
                s.urls = s
                    .urls
                    .into_iter()
                    .filter_map(|u| match StreamUrl::parse(&u) {
                        Ok(None) => Some(u),
                        _ => self.local_url(&u),
                    })
                    .collect();
                (!s.urls.is_empty()).then_some(s)
            })
            .collect()
    }
}

impl TurnBridge {
    async fn start(url: &str, target: StreamUrl, trust: &TrustMode) -> Result<TurnBridge, String> {
        let tls = if target.tls {
            let config = tls::client_config(trust, tls::RefusedCertificate::default())
                .map_err(|e| format!("{url}: {e}"))?;
            let name = rustls_pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| format!("{url}: {e}"))?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        } else {
            None
        };
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("{url}: cannot open the local bridge socket: {e}"))?;
        let local = socket
            .local_addr()
            .map_err(|e| format!("{url}: cannot open the local bridge socket: {e}"))?;
        let last_error = Arc::new(Mutex::new(None));
        let bridge = Bridge {
            socket: Arc::new(socket),
            target,
            tls,
            last_error: last_error.clone(),
        };
        let task = tokio::spawn(bridge.run()).abort_handle();
        Ok(TurnBridge {
            url: url.to_owned(),
            local,
            last_error,
            task,
        })
    }
}

/// The running side of one bridge.
struct Bridge {
    socket: Arc<UdpSocket>,
    target: StreamUrl,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    last_error: Arc<Mutex<Option<String>>>,
}

enum Link {
    Open(mpsc::Sender<Vec<u8>>),
    /// The last connection failed at this instant.
    Failed(tokio::time::Instant),
}

impl Bridge {
    async fn run(self) {
        let this = Arc::new(self);
        let mut links: HashMap<SocketAddr, Link> = HashMap::new();
        let (failed_tx, mut failed_rx) = mpsc::unbounded_channel::<SocketAddr>();
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, from) = tokio::select! {
                r = this.socket.recv_from(&mut buf) => match r {
                    Ok(r) => r,
                    Err(e) => {
                        // A UDP receive error (an ICMP answer to an earlier send) is not fatal.
                        tracing::debug!("TURN bridge: {e}");
                        continue;
                    }
                },
                Some(from) = failed_rx.recv() => {
                    links.insert(from, Link::Failed(tokio::time::Instant::now()));
                    continue;
                }
            };
            let datagram = buf[..n].to_vec();
            let link = links.get(&from);
            let sender = match link {
                Some(Link::Open(tx)) if !tx.is_closed() => tx.clone(),
                Some(Link::Failed(at)) if at.elapsed() < RETRY_PAUSE => continue,
                _ => {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    let (this, failed) = (this.clone(), failed_tx.clone());
                    tokio::spawn(async move {
                        if let Err(e) = this.connection(from, rx).await {
                            tracing::warn!("TURN server {}: {e}", this.target.describe());
                            *this.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            let _ = failed.send(from);
                        }
                    });
                    links.insert(from, Link::Open(tx.clone()));
                    tx
                }
            };
            // A full queue drops the datagram, as a congested UDP path would.
            let _ = sender.try_send(datagram);
        }
    }

    /// One stream to the server for the TURN client at `client`.
    async fn connection(
        &self,
        client: SocketAddr,
        rx: mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), String> {
        let what = self.target.describe();
        let connect = async {
            let tcp = tokio::net::TcpStream::connect((self.target.host.as_str(), self.target.port))
                .await
                .map_err(|e| format!("cannot connect to {what}: {e}"))?;
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                None => Ok(Stream::Tcp(tcp)),
                Some((connector, name)) => connector
                    .connect(name.clone(), tcp)
                    .await
                    .map(|s| Stream::Tls(Box::new(s)))
                    .map_err(|e| {
                        let hint = if e.to_string().contains("certificate") {
                            "; trust the server's certificate with --turn-pin-cert FILE (or --ca-cert)"
                        } else {
                            ""
                        };
                        format!("TLS with {what} failed: {e}{hint}")
                    }),
            }
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| format!("connecting to {what} took over {CONNECT_TIMEOUT:?}"))??;
        tracing::debug!(%client, "TURN bridge connected to {what}");
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let ended = match stream {
            Stream::Tcp(s) => self.pump(s, client, rx).await,
            Stream::Tls(s) => self.pump(*s, client, rx).await,
        };
        match ended {
            Ok(why) => {
                tracing::debug!(%client, "TURN bridge to {what} closed: {why}");
                Ok(())
            }
            Err(e) => Err(format!("the connection to {what} broke: {e}")),
        }
    }

    /// Moves messages both ways until either side ends. `Ok` says why it ended normally.
    async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        client: SocketAddr,
        mut rx: mpsc::Receiver<Vec<u8>>,
    ) -> Result<&'static str, String> {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut framer = StreamFramer::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                out = rx.recv() => {
                    let Some(datagram) = out else { return Ok("the bridge closed") };
                    writer.write_all(&to_stream(&datagram)).await.map_err(|e| e.to_string())?;
                }
                read = reader.read(&mut buf) => {
                    let n = read.map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Ok("the server closed the connection");
                    }
                    framer.push(&buf[..n]);
                    while let Some(message) = framer.next_message().map_err(|e| e.to_string())? {
                        // webrtc's TURN client answers from its UDP socket: hand the message
                        // back as the datagram it expects.
                        if let Err(e) = self.socket.send_to(&message, client).await {
                            tracing::debug!(%client, "TURN bridge: {e}");
                        }
                    }
                    if framer.buf.len() > MAX_MESSAGE {
                        return Err("a message longer than TURN allows".into());
                    }
                }
                _ = tokio::time::sleep(IDLE_TIMEOUT) => return Ok("idle"),
            }
        }
    }
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stream_urls() {
        let p = |u: &str| StreamUrl::parse(u);
        assert_eq!(p("turn:10.0.0.1:3478"), Ok(None));
        assert_eq!(p("turn:10.0.0.1?transport=udp"), Ok(None));
        assert_eq!(p("stun:10.0.0.1"), Ok(None));
        assert_eq!(
            p("turn:10.0.0.1?transport=tcp"),
            Ok(Some(StreamUrl {
                host: "10.0.0.1".into(),
                port: 3478,
                tls: false
            }))
        );
        assert_eq!(
            p("turns:turn.example.org"),
            Ok(Some(StreamUrl {
                host: "turn.example.org".into(),
                port: 5349,
                tls: true
            }))
        );
        assert_eq!(
            p("turns:[::1]:443?transport=tcp"),
            Ok(Some(StreamUrl {
                host: "::1".into(),
                port: 443,
                tls: true
            }))
        );
        assert!(p("turns:h?transport=udp").unwrap_err().contains("DTLS"));
        assert!(
            p("turn:h:x?transport=tcp")
                .unwrap_err()
                .contains("bad port")
        );
        assert!(p("turn:h?transport=sctp").is_err());
    }

    #[test]
    fn splits_a_stream_into_messages() {
        // A STUN binding success with 8 bytes of attributes, then ChannelData of 5 bytes
        // (padded to 8 on the stream), then half of another STUN header.
        let mut stun = vec![0x01, 0x01, 0x00, 0x08];
        stun.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        stun.extend_from_slice(&[7; 12]);
        stun.extend_from_slice(&[1; 8]);
        let channel = [0x40, 0x00, 0x00, 0x05, 9, 9, 9, 9, 9];
        let mut wire = stun.clone();
        wire.extend_from_slice(&to_stream(&channel));
        assert_eq!(to_stream(&channel).len(), 12, "padded to a word");
        wire.extend_from_slice(&[0x00, 0x01, 0x00]);

        let mut f = StreamFramer::default();
        // Byte by byte: nothing comes out before a message is whole.
        let mut out = Vec::new();
        for b in &wire {
            f.push(&[*b]);
            while let Some(m) = f.next_message().unwrap() {
                out.push(m);
            }
        }
        assert_eq!(out, vec![stun, channel.to_vec()]);
        assert_eq!(f.next_message(), Ok(None), "the partial header waits");

        let mut bad = StreamFramer::default();
        bad.push(&[0x80, 0, 0, 0]);
        assert_eq!(bad.next_message(), Err(OutOfSync(0x80)));
    }

    #[test]
    fn rewrites_bridged_urls_and_drops_unbridged_ones() {
        let bridges = TurnBridges::default();
        let servers = vec![
            RTCIceServer {
                urls: vec!["turn:a:3478".into(), "turn:a:3478?transport=tcp".into()],
                ..Default::default()
            },
            RTCIceServer {
                urls: vec!["turns:a".into()],
                ..Default::default()
            },
        ];
        let out = bridges.rewrite(servers);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].urls, vec!["turn:a:3478".to_owned()]);
    }
}
