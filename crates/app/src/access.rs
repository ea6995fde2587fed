//! Who has looked at a journal: the relay's signed access log, in words.
//!
//! The relay sees which device publishes to and receives which journal,
//! and when; it keeps that per hour and answers a member's request with it,
//! signed. This names each device as the journal knows it ("Alex
//! (worker)"), and flags a device the journal's membership never named:
//! someone the relay served who was never let in.

use std::collections::BTreeSet;
use std::time::Duration;

use recovery_journal::Date;
use starling_client::{AccessKind, AccessLog, DocRow, SignedAccessLog};

use crate::App;
use crate::error::{Result, invalid};
use crate::find::short;

/// How long `access-log` waits for the relay.
const ASK_WITHIN: Duration = Duration::from_secs(20);

/// One line of the access log, for people and programs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AccessLine {
    /// When (the last time within the hour), unix ms.
    pub at: u64,
    /// The device, hex.
    pub device: String,
    /// Who it is: "Alex (worker)", "you", or "an unknown device".
    pub who: String,
    /// publish, fetch or membership.
    pub kind: AccessKind,
    /// How many changes (or membership changes).
    pub count: u64,
    /// Whether it is this device.
    pub you: bool,
    /// Whether the journal's membership never named this device.
    pub unknown: bool,
    /// The whole line in words.
    pub text: String,
}

/// A journal's access log as the relay signed it, in words.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AccessReport {
    /// The journal's id.
    pub journal: String,
    /// The relay that signed it.
    pub relay: String,
    /// When the relay answered, unix ms.
    pub at: u64,
    /// The log starts here (older entries were deleted by the relay's
    /// retention setting), unix ms.
    pub since: u64,
    /// What the relay stores of the journal.
    pub stored: starling_client::StoredStats,
    /// Oldest first.
    pub lines: Vec<AccessLine>,
    /// Devices in the log the journal's membership never named, hex.
    pub unknown_devices: Vec<String>,
    /// The relay's signed statement, as it sent it.
    #[serde(skip)]
    pub signed: SignedAccessLog,
}

/// `ms` as people read it: "Tue 2026-12-01 14:02 UTC".
pub fn when(ms: u64) -> String {
    let t = When::of(ms);
    let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][t.weekday as usize];
    format!("{day} {} {} UTC", t.date, t.time())
}

/// A moment in UTC, in the parts a screen words in its own language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct When {
    /// 0 for Monday to 6 for Sunday.
    pub weekday: u8,
    /// The day.
    pub date: Date,
    /// The hour, 0 to 23.
    pub hour: u8,
    /// The minute, 0 to 59.
    pub minute: u8,
}

impl When {
    /// Unix milliseconds, in UTC.
    pub fn of(ms: u64) -> Self {
        let secs = (ms / 1000) as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        When {
            // 1970-01-01 was a Thursday (3).
            weekday: (days + 3).rem_euclid(7) as u8,
            date: Date::from_unix(days * 86_400),
            hour: (rem / 3600) as u8,
            minute: ((rem % 3600) / 60) as u8,
        }
    }

    /// "14:02".
    pub fn time(&self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }
}

