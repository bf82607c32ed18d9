//! Calls across simulated NATs: two peers, each behind its own NAT router, a public segment with
//! the signaling server and coturn, all built from the test's own network namespaces.
//! ROOMPEER_TEST_VERBOSE=1 shows every process's log, coturn's included; ROOMPEER_TEST_LOG
//! sets roompeer's log filter.

mod support;

use roompeer::peer::SelectedPair;
use support::*;

/// Two roompeers, one behind each NAT, configured as the seed configures its page: a single
/// `turn:` url with the seed's credentials. Returns both reports.
fn call_across_nats(name: &str, symmetric: bool) -> [Report; 2] {
    call_across_nats_with(name, symmetric, &[])
}

fn call_across_nats_with(name: &str, symmetric: bool, extra: &[&str]) -> [Report; 2] {
    LabCall {
        symmetric,
        ice: format!("turn:{PUBLIC_HOST}:3478"),
        coturn_tls: false,
        block_udp: false,
        extra,
    }
    .run(name)
}

/// One call between the lab's two peers, through the seed's Node server and coturn on the
/// public host.
struct LabCall<'a> {
    symmetric: bool,
    /// The one ICE url both peers get (credentials aaaa/aaaa).
    ice: String,
    /// coturn also listens for TLS on 5349, with [`serve_cert`].
    coturn_tls: bool,
    /// Both NAT routers drop every UDP packet they would forward, as a strict firewall does.
    block_udp: bool,
    extra: &'a [&'a str],
}

impl LabCall<'_> {
    fn run(&self, name: &str) -> [Report; 2] {
        let dir = scratch(name);
        let lab = NatLab::new(self.symmetric);
        if self.block_udp {
            for nat in [&lab.nat_a, &lab.nat_b] {
                nat.nft(
                    "table inet strict { chain forward_udp { type filter hook forward priority 0; meta l4proto udp drop; }; }\n",
                );
            }
        }
        let server =
            NodeServer::start_at(&lab.public, ServerKind::V2, seed_cert(), PUBLIC_HOST, 0, 0);
        let _turn = Coturn::start_with_tls(
            &lab.public,
            PUBLIC_HOST,
            3478,
            self.coturn_tls.then(serve_cert),
        );
        let url = format!("http://{PUBLIC_HOST}:{}", server.http_port);
        let common = [
            &one_call(&url, "4")[..],
            &["--ice", &self.ice, "--ice-user", "aaaa"],
        ]
        .concat();
        let common = [&common[..], self.extra].concat();
        let env = [("ROOMPEER_ICE_PASS", "aaaa")];
        // Recordings keep each side's candidates and SDP for a failed run.
        let (rec_a, rec_b) = (
            dir.join("rec-a").display().to_string(),
            dir.join("rec-b").display().to_string(),
        );
        let a = Peer::start_with_env(
            &lab.peer_a,
            &dir,
            "a",
            &[&common[..], &["--id", "1", "--record", &rec_a]].concat(),
            &env,
        )
        .joined();
        let b = Peer::start_with_env(
            &lab.peer_b,
            &dir,
            "b",
            &[&common[..], &["--id", "2", "--record", &rec_b]].concat(),
            &env,
        );
        [a.finish(), b.finish()].map(|r| {
            assert_eq!(r.code, 0, "{}", r.stderr);
            r.report
        })
    }
}

/// Prints the selected pair and the time from the peer's arrival to ICE connected.
fn figure(scenario: &str, reports: &[Report; 2]) {
    for (side, r) in ["a", "b"].iter().zip(reports) {
        let t = &r.last_call.timings_ms;
        println!(
            "FIGURE nat {scenario} side {side}: {}, ICE connected {} ms after the peer arrived",
            r.last_call
                .selected_pair
                .as_ref()
                .map_or("no pair".into(), |p| p.to_string()),
            t.ice_connected
                .unwrap_or(0)
                .saturating_sub(t.peer_joined.unwrap_or(0)),
        );
    }
}

/// The last call's selected pair.
fn pair(r: &Report) -> &SelectedPair {
    r.last_call
        .selected_pair
        .as_ref()
        .unwrap_or_else(|| panic!("no selected pair: {}", dump(r)))
}

