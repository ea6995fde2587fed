//! Instruments are data: the areas, the scale, the stages and the licence text.
//!
//! An organisation loads another instrument from TOML or JSON without a code
//! change. Two are bundled: the Recovery Star (area and stage names only, with
//! Triangle's attribution) and the project's own neutral Starling Compass.
//! A journal records, for each reading, the id, version and content hash of
//! the instrument it used, so a later edit of the definition cannot silently
//! change what old readings meant.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{JournalError, Result};

/// One life area of an instrument, e.g. `work`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    /// Stable id, stored in journals: lowercase letters, digits and `_`.
    pub id: String,
    /// Name shown to people.
    pub name: String,
}

/// The ladder every area is placed on: whole numbers `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Lowest step.
    pub min: u8,
    /// Highest step.
    pub max: u8,
}

/// A named band of the scale, e.g. "Believing" for 5 and 6.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Name shown to people.
    pub name: String,
    /// First step of the band.
    pub min: u8,
    /// Last step of the band.
    pub max: u8,
}

/// A validated instrument definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// Stable id, e.g. `recovery-star`.
    pub id: String,
    /// Version of the definition; a journal keeps every version it used.
    pub version: String,
    /// Name shown to people.
    pub name: String,
    /// Licence and copyright text, shown wherever the instrument is.
    pub attribution: String,
    /// The ladder.
    pub scale: Scale,
    /// Areas in display order.
    pub areas: Vec<Area>,
    /// Stage bands in order, covering the scale exactly.
    pub stages: Vec<Stage>,
}

const RECOVERY_STAR: &str = include_str!("instruments/recovery-star.toml");
const STARLING_COMPASS: &str = include_str!("instruments/starling-compass.toml");

/// Id of the bundled Recovery Star.
pub const RECOVERY_STAR_ID: &str = "recovery-star";
/// Id of the bundled neutral instrument.
pub const STARLING_COMPASS_ID: &str = "starling-compass";

impl Instrument {
    /// Parse and validate a TOML definition.
    pub fn from_toml(text: &str) -> Result<Self> {
        let instrument: Instrument =
            toml::from_str(text).map_err(|e| JournalError::InvalidInstrument(e.to_string()))?;
        instrument.validate()?;
        Ok(instrument)
    }

    /// Parse and validate a JSON definition.
    pub fn from_json(text: &str) -> Result<Self> {
        let instrument: Instrument = serde_json::from_str(text)
            .map_err(|e| JournalError::InvalidInstrument(e.to_string()))?;
        instrument.validate()?;
        Ok(instrument)
    }

    /// The canonical JSON form, as stored inside journals.
    pub fn to_json(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A bundled instrument by id (`recovery-star` or `starling-compass`).
    pub fn bundled(id: &str) -> Result<Self> {
        let text = match id {
            RECOVERY_STAR_ID => RECOVERY_STAR,
            STARLING_COMPASS_ID => STARLING_COMPASS,
            other => {
                return Err(JournalError::NotOneOf {
                    kind: "instrument",
                    value: other.to_owned(),
                    choices: crate::error::one_of(&[RECOVERY_STAR_ID, STARLING_COMPASS_ID]),
                });
            }
        };
        Instrument::from_toml(text)
    }

    /// The Recovery Star (area and stage names only).
    pub fn recovery_star() -> Self {
        // The bundled file is checked by a unit test; it always parses.
        Instrument::bundled(RECOVERY_STAR_ID).unwrap_or_else(|_| unreachable!())
    }

    /// Every bundled instrument.
    pub fn all_bundled() -> Vec<Self> {
        [RECOVERY_STAR_ID, STARLING_COMPASS_ID]
            .iter()
            .filter_map(|id| Instrument::bundled(id).ok())
            .collect()
    }

    /// `id@version`, the key under which a journal stores this definition.
    pub fn key(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// SHA-256 of the canonical JSON form, hex.
    pub fn content_hash(&self) -> String {
        hex::encode(Sha256::digest(self.to_json().as_bytes()))
    }

    /// The area with this id.
    pub fn area(&self, id: &str) -> Result<&Area> {
        self.areas
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| JournalError::UnknownArea(id.to_owned()))
    }

    /// Check that `score` is a step of the scale.
    pub fn check_score(&self, score: i64) -> Result<u8> {
        let (min, max) = (self.scale.min, self.scale.max);
        if score < i64::from(min) || score > i64::from(max) {
            return Err(JournalError::ScoreOutOfRange { score, min, max });
        }
        // In range of a u8 scale, so the conversion is exact.
        Ok(u8::try_from(score).unwrap_or(max))
    }

    /// The stage a score falls in.
    pub fn stage(&self, score: u8) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| s.min <= score && score <= s.max)
    }

    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(JournalError::InvalidInstrument(msg));
        if !is_slug(&self.id, '-') {
            return bad(format!(
                "id `{}` must be lowercase letters, digits and -",
                self.id
            ));
        }
        if self.version.trim().is_empty() || self.version.contains('@') {
            return bad("version must be non-empty and may not contain @".into());
        }
        if self.name.trim().is_empty() || self.attribution.trim().is_empty() {
            return bad("name and attribution must be non-empty".into());
        }
        let Scale { min, max } = self.scale;
        if min >= max || max > 100 {
            return bad(format!(
                "scale {min}..={max} must rise and end at 100 or below"
            ));
        }
        if self.areas.is_empty() || self.areas.len() > 64 {
            return bad("an instrument needs 1 to 64 areas".into());
        }
        for (i, area) in self.areas.iter().enumerate() {
            if !is_slug(&area.id, '_') {
                return bad(format!(
                    "area id `{}` must be lowercase letters, digits and _",
                    area.id
                ));
            }
            if area.name.trim().is_empty() {
                return bad(format!("area `{}` has no name", area.id));
            }
            if self.areas[..i].iter().any(|a| a.id == area.id) {
                return bad(format!("area id `{}` appears twice", area.id));
            }
        }
        let mut next = min;
        for stage in &self.stages {
            if stage.name.trim().is_empty() {
                return bad("every stage needs a name".into());
            }
            if stage.min != next || stage.max < stage.min || stage.max > max {
                return bad(format!(
                    "stage `{}` ({}..={}) must start at {next} and stay within the scale",
                    stage.name, stage.min, stage.max
                ));
            }
            next = stage.max.saturating_add(1);
        }
        if self.stages.is_empty() || next != max.saturating_add(1) {
            return bad(format!("stages must cover the scale {min}..={max} exactly"));
        }
        Ok(())
    }
}

