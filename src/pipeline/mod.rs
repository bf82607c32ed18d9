//! The call's media pipelines: what moves media between the sources, the codecs, the peer
//! connection's tracks and the sinks, and counts what happened.
//!
//! One pipeline per direction and kind: [`send_video`], [`send_audio`], [`receive_video`],
//! [`receive_audio`]; [`receive`] hands each remote track to its pipeline. They share one
//! [`CallMedia`] per call (counters and controls), keep what the report needs in
//! [`Received`], and show pictures and notices to a [`MediaObserver`] (the window).
//!
//! Encoding and decoding run on threads of their own so that neither the session loop nor the
//! peer connection's driver ever waits for a codec.

mod receive;
mod receive_audio;
mod receive_video;
mod received;
mod record_call;
mod send_audio;
mod send_video;

pub use receive::receive_track;
pub use received::{MediaEvent, Received};
pub use send_audio::start_audio_sender;
pub use send_video::start_video_sender;

use crate::media::controls::MediaControls;
use crate::media::frame::I420Frame;
use crate::media::jitter::JitterTarget;
use crate::media::lipsync::{SenderClock, SenderClocks, SyncHolds};
use crate::media::processing::RenderAnalyzer;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Who watches a call's media as it flows: the window shows the pictures and the notices.
/// Called from the media threads, so it must be quick.
pub trait MediaObserver: Send + Sync {
    /// A picture we are about to send.
    fn local_frame(&self, frame: &I420Frame);
    /// A picture decoded from the peer.
    fn remote_frame(&self, frame: &I420Frame);
    /// A device could not be used, and what roompeer does instead.
    fn notice(&self, message: &str);
}

/// Why a pipeline could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The negotiated video codec is not one roompeer encodes.
    #[error("the peer chose {0}, which roompeer cannot encode")]
    CannotEncode(String),
    /// The RTP packetizer for the codec could not be made.
    #[error("no RTP payloader for {codec}: {detail}")]
    NoPayloader {
        /// The codec.
        codec: crate::media::video::VideoCodec,
        /// What rtc said.
        detail: String,
    },
    /// An encoder could not start.
    #[error(transparent)]
    Codec(#[from] crate::media::CodecError),
    /// The pipeline's thread could not start.
    #[error("cannot start the {0} thread: {1}")]
    Thread(&'static str, String),
}

impl std::fmt::Debug for dyn MediaObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaObserver")
    }
}

/// What `--record` writes besides the SDP, candidates and the peer's media in a container.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordOptions {
    /// The decoded pictures and sound too, as Y4M and WAV (`--record-raw`).
    pub raw: bool,
    /// What we send, in a container of its own (`--record-local`).
    pub local: bool,
}

/// What roompeer sends.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Video width.
    pub width: usize,
    /// Video height.
    pub height: usize,
    /// Frames per second.
    pub fps: u32,
    /// Video bit rate.
    pub bitrate_bps: u32,
    /// A shared screen is scaled down to fit this (`--video-size` when given, else 1920x1080).
    pub screen_limit: (usize, usize),
    /// A shared screen's frames per second (`--fps` when given, else 15).
    pub screen_fps: u32,
    /// Sources to switch to during each call.
    pub video_schedule: crate::media::controls::VideoSchedule,
    /// Written into every video frame, so the receiver knows whose picture it sees.
    pub sender_id: u16,
    /// Sources, sinks, mute and processing, changeable during a call.
    pub controls: Arc<MediaControls>,
}

