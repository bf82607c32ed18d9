//! Carries out the state machine's actions on the signaling connection and the calls' peer
//! connections, and records what happened for the report and the window.

use super::call_report::{self, EndedCall, PeerFacts};
use super::event_log::EventLog;
use super::plots::{self, Counters};
use super::recording::{CallRecording, Side};
use super::{RunOptions, os};
use crate::call::{Action, CallEnd, CallId, Finish, Input, Role, Session};
use crate::live::{LiveView, ShownStatus};
use crate::peer::{Peer, PeerError};
use crate::pipeline::{CallMedia, MediaEvent};
use crate::report::{CallReport, Timings, ms_since_start, proc_status_kib};
use crate::signaling::Signaling;
use crate::signaling::room::{RoomCommand, RoomEvent, SignalMessage};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::mpsc;

/// A call in progress, with what will go into its report.
struct LiveCall {
    peer: Option<Peer>,
    media: Arc<CallMedia>,
    role: Role,
    recording: CallRecording,
    timings: Timings,
    connected_at: Option<Instant>,
    /// The counters at the last plot sample.
    last_sample: Option<Counters>,
    /// Packets received when the state machine asked for a mark.
    media_mark: u64,
}

/// The session's adapters and what they have recorded so far.
pub struct Runner {
    /// Where the window reads the session's state, if there is a window.
    pub view: Option<Arc<LiveView>>,
    pub opts: RunOptions,
    pub signaling: Signaling,
    pub session: Session,
    calls: HashMap<CallId, LiveCall>,
    /// Reports of the calls that ended.
    pub done: Vec<CallReport>,
    /// The report's event log.
    pub events: EventLog,
    joined_at: Option<u64>,
    /// Inputs from the peer connections' tasks.
    pub inputs: (mpsc::UnboundedSender<Input>, mpsc::UnboundedReceiver<Input>),
    /// Events from the calls' media pipelines.
    pub media_events: (
        mpsc::UnboundedSender<MediaEvent>,
        mpsc::UnboundedReceiver<MediaEvent>,
    ),
    /// Inputs waiting to be fed to the state machine.
    pub pending: VecDeque<Input>,
    /// The state machine asked for the signaling connection to be tried again.
    pub reconnect_wanted: bool,
    /// Where `--stats` lines go.
    pub stats: Option<super::event_log::EventSink>,
}

impl Runner {
    /// A runner for a session whose signaling just connected.
    pub fn new(
        opts: RunOptions,
        view: Option<Arc<LiveView>>,
        signaling: Signaling,
        events: EventLog,
    ) -> Self {
        Self {
            view,
            session: Session::new(opts.room.clone()),
            opts,
            signaling,
            calls: HashMap::new(),
            done: Vec::new(),
            events,
            joined_at: None,
            inputs: mpsc::unbounded_channel(),
            media_events: mpsc::unbounded_channel(),
            pending: VecDeque::new(),
            reconnect_wanted: false,
            stats: None,
        }
    }

    /// The calls still open.
    pub fn call_ids(&self) -> Vec<CallId> {
        self.calls.keys().copied().collect()
    }

    /// Samples the connected call's figures for the window's plots and `--stats`.
    pub async fn sample_stats(&mut self) {
        for (id, call) in self.calls.iter_mut() {
            let (Some(connected), Some(peer)) = (call.connected_at, call.peer.as_ref()) else {
                continue;
            };
            let now = Counters::read(&call.media);
            let (rtt_ms, loss_pct) = peer.link_stats().await;
            let Some(prev) = call.last_sample.replace(now) else {
                continue;
            };
            let sample = plots::sample(&prev, &now, connected, rtt_ms, loss_pct);
            if let Some(view) = &self.view {
                view.stats(sample);
            }
            if let Some(sink) = self.stats.as_mut() {
                let line = StatsLine {
                    call: id.0,
                    rss_kib: crate::report::proc_status_kib("VmRSS"),
                    sample,
                };
                if let Ok(json) = serde_json::to_string(&line)
                    && let Err(e) = sink.write_line(&json)
                {
                    tracing::warn!("cannot write the stats lines: {e}; no more are written");
                    self.stats = None;
                }
            }
        }
    }

    fn show(&self, change: impl FnOnce(&mut crate::live::LiveState)) {
        if let Some(v) = &self.view {
            v.update(change);
        }
    }

    /// Shows where the session stands.
    pub fn show_status(&self) {
        let status = ShownStatus::Session(self.session.status());
        self.show(|s| s.status = status);
    }

    fn event(&mut self, event: impl Into<String>, detail: Option<String>) {
        self.events.push(event, detail);
    }

