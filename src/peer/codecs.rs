//! The codecs roompeer registers and offers, and what it reads of a peer's offer before
//! applying it.

use super::PeerError;
use crate::media::video::VideoCodec;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8,
};
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters};

/// The H.264 payload type roompeer offers: packetization-mode 1, constrained baseline 3.1, as
/// Chrome's matching entry.
const H264_PT: u8 = 102;
/// VP8's payload type, as Chrome's.
const VP8_PT: u8 = 96;
pub const OPUS_PT: u8 = 111;

/// Asks a libwebrtc peer (Chromium, Safari) to start what it sends us at 1 Mbit/s, as our own
/// sender does, instead of its default 300 kbit/s: its pacer then sends its first keyframe about
/// three times faster (measured: 3 packets over 22 ms became 4 over 9 ms), and its first
/// seconds are sharper. Others ignore the parameter; the value only ever starts the estimate.
/// Offers carry it from the registered codecs; answers get it from [`with_start_bitrate`]
/// (rtc answers with the offer's codec parameters).
const START_BITRATE: &str = "x-google-start-bitrate=1000";

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("goog-remb", ""),
        ("ccm", "fir"),
        ("nack", ""),
        ("nack", "pli"),
    ]
    .into_iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    })
    .collect()
}

fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: format!(
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f;{START_BITRATE}"
        ),
        rtcp_feedback: video_feedback(),
    }
}

fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: START_BITRATE.to_owned(),
        rtcp_feedback: video_feedback(),
    }
}

/// The RTP codec entry and payload type roompeer registers for `codec`.
pub fn video_codec_parameters(codec: VideoCodec) -> RTCRtpCodecParameters {
    match codec {
        VideoCodec::H264 => RTCRtpCodecParameters {
            rtp_codec: h264_codec(),
            payload_type: H264_PT,
        },
        VideoCodec::Vp8 => RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PT,
        },
    }
}

pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// The codec names of an SDP's first video m-line (empty when it has none or rejects video).
fn offered_video_codecs(sdp: &str) -> Option<Vec<String>> {
    let mline = sdp.lines().find(|l| l.starts_with("m=video"))?;
    let mut fields = mline.split_whitespace();
    if fields.nth(1) == Some("0") {
        return Some(Vec::new());
    }
    let pts: Vec<&str> = fields.skip(1).collect();
    Some(
        pts.iter()
            .filter_map(|pt| {
                let prefix = format!("a=rtpmap:{pt} ");
                sdp.lines()
                    .find_map(|l| l.trim_end().strip_prefix(&prefix))
                    .and_then(|c| c.split('/').next())
                    .map(str::to_owned)
            })
            .filter(|c| {
                !c.eq_ignore_ascii_case("rtx")
                    && !c.eq_ignore_ascii_case("red")
                    && !c.eq_ignore_ascii_case("ulpfec")
            })
            .collect(),
    )
}

/// An offer with video must list a codec roompeer is set to use, or the answer cannot be made;
/// say so in words instead of the peer connection's "RTPSender created with no codecs".
pub fn check_common_video_codec(offer: &str, ours: &[VideoCodec]) -> Result<(), PeerError> {
    let Some(theirs) = offered_video_codecs(offer) else {
        return Ok(());
    };
    if theirs.is_empty()
        || theirs
            .iter()
            .any(|c| VideoCodec::from_mime(c).is_some_and(|c| ours.contains(&c)))
    {
        return Ok(());
    }
    let ours: Vec<&str> = ours.iter().map(|c| c.name()).collect();
    let mut theirs = theirs;
    theirs.dedup();
    Err(PeerError::NoCommonVideoCodec {
        theirs: theirs.join(", "),
        ours: ours.join(", "),
    })
}

/// `sdp` with [`START_BITRATE`] on each H.264 and VP8 payload of its video sections (added to
/// the payload's `a=fmtp` line, or as one after its `a=rtpmap` line), line endings kept.
pub fn with_start_bitrate(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + 128);
    let mut in_video = false;
    let mut video_pts: Vec<String> = Vec::new();
    let lines: Vec<&str> = sdp.split_inclusive('\n').collect();
    let has_fmtp = |pt: &str| {
        let prefix = format!("a=fmtp:{pt} ");
        lines.iter().any(|l| l.starts_with(&prefix))
    };
    for line in &lines {
        let (text, end) = match line.strip_suffix("\r\n") {
            Some(t) => (t, "\r\n"),
            None => line.strip_suffix('\n').map_or((*line, ""), |t| (t, "\n")),
        };
        if text.starts_with("m=") {
            in_video = text.starts_with("m=video");
            video_pts.clear();
        }
        let codec_pt = text.strip_prefix("a=rtpmap:").and_then(|rest| {
            let (pt, codec) = rest.split_once(' ')?;
            let name = codec.split('/').next()?;
            (name.eq_ignore_ascii_case("H264") || name.eq_ignore_ascii_case("VP8"))
                .then(|| pt.to_owned())
        });
        if in_video && let Some(pt) = codec_pt {
            out.push_str(line);
            if !has_fmtp(&pt) {
                out.push_str(&format!("a=fmtp:{pt} {START_BITRATE}{end}"));
            }
            video_pts.push(pt);
            continue;
        }
        let fmtp_pt = text
            .strip_prefix("a=fmtp:")
            .and_then(|rest| rest.split_once(' '))
            .map(|(pt, _)| pt);
        match fmtp_pt {
            Some(pt)
                if in_video
                    && video_pts.iter().any(|p| p == pt)
                    && !text.contains("x-google-start-bitrate") =>
            {
                out.push_str(&format!("{text};{START_BITRATE}{end}"));
            }
            _ => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_without_a_common_video_codec_is_refused_in_words() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
                     m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\na=rtpmap:96 VP8/90000\r\n\
                     a=rtpmap:97 rtx/90000\r\na=rtpmap:98 VP9/90000\r\n";
        let err = check_common_video_codec(offer, &[VideoCodec::H264])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("offers VP8, VP9") && err.contains("set to H264"),
            "{err}"
        );
        assert!(check_common_video_codec(offer, &VideoCodec::ALL).is_ok());
        assert!(
            check_common_video_codec("v=0\r\nm=audio 9 X 111\r\n", &[VideoCodec::H264]).is_ok()
        );
        let rejected = "v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert!(check_common_video_codec(rejected, &[VideoCodec::H264]).is_ok());
    }

    #[test]
    fn answers_get_the_start_bitrate_on_each_video_codec_and_nothing_else_changes() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
                   a=fmtp:111 minptime=10;useinbandfec=1\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\na=rtpmap:96 VP8/90000\r\n\
                   a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\n\
                   a=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n";
        let out = with_start_bitrate(sdp);
        assert_eq!(
            out,
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
             a=fmtp:111 minptime=10;useinbandfec=1\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\na=rtpmap:96 VP8/90000\r\n\
             a=fmtp:96 x-google-start-bitrate=1000\r\n\
             a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\n\
             a=fmtp:102 packetization-mode=1;profile-level-id=42e01f;x-google-start-bitrate=1000\r\n"
        );
        assert_eq!(with_start_bitrate(&out), out, "added once");
    }
}