/// Counters and state shared by one call's media tasks.
#[derive(Default)]
pub struct CallMedia {
    /// Video frames encoded and handed to the track.
    pub video_sent: AtomicU64,
    /// Audio packets handed to the track.
    pub audio_sent: AtomicU64,
    /// RTP payload bytes sent (video and audio).
    pub bytes_sent: AtomicU64,
    /// Congestion control's estimate of what the path carries, b/s (0: none yet).
    pub target_bitrate_bps: AtomicU64,
    /// The rate the video encoder aims at now, b/s.
    pub encoder_bitrate_bps: AtomicU64,
    /// The lowest rate the video encoder was asked for in this call, b/s.
    pub encoder_bitrate_min_bps: AtomicU64,
    /// RTP payload bytes received (video and audio).
    pub bytes_received: AtomicU64,
    /// RTP packets received (video and audio), as they arrive.
    pub packets_received: AtomicU64,
    /// Keyframe requests (PLI/FIR) received from the peer.
    pub keyframe_requests_received: AtomicU64,
    /// Everything about the received media.
    pub received: Mutex<Received>,
    keyframe_wanted: AtomicBool,
    /// The video decoder failed on a frame: the receiver must get a keyframe.
    decode_failed: AtomicBool,
    /// Cancelled when the call ends: every media task and thread of the call stops on it,
    /// even when the peer connection never closes its track channels (webrtc#906).
    stop: CancellationToken,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Where to record this call, if anywhere.
    pub record_dir: Option<PathBuf>,
    /// Also record the decoded pictures and sound as Y4M and WAV (`--record-raw`).
    pub record_raw: bool,
    /// The recording threads' queues: the peer's coded samples as they came, and ours as
    /// sent (`--record-local`).
    recording: Option<std::sync::mpsc::SyncSender<record_call::Queued>>,
    recording_local: Option<std::sync::mpsc::SyncSender<record_call::Queued>>,
    /// The queue was full and a sample was dropped (told once).
    recording_behind: AtomicBool,
    /// Who watches the pictures and notices (the window), if anyone.
    pub observer: Option<Arc<dyn MediaObserver>>,
    /// Where the session hears of media events (for its event log).
    events: Option<tokio::sync::mpsc::UnboundedSender<MediaEvent>>,
    /// How long received video waits in the jitter buffer.
    pub jitter: JitterTarget,
    /// The round trip to the peer, µs, from its reception reports (0: not measured yet).
    pub rtt_us: AtomicU64,
    /// The share of our media the peer's reports say was lost lately, %.
    pub peer_loss_percent: AtomicU8,
    /// The peer's streams' RTP ↔ wall-clock mappings, from its sender reports.
    pub sender_clocks: Arc<SenderClocks>,
    /// How long each received stream is held back for the other (lip sync).
    pub sync_holds: Mutex<SyncHolds>,
    /// Sources, sinks, mute and processing.
    pub controls: Arc<MediaControls>,
    /// What the microphone's echo canceller must hear of what the speaker plays.
    render_analyzer: Mutex<Option<RenderAnalyzer>>,
    /// What is being sent, in words (`tone 440 Hz`, `microphone "default"`, `silence`).
    pub audio_source: Mutex<String>,
    /// What picture is being sent, in words.
    pub video_source: Mutex<String>,
    /// When our first video frame's packets were written.
    pub first_video_sent: std::sync::OnceLock<std::time::Instant>,
    /// We are the DTLS server and the peer has sent nothing yet. The server's handshake ends
    /// half a round trip before the client's, and the client drops what comes before its own
    /// end (it cannot decrypt it yet): on a path that reorders, our first keyframe came before
    /// the handshake's last packet, and the peer's picture waited for its keyframe request
    /// (Chromium waits 200 ms to make one; 209-449 ms on the 30±10 ms path). The peer's first
    /// packet shows its handshake done: a keyframe then goes again (see `receive`).
    pub keyframe_when_heard: AtomicBool,
}

impl CallMedia {
    /// Shared state for a call recorded to `record_dir` (if given), watched by `observer` (if
    /// given), telling media events to `events`.
    pub fn new(
        record: Option<(PathBuf, RecordOptions)>,
        observer: Option<Arc<dyn MediaObserver>>,
        controls: Arc<MediaControls>,
        events: tokio::sync::mpsc::UnboundedSender<MediaEvent>,
        jitter: JitterTarget,
    ) -> Arc<Self> {
        let options = record.as_ref().map(|(_, o)| *o).unwrap_or_default();
        let mut media = Self {
            record_raw: options.raw,
            record_dir: record.map(|(dir, _)| dir),
            observer,
            events: Some(events),
            jitter,
            controls,
            ..Default::default()
        };
        if let Some(dir) = media.record_dir.clone() {
            media.recording = media.start_recording(dir.clone(), "remote");
            if options.local {
                media.recording_local = media.start_recording(dir, "local");
            }
        }
        Arc::new(media)
    }

