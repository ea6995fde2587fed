//! The relay terminating TLS itself: serving `wss://`, reloading its
//! certificate on SIGHUP, keeping the old one when the new files are bad.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use starling_relay::RelayConfig;
use tokio_tungstenite::Connector;

use crate::util::*;

/// A certificate authority; `leaf` writes a certificate for `localhost`
/// signed by it.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn leaf(&self, cert: &Path, key: &Path) {
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &self.cert, &self.key)
            .unwrap();
        std::fs::write(cert, leaf.pem()).unwrap();
        std::fs::write(key, leaf_key.serialize_pem()).unwrap();
    }

    fn trusting(&self) -> Connector {
        let der = CertificateDer::from_pem_slice(self.cert.pem().as_bytes()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        Connector::Rustls(Arc::new(config))
    }
}

/// Whether a websocket over TLS to `port`, trusting `ca`, opens.
async fn opens(port: u16, ca: &Ca) -> bool {
    let url = format!("wss://localhost:{port}/v1/sync");
    tokio_tungstenite::connect_async_tls_with_config(url, None, true, Some(ca.trusting()))
        .await
        .is_ok()
}

fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

#[tokio::test]
async fn the_relay_serves_wss_and_reloads_its_certificate_on_sighup() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = paths(certs.path());
    let (first, second) = (Ca::new("first CA"), Ca::new("second CA"));
    first.leaf(&cert, &key);
    let (_dir, relay) = start_relay_with(|c: &mut RelayConfig| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await;
    let port = relay.local_addr().port();
    assert!(relay.url().starts_with("wss://"));
    assert!(
        opens(port, &first).await,
        "served with the first certificate"
    );
    assert!(!opens(port, &second).await);
    // A plain websocket to a TLS port does not open.
    assert!(
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/v1/sync"))
            .await
            .is_err()
    );

    // Renewed files, then SIGHUP, as `systemctl reload` does.
    second.leaf(&cert, &key);
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + WAIT;
    while !opens(port, &second).await {
        assert!(tokio::time::Instant::now() < deadline, "not reloaded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!opens(port, &first).await, "the old certificate is gone");

    // A broken file on reload: an error, and the current certificate stays.
    std::fs::write(&cert, "not a certificate").unwrap();
    let err = relay.reload_tls().unwrap_err().to_string();
    assert!(err.contains("cert.pem"), "{err}");
    assert!(opens(port, &second).await, "still served");
    relay.shutdown().await;
}

#[tokio::test]
async fn a_relay_whose_certificate_does_not_load_does_not_start() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = paths(certs.path());
    Ca::new("a CA").leaf(&cert, &key);
    std::fs::write(&key, "").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = RelayConfig::for_data_dir(dir.path());
    c.tls_cert = Some(cert);
    c.tls_key = Some(key);
    let err = starling_relay::start(c).await.unwrap_err().to_string();
    assert!(err.contains("tls_key") && err.contains("key.pem"), "{err}");

    let mut half = RelayConfig::for_data_dir(dir.path());
    half.tls_cert = Some(certs.path().join("cert.pem"));
    assert!(
        starling_relay::start(half)
            .await
            .unwrap_err()
            .to_string()
            .contains("both")
    );
}
