//! Trusting a signaling server's certificate: refused when unknown (with advice), pinned
//! exactly, or checked against a CA with host names, each in a network namespace of its own.

mod support;

use support::*;

#[test]
#[ignore = "needs root: network namespaces"]
fn an_untrusted_certificate_is_refused_with_advice_to_pin_it() {
    let dir = scratch("untrusted");
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V2, seed_cert());
    // System roots only.
    let r = Peer::start(
        &ns,
        &dir,
        "system",
        &["--server", &server.https(), "--wait", "2"],
    )
    .finish();
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.report.outcome, Outcome::TlsFailed);
    let error = r.report.error.clone().unwrap_or_default();
    assert!(error.contains("--pin-cert"), "says how to pin: {error}");
    assert!(error.contains("fingerprint"), "{error}");
    // A different certificate pinned: refused too, even though it is also a seed-style one.
    let other = make_seed_cert(&dir.join("other"));
    let pinned = other.cert.display().to_string();
    let r = Peer::start(
        &ns,
        &dir,
        "wrong-pin",
        &[
            "--server",
            &server.https(),
            "--pin-cert",
            &pinned,
            "--wait",
            "2",
        ],
    )
    .finish();
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.report.outcome, Outcome::TlsFailed);
    // The right pin in DER form works (no peer comes: exit 5, not a TLS failure).
    let der = dir.join("seed.der");
    let pem = std::fs::read_to_string(&seed_cert().cert).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    std::fs::write(&der, base64_decode(&b64)).unwrap();
    let r = Peer::start(
        &ns,
        &dir,
        "der-pin",
        &[
            "--server",
            &server.https(),
            "--pin-cert",
            &der.display().to_string(),
            "--wait",
            "1",
        ],
    )
    .finish();
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(r.report.outcome, Outcome::NoPeer);
    // --insecure connects, and says loudly that it did not verify.
    let r = Peer::start(
        &ns,
        &dir,
        "insecure",
        &["--server", &server.https(), "--insecure", "--wait", "1"],
    )
    .finish();
    assert_eq!(r.code, 5, "{}", r.stderr);
    // The warning is for the person at the terminal: it must be there, loudly.
    assert!(r.stderr.contains("WITHOUT verification"), "{}", r.stderr);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
#[ignore = "needs root: network namespaces"]
fn a_ca_certificate_is_trusted_with_normal_host_name_checks() {
    let dir = scratch("ca");
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.crt");
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let crt = dir.join("server.crt");
    let ext = dir.join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let sh = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let p = |x: &std::path::Path| x.display().to_string();
    sh(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
        "-days",
        "2",
        "-subj",
        "/CN=roompeer test CA",
    ]);
    sh(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
        "-subj",
        "/CN=localhost",
    ]);
    sh(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-out",
        &p(&crt),
        "-days",
        "2",
        "-extfile",
        &p(&ext),
    ]);
    let ns = Netns::new();
    let server = NodeServer::start(&ns, ServerKind::V4, &SeedCert { key, cert: crt });
    let good = format!("https://localhost:{}", server.https_port);
    let r = Peer::start(
        &ns,
        &dir,
        "ca",
        &["--server", &good, "--ca-cert", &p(&ca), "--wait", "1"],
    )
    .finish();
    assert_eq!(r.code, 5, "connects, then no peer: {}", r.stderr);
    // The same certificate reached by an address it does not name is refused.
    let r = Peer::start(
        &ns,
        &dir,
        "ca-ip",
        &[
            "--server",
            &server.https(),
            "--ca-cert",
            &p(&ca),
            "--wait",
            "1",
        ],
    )
    .finish();
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.report.outcome, Outcome::TlsFailed);
}
