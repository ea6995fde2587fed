//! TLS to relays: which certificate authorities this device trusts, and
//! what a failed handshake meant.
//!
//! A `wss://` relay is trusted when its certificate chains to one of:
//!
//! - the Mozilla root set built into Starling (`webpki-roots`), so a fresh
//!   machine without a CA bundle still reaches public relays;
//! - the platform's roots, or, when `SSL_CERT_FILE` or `SSL_CERT_DIR` is
//!   set, the certificates there instead (the convention OpenSSL and most
//!   tools follow), read by `rustls-native-certs`;
//! - certificate authorities added to this device's store
//!   ([`crate::Client::trust_ca`]), for an organisation that runs its own.
//!
//! rustls runs on the `ring` provider; the connector is built per sync.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite;

/// What went wrong with a relay's TLS, for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsProblem {
    /// The certificate chains to no authority this device trusts.
    #[error("its certificate is signed by an authority this device does not trust")]
    UnknownIssuer,
    /// The certificate is for other names.
    #[error("its certificate is for another name")]
    WrongName,
    /// The certificate has expired.
    #[error("its certificate has expired")]
    Expired,
    /// The certificate is not valid yet (or this device's clock is wrong).
    #[error("its certificate is not valid yet (check this device's clock)")]
    NotYetValid,
    /// The certificate was revoked.
    #[error("its certificate was revoked")]
    Revoked,
    /// The certificate is malformed or unusable.
    #[error("its certificate is invalid ({0})")]
    BadCertificate(String),
    /// The server does not speak TLS on that port.
    #[error("it does not speak TLS on that port")]
    NotTls,
    /// The handshake failed for another reason.
    #[error("the TLS handshake failed ({0})")]
    Handshake(String),
    /// The trusted authorities could not be loaded.
    #[error("cannot load trusted certificate authorities: {0}")]
    Roots(String),
}

/// The certificates of a PEM file's `CERTIFICATE` blocks, each checked to
/// parse as a trust anchor; or, for a file with no PEM block at all, the
/// file itself as one binary (DER) certificate, as `.cer` files often are.
pub fn parse_pem_certs(pem: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    // DER starts with a SEQUENCE tag; PEM is text.
    if pem.first() == Some(&0x30) {
        let cert = CertificateDer::from(pem.to_vec());
        if RootCertStore::empty().add(cert).is_ok() {
            return Ok(vec![pem.to_vec()]);
        }
    }
    let mut out = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate file: {e}"))?;
        RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| format!("a certificate in it does not parse: {e}"))?;
        out.push(cert.to_vec());
    }
    if out.is_empty() {
        return Err(
            "it is not a certificate (no PEM `CERTIFICATE` block, and not a binary certificate)"
                .into(),
        );
    }
    Ok(out)
}

/// The rustls client configuration for syncing: the roots described in the
/// module docs plus `extra` (DER certificates from the device's store).
pub(crate) fn client_config(extra: &[Vec<u8>]) -> Result<Arc<ClientConfig>, TlsProblem> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let native = rustls_native_certs::load_native_certs();
    let env_set = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if env_set && let Some(e) = native.errors.first() {
        // The person asked for these certificates: say when they can't be read.
        return Err(TlsProblem::Roots(e.to_string()));
    }
    roots.add_parsable_certificates(native.certs);
    roots.add_parsable_certificates(extra.iter().map(|c| CertificateDer::from(c.clone())));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsProblem::Handshake(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS problem behind a failed connection, if TLS is what failed.
pub(crate) fn problem(err: &(dyn std::error::Error + 'static)) -> Option<TlsProblem> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(from_rustls(r));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(from_rustls(r));
        }
        if let Some(tungstenite::Error::Io(io)) = e.downcast_ref::<tungstenite::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(from_rustls(r));
        }
        cur = e.source();
    }
    None
}

/// Whether a plain (`ws://`) connection failed because the answer was not
/// HTTP at all, as when the relay speaks TLS on that port.
pub(crate) fn not_http(err: &tungstenite::Error) -> bool {
    use tungstenite::error::ProtocolError;
    matches!(
        err,
        tungstenite::Error::Protocol(ProtocolError::HttparseError(_))
            | tungstenite::Error::HttpFormat(_)
    )
}

fn from_rustls(e: &rustls::Error) -> TlsProblem {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsProblem::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsProblem::WrongName
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsProblem::NotYetValid
            }
            CertificateError::Revoked => TlsProblem::Revoked,
            other => TlsProblem::BadCertificate(format!("{other:?}")),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            TlsProblem::NotTls
        }
        other => TlsProblem::Handshake(other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_with_its_reason() {
        assert!(parse_pem_certs(b"").unwrap_err().contains("no PEM"));
        assert!(parse_pem_certs(b"hello").unwrap_err().contains("no PEM"));
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(
            parse_pem_certs(junk)
                .unwrap_err()
                .contains("does not parse")
        );
        assert!(parse_pem_certs(&[0x30, 0x03, 1, 2, 3]).is_err());
    }

    #[test]
    fn a_binary_certificate_is_read_as_one_and_its_pem_form_as_the_same() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let der = ca.der().to_vec();
        assert_eq!(parse_pem_certs(&der).unwrap(), vec![der.clone()]);
        assert_eq!(parse_pem_certs(ca.pem().as_bytes()).unwrap(), vec![der]);
    }
}
