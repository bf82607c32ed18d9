//! Browsers running the project's room page, driven by playwright-core or puppeteer-core.

use super::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

    /// The driver's process id (the browser's processes are its descendants), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
    pub fn finish(self) -> Value {
        let result = self.wait_for("result", Duration::from_secs(120));
        self.closed();
        result
    }

    /// Waits until the driver has closed the browser and exited (after its `result`).
    pub fn closed(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
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