    fn start_recording(
        &self,
        dir: PathBuf,
        stem: &'static str,
    ) -> Option<std::sync::mpsc::SyncSender<record_call::Queued>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(record_call::QUEUE);
        let clocks = self.sender_clocks.clone();
        match record_call::spawn(dir, stem, rx, clocks, self.stop.clone()) {
            Ok(handle) => {
                self.keep_thread(handle);
                Some(tx)
            }
            Err(e) => {
                tracing::error!("cannot start the recording thread: {e}");
                None
            }
        }
    }

    /// Hands a coded sample of the peer's to the recording, if the call is recorded.
    fn record(&self, sample: record_call::Sample) {
        self.queue(&self.recording, sample, None);
    }

    /// Whether what we send is recorded too.
    fn records_local(&self) -> bool {
        self.recording_local.is_some()
    }

    /// Hands a coded sample we sent, timed by `clock` (ours), to the local recording.
    fn record_local(&self, sample: record_call::Sample, clock: SenderClock) {
        self.queue(&self.recording_local, sample, Some(clock));
    }

    fn queue(
        &self,
        queue: &Option<std::sync::mpsc::SyncSender<record_call::Queued>>,
        sample: record_call::Sample,
        clock: Option<SenderClock>,
    ) {
        if let Some(tx) = queue
            && tx.try_send(record_call::Queued { sample, clock }).is_err()
            && !self.recording_behind.swap(true, Ordering::Relaxed)
        {
            tracing::warn!("the recording cannot keep up: samples are left out of it");
        }
    }

    /// The lip-sync holds now.
    pub fn sync_holds(&self) -> SyncHolds {
        self.sync_holds.lock().map(|h| *h).unwrap_or_default()
    }

    /// The peer's media came: if our first keyframe may have come before the peer could
    /// decrypt it, one goes again (see `keyframe_when_heard`).
    pub fn peer_heard(&self) {
        // Read before written: this runs for every packet, the write only once.
        if self.keyframe_when_heard.load(Ordering::Relaxed)
            && self.keyframe_when_heard.swap(false, Ordering::Relaxed)
            && self.video_sent.load(Ordering::Relaxed) > 0
        {
            tracing::debug!("the peer's handshake is done: our keyframe goes again");
            self.keyframe_wanted.store(true, Ordering::Relaxed);
        }
    }

    /// The round trip to the peer, once measured.
    pub fn rtt(&self) -> Option<std::time::Duration> {
        match self.rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(std::time::Duration::from_micros(us)),
        }
    }

    /// Tells the session about a media event.
    fn event(&self, event: MediaEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// The video encoder now aims at `bps`.
    fn encoder_rate(&self, bps: u32) {
        self.encoder_bitrate_bps
            .store(u64::from(bps), Ordering::Relaxed);
        self.encoder_bitrate_min_bps
            .fetch_min(u64::from(bps), Ordering::Relaxed);
    }

    /// Tells the window about a device problem (and the log).
    fn device_notice(&self, message: String) {
        tracing::warn!("{message}");
        if let Some(o) = &self.observer {
            o.notice(&message);
        }
    }

    fn set_source(&self, slot: &Mutex<String>, what: String) {
        if let Ok(mut s) = slot.lock() {
            *s = what;
        }
    }

    /// A copy of what was received so far.
    pub fn received(&self) -> Received {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Whether the call's media has stopped.
    pub fn stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Stops the media threads and waits for them (they notice within one frame).
    pub fn stop(&self) {
        self.stop.cancel();
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }

    fn keep_thread(&self, handle: std::thread::JoinHandle<()>) {
        if let Ok(mut t) = self.threads.lock() {
            t.push(handle);
        }
    }
}

/// The wall clock in ms, as the test picture's stamp carries it.
/// The wall clock now, ms since the Unix epoch, with a fraction.
fn unix_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
