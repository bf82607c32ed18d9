//! Test hosts for roompeer: network namespaces with only `lo`, the project's Node signaling
//! servers inside them, certificates made as the seed makes them, and roompeer processes.
#![allow(dead_code)]

pub mod browser_call;
pub mod pulse;
#[allow(unused_imports)]
pub use browser_call::{BrowserCall, CallSeen, Relay};

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roompeer-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A network namespace whose only interface is `lo`: nothing inside can reach anything but
/// 127.0.0.1/::1. Removed (with every process in it) on drop.
pub struct Netns {
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Netns {
    /// A default route through `lo` with source 127.0.0.1. Firefox (without a granted camera
    /// permission) gathers only its "default address", found by connecting a UDP socket to a
    /// public address: without this route that fails and it offers no UDP candidate at all.
    /// Packets still go nowhere but this namespace.
    pub fn default_route_via_lo(&self) {
        self.ip(&["route", "add", "default", "dev", "lo", "src", "127.0.0.1"]);
    }

    /// Runs `ip ARGS` inside this namespace.
    pub fn ip(&self, args: &[&str]) {
        run_ok(Command::new("ip").arg("-n").arg(&self.name).args(args));
    }

    pub fn new() -> Netns {
        let name = format!(
            "rpt{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        run_ok(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        Netns { name }
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Netns {
    /// Loads nftables rules into this namespace.
    pub fn nft(&self, rules: &str) {
        let mut c = self.command("nft");
        c.args(["-f", "-"]).stdin(Stdio::piped());
        let mut child = c.spawn().expect("nft");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), rules.as_bytes()).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "nft refused: {rules}");
    }

    /// Drops every UDP packet arriving in the namespace (media and ICE, not signaling), until
    /// [`Netns::restore_udp`].
    pub fn drop_udp(&self) {
        self.nft("table inet outage { chain input { type filter hook input priority 0; meta l4proto udp drop; }; }\n");
    }

    /// Drops `percent`% of UDP packets at random (each packet once: on `lo` it leaves and
    /// arrives in this namespace), until [`Netns::restore_udp`].
    pub fn lose_udp(&self, percent: u32) {
        self.nft(&format!(
            "table inet outage {{ chain output {{ type filter hook output priority 0; meta l4proto udp numgen random mod 100 < {percent} drop; }}; }}\n"
        ));
    }

    /// Caps UDP at `kbytes` kB/s in all (both directions of a call on `lo` share it): what
    /// goes over is dropped, as at a congested link. Ended by [`Netns::restore_udp`].
    pub fn cap_udp(&self, kbytes: u32) {
        self.nft(&format!(
            "table inet outage {{ chain output {{ type filter hook output priority 0; meta l4proto udp limit rate over {kbytes} kbytes/second burst 200 kbytes drop; }}; }}\n"
        ));
    }

    /// Ends an outage started with [`Netns::drop_udp`].
    pub fn restore_udp(&self) {
        run_ok(
            self.command("nft")
                .args(["delete", "table", "inet", "outage"]),
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate made exactly as the seed's blog post makes it (X.509 v1, 1024-bit RSA, no CN).
pub struct SeedCert {
    pub key: PathBuf,
    pub cert: PathBuf,
}

/// Makes a new seed-style certificate in `dir`.
pub fn make_seed_cert(dir: &Path) -> SeedCert {
    run_ok(Command::new(root().join("scripts/make-seed-cert.sh")).arg(dir));
    SeedCert {
        key: dir.join("cert.pem"),
        cert: dir.join("cert.crt"),
    }
}

/// The certificate shared by the tests of one run.
pub fn seed_cert() -> &'static SeedCert {
    static CERT: OnceLock<SeedCert> = OnceLock::new();
    CERT.get_or_init(|| make_seed_cert(&scratch("seed-cert")))
}

/// Which of the project's Node servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// The seed's server on socket.io 2.x (Engine.IO v3).
    V2,
    /// Its port to socket.io 4.x, without allowEIO3 (Engine.IO v4 only).
    V4,
    /// The same 4.x port with allowEIO3, so the seed page's 2.0.3 client can join.
    V4Eio3,
    /// `roompeer serve`, with its built-in page client; https with [`serve_cert`].
    Serve,
    /// `roompeer serve` handing the page the seed's socket.io-client 2.0.3.
    ServeSeedClient,
}

/// A self-signed 2048-bit certificate for 127.0.0.1 and localhost, for `roompeer serve`'s https
/// (rustls cannot sign with the seed's 1024-bit key); clients pin it.
pub fn serve_cert() -> &'static SeedCert {
    static CERT: OnceLock<SeedCert> = OnceLock::new();
    CERT.get_or_init(|| {
        let dir = scratch("serve-cert");
        let (key, cert) = (dir.join("serve.key"), dir.join("serve.crt"));
        run_ok(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            &key.display().to_string(),
            "-out",
            &cert.display().to_string(),
        ]));
        SeedCert { key, cert }
    })
}

