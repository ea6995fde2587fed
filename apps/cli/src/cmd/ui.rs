//! `ui`: the journal in the browser, served by this process.
//!
//! While it runs, `<home>/ui.json` (owner-only, like the rest of the home)
//! holds its link, as Jupyter's runtime files do: a second `starling ui`
//! for the same home opens the running one instead of starting another
//! (whose live sync would only wait on the first). A launcher in the
//! desktop's menu (`--install-launcher`) runs `starling ui --open`, so a
//! person never needs a terminal; "Stop Starling" at the foot of every page
//! ends it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Add "Starling" to this desktop's applications menu (a freedesktop
    /// launcher, in $XDG_DATA_HOME/applications): it opens Starling in the
    /// browser without a terminal. Then exit.
    #[arg(long)]
    pub install_launcher: bool,
}

/// The running UI's link, kept in the home while it runs.
const RUNTIME_FILE: &str = "ui.json";

pub fn ui(ctx: &Ctx, args: Ui, out: &mut impl Write) -> Result<()> {
    let home = ctx.app.home().to_owned();
    if args.install_launcher {
        return install_launcher(ctx, &home, out);
    }
    // Already running for this home: that one, not a second.
    if args.port == 0
        && let Some(url) = running(&home)
    {
        say_url(ctx, &url, true, out)?;
        if args.open {
            open_browser(&url);
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
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
        let file = home.join(RUNTIME_FILE);
        write_owner_only(&file, &serde_json::json!({ "url": url }).to_string())
            .with_context(|| format!("writing {}", file.display()))?;
        say_url(ctx, &url, false, out)?;
        if args.open {
            open_browser(&url);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = server.stopped() => {
                if !ctx.json {
                    writeln!(out, "Stopped from the page (Stop Starling).")?;
                }
            }
        }
        // Only our own link: another launch may have replaced it.
        if running_url(&file).as_deref() == Some(url.as_str()) {
            let _ = std::fs::remove_file(&file);
        }
        server.shutdown().await;
        anyhow::Ok(())
    })
}

fn say_url(ctx: &Ctx, url: &str, already: bool, out: &mut impl Write) -> Result<()> {
    if ctx.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "url": url, "already_running": already })
        )?;
    } else if already {
        writeln!(
            out,
            "Starling is already open for this device at:\n\n  {url}\n"
        )?;
        writeln!(out, "The link holds a secret: keep it to yourself.")?;
    } else {
        writeln!(out, "Starling is open at:\n\n  {url}\n")?;
        writeln!(
            out,
            "The link holds a secret for this launch: keep it to yourself. Stop with Ctrl-C, \
             or with \"Stop Starling\" at the foot of any page."
        )?;
    }
    out.flush()?;
    Ok(())
}

fn running_url(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("url")?.as_str().map(str::to_owned)
}

/// The link of a `starling ui` already serving `home`: one whose runtime
/// file names a server on 127.0.0.1 that still takes its launch token.
fn running(home: &Path) -> Option<String> {
    let url = running_url(&home.join(RUNTIME_FILE))?;
    let rest = url.strip_prefix("http://127.0.0.1:")?;
    let (port, path) = rest.split_once('/')?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.parse::<u16>().ok()?));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request =
        format!("GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).ok()?;
    // The token traded for a session: a redirect. Anything else (another
    // program on the port, a stale token) is not ours.
    let line = String::from_utf8_lossy(&head[..n]);
    line.starts_with("HTTP/1.1 303").then_some(url)
}

fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

/// Writes the desktop launcher for `home`.
fn install_launcher(ctx: &Ctx, home: &Path, out: &mut impl Write) -> Result<()> {
    if !cfg!(all(unix, not(target_os = "macos"))) {
        return Err(crate::ctx::invalid(
            "a launcher can be installed on Linux desktops only for now; start Starling with \
             `starling ui --open`"
                .to_owned(),
        ));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| directories::BaseDirs::new().map(|b| b.data_dir().to_owned()))
        .context("cannot find this desktop's data folder: set XDG_DATA_HOME")?;
    let dir = data.join("applications");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe().context("finding this program")?;
    let file = dir.join("starling.desktop");
    let entry = desktop_entry(&exe, home);
    std::fs::write(&file, entry).with_context(|| format!("writing {}", file.display()))?;
    if ctx.json {
        return crate::cmd::print_json(out, &serde_json::json!({ "launcher": file }));
    }
    writeln!(
        out,
        "Added Starling to this desktop's applications ({}). It opens Starling in your browser; \
         \"Stop Starling\" at the foot of any page ends it.",
        file.display()
    )?;
    Ok(())
}

/// A freedesktop entry that runs `exe ui --open` for `home`.
fn desktop_entry(exe: &Path, home: &Path) -> String {
    // Exec's quoting: each argument in double quotes, with `"`, `` ` ``,
    // `$` and `\` escaped; a literal `%` doubled.
    let quote = |p: &Path| {
        let mut q = String::from("\"");
        for c in p.to_string_lossy().chars() {
            match c {
                '"' | '`' | '$' | '\\' => {
                    q.push('\\');
                    q.push(c);
                }
                '%' => q.push_str("%%"),
                _ => q.push(c),
            }
        }
        q.push('"');
        q
    };
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=Starling\n\
         Comment=Your recovery journals, on this device\n\
         Exec={} --home {} ui --open\n\
         Terminal=false\n\
         Categories=Office;\n",
        quote(exe),
        quote(home)
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launcher_quotes_paths_as_desktop_entries_require() {
        let e = desktop_entry(
            Path::new("/opt/my apps/starling"),
            Path::new("/home/sam/100%\"$x"),
        );
        assert!(
            e.contains(
                "Exec=\"/opt/my apps/starling\" --home \"/home/sam/100%%\\\"\\$x\" ui --open\n"
            ),
            "{e}"
        );
        assert!(e.contains("Terminal=false\n"));
    }
}
