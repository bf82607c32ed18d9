//! Test hosts for roompeer: network namespaces with only `lo`, the project's Node signaling
//! servers inside them, certificates made as the seed makes them, and roompeer processes.
#![allow(dead_code)]

pub mod browser_call;
pub mod browsers;
pub mod certs;
pub mod cpu;
pub mod desktop_session;
pub mod fake_portal;
pub mod impair;
pub mod media_files;
pub mod nat_lab;
pub mod netns;
pub mod peers;
pub mod pulse;
pub mod servers;
pub mod wayland;
pub mod xvfb;
// Each test binary uses a part of these.
#[allow(unused_imports)]
pub use {
    browser_call::{BrowserCall, CallSeen, Relay},
    browsers::*,
    certs::*,
    media_files::*,
    nat_lab::*,
    netns::*,
    peers::*,
    roompeer::call::{CallEnd, Role},
    roompeer::report::{Hosting, Outcome, Report, Timings},
    servers::*,
};

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

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

/// Runs a command that must succeed.
pub fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