/// With only the seed's `turn:` url configured, roompeer gathers server-reflexive candidates
/// from the TURN server too, as a browser does, and behind endpoint-independent NATs the call
/// goes directly between the two public mappings instead of through the relay. (The local end
/// of the pair is the host candidate the srflx one stands for: ICE pairs a base, not its
/// reflexive address.)
#[test]
#[ignore = "needs root: network namespaces"]
fn behind_two_cone_nats_the_call_connects_through_srflx_with_only_a_turn_url() {
    let reports = call_across_nats("nat-cone", false);
    figure("cone", &reports);
    for (r, peer_wan) in reports.iter().zip(["203.0.113.20:", "203.0.113.10:"]) {
        let pair = pair(r);
        assert!(
            pair.remote_type == "srflx" || pair.remote_type == "prflx",
            "expected a direct pair through the NATs: {pair}"
        );
        assert_ne!(pair.local_type, "relay", "{pair}");
        assert!(
            pair.remote_address.starts_with(peer_wan),
            "to the other NAT's public address: {pair}"
        );
    }
}

/// Behind NATs that pick a new port for every destination, the mappings the TURN server saw
/// are useless to the other peer: the call falls back to the relay.
#[test]
#[ignore = "needs root: network namespaces"]
fn behind_two_symmetric_nats_the_call_falls_back_to_the_relay() {
    let reports = call_across_nats("nat-symmetric", true);
    figure("symmetric", &reports);
    for r in &reports {
        let pair = pair(r);
        assert!(
            pair.local_type == "relay" || pair.remote_type == "relay",
            "expected the relay: {pair}"
        );
    }
}

/// With `--relay-only` the call goes through coturn even between two symmetric NATs: both
/// sides' selected pairs are relay candidates, and media flows both ways (`Peer::finish`
/// checked exit code 0, which needs decoded video and audio on each side).
#[test]
#[ignore = "needs root: network namespaces"]
fn relay_only_calls_cross_two_symmetric_nats_through_coturn() {
    let reports = call_across_nats_with("nat-relay-only", true, &["--relay-only"]);
    figure("relay-only", &reports);
    assert_relayed(&reports);
}

/// Asserts a relay pair on both sides, on coturn's relayed addresses, with video decoded, and
/// that the one TURN url checked out.
fn assert_relayed(reports: &[Report; 2]) {
    for r in reports {
        let pair = pair(r);
        assert_eq!(
            (pair.local_type.as_str(), pair.remote_type.as_str()),
            ("relay", "relay"),
            "{pair}"
        );
        assert!(
            pair.local_address.starts_with(PUBLIC_HOST),
            "the relayed address is coturn's: {pair}"
        );
        assert!(r.last_call.video.decoded_frames >= 30, "{}", dump(r));
        assert!(r.turn[0].ok, "{:?}", r.turn);
    }
}

/// With every UDP packet dropped at both routers, a browser still reaches coturn over TCP
/// (`turn:…?transport=tcp`) and relays through it; so does roompeer, through its local bridge.
#[test]
#[ignore = "needs root: network namespaces"]
fn with_udp_blocked_the_call_goes_through_turn_over_tcp() {
    let reports = LabCall {
        symmetric: true,
        ice: format!("turn:{PUBLIC_HOST}:3478?transport=tcp"),
        coturn_tls: false,
        block_udp: true,
        extra: &[],
    }
    .run("nat-turn-tcp");
    figure("udp-blocked turn-tcp", &reports);
    assert_relayed(&reports);
}

/// The same through `turns:` (TLS on 5349), coturn's certificate pinned with --turn-pin-cert.
#[test]
#[ignore = "needs root: network namespaces"]
fn with_udp_blocked_the_call_goes_through_turn_over_tls() {
    let pin = serve_cert().cert.display().to_string();
    let reports = LabCall {
        symmetric: true,
        ice: format!("turns:{PUBLIC_HOST}:5349"),
        coturn_tls: true,
        block_udp: true,
        extra: &["--turn-pin-cert", &pin],
    }
    .run("nat-turn-tls");
    figure("udp-blocked turns", &reports);
    assert_relayed(&reports);
}