/// A running signaling server inside a namespace.
pub struct NodeServer {
    child: Child,
    pub http_port: u16,
    pub https_port: u16,
}

impl NodeServer {
    /// Starts a server on ports the system picks.
    pub fn start(ns: &Netns, kind: ServerKind, cert: &SeedCert) -> NodeServer {
        Self::start_on(ns, kind, cert, 0, 0)
    }

    /// Starts a server on these ports (0: any), e.g. to restart one where it was.
    pub fn start_on(
        ns: &Netns,
        kind: ServerKind,
        cert: &SeedCert,
        http: u16,
        https: u16,
    ) -> NodeServer {
        Self::start_at(ns, kind, cert, "127.0.0.1", http, https)
    }

    /// Starts a server listening on `host`.
    pub fn start_at(
        ns: &Netns,
        kind: ServerKind,
        cert: &SeedCert,
        host: &str,
        http: u16,
        https: u16,
    ) -> NodeServer {
        let dir = root().join("tests/servers");
        assert!(
            dir.join("node_modules").exists(),
            "the test servers' npm packages are missing: run `npm ci --prefix tests/servers` (.ci/run does)"
        );
        if matches!(kind, ServerKind::Serve | ServerKind::ServeSeedClient) {
            let cert = serve_cert();
            let mut c = ns.command(env!("CARGO_BIN_EXE_roompeer"));
            c.arg("serve")
                .args(["--http", &format!("{host}:{http}")])
                .args(["--https", &format!("{host}:{https}")])
                .arg("--cert")
                .arg(&cert.cert)
                .arg("--key")
                .arg(&cert.key);
            if kind == ServerKind::ServeSeedClient {
                c.arg("--client-script")
                    .arg(dir.join("node_modules/socket.io-client-v2/dist/socket.io.js"));
            }
            return Self::wait_listening(c);
        }
        let script = match kind {
            ServerKind::V2 => "seed-server-v2.js",
            ServerKind::V4 | ServerKind::V4Eio3 => "seed-server-v4.js",
            ServerKind::Serve | ServerKind::ServeSeedClient => unreachable!(),
        };
        let mut c = ns.command("node");
        c.arg(dir.join(script))
            .args((kind == ServerKind::V4Eio3).then_some("--allow-eio3"))
            .args([
                "--key".as_ref(),
                cert.key.as_os_str(),
                "--cert".as_ref(),
                cert.cert.as_os_str(),
            ])
            .args([
                "--http-port",
                &http.to_string(),
                "--https-port",
                &https.to_string(),
                "--host",
                host,
            ]);
        Self::wait_listening(c)
    }

    /// Starts a server and reads its `{"listening":…}` line.
    fn wait_listening(mut c: Command) -> NodeServer {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("server said {line:?}: {e}"));
        NodeServer {
            child,
            http_port: v["http"].as_u64().unwrap() as u16,
            https_port: v["https"].as_u64().unwrap() as u16,
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn https(&self) -> String {
        format!("https://127.0.0.1:{}", self.https_port)
    }

    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running roompeer whose stderr is watched line by line.
pub struct Peer {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    rx: mpsc::Receiver<String>,
    pub report: PathBuf,
}

/// What a finished roompeer left.
#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    pub report: Value,
    pub stderr: String,
}

impl Peer {
    /// Starts `roompeer --headless ARGS --report DIR/NAME.json` inside the namespace.
    pub fn start(ns: &Netns, dir: &Path, name: &str, args: &[&str]) -> Peer {
        Self::start_with_env(ns, dir, name, args, &[])
    }

