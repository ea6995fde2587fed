//! Small value types of the journal: perspectives, modes, owners and dates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::error::JournalError;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored, stable spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = JournalError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(JournalError::NotOneOf {
                        kind: $kind,
                        value: s.to_owned(),
                        choices: crate::error::one_of(&[$($text),+]),
                    }),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// Whose view a score is.
    Perspective, "perspective", {
        /// The client's own view.
        Client => "client",
        /// The care coordinator's view.
        Worker => "worker",
        /// The score client and worker agreed on.
        Agreed => "agreed",
    }
);

string_enum!(
    /// The part a member plays in a journal, set by its owner.
    MemberRole, "member perspective", {
        /// The person whose journal it is.
        Client => "client",
        /// Their care coordinator.
        Worker => "worker",
        /// A carer or peer supporter.
        Supporter => "supporter",
    }
);

string_enum!(
    /// How a reading was taken.
    Mode, "mode", {
        /// Client and worker together.
        Joint => "joint",
        /// The client alone.
        ClientOnly => "client",
        /// The worker alone.
        WorkerOnly => "worker",
    }
);

string_enum!(
    /// Who does a step of the action plan.
    StepOwner, "step owner", {
        /// The client.
        Client => "client",
        /// The worker.
        Worker => "worker",
        /// A carer or peer supporter.
        Supporter => "supporter",
        /// Someone else.
        Other => "other",
    }
);

impl Perspective {
    /// The member role allowed to write this perspective, if only one is.
    pub fn owner_role(self) -> Option<MemberRole> {
        match self {
            Perspective::Client => Some(MemberRole::Client),
            Perspective::Worker => Some(MemberRole::Worker),
            Perspective::Agreed => None,
        }
    }
}

const DATE_FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(time::Date);

impl Date {
    /// The date of a unix timestamp (seconds), in UTC.
    pub fn from_unix(seconds: i64) -> Self {
        let date = time::OffsetDateTime::from_unix_timestamp(seconds)
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN);
        Date(date)
    }

    /// Midnight UTC of this date, as a unix timestamp (seconds).
    pub fn to_unix(self) -> i64 {
        self.0.midnight().assume_utc().unix_timestamp()
    }

    /// This date `days` later (earlier if negative); the same date if that
    /// leaves the calendar.
    pub fn plus_days(self, days: i64) -> Date {
        self.0
            .checked_add(time::Duration::days(days))
            .map_or(self, Date)
    }
}

impl FromStr for Date {
    type Err = JournalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Exactly ten characters: the format parser alone accepts 5-digit years.
        if s.len() != 10 {
            return Err(JournalError::MalformedDate(s.to_owned()));
        }
        time::Date::parse(s, DATE_FORMAT)
            .map(Date)
            .map_err(|_| JournalError::MalformedDate(s.to_owned()))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = (self.0.year(), u8::from(self.0.month()), self.0.day());
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_strictly() {
        let date: Date = "2026-11-23".parse().expect("valid");
        assert_eq!(date.to_string(), "2026-11-23");
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "26-11-23",
            "2026/11/23",
            "",
            "2026-11-23x",
            "+2026-11-23",
        ] {
            assert!(
                matches!(bad.parse::<Date>(), Err(JournalError::MalformedDate(_))),
                "{bad}"
            );
        }
        assert_eq!(Date::from_unix(0).to_string(), "1970-01-01");
    }

    #[test]
    fn enums_round_trip_their_spelling() {
        for p in Perspective::ALL {
            assert_eq!(p.as_str().parse::<Perspective>().ok(), Some(*p));
        }
        assert!("boss".parse::<MemberRole>().is_err());
        assert_eq!("client".parse::<Mode>().ok(), Some(Mode::ClientOnly));
        assert_eq!(Perspective::Worker.owner_role(), Some(MemberRole::Worker));
    }
}