fn is_slug(s: &str, sep: char) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_star_has_the_ten_areas_in_order_and_five_stages() {
        let star = Instrument::recovery_star();
        let ids: Vec<_> = star.areas.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "mental_health",
                "self_care",
                "living_skills",
                "social_networks",
                "work",
                "relationships",
                "addictive_behaviour",
                "responsibilities",
                "identity_self_esteem",
                "trust_hope"
            ]
        );
        let stages: Vec<_> = star.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            stages,
            [
                "Stuck",
                "Accepting help",
                "Believing",
                "Learning",
                "Self-reliance"
            ]
        );
        assert!(
            star.attribution
                .contains("Triangle Consulting Social Enterprise")
        );
        assert!(star.attribution.contains("licence"));
        assert_eq!(star.stage(6).map(|s| s.name.as_str()), Some("Believing"));
        assert_eq!(
            star.stage(10).map(|s| s.name.as_str()),
            Some("Self-reliance")
        );
    }

    #[test]
    fn neutral_instrument_differs_in_every_dimension() {
        let compass = Instrument::bundled(STARLING_COMPASS_ID).expect("bundled");
        let star = Instrument::recovery_star();
        assert_ne!(compass.areas.len(), star.areas.len());
        assert_ne!(compass.scale, star.scale);
        assert!(compass.check_score(6).is_err());
        assert!(compass.check_score(5).is_ok());
    }

    #[test]
    fn json_round_trip_keeps_the_content_hash() {
        let star = Instrument::recovery_star();
        let again = Instrument::from_json(&star.to_json()).expect("valid json");
        assert_eq!(again, star);
        assert_eq!(again.content_hash(), star.content_hash());
        assert_eq!(star.key(), "recovery-star@1");
    }

    #[test]
    fn broken_definitions_are_rejected_with_a_reason() {
        let base = Instrument::recovery_star();
        let mut gap = base.clone();
        gap.stages.remove(2);
        let mut dup = base.clone();
        dup.areas[1].id = "mental_health".into();
        let mut flat = base.clone();
        flat.scale = Scale { min: 3, max: 3 };
        let mut short = base.clone();
        short.stages.pop();
        for (broken, why) in [
            (gap, "start at"),
            (dup, "twice"),
            (flat, "rise"),
            (short, "exactly"),
        ] {
            let err = Instrument::from_json(&broken.to_json()).expect_err("must fail");
            assert!(err.to_string().contains(why), "{err}");
        }
        assert!(Instrument::from_toml("id = 3").is_err());
        let err = Instrument::bundled("nope").expect_err("not bundled");
        assert!(matches!(err, JournalError::NotOneOf { .. }));
        assert!(
            err.to_string()
                .contains("recovery-star or starling-compass"),
            "{err}"
        );
    }

    #[test]
    fn scores_outside_the_scale_are_typed_errors() {
        let star = Instrument::recovery_star();
        assert!(matches!(
            star.check_score(11),
            Err(JournalError::ScoreOutOfRange {
                score: 11,
                min: 1,
                max: 10
            })
        ));
        assert!(star.check_score(0).is_err());
        assert_eq!(star.check_score(7).ok(), Some(7));
    }
}
