//! The headless run: connects the signaling transport, the call state machine and the peer
//! connections, executes actions, and writes the report and recordings.

use crate::call::{Action, CallEnd, CallId, Finish, Input, Role, Session, Settings};
use crate::live::LiveView;
use crate::peer::media_io::CallMedia;
use crate::peer::turn_check::{self, TurnCheck, TurnStatus};
use crate::peer::turn_stream::{StreamUrl, TurnBridges};
use crate::peer::{Peer, PeerSettings};
use crate::report::{
    AudioReport, CallReport, CallSummary, EventRecord, Outcome, Report, Timings, VideoReport,
    ms_since_start, proc_status_kib,
};
use crate::signaling::room::{RoomEvent, SignalMessage};
use crate::signaling::{ConnectError, Signaling, TransportEvent, TransportOptions, connect};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// Everything a headless run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The signaling server and how to trust it.
    pub transport: TransportOptions,
    /// Room, waits and hold time.
    pub session: Settings,
    /// How peer connections are built.
    pub peer: PeerSettings,
    /// Where to record each call (`DIR/call-N/`).
    pub record: Option<PathBuf>,
    /// Host a room server first (no server was configured): the embedded default.
    pub host: Option<crate::server::ServeOptions>,
    /// Where to show the session while it runs (the window), if anywhere.
    pub view: Option<Arc<LiveView>>,
    /// Cancelled to leave the room (the window's Leave button), as Ctrl-C does.
    pub stop: Option<tokio_util::sync::CancellationToken>,
}

/// Starts the built-in room server for a run without a configured server. If its address is
/// taken, another roompeer is probably hosting there already, and the run joins that one.
async fn host_room_server(
    opts: &crate::server::ServeOptions,
    room: &crate::signaling::room::Room,
) -> Result<Option<crate::server::RoomServer>, String> {
    match crate::server::RoomServer::start(opts).await {
        Ok(server) => {
            if let Some(addr) = server.http {
                let query = room
                    .0
                    .as_ref()
                    .map(|r| {
                        format!(
                            "?room={}",
                            url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>()
                        )
                    })
                    .unwrap_or_default();
                tracing::info!(
                    "no --server given: hosting a room server at http://{addr}; a browser on this \
                     machine joins the call at http://{addr}/index.html{query}"
                );
            }
            Ok(Some(server))
        }
        Err(e) if e.is_address_in_use() => {
            tracing::info!("{e}: joining the room server already there");
            Ok(None)
        }
        Err(e) => Err(format!(
            "cannot host a room server ({e}); give --listen ADDR, or --server URL"
        )),
    }
}

/// Asks every TURN url for an allocation, all at once, 3 s at most. TCP and TLS urls are
/// asked through their bridges, so the check covers the path the call will take.
async fn check_turn_servers(
    servers: &[webrtc::peer_connection::RTCIceServer],
    bridges: &TurnBridges,
) -> Vec<TurnCheck> {
    let mut checks = Vec::new();
    for s in servers {
        for url in &s.urls {
            if !url.starts_with("turn:") && !url.starts_with("turns:") {
                continue;
            }
            let via = match StreamUrl::parse(url) {
                Ok(None) => Ok(url.clone()),
                Ok(Some(_)) => bridges
                    .local_url(url)
                    .ok_or_else(|| bridges.problem(url).unwrap_or_else(|| "not bridged".into())),
                Err(why) => Err(why),
            };
            let (url, user, pass) = (url.clone(), s.username.clone(), s.credential.clone());
            checks.push(async move {
                let via = match via {
                    Ok(via) => via,
                    Err(why) => {
                        return TurnCheck {
                            url,
                            status: TurnStatus::Failed(why),
                        };
                    }
                };
                let mut check =
                    turn_check::check(&via, &user, &pass, std::time::Duration::from_secs(3)).await;
                // Through a bridge, the connection's own error says more than a timeout.
                if via != url
                    && !matches!(check.status, TurnStatus::Ok { .. })
                    && let Some(why) = bridges.problem(&url)
                {
                    check.status = TurnStatus::Failed(why);
                }
                check.url = url;
                check
            });
        }
    }
    futures::future::join_all(checks).await
}

