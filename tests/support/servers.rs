//! Servers inside a namespace: the project's Node signaling servers, `roompeer serve`, and
//! coturn.

use super::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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

    /// Starts `roompeer serve` (http and https on any port) with these extra options.
    pub fn serve_with(ns: &Netns, extra: &[&str]) -> NodeServer {
        let cert = serve_cert();
        let mut c = ns.command(env!("CARGO_BIN_EXE_roompeer"));
        c.args(["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"])
            .arg("--cert")
            .arg(&cert.cert)
            .arg("--key")
            .arg(&cert.key)
            .args(extra);
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
