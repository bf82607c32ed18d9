//! The machine's network interfaces, as ICE gathering sees them.

use std::net::{IpAddr, SocketAddr};

/// The local addresses to gather host candidates on: every address of every interface that is
/// up, IPv4 and IPv6, as a browser does; loopback only when there is nothing else (a network
/// namespace whose only interface is `lo`).
pub fn host_addresses() -> Vec<IpAddr> {
    let all: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| {
            ifs.into_iter()
                .filter(|i| i.is_oper_up())
                .map(|i| i.ip())
                .collect()
        })
        .unwrap_or_default();
    // IPv6 link-local addresses need a scope id to bind; browsers skip them too.
    let usable = |ip: &IpAddr| !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    let external: Vec<IpAddr> = all
        .iter()
        .copied()
        .filter(|ip| usable(ip) && !ip.is_loopback())
        .collect();
    if external.is_empty() {
        all.into_iter().filter(|ip| ip.is_loopback()).collect()
    } else {
        external
    }
}

/// Whether some interface other than loopback is up and multicast-capable, so the mDNS socket
/// can be opened (Linux; elsewhere assume yes and fall back if it fails).
pub fn multicast_available() -> bool {
    const IFF_UP: u32 = 0x1;
    const IFF_LOOPBACK: u32 = 0x8;
    const IFF_MULTICAST: u32 = 0x1000;
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return true;
    };
    dir.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("flags"))
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|f| f & IFF_UP != 0 && f & IFF_MULTICAST != 0 && f & IFF_LOOPBACK == 0)
    })
}

/// `host:port`, with IPv6 addresses in brackets.
pub fn address(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{host}:{port}"),
    }
}
