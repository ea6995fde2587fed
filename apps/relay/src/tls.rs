//! TLS terminated by the relay itself, so a small organisation needs no
//! reverse proxy: `tls_cert` and `tls_key` in the configuration (PEM files:
//! the certificate chain, leaf first, and its private key), reloaded on
//! SIGHUP and by [`crate::RelayHandle::reload_tls`] (a renewed certificate
//! takes effect for new connections; a file that does not load leaves the
//! previous certificate in use, and the error is logged and returned).
//!
//! The listener accepts TCP connections on one task and runs each TLS
//! handshake on its own task (at most [`MAX_HANDSHAKES`] at once, each
//! limited to [`HANDSHAKE_TIMEOUT`]), so a client that stalls mid-handshake
//! delays nobody else. Behind a reverse proxy, leave both settings unset.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

/// Most TLS handshakes in progress at once.
pub const MAX_HANDSHAKES: usize = 1024;
/// Longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors loading the certificate or key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file holds no usable certificate.
    #[error("tls_cert {path}: {reason}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file holds no usable private key.
    #[error("tls_key {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key does not fit the certificate, or rustls refused them.
    #[error("tls_cert {cert} and tls_key {key} do not make a usable pair: {reason}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The certificate in use, swapped on reload.
#[derive(Debug)]
pub(crate) struct TlsState {
    cert: PathBuf,
    key: PathBuf,
    config: RwLock<Arc<ServerConfig>>,
}

impl TlsState {
    /// Loads the pair for the first time.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        Ok(Arc::new(TlsState {
            cert: cert.to_owned(),
            key: key.to_owned(),
            config: RwLock::new(server_config(cert, key)?),
        }))
    }

    /// Reads the files again; on failure the previous pair stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = server_config(&self.cert, &self.key)?;
        if let Ok(mut c) = self.config.write() {
            *c = fresh;
        }
        tracing::info!(cert = %self.cert.display(), "reloaded the TLS certificate");
        Ok(())
    }

    fn current(&self) -> Option<Arc<ServerConfig>> {
        self.config.read().ok().map(|c| c.clone())
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: cert.to_owned(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM CERTIFICATE block".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pair = |reason: String| TlsError::Pair {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| pair(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| pair(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A connection's stream: plain TCP, or TLS over it.
pub(crate) type Stream = Either<TcpStream, TlsStream<TcpStream>>;

/// The relay's listener for axum: plain TCP, or TLS with handshakes off the
/// accept loop.
#[derive(Debug)]
pub(crate) enum RelayListener {
    Plain(TcpListener),
    Tls {
        local: SocketAddr,
        ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    },
}

impl RelayListener {
    /// Serves TLS on `tcp` with the certificate in `state`, until `cancel`.
    pub fn tls(tcp: TcpListener, state: Arc<TlsState>, cancel: CancellationToken) -> Self {
        let local = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, state, tx, cancel));
        RelayListener::Tls { local, ready }
    }
}

async fn accept_loop(
    tcp: TcpListener,
    state: Arc<TlsState>,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = tcp.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, as axum does.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many TLS handshakes in progress; dropping a connection");
            continue;
        };
        let Some(config) = state.current() else {
            continue;
        };
        let ready = ready.clone();
        tokio::spawn(async move {
            let _ = socket.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
            drop(permit);
        });
    }
}

impl axum::serve::Listener for RelayListener {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self {
            RelayListener::Plain(tcp) => loop {
                match TcpListener::accept(tcp).await {
                    Ok((s, peer)) => {
                        if let Err(e) = s.set_nodelay(true) {
                            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
                        }
                        return (Either::Left(s), peer);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            },
            RelayListener::Tls { ready, .. } => match ready.recv().await {
                Some((s, peer)) => (Either::Right(s), peer),
                // The accept loop stopped (shutdown): accept nothing more.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            RelayListener::Plain(tcp) => tcp.local_addr(),
            RelayListener::Tls { local, .. } => Ok(*local),
        }
    }
}

/// The peer's address, for the connection's log span.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, RelayListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, RelayListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}
