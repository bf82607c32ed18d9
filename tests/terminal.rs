//! Headless on a terminal: one live status line while the call runs, the summary at the end,
//! and no known noise in between. Run under a pseudo-terminal (`script`, from util-linux).

mod support;

use std::time::Duration;
use support::*;

/// Runs a roompeer that calls a waiting one, under a pseudo-terminal; returns what the
/// terminal showed.
fn on_a_terminal(name: &str, extra: &[&str]) -> String {
    let dir = scratch(name);
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V4, seed_cert());
    let url = server.http();
    let host = Peer::start(&ns, &dir, "waiting", &one_call(&url, "3")).joined();
    let mut command = vec![
        env!("CARGO_BIN_EXE_roompeer").to_owned(),
        "--headless".into(),
    ];
    command.extend(one_call(&url, "3").iter().map(|a| a.to_string()));
    command.extend(extra.iter().map(|a| a.to_string()));
    let out = ns
        .command("script")
        .args(["-qfec", &command.join(" "), "/dev/null"])
        .env_remove("ROOMPEER_LOG")
        .env("COLUMNS", "160")
        .output()
        .expect("script");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    host.wait_event("call_ended", Duration::from_secs(10));
    let h = host.finish();
    assert_eq!(h.code, 0, "{}", h.stderr);
    shown
}

/// The lines as a person sees them: each redraw (`\r`) replaces the line before.
fn last_lines(shown: &str) -> Vec<String> {
    shown
        .split('\n')
        .filter_map(|l| l.rsplit('\r').find(|part| !part.trim().is_empty()))
        .map(|l| l.replace("\u{1b}[2K", "").trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn on_a_terminal_a_live_line_shows_the_call_and_the_summary_ends_the_run() {
    let shown = on_a_terminal("terminal-line", &[]);
    // Redrawn at least once with the call's figures.
    let redraws: Vec<&str> = shown
        .split(['\r', '\n'])
        .filter(|l| l.contains("in a call 0:0") && l.contains("fps"))
        .collect();
    assert!(!redraws.is_empty(), "no live line with figures:\n{shown}");
    assert!(
        redraws
            .iter()
            .any(|l| l.contains("kbit/s") && l.contains("H264"))
    );
    for noise in [
        "pingAllCandidates",
        "password is empty",
        "remote_addr is empty",
    ] {
        assert!(!shown.contains(noise), "noise {noise:?} shown:\n{shown}");
    }
    let lines = last_lines(&shown);
    let n = lines.len();
    assert!(n >= 2, "{lines:?}");
    assert_eq!(
        lines[n - 2],
        "roompeer: outcome ok (exit code 0)",
        "{lines:?}"
    );
    assert!(
        lines[n - 1].starts_with("  call 1 as answerer"),
        "{lines:?}"
    );
    assert!(lines[n - 1].ends_with("media ok"), "{lines:?}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn with_quiet_a_terminal_shows_only_the_summary() {
    let shown = on_a_terminal("terminal-quiet", &["--quiet"]);
    assert!(!shown.contains("in a call"), "{shown}");
    let lines = last_lines(&shown);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "roompeer: outcome ok (exit code 0)");
}

/// `scripts/demo.sh`, as a new user runs it: a short account of the call, not a wall of log.
#[test]
#[ignore = "needs root: the demo runs in a network namespace of its own"]
fn the_demo_tells_what_happened_in_at_most_25_lines() {
    // One pipe for both streams, so the lines come in the order a terminal shows them.
    let out = std::process::Command::new("bash")
        .args(["-c", "scripts/demo.sh 2>&1"])
        .current_dir(root())
        .env("DEMO_SECONDS", "3")
        .env("ROOMPEER_BIN", env!("CARGO_BIN_EXE_roompeer"))
        .env_remove("ROOMPEER_LOG")
        .output()
        .expect("demo");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines.len() <= 25, "{} lines:\n{shown}", lines.len());
    assert_eq!(shown.matches("; media ok").count(), 2, "{shown}");
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.starts_with("demo: reports"), "{shown}");
}
