//! TLS trust for the signaling connection: system roots (default), an extra CA, a pinned
//! certificate, or — loudly — none.
//!
//! Pinning exists for the seed's own certificate (X.509 v1, 1024-bit RSA, no host name), which no
//! path validation accepts. A pin trusts exactly one leaf, byte for byte, and still checks the
//! handshake signature with that leaf's key, so holding the (public) certificate is not enough to
//! impersonate the server. ring and webpki refuse RSA keys under 2048 bits, so RSA signatures are
//! checked with the RustCrypto `rsa` crate; other key types go through rustls' own verification.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How the server's certificate is to be trusted.
#[derive(Debug, Clone, Default)]
pub enum TrustMode {
    /// The system's root store, host name checked.
    #[default]
    System,
    /// The system's roots plus this CA certificate (PEM), host name checked.
    ExtraCa(PathBuf),
    /// Exactly this server certificate (PEM or DER); the handshake signature is still checked.
    Pinned(PathBuf),
    /// No verification at all (`--insecure`).
    Insecure,
}

/// A certificate a verifier refused, kept so the error can say how to pin it.
#[derive(Debug, Clone, Default)]
pub struct RefusedCertificate(Arc<Mutex<Option<Vec<u8>>>>);

impl RefusedCertificate {
    fn remember(&self, der: &[u8]) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(der.to_vec());
        }
    }

    /// The DER of the last refused certificate, if any.
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// Errors while setting up TLS trust (reading the files the user named).
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A certificate file could not be read.
    #[error("cannot read certificate file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file held no certificate.
    #[error("{0} holds no certificate (expected PEM `BEGIN CERTIFICATE` or DER)")]
    NoCertificate(PathBuf),
    /// The CA certificate was not accepted as a trust anchor.
    #[error("{path} cannot be used as a CA: {reason}")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The pinned certificate's public key could not be read.
    #[error("{path}: cannot read the certificate's public key: {reason}")]
    BadPin {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What a person checks before trusting a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// SHA-256 fingerprint, colon-separated hex.
    pub fingerprint: String,
    /// The subject's distinguished name.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// Valid from (RFC 2822).
    pub not_before: String,
    /// Valid until (RFC 2822).
    pub not_after: String,
}

/// Describes a DER certificate; the fingerprint alone if it does not parse.
pub fn describe(der: &[u8]) -> CertificateInfo {
    let fingerprint = fingerprint(der);
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, c)) => {
            let date = |t: x509_parser::time::ASN1Time| t.to_rfc2822().unwrap_or_else(|e| e);
            CertificateInfo {
                fingerprint,
                subject: c.subject().to_string(),
                issuer: c.issuer().to_string(),
                not_before: date(c.validity().not_before),
                not_after: date(c.validity().not_after),
            }
        }
        Err(e) => CertificateInfo {
            fingerprint,
            subject: format!("(unreadable: {e})"),
            issuer: String::new(),
            not_before: String::new(),
            not_after: String::new(),
        },
    }
}