    /// Like [`Peer::start`], with extra environment variables.
    pub fn start_with_env(
        ns: &Netns,
        dir: &Path,
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Peer {
        let report = dir.join(format!("{name}.json"));
        let mut child = ns
            .command(env!("CARGO_BIN_EXE_roompeer"))
            .envs(env.iter().copied())
            .arg("--headless")
            .args(args)
            .arg("--report")
            .arg(&report)
            .env(
                "ROOMPEER_LOG",
                env.iter()
                    .find(|(k, _)| *k == "ROOMPEER_LOG")
                    .map(|(_, v)| v.to_string())
                    .or_else(|| std::env::var("ROOMPEER_TEST_LOG").ok())
                    .unwrap_or("roompeer=info,warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("roompeer");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let keep = lines.clone();
        let tag = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("ROOMPEER_TEST_VERBOSE").is_some() {
                    eprintln!("[{tag}] {line}");
                }
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Peer {
            child: Some(child),
            lines,
            rx,
            report,
        }
    }

    /// Waits until a stderr line contains `needle` (an event, not a sleep).
    pub fn wait_for(&self, needle: &str, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!(
                    "roompeer never said {needle:?}; it said:\n{}",
                    self.lines.lock().unwrap().join("\n")
                ),
            }
        }
    }

    /// Asks roompeer to stop (SIGTERM), as a user's Ctrl-C would.
    pub fn terminate(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
    }

    /// Kills roompeer outright (a crash: no `leave`, no `bye`).
    pub fn kill(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits until roompeer has joined its room.
    pub fn joined(self) -> Peer {
        self.wait_for("joined the room", Duration::from_secs(20));
        self
    }

    /// Waits for the exit (with a generous bound) and reads the report.
    pub fn finish(mut self) -> Finished {
        let mut child = self.child.take().expect("finished once");
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(s) => s.expect("wait for roompeer"),
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!(
                    "roompeer did not exit:\n{}",
                    self.lines.lock().unwrap().join("\n")
                );
            }
        };
        // The reader thread ends with the pipe; take what it still holds.
        while self.rx.recv_timeout(Duration::from_millis(500)).is_ok() {}
        let stderr = self.lines.lock().unwrap().join("\n");
        let report = std::fs::read(&self.report)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| panic!("no report at {}; stderr:\n{stderr}", self.report.display()));
        Finished {
            code: status.code().unwrap_or(-1),
            report,
            stderr,
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs one of the Node scripts in `tests/servers/` inside the namespace and returns its stdout.
pub fn run_node_script(ns: &Netns, script: &str, args: &[&str]) -> String {
    let out = ns
        .command("node")
        .arg(root().join("tests/servers").join(script))
        .args(args)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{script} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// coturn as the seed runs it (long-term credentials aaaa/aaaa, realm nort.gov), on loopback
/// inside the namespace. `-n` skips Debian's config file; loopback peers need
/// `--allow-loopback-peers`, which coturn takes only with `--no-cli`.
pub struct Coturn {
    child: Child,
    pub port: u16,
}

impl Coturn {
    pub fn start(ns: &Netns, port: u16) -> Coturn {
        Self::start_at(ns, "127.0.0.1", port)
    }

    /// coturn listening (and relaying) on `address`, on UDP and TCP `port`.
    pub fn start_at(ns: &Netns, address: &str, port: u16) -> Coturn {
        Self::start_with_tls(ns, address, port, None)
    }

    /// As [`Coturn::start_at`], and with `tls` also TLS on 5349 with that certificate.
    pub fn start_with_tls(ns: &Netns, address: &str, port: u16, tls: Option<&SeedCert>) -> Coturn {
        let tls_args: Vec<String> = match tls {
            Some(c) => vec![
                "--tls-listening-port".into(),
                "5349".into(),
                "--cert".into(),
                c.cert.display().to_string(),
                "--pkey".into(),
                c.key.display().to_string(),
            ],
            None => vec!["--no-tls".into()],
        };
        let mut child = ns
            .command("turnserver")
            .args([
                "-n",
                "--no-cli",
                "--allow-loopback-peers",
                "-L",
                address,
                "-E",
                address,
                "-v",
                "--listening-port",
            ])
            .arg(port.to_string())
            .args([
                "-a",
                "-u",
                "aaaa:aaaa",
                "-r",
                "nort.gov",
                "-f",
                "--no-dtls",
                "--log-file",
                "stdout",
            ])
            .args(&tls_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver (Debian package coturn)");
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = out.lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("Relay ports initialization done") => break,
                Some(Ok(_)) => {}
                _ => panic!("coturn did not start"),
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if std::env::var_os("ROOMPEER_TEST_VERBOSE").is_some() {
                    eprintln!("[coturn] {line}");
                }
            }
        });
        Coturn { child, port }
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A roompeer that stays in a room while `guests` others join, hold a call of `hold` seconds
/// and leave, one after another. Returns the stayer's report; every guest must succeed.
pub fn stay_while_guests_come_and_go(name: &str, guests: u16, hold: &str) -> Value {
    let dir = scratch(name);
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let url = server.http();
    let calls = guests.to_string();
    let stayer = Peer::start(
        &ns,
        &dir,
        "stayer",
        &[
            "--server", &url, "--id", "1", "--calls", &calls, "--wait", "30",
        ],
    )
    .joined();
    for n in 0..guests {
        let id = (n + 2).to_string();
        let g = Peer::start(
            &ns,
            &dir,
            &format!("guest-{n}"),
            &["--server", &url, "--id", &id, "--duration", hold],
        )
        .finish();
        assert_eq!(g.code, 0, "guest {n}: {}", g.stderr);
    }
    let s = stayer.finish();
    assert_eq!(s.code, 0, "{}", s.stderr);
    s.report
}

/// Debian's Chromium running the project's room page (assets/web), driven by playwright-core.
pub struct BrowserPeer {
    child: Option<Child>,
    rx: mpsc::Receiver<Value>,
}

/// Which browser runs the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Debian's chromium, through playwright-core.
    Chromium,
    /// Debian's firefox-esr, through puppeteer-core (WebDriver BiDi).
    Firefox,
}

impl Browser {
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }

    fn executable(self) -> &'static str {
        match self {
            Browser::Chromium => "/usr/bin/chromium",
            Browser::Firefox => "/usr/bin/firefox-esr",
        }
    }
}

impl BrowserPeer {
    /// Opens `url` in Chromium and clicks Connect; holds the call `hold` seconds after the
    /// remote video appears, then clicks Leave.
    pub fn start(ns: &Netns, url: &str, hold: u32) -> BrowserPeer {
        Self::start_in(Browser::Chromium, ns, url, hold)
    }