fn turn_report(t: &TurnCheck) -> crate::report::TurnReport {
    let (relayed, ms) = match &t.status {
        TurnStatus::Ok { relayed, took } => {
            (Some(relayed.to_string()), Some(took.as_millis() as u64))
        }
        _ => (None, None),
    };
    crate::report::TurnReport {
        url: t.url.clone(),
        ok: relayed.is_some(),
        relayed,
        ms,
        error: t.problem(),
    }
}

/// A call in progress, with what will go into its report.
struct LiveCall {
    peer: Option<Peer>,
    media: std::sync::Arc<CallMedia>,
    role: Role,
    dir: Option<PathBuf>,
    candidates: Option<std::fs::File>,
    timings: Timings,
    connected_at: Option<Instant>,
    /// Counters at the last stats sample: bytes sent, received, frames sent, decoded, when.
    last_sample: Option<(u64, u64, u64, u64, Instant)>,
}

impl LiveCall {
    fn save(&self, name: &str, content: &str) {
        if let Some(dir) = &self.dir
            && let Err(e) = std::fs::write(dir.join(name), content)
        {
            tracing::error!("cannot write {name}: {e}");
        }
    }

    fn log_candidate(&mut self, side: &str, candidate: &str) {
        if let Some(f) = self.candidates.as_mut() {
            let line = serde_json::json!({
                "t_ms": ms_since_start(Instant::now()),
                "side": side,
                "candidate": candidate,
            });
            if let Err(e) = writeln!(f, "{line}") {
                tracing::error!("cannot write candidates.jsonl: {e}");
                self.candidates = None;
            }
        }
    }
}

type ConnectResult = Result<(Signaling, mpsc::UnboundedReceiver<TransportEvent>), ConnectError>;

/// When and how the signaling connection is tried again after it was lost.
#[derive(Default)]
struct Reconnect {
    /// The next attempt, if one is due.
    at: Option<Instant>,
    /// The pause before the next attempt after this one fails.
    pause: std::time::Duration,
    /// The attempt under way.
    attempt: Option<tokio::task::JoinHandle<ConnectResult>>,
}

impl Reconnect {
    /// Schedules the next attempt: 250 ms after the loss, then doubling up to 5 s.
    fn schedule(&mut self) {
        use std::time::Duration;
        self.pause = (self.pause * 2).clamp(Duration::from_millis(250), Duration::from_secs(5));
        self.at = Some(Instant::now() + self.pause);
    }
}

/// Runs until the session finishes; returns the report (not yet written).
pub async fn run(opts: RunOptions) -> Report {
    let view = opts.view.clone();
    let report = run_session(opts).await;
    if let Some(v) = view {
        v.update(|s| {
            s.finished = true;
            s.error = report.error.clone();
            s.status = match &report.error {
                Some(_) => "ended".into(),
                None => "left the room".into(),
            };
        });
    }
    report
}