/// The SHA-256 fingerprint of a DER certificate, as colon-separated hex (as browsers show it).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Encodes a DER certificate as PEM.
pub fn to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Reads the first certificate of a PEM or DER file.
pub fn read_certificate(path: &Path) -> Result<CertificateDer<'static>, TrustError> {
    use rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_owned(),
        source,
    })?;
    if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        CertificateDer::pem_slice_iter(&bytes)
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| TrustError::NoCertificate(path.to_owned()))
    } else if bytes.first() == Some(&0x30) {
        Ok(CertificateDer::from(bytes))
    } else {
        Err(TrustError::NoCertificate(path.to_owned()))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client configuration for a trust mode. `refused` receives the server's certificate
/// whenever it is not trusted, so the caller can tell the user how to pin it.
pub fn client_config(
    mode: &TrustMode,
    refused: RefusedCertificate,
) -> Result<Arc<ClientConfig>, TrustError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        TrustMode::System | TrustMode::ExtraCa(_) => {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::warn!("system certificate store: {e}");
            }
            roots.add_parsable_certificates(native.certs);
            if let TrustMode::ExtraCa(path) = mode {
                let ca = read_certificate(path)?;
                roots.add(ca).map_err(|e| TrustError::BadCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| TrustError::BadCa {
                path: PathBuf::from("system roots"),
                reason: e.to_string(),
            })?;
            Arc::new(RecordingVerifier { inner, refused })
        }
        TrustMode::Pinned(path) => Arc::new(PinnedVerifier::new(
            read_certificate(path)?,
            path,
            provider.signature_verification_algorithms,
            refused,
        )?),
        TrustMode::Insecure => Arc::new(InsecureVerifier {
            algorithms: provider.signature_verification_algorithms,
        }),
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Normal WebPKI verification that remembers a refused certificate.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    refused: RefusedCertificate,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .inspect_err(|_| self.refused.remember(end_entity))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The pinned certificate's key, in the form its signatures are checked with.
#[derive(Debug)]
enum PinnedKey {
    Rsa(rsa::RsaPublicKey),
    /// Any other key type: checked by rustls from the SubjectPublicKeyInfo.
    Other(SubjectPublicKeyInfoDer<'static>),
}

/// Trusts exactly one certificate and checks handshake signatures with its key.
#[derive(Debug)]
struct PinnedVerifier {
    pinned: CertificateDer<'static>,
    key: PinnedKey,
    algorithms: WebPkiSupportedAlgorithms,
    refused: RefusedCertificate,
}

impl PinnedVerifier {
    fn new(
        pinned: CertificateDer<'static>,
        path: &Path,
        algorithms: WebPkiSupportedAlgorithms,
        refused: RefusedCertificate,
    ) -> Result<Self, TrustError> {
        use rsa::pkcs8::DecodePublicKey;
        let bad = |reason: String| TrustError::BadPin {
            path: path.to_owned(),
            reason,
        };
        let (_, cert) =
            x509_parser::parse_x509_certificate(&pinned).map_err(|e| bad(e.to_string()))?;
        let spki = cert.tbs_certificate.subject_pki.raw.to_vec();
        let is_rsa = cert.tbs_certificate.subject_pki.algorithm.algorithm
            == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
        let key = if is_rsa {
            PinnedKey::Rsa(
                rsa::RsaPublicKey::from_public_key_der(&spki).map_err(|e| bad(e.to_string()))?,
            )
        } else {
            PinnedKey::Other(SubjectPublicKeyInfoDer::from(spki))
        };
        Ok(Self {
            pinned,
            key,
            algorithms,
            refused,
        })
    }

    fn verify_signature(
        &self,
        message: &[u8],
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let bad_signature = || rustls::Error::InvalidCertificate(CertificateError::BadSignature);
        match &self.key {
            PinnedKey::Rsa(key) => {
                if verify_rsa(key, dss.scheme, message, dss.signature()) {
                    Ok(HandshakeSignatureValid::assertion())
                } else {
                    Err(bad_signature())
                }
            }
            PinnedKey::Other(spki) => rustls::crypto::verify_tls13_signature_with_raw_key(
                message,
                spki,
                dss,
                &self.algorithms,
            ),
        }
    }
}

fn verify_pkcs1<D>(key: &rsa::RsaPublicKey, message: &[u8], sig: &[u8]) -> bool
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    use rsa::signature::Verifier;
    rsa::pkcs1v15::Signature::try_from(sig).is_ok_and(|s| {
        rsa::pkcs1v15::VerifyingKey::<D>::new(key.clone())
            .verify(message, &s)
            .is_ok()
    })
}

/// Checks an RSA handshake signature (PKCS#1 v1.5 or PSS) with keys of any size.
fn verify_rsa(
    key: &rsa::RsaPublicKey,
    scheme: SignatureScheme,
    message: &[u8],
    sig: &[u8],
) -> bool {
    match scheme {
        SignatureScheme::RSA_PKCS1_SHA256 => verify_pkcs1::<sha2::Sha256>(key, message, sig),
        SignatureScheme::RSA_PKCS1_SHA384 => verify_pkcs1::<sha2::Sha384>(key, message, sig),
        SignatureScheme::RSA_PKCS1_SHA512 => verify_pkcs1::<sha2::Sha512>(key, message, sig),
        SignatureScheme::RSA_PSS_SHA256 => verify_pss::<sha2::Sha256>(key, message, sig),
        SignatureScheme::RSA_PSS_SHA384 => verify_pss::<sha2::Sha384>(key, message, sig),
        SignatureScheme::RSA_PSS_SHA512 => verify_pss::<sha2::Sha512>(key, message, sig),
        _ => false,
    }
}

fn verify_pss<D>(key: &rsa::RsaPublicKey, message: &[u8], sig: &[u8]) -> bool
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    use rsa::signature::Verifier;
    rsa::pss::Signature::try_from(sig).is_ok_and(|s| {
        rsa::pss::VerifyingKey::<D>::new(key.clone())
            .verify(message, &s)
            .is_ok()
    })
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            self.refused.remember(end_entity);
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_same(cert)?;
        self.verify_signature(message, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_same(cert)?;
        self.verify_signature(message, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match self.key {
            PinnedKey::Rsa(_) => vec![
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PSS_SHA384,
                SignatureScheme::RSA_PSS_SHA512,
                SignatureScheme::RSA_PKCS1_SHA256,
                SignatureScheme::RSA_PKCS1_SHA384,
                SignatureScheme::RSA_PKCS1_SHA512,
            ],
            PinnedKey::Other(_) => self.algorithms.supported_schemes(),
        }
    }
}

impl PinnedVerifier {
    /// The signature must come from the pinned certificate, whatever rustls passes in.
    fn check_same(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if cert.as_ref() == self.pinned.as_ref() {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

/// Accepts any certificate and any signature (`--insecure`).
#[derive(Debug)]
struct InsecureVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for InsecureVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        tracing::warn!(
            "--insecure: accepting the certificate of {} (SHA-256 {}) WITHOUT verification; anyone on the path can read and change this signaling",
            server_name.to_str(),
            fingerprint(end_entity)
        );
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{RandomizedSigner, SignatureEncoding};

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
        let verifier = PinnedVerifier::new(
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
        let PinnedKey::Rsa(public) = &verifier.key else {
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
        assert!(verifier.check_same(&cert).is_ok());
        assert!(verifier.check_same(&other_cert).is_err());
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
}
