//! The session runner, for the command line and the window alike: it connects the signaling
//! transport, the call state machine ([`crate::call::Session`]) and the peer connections,
//! executes the state machine's actions, and assembles the report.
//!
//! One file per concern: the select loop is here; [`executor`] carries out actions;
//! [`outcome`] judges calls and sessions (pure); [`call_report`] assembles a call's report;
//! [`recording`] writes `--record` files; [`hosting`] starts the built-in room server;
//! [`turn_precheck`] asks TURN servers for an allocation before the call; [`plots`] samples the
//! window's plots; [`os`] holds what talks to the operating system (signals, memory).

use crate::timer::sleep_until_opt;
mod call_report;
mod event_log;
mod executor;
mod hosting;
mod os;
pub mod outcome;
mod plots;
mod recording;
mod turn_precheck;

use crate::call::{Input, RoomSettings};
use crate::live::{LiveView, ShownStatus};
use crate::peer::PeerSettings;
use crate::peer::turn_check::TurnStatus;
use crate::peer::turn_stream::TurnBridges;
use crate::report::{CallSummary, Outcome, Report, proc_status_kib};
use crate::signaling::room::RoomEvent;
use crate::signaling::{ConnectError, Signaling, TransportEvent, TransportOptions, connect};
use executor::Runner;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Everything a session needs, whichever mode runs it.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The signaling server and how to trust it.
    pub transport: TransportOptions,
    /// Room, waits and hold time.
    pub room: RoomSettings,
    /// How peer connections are built.
    pub peer: PeerSettings,
    /// Where to record each call (`DIR/call-N/`).
    pub record: Option<PathBuf>,
    /// What else `record` writes (raw media, our own streams).
    pub record_options: crate::pipeline::RecordOptions,
    /// Host a room server first (no server was configured): the embedded default.
    pub host: Option<crate::server::ServeOptions>,
    /// Write each event as a JSON line here as it happens (`-`: stdout).
    pub events: Option<PathBuf>,
    /// Write the connected call's figures once a second as JSON lines here (`-`: stdout).
    pub stats: Option<PathBuf>,
}

/// What ties a session to a view of it, the window or the terminal's status line: where it
/// shows itself, and the window's Leave button.
#[derive(Debug, Clone)]
pub struct WindowLink {
    /// Where the window reads the session's state.
    pub view: Arc<LiveView>,
    /// Cancelled to leave the room, as Ctrl-C does.
    pub stop: CancellationToken,
}

/// Runs until the session finishes; returns the report (not yet written).
pub async fn run(opts: RunOptions, window: Option<WindowLink>) -> Report {
    let view = window.as_ref().map(|w| w.view.clone());
    let report = run_session(opts, window).await;
    if let Some(v) = view {
        v.update(|s| {
            s.finished = true;
            s.error = report.error.clone();
            s.status = match &report.error {
                Some(_) => ShownStatus::Ended,
                None => ShownStatus::LeftTheRoom,
            };
        });
    }
    report
}

async fn run_session(mut opts: RunOptions, window: Option<WindowLink>) -> Report {
    let view = window.as_ref().map(|w| w.view.clone());
    let mut report = Report {
        outcome: Outcome::Error,
        exit_code: 1,
        error: None,
        started_unix_ms: crate::report::started_unix_ms(),
        server: opts.transport.url.to_string(),
        hosting: None,
        eio: None,
        socket_id: None,
        events: Vec::new(),
        calls: Vec::new(),
        turn: Vec::new(),
        peak_rss_kib: None,
        cpu_seconds: None,
        last_call: CallSummary::default(),
    };
    let _room_server = match &opts.host {
        Some(host) => match hosting::host_room_server(host, &opts.room.room).await {
            Ok((server, hosting)) => {
                report.hosting = hosting;
                server
            }
            Err(e) => {
                report.error = Some(e.to_string());
                return finish_report(report);
            }
        },
        None => None,
    };
    // webrtc reaches TCP and TLS TURN servers through local bridges, for the whole run.
    let bridges = Arc::new(TurnBridges::start(&opts.peer.ice_servers, &opts.peer.turn_trust).await);
    opts.peer.turn_bridges = bridges.clone();
    // The TURN servers are asked while signaling connects.
    let (turn, connected) = tokio::join!(
        turn_precheck::check_turn_servers(&opts.peer.ice_servers, &bridges),
        connect(&opts.transport)
    );
    let problems: Vec<String> = turn.iter().filter_map(|t| t.problem()).collect();
    let any_turn_ok = turn
        .iter()
        .any(|t| matches!(t.status, TurnStatus::Ok { .. }));
    report.turn = turn.iter().map(turn_precheck::turn_report).collect();
    for p in &problems {
        tracing::warn!("{p}");
        if let Some(v) = &view {
            let p = p.clone();
            v.update(|s| s.notices.push(p));
        }
    }
    if opts.peer.relay_only && !turn.is_empty() && !any_turn_ok {
        report.outcome = Outcome::TurnFailed;
        report.error = Some(format!(
            "{}; with --relay-only there is no other way to the peer",
            problems.join("; ")
        ));
        return finish_report(report);
    }
    let (signaling, sig_events) = match connected {
        Ok(pair) => pair,
        Err(e) => {
            report.outcome = match &e {
                ConnectError::Tls(_) => Outcome::TlsFailed,
                ConnectError::Untrusted { der, .. } => {
                    if let Some(v) = &view {
                        let der = der.clone();
                        v.update(|s| s.untrusted_certificate = Some(der));
                    }
                    Outcome::TlsFailed
                }
                ConnectError::Signaling(_) => Outcome::SignalingFailed,
            };
            report.error = Some(e.to_string());
            return finish_report(report);
        }
    };
    report.eio = Some(signaling.eio.query_value().to_owned());
    report.socket_id = Some(signaling.socket_id.clone());

    let stop = window.as_ref().map(|w| w.stop.clone()).unwrap_or_default();
    let sink = event_log::EventSink::open_or_warn(opts.events.as_deref(), "the event log");
    let stats = event_log::EventSink::open_or_warn(opts.stats.as_deref(), "the stats lines");
    let mut runner = Runner::new(opts, view, signaling, event_log::EventLog::new(sink));
    runner.stats = stats;
    let finish = run_loop(&mut runner, sig_events, stop).await;
    let ids: Vec<_> = runner.call_ids();
    for id in ids {
        runner.close_call(id, crate::call::CallEnd::WeLeft).await;
    }
    // After a reconnect, the socket id the room knows us by now.
    report.socket_id = Some(runner.signaling.socket_id.clone());
    report.events = runner.events.take();
    report.calls = std::mem::take(&mut runner.done);
    report.outcome = outcome::judge(&finish, &report.calls);
    report.error = outcome::error_text(&finish, report.outcome, &report.calls);
    finish_report(report)
}

