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
                use rsa::signature::Verifier;
                let sig = dss.signature();
                let ok = match dss.scheme {
                    SignatureScheme::RSA_PKCS1_SHA256 => {
                        verify_pkcs1::<sha2::Sha256>(key, message, sig)
                    }
                    SignatureScheme::RSA_PKCS1_SHA384 => {
                        verify_pkcs1::<sha2::Sha384>(key, message, sig)
                    }
                    SignatureScheme::RSA_PKCS1_SHA512 => {
                        verify_pkcs1::<sha2::Sha512>(key, message, sig)
                    }
                    SignatureScheme::RSA_PSS_SHA256 => rsa::pss::Signature::try_from(sig)
                        .is_ok_and(|s| {
                            rsa::pss::VerifyingKey::<sha2::Sha256>::new(key.clone())
                                .verify(message, &s)
                                .is_ok()
                        }),
                    SignatureScheme::RSA_PSS_SHA384 => rsa::pss::Signature::try_from(sig)
                        .is_ok_and(|s| {
                            rsa::pss::VerifyingKey::<sha2::Sha384>::new(key.clone())
                                .verify(message, &s)
                                .is_ok()
                        }),
                    SignatureScheme::RSA_PSS_SHA512 => rsa::pss::Signature::try_from(sig)
                        .is_ok_and(|s| {
                            rsa::pss::VerifyingKey::<sha2::Sha512>::new(key.clone())
                                .verify(message, &s)
                                .is_ok()
                        }),
                    _ => false,
                };
                if ok {
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
