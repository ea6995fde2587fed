//! The subcommands, one module each.

mod access;
mod devices;
mod erase;
mod identity;
pub(crate) mod journal;
mod lock;
mod plan;
mod reading;
mod relays;
mod sharing;
mod show;
pub(crate) mod sync;
mod transfer;
mod ui;

use std::io::Write;

use clap::Subcommand;

use crate::Cli;
use crate::ctx::Ctx;
pub(crate) use lock::ask_if_locked;

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create this device's identity (a key pair that never leaves it).
    ///
    /// Example: starling init --name "Sam"
    Init(identity::Init),
    /// Show this device's identity.
    Whoami,
    /// Start a new journal that you own (you are its client).
    ///
    /// Example: starling new --client-name "Sam"
    New(journal::New),
    /// List every journal on this device, with last sync and open conflicts.
    List,
    /// Readings: dated assessments of every area.
    #[command(subcommand)]
    Reading(reading::ReadingCmd),
    /// Score one area of a reading, from one perspective.
    ///
    /// Examples:
    ///   starling score work 6                    # your own perspective, latest reading
    ///   starling score work 5 --as agreed --note "Volunteering twice a week"
    ///   starling score self_care 4 --reading 2026-11-23
    #[command(verbatim_doc_comment)]
    Score(reading::Score),
    /// Sign off a reading with this device's key (client and worker both do).
    SignOff(reading::SignOff),
    /// Goals of the action plan.
    #[command(subcommand)]
    Goal(plan::GoalCmd),
    /// Steps towards a goal.
    #[command(subcommand)]
    Step(plan::StepCmd),
    /// Dated journal notes: write one, or read them.
    #[command(subcommand)]
    Note(plan::NoteCmd),
    /// Show the star: every area, the latest readings side by side, gaps,
    /// conflicts and sign-off.
    Show(show::Show),
    /// Draw the star chart as SVG.
    ///
    /// Example: starling chart --out star.svg
    Chart(show::Chart),
    /// Who changed what, and when.
    History(show::History),
    /// Distance travelled per area; `--caseload` covers every journal here.
    Report(show::Report),
    /// List open conflicts: values two devices set differently at once.
    Conflicts(show::Conflicts),
    /// Settle a conflict by writing the value you agreed on.
    ///
    /// Example: starling resolve reading/3f2a…/score/work/agreed 6
    Resolve(show::Resolve),
    /// Invite someone: prints a single-use link (and a QR code).
    ///
    /// Example: starling share --as worker --name "Alex" --expires 7d
    Share(sharing::Share),
    /// Join a journal from an invite link.
    Join(sharing::Join),
    /// List a journal's members.
    Members(sharing::Members),
    /// Invites not used yet: who each is for, and when it expires; withdraw
    /// one so its link stops working.
    ///
    /// Examples:
    ///   starling invites
    ///   starling invites withdraw Bob
    #[command(verbatim_doc_comment)]
    Invites(sharing::Invites),
    /// Remove a member; they cannot read anything written afterwards.
    Revoke(sharing::Revoke),
    /// Delete a journal you own, for everyone: the relay erases it (and
    /// refuses it from then on), and every member's device erases its copy
    /// when it next syncs. Offers to save a copy first; cannot be undone.
    /// With the relay out of reach it waits for the next sync, unless the
    /// journal never reached the relay: then it is erased here at once.
    ///
    /// Examples:
    ///   starling delete --journal Sam
    ///   starling delete --journal Sam --export sam-copy --yes
    #[command(verbatim_doc_comment)]
    Delete(erase::Delete),
    /// Who has looked at a journal: every device the relay served it to or
    /// took changes from, by the hour, named as the journal knows them, as
    /// the relay signs it. A device the journal never let in is flagged.
    ///
    /// Example: starling access-log --journal Sam
    AccessLog(access::AccessLogArgs),
    /// Leave a journal someone else owns: you are removed from its members
    /// and it is erased from this device (and from your other devices when
    /// they next sync).
    ///
    /// Example: starling leave --journal Sam
    Leave(erase::Leave),
    /// Your devices: this one and the others you linked, as your journals
    /// list them.
    Devices,
    /// Add, link or remove one of your devices.
    ///
    /// Examples:
    ///   starling device link                    # on a device you have
    ///   starling device add 'starling://device/...'   # on the new one
    ///   starling device remove 3f2a9c1b         # a lost one
    #[command(subcommand, verbatim_doc_comment)]
    Device(devices::DeviceCmd),
    /// Your recovery code: `--new` makes a new one (the old one stops
    /// working). It is shown only when made; write it down.
    RecoveryCode(devices::RecoveryCode),
    /// On a new device, after losing yours: restore yourself and your
    /// journals from your recovery code. It asks for the code, or reads it
    /// from standard input.
    ///
    /// Example: starling recover --relay relay.example.org --name "Sam"
    #[command(verbatim_doc_comment)]
    Recover(devices::Recover),
    /// Relays this device trusts: the key each relay presented the first
    /// time this device synced with it (a relay presenting another key
    /// afterwards is refused), and certificate authorities for `wss://`.
    ///
    /// Examples:
    ///   starling relays
    ///   starling relays forget relay.example.org:7878
    ///   starling relays trust-ca our-ca.pem
    #[command(verbatim_doc_comment)]
    Relays(relays::Relays),
    /// Sync with the relay: once, or live with --watch.
    Sync(sync::Sync),
    /// Export a journal as JSON, CSV or raw automerge.
    Export(transfer::Export),
    /// Import a journal from a JSON export (it becomes yours).
    Import(transfer::Import),
    /// Open the journal in your browser: a page served by this device, on
    /// this machine only, for as long as this command runs.
    ///
    /// It prints a link carrying a secret for this launch; open it (or use
    /// --open). Keep it to yourself. Stop with Ctrl-C, or with "Stop
    /// Starling" at the foot of any page. While one runs, another `starling
    /// ui` for the same home opens it instead of starting a second.
    ///
    /// Examples:
    ///   starling ui --open
    ///   starling ui --install-launcher   # Starling in the desktop's menu, no terminal needed
    #[command(verbatim_doc_comment)]
    Ui(ui::Ui),
    /// Lock this device's store: encrypt it on disk under a passphrase.
    ///
    /// Keys, journals and everything else in the store are then unreadable
    /// without the passphrase (for a shared computer, or a lost laptop).
    /// Every command asks for it on the terminal; scripts set
    /// STARLING_PASSPHRASE. A forgotten passphrase cannot be recovered.
    /// Stop `starling ui` and `sync --watch` first.
    Lock(lock::Lock),
    /// Remove the lock: `starling unlock --remove` writes the store out
    /// unencrypted again (it asks for the passphrase).
    Unlock(lock::Unlock),
    /// Run the whole story on an embedded relay: a client and their care
    /// coordinator score one reading offline, sync, and see the same star.
    Demo,
}

