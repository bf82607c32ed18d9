//! The certificate verifiers behind the trust modes.

use super::{RefusedCertificate, TrustError, fingerprint};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// Normal WebPKI verification that remembers a refused certificate.
#[derive(Debug)]
pub(super) struct RecordingVerifier {
    pub(super) inner: Arc<rustls::client::WebPkiServerVerifier>,
    pub(super) refused: RefusedCertificate,
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
pub(super) struct PinnedVerifier {
    pinned: CertificateDer<'static>,
    key: PinnedKey,
    algorithms: WebPkiSupportedAlgorithms,
    refused: RefusedCertificate,
}

impl PinnedVerifier {
    pub(super) fn new(
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
pub(super) struct InsecureVerifier {
    pub(super) algorithms: WebPkiSupportedAlgorithms,
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
mod tests;
