//! `ui`: the journal in the browser, served by this process.

use std::io::Write;

use anyhow::{Context, Result};
use starling_web::UiOptions;

use crate::ctx::Ctx;

/// Arguments of `ui`.
#[derive(Debug, clap::Args)]
pub struct Ui {
    /// Open the page in the default browser.
    #[arg(long)]
    pub open: bool,
    /// Port on 127.0.0.1 (default: a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Language of the page: en (or en-XA, to check translations).
    #[arg(long, env = "STARLING_LANG", default_value = "en")]
    pub lang: String,
}

pub fn ui(ctx: &Ctx, args: Ui, out: &mut impl Write) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let home = ctx.app.home().to_owned();
    runtime.block_on(async {
        let options = UiOptions {
            lang: args.lang,
            port: args.port,
            live_sync: true,
            export_dir: None,
        };
        let server = starling_web::serve(&home, options)
            .await
            .context("starting the page server")?;
        let url = server.url();
        if ctx.json {
            writeln!(out, "{}", serde_json::json!({ "url": url }))?;
        } else {
            writeln!(out, "Starling is open at:\n\n  {url}\n")?;
            writeln!(
                out,
                "The link holds a secret for this launch: keep it to yourself. Stop with Ctrl-C."
            )?;
        }
        out.flush()?;
        if args.open {
            open_browser(&url);
        }
        let _ = tokio::signal::ctrl_c().await;
        server.shutdown().await;
        anyhow::Ok(())
    })
}

/// Asks the desktop to open `url`; a failure is only a warning (the link
/// is printed).
fn open_browser(url: &str) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    // The browser gets no store passphrase from this process's environment.
    let opened = std::process::Command::new(program)
        .arg(url)
        .env_remove(starling_app::client::locked::PASSPHRASE_ENV)
        .spawn();
    if let Err(e) = opened {
        eprintln!("warning: could not open a browser ({e}); open the link above yourself");
    }
}
