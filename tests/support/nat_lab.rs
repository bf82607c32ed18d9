//! The NAT lab: a public segment and two LANs behind NAT routers, all namespaces.

use super::*;
use std::process::Command;

/// Three networks made of namespaces: a "public" segment holding the signaling server and
/// coturn, and two LANs, each behind its own NAT router (nftables masquerade). Every address
/// lives only inside these namespaces; the ranges are documentation ones (RFC 5737).
pub struct NatLab {
    pub public: Netns,
    pub nat_a: Netns,
    pub nat_b: Netns,
    pub peer_a: Netns,
    pub peer_b: Netns,
}

/// The public host's address (signaling and coturn).
pub const PUBLIC_HOST: &str = "203.0.113.1";

impl NatLab {
    /// Builds the lab; `symmetric` gives the NATs random source ports (a new mapping per
    /// destination), else they keep ports where they can (endpoint-independent mapping).
    pub fn new(symmetric: bool) -> NatLab {
        let lab = NatLab {
            public: Netns::new(),
            nat_a: Netns::new(),
            nat_b: Netns::new(),
            peer_a: Netns::new(),
            peer_b: Netns::new(),
        };
        lab.public.ip(&["link", "add", "br0", "type", "bridge"]);
        lab.public
            .ip(&["addr", "add", &format!("{PUBLIC_HOST}/24"), "dev", "br0"]);
        lab.public.ip(&["link", "set", "br0", "up"]);
        // The rest of the internet, as seen from here: a gateway that never answers. Packets to
        // addresses nobody here has (a peer's private host candidate) vanish, as on the real
        // internet, instead of failing at once with "network unreachable": coturn closes an
        // allocation whose relayed packet fails that way, which no real server would see.
        lab.public.ip(&[
            "route",
            "add",
            "default",
            "via",
            "203.0.113.254",
            "dev",
            "br0",
        ]);
        for (nat, peer, wan, lan_net) in [
            (&lab.nat_a, &lab.peer_a, "203.0.113.10", "198.51.100"),
            (&lab.nat_b, &lab.peer_b, "203.0.113.20", "192.0.2"),
        ] {
            // WAN: a veth from the NAT into the public bridge.
            run_ok(Command::new("ip").args([
                "link",
                "add",
                "wan",
                "netns",
                &nat.name,
                "type",
                "veth",
                "peer",
                "name",
                &format!("p-{}", &nat.name[nat.name.len() - 2..]),
                "netns",
                &lab.public.name,
            ]));
            let pub_end = format!("p-{}", &nat.name[nat.name.len() - 2..]);
            lab.public.ip(&["link", "set", &pub_end, "master", "br0"]);
            lab.public.ip(&["link", "set", &pub_end, "up"]);
            nat.ip(&["addr", "add", &format!("{wan}/24"), "dev", "wan"]);
            nat.ip(&["link", "set", "wan", "up"]);
            // A home router's default route: the provider (which never answers here).
            nat.ip(&[
                "route",
                "add",
                "default",
                "via",
                "203.0.113.254",
                "dev",
                "wan",
            ]);
            // LAN: a veth from the NAT to its peer.
            run_ok(Command::new("ip").args([
                "link", "add", "lan", "netns", &nat.name, "type", "veth", "peer", "name", "eth0",
                "netns", &peer.name,
            ]));
            nat.ip(&["addr", "add", &format!("{lan_net}.1/24"), "dev", "lan"]);
            nat.ip(&["link", "set", "lan", "up"]);
            peer.ip(&["addr", "add", &format!("{lan_net}.2/24"), "dev", "eth0"]);
            peer.ip(&["link", "set", "eth0", "up"]);
            peer.ip(&["route", "add", "default", "via", &format!("{lan_net}.1")]);
            run_ok(
                nat.command("sysctl")
                    .args(["-q", "-w", "net.ipv4.ip_forward=1"]),
            );
            let masquerade = if symmetric {
                "masquerade random"
            } else {
                "masquerade"
            };
            // As a home router: unsolicited UDP to the router itself is dropped, not answered
            // with "port unreachable". Dropped in the filter chain, such a packet leaves no
            // connection-tracking entry behind; one that stayed would take the port the NAT
            // means to map the peer's own packets to (a clash), and break hole punching.
            let rules = format!(
                "table ip nat {{ chain post {{ type nat hook postrouting priority 100; oifname \"wan\" {masquerade}; }}; }}\n\
                 table inet fw {{ chain input {{ type filter hook input priority 0; iifname \"wan\" meta l4proto udp drop; }}; }}\n"
            );
            nat.nft(&rules);
        }
        lab
    }
}
