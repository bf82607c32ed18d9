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
    /// The report, typed.
    pub report: Report,
    pub stderr: String,
}

impl Finished {
    /// The report as pretty JSON, for failure messages.
    pub fn dump(&self) -> String {
        dump(&self.report)
    }

    /// The report's error, or "" when it has none.
    pub fn error(&self) -> &str {
        self.report.error.as_deref().unwrap_or("")
    }

    /// The selected pair's candidate types, local and remote, of the last call.
    pub fn pair_types(&self) -> (&str, &str) {
        let pair = self.report.last_call.selected_pair.as_ref();
        pair.map_or(("", ""), |p| (&p.local_type, &p.remote_type))
    }

    /// The names of the events in the report, in order.
    /// The event names in order, a counted repeat (`more`) as that many more names.
    pub fn event_names(&self) -> Vec<&str> {
        self.report
            .events
            .iter()
            .flat_map(|e| std::iter::repeat_n(e.event.as_str(), 1 + e.more.unwrap_or(0) as usize))
            .collect()
    }
}

/// A report as pretty JSON, for failure messages.
pub fn dump(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{report:?} ({e})"))
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
        Self::start_program(ns, dir, name, env!("CARGO_BIN_EXE_roompeer"), args, env)
    }

    /// Like [`Peer::start_with_env`], running another roompeer binary (an installed one).
    pub fn start_program(
        ns: &Netns,
        dir: &Path,
        name: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Peer {
        let report = dir.join(format!("{name}.json"));
        let mut child = ns
            .command(program)
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
    /// The process's resident memory now, KiB (from /proc).
    pub fn rss_kib(&self) -> Option<u64> {
        self.proc_status("VmRSS:")
    }

    /// The process's threads now.
    pub fn threads(&self) -> Option<u64> {
        self.proc_status("Threads:")
    }

    /// The process's open file descriptors now.
    pub fn open_fds(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
    }

    fn proc_status(&self, key: &str) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

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
        let bytes = std::fs::read(&self.report).unwrap_or_else(|e| {
            panic!(
                "no report at {} ({e}); stderr:\n{stderr}",
                self.report.display()
            )
        });
        let report = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "the report does not read as a Report ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
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

/// A roompeer that stays in a room while `guests` others join, hold a call of `hold` seconds
/// and leave, one after another. Returns the stayer's report; every guest must succeed.
pub fn stay_while_guests_come_and_go(name: &str, guests: u16, hold: &str) -> Report {
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

/// Two roompeers in one room: `a` (`--id 1`) joins first and offers, `b` (`--id 2`) answers.
pub struct Pair {
    /// The offerer.
    pub a: Peer,
    /// The answerer.
    pub b: Peer,
}

impl Pair {
    /// Starts `a` with `common` and `a_extra` and waits until it is in the room, then starts `b`
    /// with `common` and `b_extra`. `--id 1`/`--id 2` are added unless the extras give an id.
    pub fn start(
        ns: &Netns,
        dir: &Path,
        common: &[&str],
        a_extra: &[&str],
        b_extra: &[&str],
    ) -> Pair {
        Self::start_with_env(ns, dir, [common, a_extra, b_extra], &[])
    }

    /// Like [`Pair::start`] (`args`: common, `a`'s, `b`'s), both with extra environment
    /// variables.
    pub fn start_with_env(
        ns: &Netns,
        dir: &Path,
        [common, a_extra, b_extra]: [&[&str]; 3],
        env: &[(&str, &str)],
    ) -> Pair {
        fn with_id<'a>(common: &[&'a str], extra: &[&'a str], id: &'a str) -> Vec<&'a str> {
            let mut args = [common, extra].concat();
            if !extra.contains(&"--id") {
                args.extend(["--id", id]);
            }
            args
        }
        let a = Peer::start_with_env(ns, dir, "a", &with_id(common, a_extra, "1"), env).joined();
        let b = Peer::start_with_env(ns, dir, "b", &with_id(common, b_extra, "2"), env);
        Pair { a, b }
    }

    /// Waits until both sides' calls are connected.
    pub fn connected(self) -> Pair {
        self.b.wait_event("call_connected", Duration::from_secs(20));
        self.a.wait_event("call_connected", Duration::from_secs(20));
        self
    }

    /// Waits for both to exit; both must have exited 0.
    pub fn finish_ok(self) -> (Finished, Finished) {
        let (a, b) = (self.a.finish(), self.b.finish());
        let both = || format!("a:\n{}\nb:\n{}", a.stderr, b.stderr);
        assert_eq!(a.code, 0, "{}", both());
        assert_eq!(b.code, 0, "{}", both());
        (a, b)
    }
}

/// What one side of a good roompeer call must show.
#[derive(Debug, Clone, Copy)]
pub struct GoodSide {
    /// Offerer or answerer.
    pub role: roompeer::call::Role,
    /// The other side's `--id`, read from its picture.
    pub peer_id: u16,
    /// The other side's tone.
    pub peer_hz: f64,
    /// The video codec both ways.
    pub codec: &'static str,
    /// At least this many frames decoded.
    pub min_frames: u64,
}

/// Checks one side of a good call: it decoded the other's picture and tone, in order, over a
/// direct path, and the other side's reports acknowledge its media.
pub fn assert_good_side(f: &Finished, expect: GoodSide) {
    let r = &f.report;
    let json = f.dump();
    assert_eq!(r.outcome, roompeer::report::Outcome::Ok, "{json}");
    assert_eq!(r.exit_code, 0);
    let call = &r.calls[0];
    assert_eq!(call.role, expect.role, "{json}");
    let pair = r.last_call.selected_pair.as_ref().expect("a selected pair");
    assert_eq!(pair.local_type, "host");
    let (video, audio) = (&r.last_call.video, &r.last_call.audio);
    assert_eq!(video.codec.as_deref(), Some(expect.codec));
    assert_eq!(video.received_codec.as_deref(), Some(expect.codec));
    assert_eq!(video.decode_errors, 0, "{json}");
    assert_eq!(audio.codec.as_deref(), Some("opus"));
    assert_eq!(
        video.peer_sender_id,
        Some(expect.peer_id),
        "reads the other side's id"
    );
    assert!(
        video.decoded_frames >= expect.min_frames,
        "decoded only {} frames: {json}",
        video.decoded_frames
    );
    assert_eq!(
        video.stamped_frames, video.decoded_frames,
        "every frame's stamp is readable"
    );
    assert_eq!(video.counter_reversals, Some(0), "counters arrive in order");
    let latency = video.latency_ms.expect("the delay of our stamped frames");
    assert_eq!(
        latency.samples, video.stamped_frames,
        "every stamped frame is timed"
    );
    assert!(latency.p50 <= latency.p95 && latency.p95 <= latency.max);
    assert!(
        video.jitter_buffer_ms.is_some() && video.jitter_target_ms.is_some(),
        "the jitter buffer's figures: {json}"
    );
    assert!(video.counter_gaps.is_some_and(|g| g <= 2), "{json}");
    let hz = audio.dominant_hz.expect("a tone was heard");
    assert!(
        (hz - expect.peer_hz).abs() <= 2.0,
        "heard {hz} Hz, expected {}",
        expect.peer_hz
    );
    assert!(
        video.peer_received_packets > 0,
        "the peer's reports acknowledge our video"
    );
    assert!(
        audio.peer_received_packets > 0,
        "the peer's reports acknowledge our audio"
    );
    let t = &r.last_call.timings_ms;
    for (key, value) in [
        ("joined", t.joined),
        ("peer_joined", t.peer_joined),
        ("ice_connected", t.ice_connected),
        ("first_remote_frame", t.first_remote_frame),
    ] {
        assert!(value.is_some(), "timing {key} missing: {json}");
    }
}

/// The arguments of most test calls: one call through `url`, held `secs` seconds, at 320x240.
pub fn one_call<'a>(url: &'a str, secs: &'a str) -> [&'a str; 8] {
    [
        "--server",
        url,
        "--duration",
        secs,
        "--calls",
        "1",
        "--video-size",
        "320x240",
    ]
}
