use super::super::*;
use super::*;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rustls::client::danger::ServerCertVerifier;

/// A certificate and key made by the project's copy of the seed's openssl commands.
fn seed_cert(dir: &Path) -> (CertificateDer<'static>, rsa::RsaPrivateKey) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-seed-cert.sh");
    let ok = std::process::Command::new(script)
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "make-seed-cert.sh failed");
    let key_pem = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&key_pem).unwrap();
    (read_certificate(&dir.join("cert.crt")).unwrap(), key)
}

fn pss_signature(key: &rsa::RsaPrivateKey, msg: &[u8]) -> Vec<u8> {
    let signer = rsa::pss::BlindedSigningKey::<sha2::Sha256>::new(key.clone());
    signer
        .sign_with_rng(&mut rsa::rand_core::OsRng, msg)
        .to_vec()
}

#[test]
fn a_pin_checks_the_certificate_and_the_handshake_signature_of_a_1024_bit_seed_key() {
    let base = std::env::temp_dir().join(format!("roompeer-tls-unit-{}", std::process::id()));
    let (cert, key) = seed_cert(&base.join("a"));
    let (other_cert, other_key) = seed_cert(&base.join("b"));
    assert_eq!(
        rsa::traits::PublicKeyParts::size(&key.to_public_key()),
        128,
        "1024-bit like the seed's"
    );
    let x509 = x509_parser::parse_x509_certificate(&cert).unwrap().1;
    assert_eq!(x509.version().0, 0, "X.509 v1 like the seed's");

    let provider = provider();
    let verifier = Verifier::pinned(
        cert.clone(),
        Path::new("pinned.crt"),
        provider.signature_verification_algorithms,
        RefusedCertificate::default(),
    )
    .unwrap();
    let name = ServerName::try_from("anything.example").unwrap();
    assert!(
        verifier
            .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .is_ok()
    );
    assert!(
        verifier
            .verify_server_cert(&other_cert, &[], &name, &[], UnixTime::now())
            .is_err()
    );

    let msg = b"TLS 1.3, server CertificateVerify";
    let Check::Pinned(pin) = &verifier.check else {
        panic!("a pin")
    };
    let PinnedKey::Rsa(public) = &pin.key else {
        panic!("an RSA pin")
    };
    let pss = SignatureScheme::RSA_PSS_SHA256;
    assert!(verify_rsa(public, pss, msg, &pss_signature(&key, msg)));
    // Someone who has the (public) certificate but not its key cannot pass.
    assert!(!verify_rsa(
        public,
        pss,
        msg,
        &pss_signature(&other_key, msg)
    ));
    // Nor can a signature over other bytes, or garbage, or an unsupported scheme.
    assert!(!verify_rsa(
        public,
        pss,
        b"other",
        &pss_signature(&key, msg)
    ));
    assert!(!verify_rsa(public, pss, msg, &[1, 2, 3]));
    assert!(!verify_rsa(
        public,
        SignatureScheme::ED25519,
        msg,
        &pss_signature(&key, msg)
    ));
    // TLS 1.2 servers may sign with PKCS#1 v1.5.
    let pkcs1 = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    let sig = rsa::signature::Signer::sign(&pkcs1, msg).to_vec();
    assert!(verify_rsa(
        public,
        SignatureScheme::RSA_PKCS1_SHA256,
        msg,
        &sig
    ));
    assert!(!verify_rsa(
        public,
        SignatureScheme::RSA_PKCS1_SHA384,
        msg,
        &sig
    ));
    // A signature is only taken from the pinned certificate.
    assert!(pin.check_same(&cert).is_ok());
    assert!(pin.check_same(&other_cert).is_err());
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn certificates_are_read_from_pem_or_der_and_junk_is_refused() {
    let dir = std::env::temp_dir().join(format!("roompeer-tls-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, _) = seed_cert(&dir);
    let der = dir.join("c.der");
    std::fs::write(&der, cert.as_ref()).unwrap();
    assert_eq!(read_certificate(&der).unwrap(), cert);
    let pem = dir.join("c.pem");
    std::fs::write(&pem, to_pem(&cert)).unwrap();
    assert_eq!(read_certificate(&pem).unwrap(), cert);
    let junk = dir.join("junk");
    std::fs::write(&junk, "hello").unwrap();
    assert!(matches!(
        read_certificate(&junk),
        Err(TrustError::NoCertificate(_))
    ));
    assert!(matches!(
        read_certificate(&dir.join("missing")),
        Err(TrustError::Read { .. })
    ));
    assert_eq!(fingerprint(b"").len(), 32 * 3 - 1);
    let _ = std::fs::remove_dir_all(dir);
}