/// A `turns:` server whose certificate nobody trusts is refused, and the error says how to
/// trust it; with --relay-only that ends the run at once (exit code 9).
#[test]
#[ignore = "needs root: network namespaces"]
fn an_untrusted_turns_certificate_is_refused_with_advice() {
    let dir = scratch("turns-untrusted");
    let ns = Netns::new();
    let _turn = Coturn::start_with_tls(&ns, "127.0.0.1", 3478, Some(serve_cert()));
    let r = Peer::start_with_env(
        &ns,
        &dir,
        "a",
        &[
            "--ice",
            "turns:127.0.0.1:5349",
            "--ice-user",
            "aaaa",
            "--relay-only",
            "--wait",
            "1",
        ],
        &[("ROOMPEER_ICE_PASS", "aaaa")],
    )
    .finish();
    assert_eq!(r.code, 9, "{}", r.stderr);
    assert!(r.error().contains("--turn-pin-cert"), "{}", r.error());
    assert_eq!(r.report.turn[0].url, "turns:127.0.0.1:5349");
}

/// One call in a namespace with a multicast-capable interface: `a` hides its host addresses
/// behind mDNS names (as browsers do), `b` handles them as `b_mdns` says. Returns b's report
/// and the candidates b received.
fn mdns_call(name: &str, b_mdns: &str) -> (Report, String) {
    let dir = scratch(name);
    let ns = Netns::new();
    // A veth pair inside the namespace: an interface that can multicast, and nothing outside.
    ns.ip(&["link", "add", "mc0", "type", "veth", "peer", "name", "mc1"]);
    ns.ip(&["link", "set", "mc1", "up"]);
    ns.ip(&["link", "set", "mc0", "up"]);
    ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "mc0"]);
    // Where multicast goes (a host with a default route has this implicitly).
    ns.ip(&["route", "add", "224.0.0.0/4", "dev", "mc0"]);
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    let url = server.http();
    let rec = dir.join("rec-b").display().to_string();
    let common = one_call(&url, "3");
    let a = Peer::start(
        &ns,
        &dir,
        "a",
        &[&common[..], &["--id", "1", "--mdns", "hide"]].concat(),
    )
    .joined();
    let b = Peer::start(
        &ns,
        &dir,
        "b",
        &[
            &common[..],
            &["--id", "2", "--mdns", b_mdns, "--record", &rec],
        ]
        .concat(),
    );
    let (fa, fb) = (a.finish(), b.finish());
    assert_eq!(fa.code, 0, "{}", fa.stderr);
    assert_eq!(fb.code, 0, "{}", fb.stderr);
    let candidates = std::fs::read_to_string(dir.join("rec-b/call-1/candidates.jsonl")).unwrap();
    (fb.report, candidates)
}

/// A peer that hides its addresses behind `.local` names (Chrome does): roompeer resolves
/// them where multicast works, and the call goes host to host.
#[test]
#[ignore = "needs root: network namespaces"]
fn mdns_candidates_are_resolved_where_multicast_works() {
    let (r, candidates) = mdns_call("mdns-resolve", "resolve");
    assert!(
        candidates
            .lines()
            .any(|l| l.contains("\"remote\"") && l.contains(".local")),
        "the peer sent mDNS candidates: {candidates}"
    );
    let remote = r
        .last_call
        .remote_candidates
        .as_ref()
        .expect("remote candidates");
    assert!(
        remote.mdns_resolved >= 1,
        "the name was resolved over mDNS: {remote:?}"
    );
    // The checks from the peer may win the race to a pair (peer-reflexive) before the name
    // resolves; either way the call is direct.
    let pair = pair(&r);
    assert!(
        (pair.remote_type == "host" && pair.remote_address.contains(".local:"))
            || pair.remote_type == "prflx",
        "{pair}"
    );
}

/// Where roompeer cannot (or may not) resolve them, `.local` candidates are skipped, and the
/// call still connects, through the address the peer's checks come from (peer-reflexive).
#[test]
#[ignore = "needs root: network namespaces"]
fn mdns_candidates_are_skipped_cleanly_where_they_cannot_be_resolved() {
    let (r, _) = mdns_call("mdns-off", "off");
    assert_eq!(pair(&r).remote_type, "prflx", "{}", pair(&r));
    assert_eq!(
        r.last_call
            .remote_candidates
            .as_ref()
            .map(|c| c.mdns_resolved),
        Some(0),
        "no name resolved"
    );
    let t = &r.last_call.timings_ms;
    let took = t.ice_connected.unwrap() - t.peer_joined.unwrap();
    assert!(
        took < 3000,
        "no stall on unresolvable candidates: {took} ms"
    );
}