async fn run_session(mut opts: RunOptions) -> Report {
    let mut report = Report {
        outcome: Outcome::Error,
        exit_code: 1,
        error: None,
        started_unix_ms: crate::report::started_unix_ms(),
        server: opts.transport.url.to_string(),
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
        Some(host) => match host_room_server(host, &opts.session.room).await {
            Ok(server) => server,
            Err(e) => {
                report.error = Some(e);
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
        check_turn_servers(&opts.peer.ice_servers, &bridges),
        connect(&opts.transport)
    );
    let problems: Vec<String> = turn.iter().filter_map(|t| t.problem()).collect();
    let any_turn_ok = turn
        .iter()
        .any(|t| matches!(t.status, TurnStatus::Ok { .. }));
    report.turn = turn.iter().map(turn_report).collect();
    for p in &problems {
        tracing::warn!("{p}");
        if let Some(v) = &opts.view {
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
    let (signaling, mut sig_events) = match connected {
        Ok(pair) => pair,
        Err(e) => {
            report.outcome = match &e {
                ConnectError::Tls(_) => Outcome::TlsFailed,
                ConnectError::Untrusted { der, .. } => {
                    if let Some(v) = &opts.view {
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

    let session = Session::new(opts.session.clone());
    let stop_token = opts.stop.clone().unwrap_or_default();
    let mut runner = Runner {
        view: opts.view.clone(),
        opts,
        signaling,
        session,
        calls: HashMap::new(),
        done: Vec::new(),
        events: Vec::new(),
        joined_at: None,
        inputs: mpsc::unbounded_channel(),
        pending: VecDeque::new(),
        stop_sent: false,
    };
    runner.pending.push_back(Input::SignalingUp);

    let mut signaling_open = true;
    let mut stop_requests = stop_signals();
    // While signaling is down, the connection is tried again with a growing pause.
    let mut reconnect = Reconnect::default();
    // The window's plots: one sample a second.
    let mut stats_tick = tokio::time::interval(std::time::Duration::from_secs(1));
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let finish = loop {
        if let Some(f) = runner.drain().await {
            break f;
        }
        runner.show_status();
        let deadline = runner.session.deadline();
        tokio::select! {
            event = sig_events.recv(), if signaling_open => match event {
                Some(TransportEvent::Event { name, args }) => {
                    let input = match RoomEvent::from_socketio(&name, &args) {
                        Ok(e) => Input::Room(e),
                        Err(e) => Input::Malformed(format!("server event: {e}")),
                    };
                    runner.pending.push_back(input);
                }
                Some(TransportEvent::Closed { reason }) => {
                    signaling_open = false;
                    reconnect.schedule();
                    runner.pending.push_back(Input::SignalingDown(reason));
                }
                None => {
                    signaling_open = false;
                    reconnect.schedule();
                    runner.pending.push_back(Input::SignalingDown("signaling task ended".into()));
                }
            },
            _ = sleep_until_opt(reconnect.at), if !signaling_open && reconnect.attempt.is_none() => {
                let transport = runner.opts.transport.clone();
                reconnect.at = None;
                reconnect.attempt = Some(tokio::spawn(async move { connect(&transport).await }));
            }
            result = async { reconnect.attempt.as_mut().expect("guarded").await }, if reconnect.attempt.is_some() => {
                reconnect.attempt = None;
                match result {
                    Ok(Ok((signaling, events))) => {
                        tracing::info!(socket_id = %signaling.socket_id, "signaling reconnected");
                        runner.signaling = signaling;
                        sig_events = events;
                        signaling_open = true;
                        reconnect = Reconnect::default();
                        runner.pending.push_back(Input::SignalingUp);
                    }
                    Ok(Err(e)) => {
                        tracing::info!("reconnecting failed ({e}); trying again");
                        reconnect.schedule();
                    }
                    Err(e) => {
                        tracing::warn!("reconnect task failed: {e}");
                        reconnect.schedule();
                    }
                }
            }
            Some(input) = runner.inputs.1.recv() => runner.pending.push_back(input),
            _ = sleep_until_opt(deadline) => runner.pending.push_back(Input::Timeout),
            _ = stats_tick.tick(), if runner.view.is_some() => runner.sample_stats().await,
            _ = stop_requests.recv() => {
                tracing::info!("stop requested: leaving the room");
                runner.pending.push_back(Input::Stop);
            }
            _ = stop_token.cancelled(), if !runner.stop_sent => {
                tracing::info!("leaving the room");
                runner.stop_sent = true;
                runner.pending.push_back(Input::Stop);
            }
        }
    };
    if let Some(attempt) = reconnect.attempt.take() {
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
    let ids: Vec<CallId> = runner.calls.keys().copied().collect();
    for id in ids {
        runner.close_call(id, CallEnd::WeLeft).await;
    }
    // After a reconnect, the socket id the room knows us by now.
    report.socket_id = Some(runner.signaling.socket_id.clone());
    report.events = runner.events;
    report.calls = runner.done;
    report.outcome = judge(&finish, &report.calls);
    report.error = match &finish {
        Finish::SignalingLost(r) => Some(r.clone()),
        Finish::RoomFull => Some("the room is full (it already has two peers)".into()),
        Finish::NoPeer => Some("no peer joined the room in time".into()),
        _ => report.calls.iter().find_map(|c| match &c.end {
            Some(CallEnd::NegotiationFailed(why)) if report.outcome != Outcome::Ok => {
                Some(why.clone())
            }
            _ => None,
        }),
    };
    finish_report(report)
}

/// Hands memory freed by a finished call (codec buffers, the peer connection's queues) back to
/// the OS, so a roompeer that stays in a room keeps the footprint of one call, not of its peak.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn negotiation_failed(c: &CallReport) -> bool {
    matches!(c.end, Some(CallEnd::NegotiationFailed(_)))
}

/// The outcome of a finished session from its calls.
fn judge(finish: &Finish, calls: &[CallReport]) -> Outcome {
    if calls.iter().any(|c| c.connected && c.media_ok) {
        return Outcome::Ok;
    }
    match finish {
        Finish::RoomFull => Outcome::RoomFull,
        Finish::SignalingLost(_) if !calls.iter().any(|c| c.connected) => Outcome::SignalingFailed,
        _ if calls.is_empty() => Outcome::NoPeer,
        _ if calls.iter().any(|c| c.connected) => Outcome::NoMedia,
        _ if calls.iter().any(negotiation_failed) => Outcome::NegotiationFailed,
        _ => Outcome::IceFailed,
    }
}

fn finish_report(mut report: Report) -> Report {
    report.exit_code = report.outcome.exit_code();
    report.peak_rss_kib = proc_status_kib("VmHWM");
    report.cpu_seconds = crate::report::cpu_seconds();
    if let Some(last) = report.calls.last() {
        report.last_call = last.summary.clone();
    }
    report
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Ctrl-C and SIGTERM, as one stream of stop requests.
fn stop_signals() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let terminated = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let terminated = std::future::pending::<()>();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminated => {}
            }
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    rx
}

struct Runner {
    /// Where the window reads the session's state, if there is a window.
    view: Option<Arc<LiveView>>,
    opts: RunOptions,
    signaling: Signaling,
    session: Session,
    calls: HashMap<CallId, LiveCall>,
    done: Vec<CallReport>,
    events: Vec<EventRecord>,
    joined_at: Option<u64>,
    inputs: (mpsc::UnboundedSender<Input>, mpsc::UnboundedReceiver<Input>),
    pending: VecDeque<Input>,
    /// The Leave request was passed on (it is passed once).
    stop_sent: bool,
}

impl Runner {
    /// Samples the connected call's figures for the window's plots.
    async fn sample_stats(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(view) = self.view.clone() else {
            return;
        };
        for call in self.calls.values_mut() {
            let (Some(connected), Some(peer)) = (call.connected_at, call.peer.as_ref()) else {
                continue;
            };
            let m = &call.media;
            let now = (
                m.bytes_sent.load(Relaxed),
                m.bytes_received.load(Relaxed),
                m.video_sent.load(Relaxed),
                m.received().decoded_frames,
                Instant::now(),
            );
            let (link_rtt, loss) = peer.link_stats().await;
            if let Some(prev) = call.last_sample.replace(now) {
                let secs = now.4.duration_since(prev.4).as_secs_f64().max(0.001);
                let per_sec = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
                view.stats(crate::live::StatsSample {
                    t: now.4.duration_since(connected).as_secs_f64(),
                    kbps_out: per_sec(now.0, prev.0) * 8.0 / 1000.0,
                    kbps_in: per_sec(now.1, prev.1) * 8.0 / 1000.0,
                    fps_out: per_sec(now.2, prev.2),
                    fps_in: per_sec(now.3, prev.3),
                    rtt_ms: link_rtt,
                    loss_pct: loss,
                });
            }
        }
    }

    fn show(&self, change: impl FnOnce(&mut crate::live::LiveState)) {
        if let Some(v) = &self.view {
            v.update(change);
        }
    }

    fn show_status(&self) {
        let status = self.session.status().to_string();
        self.show(|s| s.status = status);
    }

    fn event(&mut self, event: impl Into<String>, detail: Option<String>) {
        self.events.push(EventRecord {
            t_ms: ms_since_start(Instant::now()),
            event: event.into(),
            detail,
        });
    }

    fn note_input(&mut self, input: &Input) {
        match input {
            Input::Room(e) => {
                let (name, detail) = match e {
                    RoomEvent::Joined { id } => ("joined", Some(id.clone())),
                    RoomEvent::OtherJoin { id } => ("otherjoin", Some(id.clone())),
                    RoomEvent::Full => ("full", None),
                    RoomEvent::Leaved => ("leaved", None),
                    RoomEvent::Bye { id } => ("bye", Some(id.clone())),
                    RoomEvent::Message(SignalMessage::Offer(_)) => ("message:offer", None),
                    RoomEvent::Message(SignalMessage::Answer(_)) => ("message:answer", None),
                    RoomEvent::Message(SignalMessage::Candidate(_)) => ("message:candidate", None),
                };
                if matches!(e, RoomEvent::Joined { .. }) && self.joined_at.is_none() {
                    self.joined_at = Some(ms_since_start(Instant::now()));
                }
                self.event(name, detail);
            }
            Input::Malformed(what) => self.event("malformed", Some(what.clone())),
            Input::SignalingDown(why) => self.event("signaling_down", Some(why.clone())),
            Input::SignalingUp => self.event("connected", Some(self.signaling.socket_id.clone())),
            Input::LocalCandidate(id, c) => {
                if let Some(call) = self.calls.get_mut(id) {
                    call.log_candidate("local", &c.candidate);
                }
                if let Some(v) = &self.view {
                    v.candidate("local", &c.candidate);
                }
            }
            Input::PeerError(id, why) => {
                self.event("peer_error", Some(format!("call {}: {why}", id.0)))
            }
            _ => {}
        }
    }

    /// Feeds pending inputs and executes the resulting actions until nothing is left.
    async fn drain(&mut self) -> Option<Finish> {
        while let Some(input) = self.pending.pop_front() {
            self.note_input(&input);
            self.session.handle(Instant::now(), input);
            while let Some(action) = self.session.poll_action() {
                if let Some(f) = self.execute(action).await {
                    return Some(f);
                }
            }
        }
        None
    }

    async fn execute(&mut self, action: Action) -> Option<Finish> {
        match action {
            Action::Emit { event, args } => {
                let detail = match (event, args.get(1)) {
                    ("message", Some(m)) => {
                        m.get("type").and_then(|t| t.as_str()).map(str::to_owned)
                    }
                    _ => None,
                };
                self.event(format!("sent:{event}"), detail);
                if let Err(e) = self.signaling.emit(event, args) {
                    tracing::warn!("{e}");
                }
            }
            Action::StartPeer(id, role) => self.start_call(id, role).await,
            Action::CreateOffer(id) | Action::RestartIce(id) => {
                let restart = matches!(action, Action::RestartIce(_));
                if restart {
                    self.event("ice_restart", Some(format!("call {}", id.0)));
                }
                let result = match self.peer(id) {
                    Some(p) if restart => p.restart_ice().await,
                    Some(p) => p.create_offer().await,
                    None => return None,
                };
                match result {
                    Ok(offer) => {
                        if let SignalMessage::Offer(sdp) = &offer {
                            let sdp = sdp.clone();
                            self.show(|s| {
                                s.offer_sdp = sdp;
                                s.answer_sdp.clear();
                            });
                        }
                        self.save_local_description(id, &offer);
                        self.pending.push_back(Input::LocalDescription(id, offer));
                    }
                    Err(e) => self.pending.push_back(Input::PeerError(id, e)),
                }
            }
            Action::AcceptOffer(id, sdp) => {
                if let Some(c) = self.calls.get(&id) {
                    c.save("remote-offer.sdp", &sdp);
                }
                let shown = sdp.clone();
                self.show(|s| {
                    s.offer_sdp = shown;
                    s.answer_sdp.clear();
                });
                let result = match self.peer(id) {
                    Some(p) => p.accept_offer(sdp).await,
                    None => return None,
                };
                match result {
                    Ok(answer) => {
                        if let SignalMessage::Answer(sdp) = &answer {
                            let sdp = sdp.clone();
                            self.show(|s| s.answer_sdp = sdp);
                        }
                        self.save_local_description(id, &answer);
                        self.pending.push_back(Input::RemoteApplied(id));
                        self.pending.push_back(Input::LocalDescription(id, answer));
                    }
                    Err(e) => self.pending.push_back(Input::PeerError(id, e)),
                }
            }
            Action::AcceptAnswer(id, sdp) => {
                if let Some(c) = self.calls.get(&id) {
                    c.save("remote-answer.sdp", &sdp);
                }
                let shown = sdp.clone();
                self.show(|s| s.answer_sdp = shown);
                let result = match self.peer(id) {
                    Some(p) => p.accept_answer(sdp).await,
                    None => return None,
                };
                match result {
                    Ok(()) => self.pending.push_back(Input::RemoteApplied(id)),
                    Err(e) => self.pending.push_back(Input::PeerError(id, e)),
                }
            }
            Action::AddCandidate(id, c) => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.log_candidate("remote", &c.candidate);
                }
                if let Some(v) = &self.view {
                    v.candidate("remote", &c.candidate);
                }
                if let Some(p) = self.peer(id)
                    && let Err(e) = p.add_candidate(&c).await
                {
                    // One bad candidate does not end a call; others may still work.
                    tracing::warn!("{e} ({})", c.candidate);
                }
            }
            Action::CallConnected(id) => {
                self.event("call_connected", Some(format!("call {}", id.0)));
                if let Some(call) = self.calls.get_mut(&id) {
                    let now = Instant::now();
                    call.connected_at = Some(now);
                    call.timings.ice_connected = Some(ms_since_start(now));
                    if let Some(p) = call.peer.as_mut()
                        && let Err(e) = p.start_media().await
                    {
                        self.pending.push_back(Input::PeerError(id, e));
                    }
                    if let (Some(view), Some(p)) = (&self.view, call.peer.as_ref()) {
                        let pair = p.selected_pair().await.map(|p| {
                            format!(
                                "{} {} <-> {} {} ({})",
                                p.local_type,
                                p.local_address,
                                p.remote_type,
                                p.remote_address,
                                p.protocol
                            )
                        });
                        let codec = p.sending_codecs().await.0;
                        view.update(|s| {
                            s.selected_pair = pair;
                            s.video_codec = codec;
                        });
                    }
                }
            }
            Action::ClosePeer(id, why) => {
                self.event("call_ended", Some(format!("call {}: {why:?}", id.0)));
                self.close_call(id, why).await;
            }
            Action::Disconnect => self.signaling.close(),
            Action::Finish(f) => return Some(f),
        }
        None
    }

    /// Records our offer or answer for the call (`--record`).
    fn save_local_description(&self, id: CallId, desc: &SignalMessage) {
        let (name, sdp) = match desc {
            SignalMessage::Offer(sdp) => ("local-offer.sdp", sdp),
            SignalMessage::Answer(sdp) => ("local-answer.sdp", sdp),
            SignalMessage::Candidate(_) => return,
        };
        if let Some(c) = self.calls.get(&id) {
            c.save(name, sdp);
        }
    }

    fn peer(&self, id: CallId) -> Option<&Peer> {
        self.calls.get(&id).and_then(|c| c.peer.as_ref())
    }

    async fn start_call(&mut self, id: CallId, role: Role) {
        self.event("call_started", Some(format!("call {} as {role:?}", id.0)));
        // A new call: the window's candidate list and plots start afresh.
        self.show(|s| {
            s.candidates.clear();
            s.stats.clear();
        });
        let dir = self
            .opts
            .record
            .as_ref()
            .map(|d| d.join(format!("call-{}", id.0)));
        if let Some(d) = &dir
            && let Err(e) = std::fs::create_dir_all(d)
        {
            tracing::error!("cannot create {}: {e}", d.display());
        }
        let candidates = dir
            .as_ref()
            .and_then(|d| std::fs::File::create(d.join("candidates.jsonl")).ok());
        let media = CallMedia::new(
            dir.clone(),
            self.view.clone(),
            self.opts.peer.media.controls.clone(),
        );
        let timings = Timings {
            joined: self.joined_at,
            peer_joined: Some(ms_since_start(Instant::now())),
            ..Default::default()
        };
        let peer = Peer::start(id, &self.opts.peer, self.inputs.0.clone(), media.clone()).await;
        let peer = match peer {
            Ok(p) => Some(p),
            Err(e) => {
                self.pending.push_back(Input::PeerError(id, e));
                None
            }
        };
        self.calls.insert(
            id,
            LiveCall {
                peer,
                media,
                role,
                dir,
                candidates,
                timings,
                connected_at: None,
                last_sample: None,
            },
        );
    }

    async fn close_call(&mut self, id: CallId, why: CallEnd) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let now = Instant::now();
        let (pair, receipt, codecs) = match &call.peer {
            Some(p) => (
                p.selected_pair().await,
                p.remote_receipt().await,
                p.sending_codecs().await,
            ),
            None => (None, Default::default(), (None, None)),
        };
        if let Some(p) = call.peer.take() {
            p.close().await;
        }
        let r = call.media.received();
        call.timings.first_remote_frame = r.first_frame_at.map(ms_since_start);
        call.timings.ended = Some(ms_since_start(now));
        let connected_secs = call
            .connected_at
            .map(|t| now.duration_since(t).as_secs_f64());
        let video = VideoReport {
            codec: codecs.0.or(r.video_codec.clone()),
            source: call
                .media
                .video_source
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default(),
            received_codec: r.video_codec.clone(),
            decode_errors: r.video_decode_errors,
            sent_frames: call
                .media
                .video_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            decoded_frames: r.decoded_frames,
            width: r.size.map(|s| s.0),
            height: r.size.map(|s| s.1),
            stamped_frames: r.stamped_frames,
            peer_sender_id: r.peer_sender_id,
            counter_gaps: r.counter_gaps,
            counter_reversals: r.counter_reversals,
            longest_freeze_ms: r.longest_freeze_ms,
            encoder_kbps: call
                .media
                .encoder_bitrate_bps
                .load(std::sync::atomic::Ordering::Relaxed)
                / 1000,
            encoder_kbps_min: call
                .media
                .encoder_bitrate_min_bps
                .load(std::sync::atomic::Ordering::Relaxed)
                / 1000,
            received_fps: r.first_frame_at.filter(|_| r.decoded_frames > 1).map(|t| {
                let secs = now.duration_since(t).as_secs_f64().max(0.001);
                (r.decoded_frames as f64 - 1.0) / secs
            }),
            mean_latency_ms: (r.stamped_frames > 0)
                .then(|| r.latency_sum_ms as f64 / r.stamped_frames as f64),
            keyframe_requests_sent: r.keyframe_requests_sent,
            keyframe_requests_received: call
                .media
                .keyframe_requests_received
                .load(std::sync::atomic::Ordering::Relaxed),
            peer_received_packets: receipt.video_packets,
        };
        let audio = AudioReport {
            codec: codecs.1.or(r.audio_codec.clone()),
            sent_packets: call
                .media
                .audio_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            received_packets: r.audio_packets,
            decode_errors: r.audio_decode_errors,
            dominant_hz: r.dominant_hz(),
            peer_received_packets: receipt.audio_packets,
            source: call
                .media
                .audio_source
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default(),
            speaker: r.speaker.clone(),
            playout_underruns: r.playout_underruns,
        };
        let connected = call.connected_at.is_some();
        // The peer's reports must show our media arrived: video always (reported every second),
        // audio once the peer has reported on it at all (a browser does every ~5 s).
        let media_ok = video.decoded_frames > 0
            && audio.received_packets > 0
            && audio.decode_errors < audio.received_packets
            && video.peer_received_packets > 0
            && (audio.peer_received_packets > 0 || receipt.audio_reports == 0);
        tracing::info!(
            call = id.0,
            ?connected_secs,
            decoded = video.decoded_frames,
            sent = video.sent_frames,
            audio = audio.received_packets,
            "call ended: {why:?}"
        );
        self.done.push(CallReport {
            call: id.0,
            role: call.role,
            connected,
            media_ok,
            end: Some(why),
            rss_kib_after: {
                release_free_memory();
                proc_status_kib("VmRSS")
            },
            summary: CallSummary {
                selected_pair: pair,
                video,
                audio,
                timings_ms: call.timings,
            },
        });
    }
}
