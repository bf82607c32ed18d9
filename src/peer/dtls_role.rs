//! Which side of DTLS the negotiation gave us, from the answer's `a=setup` (RFC 5763: the
//! offerer says `actpass`, the answerer picks `active`, the client, or `passive`, the server).

/// Whether `answer` makes us the DTLS server: ours says `passive`, or the peer's `active`.
pub fn answer_makes_us_dtls_server(answer: &str, ours: bool) -> bool {
    let server_if = if ours { "passive" } else { "active" };
    answer
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=setup:"))
        .any(|role| role == server_if)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_s_setup_names_the_server() {
        let active = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n";
        let passive = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:passive\r\n";
        // The peer answered as client: we are the server.
        assert!(answer_makes_us_dtls_server(active, false));
        assert!(!answer_makes_us_dtls_server(passive, false));
        // We answered.
        assert!(answer_makes_us_dtls_server(passive, true));
        assert!(!answer_makes_us_dtls_server(active, true));
        assert!(!answer_makes_us_dtls_server("garbage", false));
    }
}