    /// The same in `browser`.
    pub fn start_in(browser: Browser, ns: &Netns, url: &str, hold: u32) -> BrowserPeer {
        assert!(
            Path::new(browser.executable()).exists(),
            "{} is missing: scripts/setup.sh installs it",
            browser.executable()
        );
        let mut child = ns
            .command("node")
            .arg(root().join("tests/browser/browser-peer.js"))
            .arg(url)
            .arg(hold.to_string())
            .arg(browser.name())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        BrowserPeer {
            child: Some(child),
            rx,
        }
    }

    /// Waits for the page to report `event` (e.g. `joined`); panics on an error report.
    pub fn wait_for(&self, event: &str, timeout: Duration) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) if v["event"] == event => return v,
                Ok(v) if v["event"] == "error" => panic!("the browser peer failed: {v:#}"),
                Ok(_) => {}
                Err(_) => panic!("the browser never reported {event:?}"),
            }
        }
    }

    /// Waits for the result of the call as the browser saw it.
    pub fn finish(mut self) -> Value {
        let result = self.wait_for("result", Duration::from_secs(120));
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        result
    }
}

impl Drop for BrowserPeer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Three networks made of namespaces: a "public" segment holding the signaling server and
/// coturn, and two LANs, each behind its own NAT router (nftables masquerade). Every address
/// lives only inside these namespaces; the ranges are documentation ones (RFC 5737).
pub struct NatLab {
    pub public: Netns,
    pub nat_a: Netns,
    pub nat_b: Netns,
    pub peer_a: Netns,
    pub peer_b: Netns,
}

/// The public host's address (signaling and coturn).
pub const PUBLIC_HOST: &str = "203.0.113.1";

