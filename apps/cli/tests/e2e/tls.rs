//! Reaching a relay over TLS, by name (`wss://localhost:PORT`), with a
//! certificate authority made in the test: once with the relay's built-in
//! TLS, once through a TLS-terminating proxy in front of a plain relay.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tempfile::TempDir;

use crate::util::Person;

/// A test certificate authority and a certificate for `localhost` it signed.
pub(crate) struct TestCa {
    pub(crate) ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

pub(crate) fn make_ca(dir: &Path) -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Starling test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let paths = TestCa {
        ca: dir.join("ca.pem"),
        cert: dir.join("relay-cert.pem"),
        key: dir.join("relay-key.pem"),
    };
    std::fs::write(&paths.ca, ca.pem()).unwrap();
    std::fs::write(&paths.cert, leaf.pem()).unwrap();
    std::fs::write(&paths.key, leaf_key.serialize_pem()).unwrap();
    paths
}

/// A relay in its own runtime; `tls` makes it terminate TLS itself.
struct Served {
    runtime: tokio::runtime::Runtime,
    relay: Option<starling_relay::RelayHandle>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(r) = self.relay.take() {
            self.runtime.block_on(r.shutdown());
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A relay whose clients sign `origin(port)`, where `port` is the port the
/// relay listens on.
fn serve(root: &Path, tls: Option<&TestCa>, origin: impl FnOnce(u16) -> String) -> (Served, u16) {
    let runtime = runtime();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = starling_relay::RelayConfig::for_data_dir(root.join("relay"));
    config.origin = Some(origin(port));
    if let Some(ca) = tls {
        config.tls_cert = Some(ca.cert.clone());
        config.tls_key = Some(ca.key.clone());
    }
    let relay = runtime
        .block_on(starling_relay::start_on(config, listener))
        .unwrap();
    (
        Served {
            runtime,
            relay: Some(relay),
        },
        port,
    )
}

/// Sam creates a journal on `relay` (trusting the CA through
/// `SSL_CERT_FILE`), Alex joins (trusting it with `relays trust-ca`), and a
/// score travels from one to the other.
fn story(root: &TempDir, relay: &str, ca: &TestCa) {
    let sam = Person::new(root, "Sam");
    let alex = Person::new(root, "Alex");
    sam.ok(&["new", "--relay", relay]);
    sam.ok(&["reading", "new", "--date", "2026-11-23"]);

    // Not trusted yet: one clear line that names the host, the problem and
    // what to do; exit code 5.
    let (code, err) = sam.fails(&["sync", "--timeout", "10"]);
    assert_eq!(code, 5, "{err}");
    let line = err.trim();
    assert_eq!(line.lines().count(), 1, "one line: {err}");
    assert!(line.contains("localhost"), "{err}");
    assert!(line.contains("does not trust"), "{err}");
    assert!(line.contains("starling relays trust-ca"), "{err}");
    // A refused connection pins nothing.
    assert_eq!(sam.json(&["relays"])["relays"], serde_json::json!([]));

    let with_ca = |p: &Person, args: &[&str]| {
        let out = p.cmd(args).env("SSL_CERT_FILE", &ca.ca).output().unwrap();
        assert!(
            out.status.success(),
            "starling {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    with_ca(&sam, &["sync"]);
    let link: serde_json::Value = serde_json::from_str(&with_ca(
        &sam,
        &["--json", "share", "--as", "worker", "--name", "Alex"],
    ))
    .unwrap();
    let link = link["link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("starling://invite/{relay}/")),
        "the link keeps the scheme: {link}"
    );
    with_ca(&sam, &["sync"]);

    // Alex trusts the CA on their device instead.
    alex.ok(&["relays", "trust-ca", ca.ca.to_str().unwrap()]);
    alex.ok(&["join", &link]);
    with_ca(&sam, &["sync"]);
    alex.ok(&["score", "work", "7", "--as", "worker"]);
    alex.ok(&["sync"]);
    with_ca(&sam, &["sync"]);
    let star: serde_json::Value =
        serde_json::from_str(&with_ca(&sam, &["--json", "show"])).unwrap();
    assert_eq!(star["readings"][0]["areas"][4]["worker"]["value"], 7);
    // The relay's key was pinned under the address as written.
    let pins = alex.json(&["relays"]);
    assert_eq!(pins["relays"][0]["relay"], relay);
}

#[test]
fn a_client_syncs_with_a_relay_that_terminates_tls_itself() {
    let root = tempfile::tempdir().unwrap();
    let ca = make_ca(root.path());
    let (_relay, port) = serve(root.path(), Some(&ca), |p| format!("wss://localhost:{p}"));
    story(&root, &format!("wss://localhost:{port}"), &ca);
}

#[test]
fn a_plain_address_for_a_tls_relay_is_told_to_say_wss() {
    let root = tempfile::tempdir().unwrap();
    let ca = make_ca(root.path());
    let (_relay, port) = serve(root.path(), Some(&ca), |p| format!("wss://localhost:{p}"));
    let sam = Person::new(&root, "Sam");
    // Without a scheme a loopback host is plain ws://.
    sam.ok(&["new", "--relay", &format!("localhost:{port}")]);
    let (code, err) = sam.fails(&["sync", "--timeout", "10"]);
    assert_ne!(code, 0);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("address it as wss://localhost:{port}")),
        "{err}"
    );
}

#[test]
fn a_client_syncs_through_a_tls_terminating_proxy() {
    let root = tempfile::tempdir().unwrap();
    let ca = make_ca(root.path());
    // The proxy's port is the one clients use, so pick it first.
    let proxy_rt = runtime();
    let front = proxy_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let front_port = front.local_addr().unwrap().port();
    let (_relay, back_port) = serve(root.path(), None, |_| {
        format!("wss://localhost:{front_port}")
    });
    proxy_rt.spawn(proxy(front, back_port, server_config(&ca)));
    story(&root, &format!("wss://localhost:{front_port}"), &ca);
}

fn server_config(ca: &TestCa) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(&ca.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&ca.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// A TLS-terminating reverse proxy: TLS in front, plain TCP to the relay.
async fn proxy(front: tokio::net::TcpListener, back: u16, config: Arc<rustls::ServerConfig>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((socket, _)) = front.accept().await else {
            return;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(socket).await else {
                return;
            };
            let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", back)).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}