    /// Records what a media pipeline told.
    pub fn media_event(&mut self, event: MediaEvent) {
        let call = self
            .session
            .current_call()
            .map(|(id, _)| format!("call {}", id.0));
        match event {
            MediaEvent::FirstPicture => self.event("first_remote_frame", call),
            MediaEvent::PictureBack { freeze_ms } => self.event(
                "picture_back",
                Some(format!(
                    "{}: after {freeze_ms} ms",
                    call.unwrap_or_default()
                )),
            ),
        }
    }

    fn show_candidate(&mut self, id: CallId, side: Side, line: &str) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.recording.log_candidate(side, line);
        }
        if let Some(v) = &self.view {
            v.candidate(side.as_str(), line);
        }
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
            Input::LocalCandidate(id, c) => self.show_candidate(*id, Side::Local, &c.candidate),
            Input::PeerError(id, why) => {
                self.event("peer_error", Some(format!("call {}: {why}", id.0)))
            }
            Input::Peer(id, state) => {
                let name = match state {
                    crate::call::PeerState::Connected => "peer_connected",
                    crate::call::PeerState::Disconnected => "peer_disconnected",
                    crate::call::PeerState::Failed => "peer_failed",
                };
                self.event(name, Some(format!("call {}", id.0)));
            }
            _ => {}
        }
    }

    /// Feeds pending inputs and executes the resulting actions until nothing is left or the
    /// session finishes.
    pub async fn drain(&mut self) -> Option<Finish> {
        while let Some(input) = self.pending.pop_front() {
            self.note_input(&input);
            self.session.handle(Instant::now(), input);
            while let Some(action) = self.session.poll_action() {
                match action {
                    Action::Finish(f) => return Some(f),
                    action => self.execute(action).await,
                }
            }
        }
        None
    }

    fn send(&mut self, command: RoomCommand) {
        let detail = match &command {
            RoomCommand::Message(m) => Some(m.kind().to_owned()),
            _ => None,
        };
        self.event(format!("sent:{}", command.event_name()), detail);
        let leaving = matches!(command, RoomCommand::Leave);
        let (name, args) = command.to_socketio(&self.opts.room.room);
        if let Err(e) = self.signaling.emit(name, args) {
            if leaving {
                // The server went first (e.g. the peer that hosted it left): nothing to tell.
                tracing::info!("`leave` not sent: {e}");
            } else {
                tracing::warn!("cannot send `{name}`: {e}");
            }
        }
    }

    async fn execute(&mut self, action: Action) {
        match action {
            Action::Send(command) => self.send(command),
            Action::StartPeer(id, role) => self.start_call(id, role).await,
            Action::CreateOffer(id) => self.make_offer(id, false).await,
            Action::RestartIce(id) => {
                self.event("ice_restart", Some(format!("call {}", id.0)));
                self.make_offer(id, true).await
            }
            Action::AcceptOffer(id, sdp) => self.accept_offer(id, sdp).await,
            Action::AcceptAnswer(id, sdp) => self.accept_answer(id, sdp).await,
            Action::AddCandidate(id, c) => {
                self.show_candidate(id, Side::Remote, &c.candidate);
                if let Some(p) = self.peer(id)
                    && let Err(e) = p.add_candidate(&c).await
                {
                    // One bad candidate does not end a call; others may still work.
                    tracing::warn!("{e} ({})", crate::text::quote(&c.candidate));
                }
            }
            Action::CallConnected(id) => self.call_connected(id).await,
            Action::ClosePeer(id, why) => {
                self.event("call_ended", Some(format!("call {}: {}", id.0, why.name())));
                self.close_call(id, why).await;
            }
            Action::Disconnect => self.signaling.close(),
            Action::Refused(what) => self.event("ignored", Some(what.as_str().to_owned())),
            Action::MarkMedia(id) => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.media_mark = c.media.packets_received.load(Ordering::Relaxed);
                }
            }
            Action::CountMedia(id) => {
                let since = self.calls.get(&id).map_or(0, |c| {
                    c.media
                        .packets_received
                        .load(Ordering::Relaxed)
                        .saturating_sub(c.media_mark)
                });
                self.pending.push_back(Input::MediaSinceMark(id, since));
            }
            // The loop owns the connection attempt.
            Action::Reconnect => self.reconnect_wanted = true,
            // Handled by `drain`.
            Action::Finish(_) => {}
        }
    }

    /// Our description is set: shown, recorded, and handed back to the state machine to send.
    fn local_description_ready(&mut self, id: CallId, desc: SignalMessage) {
        if let Some(c) = self.calls.get(&id) {
            c.recording.save_local_description(&desc);
        }
        match &desc {
            SignalMessage::Offer(sdp) => {
                let sdp = sdp.clone();
                self.show(|s| {
                    s.offer_sdp = sdp;
                    s.answer_sdp.clear();
                });
            }
            SignalMessage::Answer(sdp) => {
                let sdp = sdp.clone();
                self.show(|s| s.answer_sdp = sdp);
            }
            SignalMessage::Candidate(_) => {}
        }
        self.pending.push_back(Input::LocalDescription(id, desc));
    }

    fn peer_failed(&mut self, id: CallId, e: PeerError) {
        // webrtc's parse errors may carry the peer's text: bounded before it reaches the
        // log, the report's `error` and the window.
        let why = crate::text::bounded(&e.to_string(), crate::text::QUOTE_CHARS);
        self.pending.push_back(Input::PeerError(id, why));
    }

    async fn make_offer(&mut self, id: CallId, restart: bool) {
        let result = match self.peer(id) {
            Some(p) if restart => p.restart_ice().await,
            Some(p) => p.create_offer().await,
            None => return,
        };
        match result {
            Ok(offer) => self.local_description_ready(id, offer),
            Err(e) => self.peer_failed(id, e),
        }
    }

    async fn accept_offer(&mut self, id: CallId, sdp: String) {
        if let Some(c) = self.calls.get(&id) {
            c.recording.save("remote-offer.sdp", &sdp);
        }
        let shown = sdp.clone();
        self.show(|s| {
            s.offer_sdp = shown;
            s.answer_sdp.clear();
        });
        let result = match self.peer(id) {
            Some(p) => p.accept_offer(sdp).await,
            None => return,
        };
        match result {
            Ok(answer) => {
                self.pending.push_back(Input::RemoteApplied(id));
                self.local_description_ready(id, answer);
            }
            Err(e) => self.peer_failed(id, e),
        }
    }

    async fn accept_answer(&mut self, id: CallId, sdp: String) {
        if let Some(c) = self.calls.get(&id) {
            c.recording.save("remote-answer.sdp", &sdp);
        }
        let shown = sdp.clone();
        self.show(|s| s.answer_sdp = shown);
        let result = match self.peer(id) {
            Some(p) => p.accept_answer(sdp).await,
            None => return,
        };
        match result {
            Ok(()) => self.pending.push_back(Input::RemoteApplied(id)),
            Err(e) => self.peer_failed(id, e),
        }
    }

    async fn call_connected(&mut self, id: CallId) {
        self.event("call_connected", Some(format!("call {}", id.0)));
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let now = Instant::now();
        call.connected_at = Some(now);
        call.timings.ice_connected = Some(ms_since_start(now));
        if let Some(p) = call.peer.as_mut()
            && let Err(e) = p.start_media().await
        {
            self.pending.push_back(Input::PeerError(id, e.to_string()));
        }
        if let (Some(view), Some(p)) = (&self.view, call.peer.as_ref()) {
            let pair = p.selected_pair().await;
            let codec = p.sending_codecs().await.video;
            view.update(|s| {
                s.selected_pair = pair;
                s.video_codec = codec;
            });
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
        let recording = CallRecording::start(self.opts.record.as_deref(), id.0);
        let observer = self
            .view
            .clone()
            .map(|v| v as Arc<dyn crate::pipeline::MediaObserver>);
        let media = CallMedia::new(
            recording
                .dir()
                .map(|d| (d.to_path_buf(), self.opts.record_options)),
            observer,
            self.opts.peer.media.controls.clone(),
            self.media_events.0.clone(),
            self.opts.peer.jitter,
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
                self.peer_failed(id, e);
                None
            }
        };
        self.calls.insert(
            id,
            LiveCall {
                peer,
                media,
                role,
                recording,
                timings,
                connected_at: None,
                last_sample: None,
                media_mark: 0,
            },
        );
    }

    /// Closes a call's peer connection and files its report.
    pub async fn close_call(&mut self, id: CallId, why: CallEnd) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        let ended_at = Instant::now();
        let facts = match &call.peer {
            Some(p) => {
                let codecs = p.sending_codecs().await;
                PeerFacts {
                    pair: p.selected_pair().await,
                    remote_candidates: p.remote_candidates().await,
                    receipt: p.remote_receipt().await,
                    video_codec: codecs.video,
                    audio_codec: codecs.audio,
                }
            }
            None => PeerFacts::default(),
        };
        if let Some(p) = call.peer.take() {
            p.close().await;
        }
        let report = call_report::assemble(EndedCall {
            id,
            role: call.role,
            end: why,
            media: &call.media,
            peer: facts,
            timings: call.timings,
            connected_at: call.connected_at,
            ended_at,
            rss_kib_after: {
                os::release_free_memory();
                proc_status_kib("VmRSS")
            },
        });
        self.done.push(report);
    }
}

/// One `--stats` line: a call's figures over the last second, and the process's memory.
#[derive(serde::Serialize)]
struct StatsLine {
    call: u32,
    rss_kib: Option<u64>,
    #[serde(flatten)]
    sample: crate::live::StatsSample,
}
