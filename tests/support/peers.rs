//! roompeer processes: started inside a namespace, followed through their events, finished
//! with their typed report.

use super::*;
use roompeer::report::{EventRecord, Report};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running roompeer whose events (`--events -`, JSON lines on stdout) are followed as they
/// happen; its stderr is kept for failure messages.
pub struct Peer {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    events: mpsc::Receiver<EventRecord>,
    pub report: PathBuf,
}

/// What a finished roompeer left.
#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    /// The report as JSON.
    pub report: Value,
    /// The report, typed.
    pub typed: Report,
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
            .args(["--events", "-"])
            .env(
                "ROOMPEER_LOG",
                env.iter()
                    .find(|(k, _)| *k == "ROOMPEER_LOG")
                    .map(|(_, v)| v.to_string())
                    .or_else(|| std::env::var("ROOMPEER_TEST_LOG").ok())
                    .unwrap_or("roompeer=info,warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("roompeer");
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let keep = lines.clone();
        let tag = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("ROOMPEER_TEST_VERBOSE").is_some() {
                    eprintln!("[{tag}] {line}");
                }
                keep.lock().unwrap().push(line);
            }
        });
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<EventRecord>(&line) {
                    Ok(e) => {
                        let _ = tx.send(e);
                    }
                    Err(e) => panic!("roompeer wrote a line that is not an event ({e}): {line}"),
                }
            }
        });
        Peer {
            child: Some(child),
            lines,
            events,
            report,
        }
    }

    /// Waits for the next event named `name` (events before it are passed over) and returns
    /// it.
    pub fn wait_event(&self, name: &str, timeout: Duration) -> EventRecord {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if e.event == name => return e,
                Ok(e) => seen.push(e.event),
                Err(_) => panic!(
                    "roompeer never told {name:?} (it told {seen:?}); its log:\n{}",
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
        self.wait_event("joined", Duration::from_secs(20));
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
        // The reader threads end with the pipes; take what they still hold.
        while self.events.recv_timeout(Duration::from_millis(500)).is_ok() {}
        let stderr = self.lines.lock().unwrap().join("\n");
        let report: Value = std::fs::read(&self.report)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| panic!("no report at {}; stderr:\n{stderr}", self.report.display()));
        let typed = serde_json::from_value(report.clone())
            .unwrap_or_else(|e| panic!("the report does not read as a Report ({e}): {report}"));
        Finished {
            code: status.code().unwrap_or(-1),
            report,
            typed,
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
