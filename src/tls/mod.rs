//! TLS trust, for every connection roompeer makes: the signaling server, `turns:` TURN servers
//! (through their bridge), and the window's certificate question. System roots (default), an
//! extra CA, a pinned certificate, or — loudly — none.
//!
//! Pinning exists for the seed's own certificate (X.509 v1, 1024-bit RSA, no host name), which no
//! path validation accepts. A pin trusts exactly one leaf, byte for byte, and still checks the
//! handshake signature with that leaf's key, so holding the (public) certificate is not enough to
//! impersonate the server. ring and webpki refuse RSA keys under 2048 bits, so RSA signatures are
//! checked with the RustCrypto `rsa` crate; other key types go through rustls' own verification.

mod verifiers;

use rustls::ClientConfig;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use verifiers::{Check, Verifier};

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
            Arc::new(Verifier {
                check: Check::WebPki(inner),
                refused,
            })
        }
        TrustMode::Pinned(path) => Arc::new(Verifier::pinned(
            read_certificate(path)?,
            path,
            provider.signature_verification_algorithms,
            refused,
        )?),
        TrustMode::Insecure => Arc::new(Verifier {
            check: Check::Insecure(provider.signature_verification_algorithms),
            refused,
        }),
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
