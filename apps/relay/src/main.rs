//! `starling-relay`: parses flags and configuration, sets up logging, runs
//! the library, waits for a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use starling_relay::{Registration, RelayConfig};

/// The Starling relay: stores and forwards end-to-end encrypted journal
/// updates between devices. It never sees their content.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (every field optional; see relay.sample.toml).
    /// Also read from STARLING_RELAY_CONFIG.
    #[arg(long, short, global = true, env = "STARLING_RELAY_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:7878.
    #[arg(long, global = true)]
    listen: Option<std::net::SocketAddr>,
    /// Directory for the database and the relay key.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The origin clients sign, e.g. wss://relay.example.org.
    #[arg(long, global = true)]
    origin: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve clients (the default).
    Serve,
    /// Check the configuration (and allow-list) and print it as TOML.
    CheckConfig,
    /// Write a consistent copy of the database to PATH while the relay runs.
    Backup {
        /// Where to write the copy (must not exist).
        path: PathBuf,
    },
    /// Erase a document from the database, the relay stopped: every row of
    /// it, keeping a tombstone that refuses it from then on. For a document
    /// deleted after the backup you restored (its id is in the log line
    /// "document deleted"). Members' devices keep their own copies.
    Erase {
        /// The document id (32 hex digits).
        doc: String,
    },
    /// Copy this relay's SQLite database (`relay.db` in the data
    /// directory) into the empty PostgreSQL database at `database_url`,
    /// with the relay stopped. Then start the relay with `database_url`
    /// set: same documents, same key, and clients notice nothing.
    Migrate,
}

fn config(cli: &Cli) -> anyhow::Result<RelayConfig> {
    let mut c = match &cli.config {
        Some(p) => RelayConfig::from_file(p)?,
        None => RelayConfig::default(),
    };
    c.apply_env(std::env::vars())?;
    if let Some(l) = cli.listen {
        c.listen = l;
    }
    if let Some(d) = &cli.data_dir {
        c.data_dir = d.clone();
    }
    if let Some(o) = &cli.origin {
        c.origin = Some(o.clone());
    }
    c.validate()?;
    Ok(c)
}

fn init_logging(format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("STARLING_RELAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Websocket and HTTP internals may trace frame bytes (ciphertext) at
    // debug and trace levels: cap them whatever the operator asks for.
    for quiet in [
        "tungstenite=info",
        "tokio_tungstenite=info",
        "hyper=info",
        "axum=info",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    // Colours only on a terminal: a log file or journald gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
    }
}

async fn serve(
    config: RelayConfig,
    reload: impl Fn() -> anyhow::Result<RelayConfig>,
) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let relay = starling_relay::start(config).await?;
    // SIGHUP reads the configuration again: the TLS certificate (the
    // library reloads it) and the database's size limit.
    // The signals are listened for once, before serving: a listener made
    // afresh after each reload would miss a SIGTERM sent during the reload.
    #[cfg(unix)]
    let (mut hup, mut term, mut interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::hangup()).context("listening for SIGHUP")?,
            signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        )
    };
    println!(
        "starling-relay listening on {}\n  origin clients sign: {}\n  relay id: {}\n  data: {}",
        relay.url(),
        relay.origin(),
        relay.relay_id(),
        data_dir.display()
    );
    #[cfg(unix)]
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            _ = hup.recv() => match reload() {
                Ok(c) => match relay.set_max_db_bytes(c.max_db_bytes) {
                    Ok(()) => tracing::info!(max_db_bytes = ?c.max_db_bytes, "configuration reloaded"),
                    Err(e) => tracing::error!(error = %e, "cannot apply the reloaded configuration"),
                },
                Err(e) => tracing::error!(error = format!("{e:#}"), "configuration not reloaded; the previous one stays"),
            },
        }
    }
    #[cfg(not(unix))]
    {
        let _ = &reload;
        let _ = tokio::signal::ctrl_c().await;
    }
    relay.shutdown().await;
    Ok(())
}

fn check(config: &RelayConfig) -> anyhow::Result<()> {
    if config.registration == Registration::Allowlist {
        let path = config.allowlist_path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading allow-list {}", path.display()))?;
        let set = starling_relay::parse_allowlist(&text)?;
        eprintln!("allow-list {}: {} devices", path.display(), set.len());
    }
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        starling_relay::check_tls(cert, key)?;
        eprintln!(
            "TLS certificate {} and key {}: ok",
            cert.display(),
            key.display()
        );
    }
    print!(
        "{}",
        toml::to_string(config).context("printing the configuration")?
    );
    eprintln!("configuration ok");
    Ok(())
}

fn run(mut cli: Cli) -> anyhow::Result<()> {
    let config = config(&cli)?;
    match cli.command.take().unwrap_or(Command::Serve) {
        Command::CheckConfig => check(&config),
        Command::Backup { .. } if config.database_url.is_some() => anyhow::bail!(
            "this relay keeps its data in PostgreSQL: back it up with PostgreSQL's own tools \
             (pg_dump, or base backups with WAL archiving); see docs/self-hosting.md"
        ),
        Command::Backup { path } => {
            starling_relay::backup(&config.db_path(), &path)
                .with_context(|| format!("backing up {}", config.db_path().display()))?;
            println!(
                "backed up {} to {}",
                config.db_path().display(),
                path.display()
            );
            Ok(())
        }
        Command::Erase { doc } => {
            let id: starling_protocol::DocId = doc
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("`{doc}` is not a document id (32 hex digits)"))?;
            if let Some(url) = &config.database_url {
                if starling_relay::erase_offline_postgres(url, id)? {
                    println!("Erased {id}; a tombstone refuses it from now on.");
                } else {
                    println!("The database holds nothing of {id}: it was already erased.");
                }
                return Ok(());
            }
            let db = config.db_path();
            if starling_relay::erase_offline(&db, id)? {
                println!(
                    "Erased {id} from {}; a tombstone refuses it from now on.",
                    db.display()
                );
            } else {
                println!(
                    "{} holds nothing of {id}: it was already erased.",
                    db.display()
                );
            }
            Ok(())
        }
        Command::Migrate => {
            let Some(url) = &config.database_url else {
                anyhow::bail!(
                    "set database_url (or STARLING_RELAY_DATABASE_URL) to the PostgreSQL \
                     database to migrate into"
                );
            };
            let db = config.db_path();
            let done = starling_relay::migrate_to_postgres(&db, url)
                .with_context(|| format!("migrating {}", db.display()))?;
            println!(
                "Copied {} membership ops, {} envelopes, {} tombstones and {} access log rows \
                 from {} into PostgreSQL. Start the relay with database_url set; keep {} as \
                 it was until you are sure.",
                done.ops,
                done.envelopes,
                done.tombstones,
                done.access,
                db.display(),
                db.display()
            );
            Ok(())
        }
        Command::Serve => {
            init_logging(cli.log_format);
            let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
            rt.block_on(serve(config, || self::config(&cli)))
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once: many messages already carry their source's.
            let mut said = String::new();
            for cause in e.chain().map(ToString::to_string) {
                if !said.contains(&cause) {
                    if !said.is_empty() {
                        said.push_str(": ");
                    }
                    said.push_str(&cause);
                }
            }
            eprintln!("starling-relay: {said}");
            ExitCode::FAILURE
        }
    }
}
