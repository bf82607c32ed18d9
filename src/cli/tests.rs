use super::*;
use crate::media::controls::ScreenChoice;

fn parse(args: &[&str]) -> Result<RunOptions, Box<dyn std::error::Error>> {
    let mut all = vec!["roompeer", "--headless"];
    all.extend_from_slice(args);
    Ok(Cli::try_parse_from(all)?.run_options()?)
}

#[test]
fn defaults_match_the_seed() {
    let o = parse(&[]).unwrap();
    assert_eq!(o.room.room, Room(None));
    assert_eq!(o.room.wait, Duration::from_secs(60));
    assert_eq!(
        (o.peer.media.width, o.peer.media.height, o.peer.media.fps),
        (640, 480, 30)
    );
    assert_eq!(
        o.peer.media.controls.devices().0,
        Devices::default(),
        "headless: the test picture and tone, nothing played"
    );
    assert!(matches!(o.transport.trust, TrustMode::System));
    // No server configured: host one on loopback and join it.
    assert_eq!(o.transport.url.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(
        o.host.and_then(|h| h.http),
        Some("127.0.0.1:8080".parse().unwrap())
    );
    let o = parse(&["--server", "https://example.org:8443"]).unwrap();
    assert!(o.host.is_none(), "a configured server is used, none hosted");
}

#[test]
fn serve_has_its_own_options() {
    let cli = Cli::try_parse_from(["roompeer", "serve", "--http", "0.0.0.0:9000"]).unwrap();
    let Some(Command::Serve(args)) = cli.command else {
        panic!("not serve");
    };
    let o = args.options();
    assert_eq!(o.http, Some("0.0.0.0:9000".parse().unwrap()));
    assert!(o.https.is_none());
    assert!(
        Cli::try_parse_from(["roompeer", "serve", "--https", "0.0.0.0:8443"]).is_err(),
        "https needs a certificate and key"
    );
    assert!(Cli::try_parse_from(["roompeer", "serve", "--no-http"]).is_err());
}

#[test]
fn options_are_checked() {
    assert!(
        parse(&["--audio", "tone:660"])
            .is_ok_and(|o| o.peer.media.controls.devices().0.audio_in == AudioIn::Tone(660.0))
    );
    assert!(parse(&["--audio", "mic:USB"]).is_ok_and(|o| {
        o.peer.media.controls.devices().0.audio_in == AudioIn::Mic(Some("USB".into()))
    }));
    assert!(parse(&["--audio", "speaker"]).is_err());
    assert!(parse(&["--video", "camera:2", "--mute"]).is_ok_and(|o| {
        let c = &o.peer.media.controls;
        c.devices().0.video_in == VideoIn::Camera(Some("2".into())) && c.mic_muted()
    }));
    assert!(parse(&["--video", "screen"]).is_ok_and(|o| {
        let m = &o.peer.media;
        m.controls.devices().0.video_in == VideoIn::Screen(ScreenChoice::Whole)
            && (m.screen_limit, m.screen_fps) == ((1920, 1080), 15)
    }));
    assert!(
        parse(&[
            "--video",
            "screen:1",
            "--fps",
            "5",
            "--video-size",
            "1280x720"
        ])
        .is_ok_and(|o| {
            let m = &o.peer.media;
            m.controls.devices().0.video_in == VideoIn::Screen(ScreenChoice::Monitor(1))
                && (m.screen_limit, m.screen_fps) == ((1280, 720), 5)
        })
    );
    assert!(parse(&["--video", "screen:portal"]).is_ok_and(|o| {
        o.peer.media.controls.devices().0.video_in == VideoIn::Screen(ScreenChoice::Portal)
    }));
    assert!(
        parse(&["--video", "window:Quarterly figures"]).is_ok_and(|o| {
            o.peer.media.controls.devices().0.video_in
                == VideoIn::Screen(ScreenChoice::Window("Quarterly figures".into()))
        })
    );
    assert!(
        parse(&["--video-schedule", "screen@5,window:a@b@7.5,testsrc@10"]).is_ok_and(|o| {
            let s = &o.peer.media.video_schedule;
            let secs: Vec<f64> = s.iter().map(|(t, _)| t.as_secs_f64()).collect();
            secs == [5.0, 7.5, 10.0]
                && s[1].1 == VideoIn::Screen(ScreenChoice::Window("a@b".into()))
        })
    );
    for bad in [
        "screen",
        "screen@-1",
        "screen@5,testsrc@2",
        "mic@3",
        "screen@x",
    ] {
        assert!(parse(&["--video-schedule", bad]).is_err(), "{bad}");
    }
    for bad in ["screen:one", "screen:", "window:", "display"] {
        assert!(parse(&["--video", bad]).is_err(), "{bad}");
    }
    assert!(parse(&["--video-size", "641x480"]).is_err());
    assert!(parse(&["--eio", "5"]).is_err());
    assert!(parse(&["--pin-cert", "a", "--insecure"]).is_err());
    assert!(
        parse(&["--ice", "turn:127.0.0.1:3478"]).is_err(),
        "TURN without credentials"
    );
    let o = parse(&[
        "--ice",
        "turn:127.0.0.1:3478",
        "--ice-user",
        "aaaa",
        "--ice-pass",
        "aaaa",
        "--ice",
        "stun:127.0.0.1:3478",
    ])
    .unwrap();
    assert_eq!(o.peer.ice_servers.len(), 2);
    assert_eq!(o.peer.ice_servers[0].credential, "aaaa");
    assert_eq!(o.peer.ice_servers[1].credential, "");
    assert!(parse(&["--relay-only"]).is_err());
    assert!(parse(&["--wait", "-1"]).is_err());
}

#[test]
fn ice_urls_are_checked_up_front() {
    for good in [
        "stun:127.0.0.1:3478",
        "stun:stun.example.org",
        "stuns:[::1]:5349",
        "turn:127.0.0.1:3478?transport=tcp",
        "turns:turn.example.org:443?transport=tcp",
    ] {
        assert_eq!(values::parse_ice_url(good).as_deref(), Ok(good), "{good}");
    }
    for bad in [
        "garbage",
        "http://127.0.0.1",
        "stun:",
        "stun:host:99999",
        "stun:host:0",
        "stun:127.0.0.1:3478?transport=udp",
        "turn:host?transport=sctp",
        "turn:[::1:3478",
        "turn:ho st",
    ] {
        let e = values::parse_ice_url(bad).expect_err(bad);
        assert!(
            e.to_string().contains("turn:HOST[:PORT]"),
            "names the forms: {e}"
        );
    }
    assert!(parse(&["--ice", "garbage"]).is_err());
}

#[test]
fn a_record_directory_is_made_and_must_be_writable() {
    let base = std::env::temp_dir().join(format!("roompeer-record-{}", std::process::id()));
    let dir = base.join("a/b");
    assert!(parse(&["--record", dir.to_str().unwrap()]).is_ok());
    assert!(dir.is_dir(), "created before joining");
    // A file where the directory should be.
    let file = base.join("file");
    std::fs::write(&file, b"x").unwrap();
    let e = parse(&["--record", file.to_str().unwrap()]).unwrap_err();
    assert!(e.to_string().contains("cannot write there"), "{e}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn serve_limits_are_read_and_origins_checked() {
    use clap::Parser;
    let serve = |args: &[&str]| -> Result<crate::server::ServeOptions, clap::Error> {
        let cli = Cli::try_parse_from([&["roompeer", "serve"][..], args].concat())?;
        match cli.command {
            Some(Command::Serve(s)) => Ok(s.options()),
            _ => panic!("not serve"),
        }
    };
    let defaults = serve(&[]).unwrap().limits;
    assert_eq!(defaults, crate::server::limits::ServeLimits::default());
    let l = serve(&[
        "--max-messages-per-second",
        "0",
        "--max-connections-per-address",
        "5",
        "--allow-origin",
        "https://rooms.example.org/",
        "--allow-origin",
        "http://localhost:8080",
    ])
    .unwrap()
    .limits;
    assert_eq!(l.messages_per_second, 0);
    assert_eq!(l.connections_per_address, 5);
    assert_eq!(
        l.allowed_origins,
        ["https://rooms.example.org", "http://localhost:8080"]
    );
    for bad in [
        "rooms.example.org",
        "https://rooms.example.org/path",
        "ftp://x.org",
        "https://x.org?q",
        "https://x.org//",
    ] {
        let e = serve(&["--allow-origin", bad]).expect_err(bad);
        assert!(e.to_string().contains("not an origin"), "{bad}: {e}");
    }
    assert!(serve(&["--message-burst", "0"]).is_err());
}
