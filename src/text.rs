//! Bounded renderings of text a peer or server supplied, for logs, reports and the window:
//! a 1 MB SDP must not become a 1 MB log line or report `error`.

/// How much of a peer-supplied string is quoted.
pub const QUOTE_CHARS: usize = 200;

/// `s` cut to at most `max` characters, with what was left out said.
pub fn bounded(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((end, _)) => format!("{}… ({} bytes in all)", &s[..end], s.len()),
    }
}

/// `s` quoted (Debug-escaped, so control characters cannot forge log lines) and bounded to
/// [`QUOTE_CHARS`].
pub fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        None => format!("{s:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes in all)", &s[..end], s.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_its_size_said() {
        let big = "A".repeat(1 << 20);
        let q = quote(&big);
        assert!(q.len() < 260, "{}", q.len());
        assert!(q.ends_with("… (1048576 bytes in all)"), "{q}");
        assert_eq!(quote("v=0"), "\"v=0\"");
        assert_eq!(bounded("ééé", 2), "éé… (6 bytes in all)");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
    }
}