impl App {
    /// Syncs `row`'s relay and asks it for the journal's access log.
    pub fn access_log(&self, row: &DocRow) -> Result<AccessReport> {
        let relay = crate::sharing::relay_addr(&row.relay)?;
        let doc = row
            .doc
            .parse()
            .map_err(|_| invalid("a journal id on this device does not parse"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(crate::error::AppError::Runtime)?;
        let wanted = BTreeSet::from([doc]);
        let (report, mut logs) =
            runtime.block_on(self.client.access_logs(&relay, wanted, ASK_WITHIN, |_| {}))?;
        let Some((log, signed)) = logs.remove(&doc) else {
            let why = report
                .refused
                .iter()
                .chain(&report.deferred)
                .find(|(d, _)| *d == doc)
                .map(|(_, why)| why.clone())
                .unwrap_or_else(|| "it did not answer in time".into());
            return Err(invalid(format!(
                "the relay did not give the access log of {}: {why}",
                crate::sharing::journal_label(row)
            )));
        };
        self.describe_log(row, log, signed)
    }

    /// The access log of each of `rows`, asked of their relays together
    /// (one sync per relay): by journal id, the report or why there is
    /// none.
    pub(crate) fn access_logs_for(
        &self,
        rows: &[DocRow],
        within: Duration,
    ) -> std::collections::BTreeMap<String, std::result::Result<AccessReport, String>> {
        let mut out = std::collections::BTreeMap::new();
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return out;
        };
        let mut relays: Vec<&str> = rows.iter().map(|r| r.relay.as_str()).collect();
        relays.sort_unstable();
        relays.dedup();
        for relay in relays {
            let on: Vec<&DocRow> = rows.iter().filter(|r| r.relay == relay).collect();
            let wanted: BTreeSet<starling_client::DocId> =
                on.iter().filter_map(|r| r.doc.parse().ok()).collect();
            let asked = crate::sharing::relay_addr(relay)
                .map_err(|e| e.to_string())
                .and_then(|addr| {
                    runtime
                        .block_on(self.client.access_logs(&addr, wanted, within, |_| {}))
                        .map_err(|e| e.to_string())
                });
            for row in on {
                let got = match &asked {
                    Err(why) => Err(format!("the relay could not be reached: {why}")),
                    Ok((report, logs)) => {
                        let found = row
                            .doc
                            .parse()
                            .ok()
                            .and_then(|d: starling_client::DocId| logs.get(&d).cloned());
                        match found {
                            Some((log, signed)) => self
                                .describe_log(row, log, signed)
                                .map_err(|e| e.to_string()),
                            None => Err(report
                                .refused
                                .iter()
                                .chain(&report.deferred)
                                .find(|(d, _)| d.to_string() == row.doc)
                                .map(|(_, why)| format!("the relay refused: {why}"))
                                .unwrap_or_else(|| "the relay did not answer in time".into())),
                        }
                    }
                };
                out.insert(row.doc.clone(), got);
            }
        }
        out
    }

    /// Names the devices of `log` as `row` knows them.
    pub(crate) fn describe_log(
        &self,
        row: &DocRow,
        log: AccessLog,
        signed: SignedAccessLog,
    ) -> Result<AccessReport> {
        let identity = self.client.identity()?;
        let me = identity.device;
        let known = self.client.known_devices(&row.doc)?;
        // Which person each device (removed ones too) belongs to: a linked
        // device goes by its person's name.
        let persons: std::collections::BTreeMap<_, _> = self
            .client
            .persons(row)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let journal = self.load(row).ok();
        let roles: Vec<(String, String)> = self
            .client
            .members(&row.doc)
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.device.to_string(), m.perspective))
            .collect();
        let mut unknown_devices = BTreeSet::new();
        let mut lines: Vec<AccessLine> = log
            .entries
            .iter()
            .map(|e| {
                let device = e.device.to_string();
                let unknown = !known.contains(&e.device);
                let person = persons.get(&e.device).copied().unwrap_or(e.device);
                let name = journal.as_ref().and_then(|j| {
                    j.member(recovery_journal::DeviceId::from_bytes(*person.as_bytes()))
                        .map(|m| m.name)
                });
                let role = roles
                    .iter()
                    .find(|(d, _)| *d == device)
                    .map(|(_, p)| p.clone());
                let linked = person != e.device;
                let who = if e.device == me {
                    "you (this device)".to_owned()
                } else if unknown {
                    unknown_devices.insert(device.clone());
                    format!("an unknown device {}", short(&device))
                } else if person == identity.person {
                    match role {
                        Some(_) => format!("you (your device {})", short(&device)),
                        None => format!("you (your device {}, since removed)", short(&device)),
                    }
                } else {
                    match (name, role) {
                        (Some(n), Some(r)) if linked => {
                            format!("{n} ({r}, their device {})", short(&device))
                        }
                        (Some(n), Some(r)) => format!("{n} ({r})"),
                        (Some(n), None) if linked => {
                            format!("{n} (their device {}, since removed)", short(&device))
                        }
                        (Some(n), None) => format!("{n} (no longer a member)"),
                        (None, Some(r)) => format!("device {} ({r})", short(&device)),
                        (None, None) => format!("device {} (no longer a member)", short(&device)),
                    }
                };
                let did = match e.kind {
                    AccessKind::Publish => format!("sent {} change(s)", e.count),
                    AccessKind::Fetch => format!("fetched {} change(s)", e.count),
                    AccessKind::Membership => format!("made {} membership change(s)", e.count),
                };
                let flag = if unknown {
                    " — this device was never let into the journal"
                } else {
                    ""
                };
                AccessLine {
                    at: e.last_at,
                    text: format!("{}: {who} {did}{flag}", when(e.last_at)),
                    device,
                    who,
                    kind: e.kind,
                    count: e.count,
                    you: e.device == me,
                    unknown,
                }
            })
            .collect();
        // The relay gives an hour's entries by device and kind: put them
        // in time order, as the report promises.
        lines.sort_by_key(|l| l.at);
        Ok(AccessReport {
            journal: row.doc.clone(),
            relay: row.relay.clone(),
            at: log.at,
            since: log.since,
            stored: log.stored,
            lines,
            unknown_devices: unknown_devices.into_iter().collect(),
            signed,
        })
    }
}

#[cfg(test)]
mod when_tests {
    use super::*;

    #[test]
    fn a_moment_reads_with_its_weekday_in_utc() {
        assert_eq!(when(1_796_133_720_000), "Tue 2026-12-01 14:02 UTC");
        assert_eq!(when(0), "Thu 1970-01-01 00:00 UTC");
        let t = When::of(1_796_133_720_000 + 5 * 86_400_000 + 59_999);
        assert_eq!(
            (t.weekday, t.date.to_string(), t.time()),
            (6, "2026-12-06".into(), "14:02".into())
        );
    }
}
