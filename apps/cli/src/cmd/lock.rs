//! `lock` and `unlock --remove`: the device store encrypted at rest under a
//! passphrase, and back.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Result, bail};
use starling_app::client::locked;
use zeroize::Zeroizing;

use crate::cmd::print_json;

/// Arguments of `lock`.
#[derive(Debug, clap::Args)]
pub struct Lock {}

/// Arguments of `unlock`.
#[derive(Debug, clap::Args)]
pub struct Unlock {
    /// Remove the lock for good: the store is written out unencrypted again.
    #[arg(long, required = true)]
    pub remove: bool,
}

/// Asks on the terminal, without echo.
fn ask(prompt: &str) -> Result<Zeroizing<String>> {
    Ok(Zeroizing::new(rpassword::prompt_password(prompt)?))
}

/// The passphrase from `STARLING_PASSPHRASE`, else asked (twice when it is
/// a new one).
fn passphrase(new: bool) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(locked::PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(crate::ctx::invalid(format!(
            "no terminal to ask for the passphrase on: set {}",
            locked::PASSPHRASE_ENV
        )));
    }
    if !new {
        return ask("Passphrase for this device's store: ");
    }
    let first = ask("New passphrase for this device's store: ")?;
    let again = ask("The same passphrase again: ")?;
    if first != again {
        bail!("the two passphrases differ; nothing was changed");
    }
    Ok(first)
}

/// Asks for the store's passphrase when it is locked and this process has
/// none yet (a terminal only: scripts set `STARLING_PASSPHRASE`).
pub fn ask_if_locked(home: &Path) -> Result<()> {
    let path = home.join(starling_app::client::STORE_FILE);
    if locked::is_locked(&path) && locked::passphrase().is_none() && std::io::stdin().is_terminal()
    {
        locked::set_passphrase(ask("Passphrase for this device's store: ")?);
    }
    Ok(())
}

pub fn lock(home: &Path, json: bool, out: &mut impl Write) -> Result<()> {
    let path = home.join(starling_app::client::STORE_FILE);
    if !path.exists() {
        bail!(
            "there is no store in {} yet: run `starling init --name NAME` first",
            home.display()
        );
    }
    if locked::is_locked(&path) {
        return Err(starling_app::client::ClientError::AlreadyLocked.into());
    }
    let p = passphrase(true)?;
    locked::lock(&path, &p)?;
    if json {
        return print_json(out, &serde_json::json!({ "locked": true }));
    }
    writeln!(
        out,
        "This device's store is locked: its keys and journals are encrypted on disk.\n\
         Every command (and `starling ui`) now asks for the passphrase; scripts set {}.\n\
         Nobody can open the store without it, Starling included: keep it safe.",
        locked::PASSPHRASE_ENV
    )?;
    Ok(())
}

pub fn unlock(home: &Path, _args: Unlock, json: bool, out: &mut impl Write) -> Result<()> {
    let path = home.join(starling_app::client::STORE_FILE);
    if !locked::is_locked(&path) {
        return Err(starling_app::client::ClientError::NotLocked.into());
    }
    let p = passphrase(false)?;
    locked::unlock(&path, &p)?;
    if json {
        return print_json(out, &serde_json::json!({ "locked": false }));
    }
    writeln!(
        out,
        "This device's store is no longer locked: it is protected by file permissions only."
    )?;
    Ok(())
}