impl NatLab {
    /// Builds the lab; `symmetric` gives the NATs random source ports (a new mapping per
    /// destination), else they keep ports where they can (endpoint-independent mapping).
    pub fn new(symmetric: bool) -> NatLab {
        let lab = NatLab {
            public: Netns::new(),
            nat_a: Netns::new(),
            nat_b: Netns::new(),
            peer_a: Netns::new(),
            peer_b: Netns::new(),
        };
        lab.public.ip(&["link", "add", "br0", "type", "bridge"]);
        lab.public
            .ip(&["addr", "add", &format!("{PUBLIC_HOST}/24"), "dev", "br0"]);
        lab.public.ip(&["link", "set", "br0", "up"]);
        // The rest of the internet, as seen from here: a gateway that never answers. Packets to
        // addresses nobody here has (a peer's private host candidate) vanish, as on the real
        // internet, instead of failing at once with "network unreachable": coturn closes an
        // allocation whose relayed packet fails that way, which no real server would see.
        lab.public.ip(&[
            "route",
            "add",
            "default",
            "via",
            "203.0.113.254",
            "dev",
            "br0",
        ]);
        for (nat, peer, wan, lan_net) in [
            (&lab.nat_a, &lab.peer_a, "203.0.113.10", "198.51.100"),
            (&lab.nat_b, &lab.peer_b, "203.0.113.20", "192.0.2"),
        ] {
            // WAN: a veth from the NAT into the public bridge.
            run_ok(Command::new("ip").args([
                "link",
                "add",
                "wan",
                "netns",
                &nat.name,
                "type",
                "veth",
                "peer",
                "name",
                &format!("p-{}", &nat.name[nat.name.len() - 2..]),
                "netns",
                &lab.public.name,
            ]));
            let pub_end = format!("p-{}", &nat.name[nat.name.len() - 2..]);
            lab.public.ip(&["link", "set", &pub_end, "master", "br0"]);
            lab.public.ip(&["link", "set", &pub_end, "up"]);
            nat.ip(&["addr", "add", &format!("{wan}/24"), "dev", "wan"]);
            nat.ip(&["link", "set", "wan", "up"]);
            // A home router's default route: the provider (which never answers here).
            nat.ip(&[
                "route",
                "add",
                "default",
                "via",
                "203.0.113.254",
                "dev",
                "wan",
            ]);
            // LAN: a veth from the NAT to its peer.
            run_ok(Command::new("ip").args([
                "link", "add", "lan", "netns", &nat.name, "type", "veth", "peer", "name", "eth0",
                "netns", &peer.name,
            ]));
            nat.ip(&["addr", "add", &format!("{lan_net}.1/24"), "dev", "lan"]);
            nat.ip(&["link", "set", "lan", "up"]);
            peer.ip(&["addr", "add", &format!("{lan_net}.2/24"), "dev", "eth0"]);
            peer.ip(&["link", "set", "eth0", "up"]);
            peer.ip(&["route", "add", "default", "via", &format!("{lan_net}.1")]);
            run_ok(
                nat.command("sysctl")
                    .args(["-q", "-w", "net.ipv4.ip_forward=1"]),
            );
            let masquerade = if symmetric {
                "masquerade random"
            } else {
                "masquerade"
            };
            // As a home router: unsolicited UDP to the router itself is dropped, not answered
            // with "port unreachable". Dropped in the filter chain, such a packet leaves no
            // connection-tracking entry behind; one that stayed would take the port the NAT
            // means to map the peer's own packets to (a clash), and break hole punching.
            let rules = format!(
                "table ip nat {{ chain post {{ type nat hook postrouting priority 100; oifname \"wan\" {masquerade}; }}; }}\n\
                 table inet fw {{ chain input {{ type filter hook input priority 0; iifname \"wan\" meta l4proto udp drop; }}; }}\n"
            );
            nat.nft(&rules);
        }
        lab
    }
}

/// The codecs of an SDP's video m-line, in its order, e.g. `["H264/90000", "VP8/90000"]`
/// (retransmission formats left out).
pub fn video_codecs(sdp: &str) -> Vec<String> {
    let line = sdp
        .lines()
        .find(|l| l.starts_with("m=video"))
        .unwrap_or_else(|| panic!("no video m-line in {sdp}"));
    line.split(' ')
        .skip(3)
        .filter_map(|pt| {
            let prefix = format!("a=rtpmap:{} ", pt.trim());
            sdp.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(|c| c.trim().to_owned())
        })
        .filter(|c| !c.starts_with("rtx/"))
        .collect()
}

/// The first codec of an SDP's video m-line, e.g. `H264/90000`.
pub fn first_video_codec(sdp: &str) -> String {
    video_codecs(sdp)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no video codec in {sdp}"))
}