/// Run a parsed command line.
pub fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo => return crate::demo::run(out),
        Command::Lock(_) => return lock::lock(&crate::ctx::home(cli.home)?, cli.json, out),
        Command::Unlock(a) => return lock::unlock(&crate::ctx::home(cli.home)?, a, cli.json, out),
        _ => {}
    }
    let ctx = Ctx::open(cli.home, cli.json)?;
    match cli.command {
        Command::Init(a) => identity::init(&ctx, a, out),
        Command::Whoami => identity::whoami(&ctx, out),
        Command::New(a) => journal::new(&ctx, a, out),
        Command::List => journal::list(&ctx, out),
        Command::Reading(a) => reading::reading(&ctx, a, out),
        Command::Score(a) => reading::score(&ctx, a, out),
        Command::SignOff(a) => reading::sign_off(&ctx, a, out),
        Command::Goal(a) => plan::goal(&ctx, a, out),
        Command::Step(a) => plan::step(&ctx, a, out),
        Command::Note(a) => plan::note(&ctx, a, out),
        Command::Show(a) => show::show(&ctx, a, out),
        Command::Chart(a) => show::chart(&ctx, a, out),
        Command::History(a) => show::history(&ctx, a, out),
        Command::Report(a) => show::report(&ctx, a, out),
        Command::Conflicts(a) => show::conflicts(&ctx, a, out),
        Command::Resolve(a) => show::resolve(&ctx, a, out),
        Command::Share(a) => sharing::share(&ctx, a, out),
        Command::Join(a) => sharing::join(&ctx, a, out),
        Command::Members(a) => sharing::members(&ctx, a, out),
        Command::Invites(a) => sharing::invites(&ctx, a, out),
        Command::Revoke(a) => sharing::revoke(&ctx, a, out),
        Command::Delete(a) => erase::delete(&ctx, a, out),
        Command::Leave(a) => erase::leave(&ctx, a, out),
        Command::AccessLog(a) => access::access_log(&ctx, a, out),
        Command::Relays(a) => relays::relays(&ctx, a, out),
        Command::Devices => devices::devices(&ctx, out),
        Command::Device(a) => devices::device(&ctx, a, out),
        Command::RecoveryCode(a) => devices::recovery_code(&ctx, a, out),
        Command::Recover(a) => devices::recover(&ctx, a, out),
        Command::Sync(a) => sync::sync(&ctx, a, out),
        Command::Export(a) => transfer::export(&ctx, a, out),
        Command::Import(a) => transfer::import(&ctx, a, out),
        Command::Ui(a) => ui::ui(&ctx, a, out),
        Command::Demo | Command::Lock(_) | Command::Unlock(_) => unreachable!("handled above"),
    }
}

/// `--journal`, shared by most subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct Pick {
    /// Which journal: an id prefix or the client's name. Needed only when this
    /// device has more than one.
    #[arg(long, short = 'j', value_name = "JOURNAL")]
    pub journal: Option<String>,
}

/// Print `value` as pretty JSON.
pub fn print_json(out: &mut impl Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
