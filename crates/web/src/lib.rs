//! # starling-web
//!
//! `starling ui`: the journal in a browser, served by the device's own
//! process. Keys and data stay in the device's store; the relay still sees
//! only ciphertext. Every action goes through `starling-app`, as the CLI's
//! do.
//!
//! - [`serve`] binds 127.0.0.1 on a free port and returns the URL to open,
//!   which carries a secret made for this launch ([`security`]).
//! - Screens are server-rendered HTML (maud) with a strict
//!   Content-Security-Policy, forms that post back and redirect, and one
//!   small script for live updates; every asset is built into the binary.
//! - Words come from one message catalogue ([`i18n`], Fluent).
//! - A live sync runs in this process ([`live`]) and tells open pages when
//!   another device's change arrives.
//!
//! ## Where IO happens
//!
//! The listening socket and the live sync (network); the device's store
//! (SQLite, on blocking threads, one handle shared by the request
//! handlers and one for the live sync).

#![deny(missing_docs)]

mod assets;
pub mod i18n;
pub mod live;
mod pages;
mod routes;
pub mod security;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use starling_app::App;
use tokio::sync::watch;

pub use i18n::Catalogue;

/// How to serve.
#[derive(Clone, Debug)]
pub struct UiOptions {
    /// Language of the words: `en`, or `en-XA` to check translations.
    pub lang: String,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Run the live sync (tests of single screens turn it off).
    pub live_sync: bool,
    /// Where "Your data" saves a copy of everything (default: the
    /// Downloads folder, else the home folder).
    pub export_dir: Option<PathBuf>,
}

impl Default for UiOptions {
    fn default() -> Self {
        UiOptions {
            lang: "en".into(),
            port: 0,
            live_sync: true,
            export_dir: None,
        }
    }
}

/// Errors starting the UI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// The home could not be opened.
    #[error(transparent)]
    App(#[from] starling_app::AppError),
    /// The message catalogue.
    #[error(transparent)]
    Catalogue(#[from] i18n::CatalogueError),
    /// The listening socket.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
}

/// Shared by every request handler.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub app: Arc<Mutex<App>>,
    pub tr: Arc<Catalogue>,
    pub secrets: Arc<security::Secrets>,
    pub live: live::Live,
    /// Turns true when the server stops (open event streams end then).
    pub stop: watch::Receiver<bool>,
    /// Stops the server: the person chose "Stop Starling".
    pub quit: Arc<watch::Sender<bool>>,
    /// Where "Your data" saves copies.
    pub export_dir: Arc<PathBuf>,
}

/// A running UI.
#[derive(Debug)]
pub struct UiServer {
    addr: SocketAddr,
    token: String,
    stop: Arc<watch::Sender<bool>>,
    stopped: watch::Receiver<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl UiServer {
    /// The URL to open: it carries this launch's secret. Hand it to nobody.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token)
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns when the server was asked to stop from its own page ("Stop
    /// Starling"), or by [`UiServer::shutdown`].
    pub async fn stopped(&self) {
        let mut rx = self.stopped.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Stops serving and syncing.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

/// Serves the UI for the home at `home` until [`UiServer::shutdown`].
pub async fn serve(home: &Path, options: UiOptions) -> Result<UiServer, UiError> {
    let tr = Arc::new(Catalogue::load(&options.lang)?);
    let app = App::open(home)?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
        .await
        .map_err(UiError::Bind)?;
    let addr = listener.local_addr().map_err(UiError::Bind)?;
    let secrets = Arc::new(security::Secrets::new(addr.port()));
    let (stop, stop_rx) = watch::channel(false);
    let stop = Arc::new(stop);
    let live = if options.live_sync {
        live::start(PathBuf::from(home), tr.clone(), stop_rx.clone())
    } else {
        live::Live {
            events: tokio::sync::broadcast::channel(16).0,
            status: Default::default(),
            revision: Default::default(),
            links: Default::default(),
        }
    };
    let state = AppState {
        app: Arc::new(Mutex::new(app)),
        tr,
        secrets: secrets.clone(),
        live,
        stop: stop_rx.clone(),
        quit: stop.clone(),
        export_dir: Arc::new(options.export_dir.clone().unwrap_or_else(|| {
            directories::UserDirs::new()
                .and_then(|u| u.download_dir().map(PathBuf::from))
                .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_owned()))
                .unwrap_or_else(|| home.to_owned())
        })),
    };
    let router = routes::router(state);
    let mut stopped = stop_rx.clone();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "ui server failed");
        }
    });
    Ok(UiServer {
        addr,
        token: secrets.token.clone(),
        stop,
        stopped: stop_rx,
        server,
    })
}
