//! Certificates for the tests: the seed's own kind, and one for `roompeer serve`.

use super::{root, run_ok, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A certificate made exactly as the seed's blog post makes it (X.509 v1, 1024-bit RSA, no CN).
pub struct SeedCert {
    pub key: PathBuf,
    pub cert: PathBuf,
}

/// Makes a new seed-style certificate in `dir`.
pub fn make_seed_cert(dir: &Path) -> SeedCert {
    run_ok(Command::new(root().join("scripts/make-seed-cert.sh")).arg(dir));
    SeedCert {
        key: dir.join("cert.pem"),
        cert: dir.join("cert.crt"),
    }
}

/// The certificate shared by the tests of one run.
pub fn seed_cert() -> &'static SeedCert {
    static CERT: OnceLock<SeedCert> = OnceLock::new();
    CERT.get_or_init(|| make_seed_cert(&scratch("seed-cert")))
}

/// A self-signed 2048-bit certificate for 127.0.0.1 and localhost, for `roompeer serve`'s https
/// (rustls cannot sign with the seed's 1024-bit key); clients pin it.
pub fn serve_cert() -> &'static SeedCert {
    static CERT: OnceLock<SeedCert> = OnceLock::new();
    CERT.get_or_init(|| {
        let dir = scratch("serve-cert");
        let (key, cert) = (dir.join("serve.key"), dir.join("serve.crt"));
        run_ok(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            &key.display().to_string(),
            "-out",
            &cert.display().to_string(),
        ]));
        SeedCert { key, cert }
    })
}
