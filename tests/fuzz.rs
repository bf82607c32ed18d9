//! The fuzz targets' short pass: every parser of network input gets a few thousand inputs
//! shaped by its protocol's grammar (proptest), and every file in `tests/fuzz_corpus/` (the
//! seeds of the coverage-guided runs, and any crash they found) is replayed. None may panic.
//! The long, coverage-guided runs are `scripts/fuzz.sh`.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use roompeer::fuzz;

/// Inputs per target in the suite (the coverage-guided runs take millions).
const CASES: u32 = 3000;

fn run(name: &str, strategy: impl Strategy<Value = Vec<u8>>) {
    let target = fuzz::target(name).expect("a target of that name");
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |data| {
            target(&data);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn text(s: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    s.prop_map(String::into_bytes)
}

/// Some JSON-ish text: values the room protocol uses, cut and mixed at random.
fn json_ish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("null".to_string()),
        Just("\"offer\"".to_string()),
        "-?[0-9]{1,20}(\\.[0-9]{0,5})?(e[0-9]{1,4})?",
        "\"[a-zA-Z0-9 :=\\\\/\\r\\n\\u{0}-\\u{1f}\\u{fffd}]{0,30}\"",
        r#"\{"type":"(offer|answer|candidate|bye|x)"(,"(sdp|label|id|candidate)":("[^"]{0,40}"|[0-9]{1,12}|null|\[\]))*\}"#,
    ];
    proptest::collection::vec(atom, 0..6).prop_flat_map(|atoms| {
        (Just(atoms), "[\\[\\]{},:\"]{0,3}")
            .prop_map(|(atoms, junk)| format!("[{}{junk}]", atoms.join(",")))
    })
}

fn binary() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..1500)
}

#[test]
fn engineio_frames() {
    let frame = prop_oneof![
        r#"0\{"sid":"[a-zA-Z0-9]{0,20}","upgrades":\[("websocket")?\],"pingInterval":-?[0-9]{0,12},"pingTimeout":-?[0-9]{0,12}(,"maxPayload":[0-9]{0,9})?\}"#,
        "[0-6](probe)?",
        "4[0-6][0-9]{0,3}(/[a-z]{0,5},)?[0-9]{0,4}",
        ".{0,60}",
    ];
    let frames = prop_oneof![
        frame.clone().prop_map(|f| vec![f]),
        proptest::collection::vec(frame, 0..12),
    ];
    let with_events = (frames, json_ish()).prop_map(|(mut frames, json)| {
        frames.push(format!("42{json}"));
        frames.push(format!("42[\"message\",null,{json}]"));
        frames.join("\n")
    });
    run("engineio", text(with_events));
}

#[test]
fn socketio_packets() {
    let packet = (
        "[0-6]",
        "([0-9]{1,3}-)?",
        "(/[a-z]{0,6},)?",
        "[0-9]{0,12}",
        json_ish(),
    )
        .prop_map(|(t, att, ns, ack, json)| format!("{t}{att}{ns}{ack}{json}"));
    run("socketio", text(packet));
    run("socketio", binary());
}

#[test]
fn room_events() {
    let event = ("(message|joined|otherjoin|full|bye|leaved|x)", json_ish())
        .prop_map(|(name, json)| format!("[\"{name}\",{}", &json[1..]));
    run("room", text(event));
    run("room", text(json_ish()));
}

#[test]
fn sdp_and_candidates() {
    let line = prop_oneof![
        Just("v=0".to_string()),
        "o=- [0-9]{1,20} [0-9]{1,3} IN IP[46] [0-9.:a-f]{1,20}",
        Just("s=-".to_string()),
        Just("t=0 0".to_string()),
        "m=(audio|video|application|x) [0-9]{1,6} (UDP/TLS/RTP/SAVPF|RTP/AVP|UDP/DTLS/SCTP)( [0-9]{1,3}){0,6}",
        "c=IN IP[46] [0-9.:a-f]{0,20}",
        "a=rtpmap:[0-9]{1,4} (H264|VP8|opus|rtx|red)/[0-9]{0,6}(/[0-9])?",
        "a=fmtp:[0-9]{1,4} [a-z-]{0,20}=[0-9a-f]{0,8}(;apt=[0-9]{1,3})?",
        "a=(ice-ufrag|ice-pwd|mid|msid|setup|fingerprint):[ -~]{0,40}",
        "a=group:BUNDLE( [0-9a-z]{0,3}){0,4}",
        "a=candidate:[0-9]{1,10} [0-9] (udp|tcp) [0-9]{1,10} [0-9.:a-f]{1,40} [0-9]{1,6} typ (host|srflx|relay|prflx)( raddr [0-9.]{0,15} rport [0-9]{0,6})?",
        "a=ssrc(-group)?:[0-9]{1,10} [ -~]{0,30}",
        "(a=|b=|k=|z=)?[ -~]{0,50}",
    ];
    let sdp = proptest::collection::vec(line, 0..40).prop_map(|lines| lines.join("\r\n") + "\r\n");
    run("sdp", text(sdp));
    run(
        "sdp",
        text(
            "candidate:[0-9]{1,10} [0-9] (udp|tcp|x) [0-9]{1,12} [0-9.:a-f]{0,40} [0-9]{0,7} typ [a-z]{0,6}( [ -~]{0,30})?",
        ),
    );
}

#[test]
fn turn_stream_framing() {
    // STUN and ChannelData headers with any lengths, then noise.
    let framed = (
        prop_oneof![
            Just(0x00u8),
            Just(0x01),
            Just(0x40),
            Just(0x7f),
            any::<u8>()
        ],
        any::<u8>(),
        any::<u16>(),
        binary(),
    )
        .prop_map(|(a, b, len, rest)| {
            let mut v = vec![7, a, b];
            v.extend_from_slice(&len.to_be_bytes());
            v.extend(rest);
            v
        });
    run("turn_framer", framed);
    run("turn_framer", binary());
}

#[test]
fn stamp_reader() {
    run("stamp", binary());
}

#[test]
fn rtcp_reports() {
    // A header with version 2, any count and packet type near the RTCP ones, any length.
    let packet = (0u8..32, 192u8..=210, any::<u16>(), binary()).prop_map(|(rc, pt, len, rest)| {
        let mut v = vec![0x80 | rc, pt];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend(rest);
        v
    });
    let compound = proptest::collection::vec(packet, 1..4).prop_map(|ps| ps.concat());
    run("rtcp", compound);
    run("rtcp", binary());
}

/// Every seed and every crash the coverage-guided runs kept, per target directory.
#[test]
fn the_corpus_replays_without_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus");
    let mut replayed = 0;
    for (name, target) in fuzz::TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        for file in dir.flatten() {
            let data = std::fs::read(file.path()).unwrap();
            target(&data);
            replayed += 1;
        }
    }
    assert!(
        replayed >= fuzz::TARGETS.len(),
        "the corpus has a seed per target"
    );
}
