//! The judgement of a finished call and of a whole session: plain functions of what was
//! measured, so the policy is unit-tested without a call.

use crate::call::{CallEnd, Finish};
use crate::peer::RemoteReceipt;
use crate::report::{AudioReport, CallReport, Outcome, VideoReport};

/// Whether media flowed both ways in a call: we decoded the peer's video and audio, and the
/// peer's reception reports show our media arrived. Video reports come every second, so they
/// are always required; audio is required once the peer has reported on it at all (a browser
/// reports on audio every ~5 s, so a short call may have no such report).
pub fn media_ok(video: &VideoReport, audio: &AudioReport, receipt: &RemoteReceipt) -> bool {
    video.decoded_frames > 0
        && audio.received_packets > 0
        && audio.decode_errors < audio.received_packets
        && video.peer_received_packets > 0
        && (audio.peer_received_packets > 0 || receipt.audio_reports == 0)
}

fn negotiation_failed(c: &CallReport) -> bool {
    matches!(c.end, Some(CallEnd::NegotiationFailed(_)))
}

/// The outcome of a finished session from how it finished and its calls: what happened to
/// the last call that connected (`ok` with media both ways, `no_media` without), or, when none
/// did, the furthest any attempt got. Attempts a peer's bad input ended before connecting do
/// not hide a good call after them (nor before them).
pub fn judge(finish: &Finish, calls: &[CallReport]) -> Outcome {
    if let Some(last) = calls.iter().rev().find(|c| c.connected) {
        return if last.media_ok {
            Outcome::Ok
        } else {
            Outcome::NoMedia
        };
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

/// What went wrong, for a person, given the session's outcome; `None` when nothing did.
pub fn error_text(finish: &Finish, outcome: Outcome, calls: &[CallReport]) -> Option<String> {
    // A refused description says more than the wait that ran out after it.
    let refused = || {
        calls.iter().rev().find_map(|c| match &c.end {
            Some(CallEnd::NegotiationFailed(why)) if outcome == Outcome::NegotiationFailed => {
                Some(why.clone())
            }
            _ => None,
        })
    };
    match finish {
        Finish::SignalingLost(r) => Some(r.clone()),
        Finish::RoomFull => Some("the room is full (it already has two peers)".into()),
        Finish::NoPeer => refused().or_else(|| Some("no peer joined the room in time".into())),
        _ => refused(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Role;
    use crate::report::CallSummary;

    fn call(connected: bool, media_ok: bool, end: CallEnd) -> CallReport {
        CallReport {
            call: 1,
            role: Role::Offerer,
            connected,
            media_ok,
            end: Some(end),
            rss_kib_after: None,
            summary: CallSummary::default(),
        }
    }

    fn flowing() -> (VideoReport, AudioReport, RemoteReceipt) {
        let video = VideoReport {
            decoded_frames: 300,
            peer_received_packets: 900,
            ..Default::default()
        };
        let audio = AudioReport {
            received_packets: 500,
            peer_received_packets: 480,
            ..Default::default()
        };
        let receipt = RemoteReceipt {
            video_packets: 900,
            audio_packets: 480,
            audio_reports: 2,
        };
        (video, audio, receipt)
    }

    #[test]
    fn media_both_ways_is_ok() {
        let (v, a, r) = flowing();
        assert!(media_ok(&v, &a, &r));
    }

    #[test]
    fn each_missing_direction_fails_the_media() {
        let (v, a, r) = flowing();
        let no_frames = VideoReport {
            decoded_frames: 0,
            ..v.clone()
        };
        assert!(!media_ok(&no_frames, &a, &r), "no video decoded");
        let unacknowledged = VideoReport {
            peer_received_packets: 0,
            ..v.clone()
        };
        assert!(!media_ok(&unacknowledged, &a, &r), "the peer got no video");
        let silent = AudioReport {
            received_packets: 0,
            ..a.clone()
        };
        assert!(!media_ok(&v, &silent, &r), "no audio received");
        let undecodable = AudioReport {
            decode_errors: 500,
            ..a.clone()
        };
        assert!(
            !media_ok(&v, &undecodable, &r),
            "all audio failed to decode"
        );
        let audio_unacknowledged = AudioReport {
            peer_received_packets: 0,
            ..a
        };
        assert!(
            !media_ok(&v, &audio_unacknowledged, &r),
            "the peer reported on audio and got none"
        );
    }

    #[test]
    fn audio_acknowledgement_waits_for_the_peers_first_audio_report() {
        let (v, a, r) = flowing();
        let unreported = AudioReport {
            peer_received_packets: 0,
            ..a
        };
        let no_reports = RemoteReceipt {
            audio_reports: 0,
            ..r
        };
        assert!(media_ok(&v, &unreported, &no_reports));
    }

    #[test]
    fn one_good_call_makes_the_session_ok() {
        let calls = [
            call(false, false, CallEnd::ConnectionFailed),
            call(true, true, CallEnd::PeerLeft),
        ];
        assert_eq!(judge(&Finish::Done, &calls), Outcome::Ok);
        assert_eq!(error_text(&Finish::Done, Outcome::Ok, &calls), None);
    }

    #[test]
    fn the_last_call_that_connected_decides() {
        let bad_offer = || call(false, false, CallEnd::NegotiationFailed("bad sdp".into()));
        let calls = [
            bad_offer(),
            call(true, true, CallEnd::PeerLeft),
            bad_offer(),
        ];
        assert_eq!(
            judge(&Finish::Done, &calls),
            Outcome::Ok,
            "attempts do not count"
        );
        assert_eq!(error_text(&Finish::Done, Outcome::Ok, &calls), None);
        let calls = [
            call(true, true, CallEnd::PeerLeft),
            call(true, false, CallEnd::PeerLeft),
        ];
        assert_eq!(judge(&Finish::Done, &calls), Outcome::NoMedia);
    }

    #[test]
    fn without_a_good_call_the_furthest_step_decides() {
        assert_eq!(judge(&Finish::RoomFull, &[]), Outcome::RoomFull);
        assert_eq!(judge(&Finish::NoPeer, &[]), Outcome::NoPeer);
        assert_eq!(
            judge(&Finish::SignalingLost("gone".into()), &[]),
            Outcome::SignalingFailed
        );
        let connected_no_media = [call(true, false, CallEnd::WeLeft)];
        assert_eq!(judge(&Finish::Done, &connected_no_media), Outcome::NoMedia);
        assert_eq!(
            judge(&Finish::SignalingLost("gone".into()), &connected_no_media),
            Outcome::NoMedia,
            "a call that connected counts over a lost server"
        );
        let refused = [call(
            false,
            false,
            CallEnd::NegotiationFailed("no common codec".into()),
        )];
        assert_eq!(judge(&Finish::Done, &refused), Outcome::NegotiationFailed);
        assert_eq!(
            error_text(&Finish::Done, Outcome::NegotiationFailed, &refused).as_deref(),
            Some("no common codec")
        );
        let failed = [call(false, false, CallEnd::ConnectionFailed)];
        assert_eq!(judge(&Finish::Done, &failed), Outcome::IceFailed);
    }

    #[test]
    fn error_text_names_how_the_session_finished() {
        assert_eq!(
            error_text(&Finish::NoPeer, Outcome::NoPeer, &[]).as_deref(),
            Some("no peer joined the room in time")
        );
        assert!(
            error_text(&Finish::RoomFull, Outcome::RoomFull, &[])
                .is_some_and(|e| e.contains("room is full"))
        );
        assert_eq!(error_text(&Finish::Stopped, Outcome::NoPeer, &[]), None);
    }
}
