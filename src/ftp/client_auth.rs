//! TLS client certificates on FTPS connections (RFC 4217 §10.2 leaves client authentication to
//! TLS): the rustls verifier that asks for a certificate and checks that the client holds its
//! key, without deciding whether to trust it.
//!
//! Trust is a per-user pin in the users file (`auth::client_certificate`), so the verifier
//! accepts any well-formed chain and never consults a CA: a certificate only proves which key
//! the client holds, through the handshake signature checked here. Which user (if any) that
//! key logs in is decided later, at `USER`, by `auth::Authenticator`.
//!
//! A certificate is requested, never required: clients without one send an empty certificate
//! message and log in with a password as before. It is requested only while some enabled user
//! logs in with certificates, so servers that do not use the feature never ask and clients that
//! would prompt their user when asked are not disturbed. The answer is re-read at every
//! handshake, so a users-file reload switches it without reloading the TLS configuration.

use std::fmt;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::auth::Authenticator;

/// Asks FTPS clients for a certificate while some user logs in with one; verifies possession.
pub struct PinnedClientCertificates {
    auth: Authenticator,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientCertificates {
    /// A verifier using `provider`'s signature algorithms; `auth` tells whether to ask at all.
    pub fn new(auth: Authenticator, provider: &CryptoProvider) -> PinnedClientCertificates {
        PinnedClientCertificates {
            auth,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl fmt::Debug for PinnedClientCertificates {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PinnedClientCertificates")
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for PinnedClientCertificates {
    fn offer_client_auth(&self) -> bool {
        self.auth.has_user_with_client_certificate()
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No hints: any certificate may be pinned, so a client should offer the one it has.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    /// Only well-formedness: every certificate of the chain must parse as X.509. Issuer,
    /// names and dates are deliberately not checked (see the module doc).
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        for certificate in std::iter::once(end_entity).chain(intermediates) {
            ParsedCertificate::try_from(certificate)?;
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
