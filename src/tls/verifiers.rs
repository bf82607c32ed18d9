//! The certificate verifier behind the trust modes: one rustls verifier whose check is
//! path validation (system roots, an extra CA), one pinned certificate, or — loudly — none.

use super::{RefusedCertificate, TrustError, fingerprint};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// How a server's certificate and handshake signatures are checked.
#[derive(Debug)]
pub(super) enum Check {
    /// Path validation against roots (the system's, plus an extra CA).
    WebPki(Arc<rustls::client::WebPkiServerVerifier>),
    /// Exactly one certificate, whose key checks the handshake signatures.
    Pinned(Pin),
    /// Anything, signatures included (`--insecure`).
    Insecure(WebPkiSupportedAlgorithms),
}

/// The verifier of every trust mode; it remembers a refused certificate, so the user can be
/// told how to trust it.
#[derive(Debug)]
pub(super) struct Verifier {
    pub(super) check: Check,
    pub(super) refused: RefusedCertificate,
}

impl Verifier {
    /// A verifier that trusts only `pinned` (read from `path`).
    pub(super) fn pinned(
        pinned: CertificateDer<'static>,
        path: &Path,
        algorithms: WebPkiSupportedAlgorithms,
        refused: RefusedCertificate,
    ) -> Result<Self, TrustError> {
        Ok(Self {
            check: Check::Pinned(Pin::new(pinned, path, algorithms)?),
            refused,
        })
    }

    fn verify_signature(
        &self,
        tls13: bool,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match &self.check {
            Check::WebPki(inner) if tls13 => inner.verify_tls13_signature(message, cert, dss),
            Check::WebPki(inner) => inner.verify_tls12_signature(message, cert, dss),
            Check::Pinned(pin) => {
                pin.check_same(cert)?;
                pin.verify_signature(message, dss)
            }
            Check::Insecure(_) => Ok(HandshakeSignatureValid::assertion()),
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = match &self.check {
            Check::WebPki(inner) => {
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            Check::Pinned(pin) => pin
                .check_same(end_entity)
                .map(|()| ServerCertVerified::assertion()),
            Check::Insecure(_) => {
                tracing::warn!(
                    "--insecure: accepting the certificate of {} (SHA-256 {}) WITHOUT verification; anyone on the path can read and change this signaling",
                    server_name.to_str(),
                    fingerprint(end_entity)
                );
                Ok(ServerCertVerified::assertion())
            }
        };
        checked.inspect_err(|_| self.refused.remember(end_entity))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(false, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(true, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match &self.check {
            Check::WebPki(inner) => inner.supported_verify_schemes(),
            Check::Pinned(pin) => pin.supported_verify_schemes(),
            Check::Insecure(algorithms) => algorithms.supported_schemes(),
        }
    }
}

/// The pinned certificate's key, in the form its signatures are checked with.
#[derive(Debug)]
enum PinnedKey {
    Rsa(rsa::RsaPublicKey),
    /// Any other key type: checked by rustls from the SubjectPublicKeyInfo.
    Other(SubjectPublicKeyInfoDer<'static>),
}

/// One trusted certificate, whose key checks handshake signatures.
#[derive(Debug)]
pub(super) struct Pin {
    pinned: CertificateDer<'static>,
    key: PinnedKey,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Pin {
    fn new(
        pinned: CertificateDer<'static>,
        path: &Path,
        algorithms: WebPkiSupportedAlgorithms,
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
        })
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

impl Pin {
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

#[cfg(test)]
mod tests;