type ConnectResult = Result<(Signaling, mpsc::UnboundedReceiver<TransportEvent>), ConnectError>;

/// The select loop: feeds the state machine what happens (server events, peer events, timers,
/// stop requests) and has the runner execute what it decides, until it finishes.
async fn run_loop(
    runner: &mut Runner,
    mut sig_events: mpsc::UnboundedReceiver<TransportEvent>,
    stop: CancellationToken,
) -> crate::call::Finish {
    runner.pending.push_back(Input::SignalingUp);
    let mut signaling_open = true;
    let mut stop_requests = os::stop_signals();
    let mut stop_sent = false;
    // A reconnect the state machine asked for (Action::Reconnect), while it runs.
    let mut attempt: Option<tokio::task::JoinHandle<ConnectResult>> = None;
    // The window's plots: one sample a second.
    let mut stats_tick = tokio::time::interval(std::time::Duration::from_secs(1));
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let finish = loop {
        if let Some(f) = runner.drain().await {
            break f;
        }
        if std::mem::take(&mut runner.reconnect_wanted) {
            let transport = runner.opts.transport.clone();
            attempt = Some(tokio::spawn(async move { connect(&transport).await }));
        }
        runner.show_status();
        let deadline = runner.session.deadline();
        tokio::select! {
            event = sig_events.recv(), if signaling_open => match event {
                Some(TransportEvent::Event { name, args }) => {
                    let input = match RoomEvent::from_socketio(&name, &args) {
                        Ok(e) => Input::Room(e),
                        Err(e) => Input::Malformed(e.to_string()),
                    };
                    runner.pending.push_back(input);
                }
                Some(TransportEvent::Closed { reason }) => {
                    signaling_open = false;
                    runner.pending.push_back(Input::SignalingDown(reason));
                }
                None => {
                    signaling_open = false;
                    runner.pending.push_back(Input::SignalingDown("signaling task ended".into()));
                }
            },
            result = async { attempt.as_mut().expect("guarded").await }, if attempt.is_some() => {
                attempt = None;
                match result {
                    Ok(Ok((signaling, events))) => {
                        tracing::info!(socket_id = %signaling.socket_id, "signaling reconnected");
                        runner.signaling = signaling;
                        sig_events = events;
                        signaling_open = true;
                        runner.pending.push_back(Input::SignalingUp);
                    }
                    Ok(Err(e)) => {
                        tracing::info!("reconnecting failed ({e}); trying again");
                        runner.pending.push_back(Input::ReconnectFailed);
                    }
                    Err(e) => {
                        tracing::warn!("reconnect task failed: {e}");
                        runner.pending.push_back(Input::ReconnectFailed);
                    }
                }
            }
            Some(input) = runner.inputs.1.recv() => runner.pending.push_back(input),
            Some(event) = runner.media_events.1.recv() => runner.media_event(event),
            _ = sleep_until_opt(deadline) => runner.pending.push_back(Input::Timeout),
            _ = stats_tick.tick(), if runner.view.is_some() || runner.stats.is_some() => runner.sample_stats().await,
            _ = stop_requests.recv() => {
                tracing::info!("stop requested: leaving the room");
                runner.pending.push_back(Input::Stop);
            }
            _ = stop.cancelled(), if !stop_sent => {
                tracing::info!("leaving the room");
                stop_sent = true;
                runner.pending.push_back(Input::Stop);
            }
        }
    };
    if let Some(attempt) = attempt.take() {
        attempt.abort();
    }
    // Let the connection task send its goodbye before the process exits.
    if signaling_open {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            while let Some(e) = sig_events.recv().await {
                if matches!(e, TransportEvent::Closed { .. }) {
                    break;
                }
            }
        })
        .await;
    }
    finish
}

/// The figures every report ends with: exit code, peak memory, CPU time, the last call.
fn finish_report(mut report: Report) -> Report {
    report.exit_code = report.outcome.exit_code();
    report.peak_rss_kib = proc_status_kib("VmHWM");
    report.cpu_seconds = crate::report::cpu_seconds();
    if let Some(last) = report.calls.last() {
        report.last_call = last.summary.clone();
    }
    report
}
