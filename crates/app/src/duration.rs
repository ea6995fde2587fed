//! How long an invite lasts: `90s`, `30m`, `12h`, `7d`.

use crate::error::{Result, invalid};

/// Parses `90s`, `30m`, `12h` or `7d` into milliseconds: between 5
/// seconds and a year.
pub fn parse_duration(text: &str) -> Result<u64> {
    let text = text.trim();
    let bad = || {
        invalid(format!(
            "`{text}` is not a duration like 90s, 30m, 12h or 7d"
        ))
    };
    let split = text.char_indices().last().map_or(0, |(i, _)| i);
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let total = n.checked_mul(ms).ok_or_else(bad)?;
    if !(5_000..=365 * 86_400_000).contains(&total) {
        return Err(invalid("an invite lasts between 5 seconds and a year"));
    }
    Ok(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seconds_minutes_hours_and_days() {
        assert_eq!(parse_duration("90s").unwrap(), 90_000);
        assert_eq!(parse_duration("30m").unwrap(), 1_800_000);
        assert_eq!(parse_duration("12h").unwrap(), 43_200_000);
        assert_eq!(parse_duration("7d").unwrap(), 604_800_000);
        for bad in ["", "7", "d", "7w", "-1d", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("4s").is_err(), "under 5 seconds");
        assert_eq!(parse_duration("5s").unwrap(), 5_000);
        assert!(parse_duration("366d").is_err(), "over a year");
    }
}
