//! `roompeer serve`, the built-in room server: the seed's protocol for socket.io 2.x and 4.x
//! clients over http and https, the hostile input that kills the seed's server, and the
//! embedded default (a roompeer with no server configured hosts one).

mod support;

use serde_json::Value;
use support::*;

fn check(ns: &Netns, url: &str, mode: &str) -> Value {
    let out = run_node_script(ns, "room-server-check.js", &[url, mode]);
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out}: {e}"));
    assert_eq!(v["ok"], true, "{v:#}");
    v
}

#[test]
#[ignore = "needs root: network namespaces"]
fn serve_speaks_the_seed_protocol_to_socketio_2_and_4_clients_over_http_and_https() {
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::Serve, serve_cert());
    for url in [server.http(), server.https()] {
        let v = check(&ns, &url, "protocol");
        let checks: Vec<&str> = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for needed in [
            "v2: third is told full",
            "v4: third is told full",
            "v4->v2: candidate relayed",
            "the page's null room",
        ] {
            assert!(checks.contains(&needed), "{url}: {needed} missing: {v:#}");
        }
    }
}

#[test]
#[ignore = "needs root: network namespaces"]
fn serve_survives_the_input_that_kills_the_seeds_server() {
    let ns = Netns::new();
    let mut server = NodeServer::start(&ns, ServerKind::Serve, serve_cert());
    let v = check(&ns, &server.http(), "hostile");
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "a stranger cannot relay into a room"),
        "{v:#}"
    );
    assert!(server.is_running(), "the server survived the battery");
    // And it still holds a call.
    check(&ns, &server.https(), "protocol");
}

/// The limits a public server needs: connections per address, messages a second per
/// connection, and the pages' origins.
#[test]
#[ignore = "needs root: network namespaces"]
fn serve_limits_connections_per_address_message_floods_and_origins() {
    let ns = Netns::new();
    let mut server = NodeServer::serve_with(
        &ns,
        &[
            "--max-connections-per-address",
            "6",
            "--message-burst",
            "20",
            "--max-messages-per-second",
            "10",
            "--allow-origin",
            "https://good.example",
        ],
    );
    for url in [server.http(), server.https()] {
        let v = check(&ns, &url, "limits");
        let checks = v["checks"].as_array().unwrap();
        for needed in [
            "a flooding client is disconnected",
            "a page from another origin is refused (403)",
            "a client without Origin connects",
        ] {
            assert!(checks.iter().any(|c| c == needed), "{url}: {needed}: {v:#}");
        }
    }
    assert!(server.is_running());
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_roompeer_without_a_server_hosts_one_and_a_second_joins_it() {
    let dir = scratch("embedded");
    let ns = Netns::new();
    let listen = "127.0.0.1:18080";
    let common = [
        "--listen",
        listen,
        "--room",
        "at home",
        "--duration",
        "3",
        "--calls",
        "1",
        "--video-size",
        "320x240",
    ];
    let host = Peer::start(&ns, &dir, "host", &[&common[..], &["--id", "1"]].concat()).joined();
    let guest = Peer::start(&ns, &dir, "guest", &[&common[..], &["--id", "2"]].concat());
    let (h, g) = (host.finish(), guest.finish());
    assert_eq!(h.code, 0, "{}", h.stderr);
    assert_eq!(g.code, 0, "{}", g.stderr);
    assert_eq!(h.report.server, "http://127.0.0.1:18080/");
    assert_eq!(h.report.last_call.video.peer_sender_id, Some(2));
    assert_eq!(g.report.last_call.video.peer_sender_id, Some(1));
    assert_eq!(
        h.report.hosting,
        Some(Hosting::Hosted {
            page: "http://127.0.0.1:18080/index.html?room=at+home".into()
        }),
        "the host says where a browser joins"
    );
    assert_eq!(g.report.hosting, Some(Hosting::AlreadyThere));
}

#[test]
#[ignore = "needs root: network namespaces"]
fn chromium_joins_a_room_that_roompeer_hosts() {
    let dir = scratch("embedded-browser");
    let ns = Netns::new();
    let rp = Peer::start(
        &ns,
        &dir,
        "host",
        &[
            "--listen",
            "127.0.0.1:18081",
            "--calls",
            "1",
            "--video-size",
            "320x240",
        ],
    )
    .joined();
    // The page as roompeer serves it, joining room null as the seed's page does.
    let b = BrowserPeer::start(&ns, "http://127.0.0.1:18081/", 3).finish();
    let r = rp.finish();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(b["state"], "leaved", "{b:#}");
    assert_eq!(
        (b["width"].as_u64(), b["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(r.report.last_call.video.codec.as_deref(), Some("H264"));
    assert!(
        r.report.last_call.video.decoded_frames >= 30,
        "{}",
        r.dump()
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn the_seed_pages_own_socketio_2_client_works_through_serve_in_chromium() {
    BrowserCall {
        browser: Browser::Chromium,
        server: ServerKind::ServeSeedClient,
        roompeer_first: true,
        video_codec: None,
        expect: "H264",
        relay: Relay::Off,
    }
    .run("serve-seed-client");
}
